"""Detectors on motion alone: hard braking, high speed, dense traffic around the ego."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivestack.data.mining.registry import register
from drivestack.data.mining.scene import (
    BoolArray,
    EgoPath,
    FloatArray,
    IntArray,
    Rows,
    Runs,
    Scene,
    reduce_runs,
    runs,
    smooth,
    tags_from_runs,
    vehicles_and_ego,
    window_length,
)
from drivestack.data.tags import Tag


def sustained_runs(
    scene: Scene, values: FloatArray, above: float, seconds: float, min_samples: int = 1
) -> Runs:
    """Runs where `values` (N, steps) exceed `above` for at least `seconds` [s] and `min_samples` steps."""
    return runs(np.nan_to_num(values, nan=-np.inf) > above, max(min_samples, scene.steps_for(seconds)))


def sustained(
    scene: Scene, tag: str, who: Rows | IntArray, values: FloatArray, above: float, seconds: float,
    problem_id: int = -1,
) -> list[Tag]:  # fmt: skip
    """Tags for every run where `values` (N, steps) exceed `above` for at least `seconds` [s]; each
    tag's value is the run's maximum; `who` names the rows (`tags_from_runs`)."""
    found = sustained_runs(scene, values, above, seconds)
    values = reduce_runs(values, found, np.maximum)
    return tags_from_runs(scene.scenario_id, tag, who, found, values, problem_id)


def max_ahead(values: FloatArray, window: int) -> FloatArray:
    """(N, steps): at each step the maximum of `values` (N, steps) over the next `window` steps
    (excluding the step itself; NaN ignored; -inf where there is none)."""
    padded = np.pad(np.nan_to_num(values, nan=-np.inf), ((0, 0), (0, window + 1)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded[:, 1:], window, axis=1)[:, : values.shape[1]].max(
        axis=2
    )


def rms(values: FloatArray, found: Runs) -> FloatArray:
    """Root mean square of the finite `values` (N, steps) over each run of `found` (R,); NaN for a
    run without any."""
    squared = np.pad(np.cumsum(np.nan_to_num(values**2), axis=1), ((0, 0), (1, 0)))
    count = np.pad(np.cumsum(np.isfinite(values), axis=1), ((0, 0), (1, 0)))
    sums = squared[found.rows, found.ends + 1] - squared[found.rows, found.starts]
    counts = count[found.rows, found.ends + 1] - count[found.rows, found.starts]
    return np.where(counts > 0, np.sqrt(sums / np.maximum(counts, 1)), np.nan)


def position_motion(
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    valid: BoolArray,
    dt: float,
    window: float,
    min_samples: int,
) -> tuple[FloatArray, FloatArray]:
    """What the positions (N, steps) [m] alone say: speed along the heading `yaw` [rad] [m/s] and
    magnitude of the acceleration [m/s2], from Savitzky-Golay derivatives of x and y (quadratic,
    `window` [s], at least `min_samples`); NaN except where the window lies inside the track with
    one step to spare (a track's first and last positions can be off its grid: highD starts some
    vehicles a fraction of a step late)."""
    length = window_length(x.shape[1], dt, window, min_samples)
    vx, vy, ax, ay = (
        smooth(values, valid, dt, window, order, min_samples) for order in (1, 2) for values in (x, y)
    )
    inside = np.pad(valid, ((0, 0), (length // 2 + 1, length // 2 + 1)))
    inner = np.lib.stride_tricks.sliding_window_view(inside, length + 2, axis=1).all(axis=2)
    speed = vx * np.cos(yaw) + vy * np.sin(yaw)
    return np.where(inner, speed, np.nan), np.where(inner, np.hypot(ax, ay), np.nan)


@dataclass(frozen=True)
class HardBrakingConfig:
    """Deceleration above `deceleration` [m/s2] held for at least `min_duration` [s] and `min_samples`
    steps, where the track is believable:

    - the speed signal jitters less than `max_noise` [m/s] (RMS about its smoothed version, from
      `margin` [s] before to `margin` after);
    - it is not followed within `recovery` [s] by an acceleration above `max_rebound` [m/s2] (a dip
      in the track that snaps back, not a brake);
    - the recorded speed agrees with the positions: the RMS difference of the smoothed recorded speed
      and the speed the positions imply (same filter) over the run +- `margin` is at most
      `max_disagreement` [m/s] (SinD's speed field sometimes drops to 0 while the vehicle moves on);
    - the positions imply no acceleration beyond `max_acceleration` [m/s2] within `margin` of the
      run, seen through a short `check_window` [s]: no tyre grips beyond about 1 g, so more is a
      tracking artefact (NGSIM boxes that stall, then jump; speeds from such positions swing from
      +3 to -8 m/s2 within a second).

    Acceleration is the derivative of the Savitzky-Golay-smoothed speed (see `SceneConfig`): raw
    finite differences of recorded speeds are too noisy at 0.1 s steps to threshold. The noise test
    drops tracking artefacts: NGSIM tracks whose speed swings by several m/s within a second (boxes
    that stall and jump) would otherwise brake "hard" every few seconds; highD, exiD, MONA, SinD and
    inD tracks jitter by less than 0.1 m/s, genuine NGSIM decelerations by about 0.2 m/s. On the
    recorded data the recorded and position speeds differ by at most 0.6 m/s around genuine
    braking and by 1.8-3.2 m/s where SinD's speed field is wrong; a 0.5 s view of the positions
    exceeds 1 g on 2 of 6026 highD vehicles and none of inD, exiD, MONA or SinD, but on 16% of
    NGSIM's.
    """

    deceleration: float = 3.0
    min_duration: float = 0.5
    min_samples: int = 2
    max_noise: float = 0.4
    margin: float = 1.0
    max_rebound: float = 4.0
    recovery: float = 2.0
    max_disagreement: float = 1.0
    max_acceleration: float = 9.81
    check_window: float = 0.5


@register("hard_braking", version=6, config=HardBrakingConfig())
def hard_braking(scene: Scene, ego: EgoPath, config: HardBrakingConfig) -> list[Tag]:
    """Vehicles (and the ego) decelerating harder than the threshold; value = peak deceleration [m/s2]."""
    values, who = vehicles_and_ego(scene, ego, -scene.acceleration, -ego.acceleration)
    tracks = scene.scenario.tracks
    raw, _ = vehicles_and_ego(scene, ego, tracks.speed, ego.speed)
    smoothed, _ = vehicles_and_ego(scene, ego, scene.speed, ego.smoothed_speed)
    x, _ = vehicles_and_ego(scene, ego, tracks.x, ego.x)
    y, _ = vehicles_and_ego(scene, ego, tracks.y, ego.y)
    yaw, _ = vehicles_and_ego(scene, ego, scene.heading, ego.yaw)
    valid, _ = vehicles_and_ego(scene, ego, tracks.valid, ego.valid)
    found = sustained_runs(scene, values, config.deceleration, config.min_duration, config.min_samples)
    around = found.widened(scene.steps_for(config.margin), scene.scenario.num_steps)
    keep = rms(raw - smoothed, around) <= config.max_noise
    rebound = max_ahead(-values, scene.steps_for(config.recovery))
    keep &= ~(rebound[found.rows, found.ends] > config.max_rebound)
    window, samples = scene.config.smoothing_window, scene.config.min_window_samples
    moved, _ = position_motion(x, y, yaw, valid, scene.dt, window, samples)
    keep &= rms(smoothed - moved, around) <= config.max_disagreement
    _, pulled = position_motion(x, y, yaw, valid, scene.dt, config.check_window, samples)
    keep &= reduce_runs(pulled, around, np.maximum) <= config.max_acceleration
    found = found.select(keep)
    return tags_from_runs(
        scene.scenario_id, "hard_braking", who, found, reduce_runs(values, found, np.maximum)
    )


@dataclass(frozen=True)
class HighSpeedConfig:
    """Smoothed speed above `speed` [m/s] (default 120 km/h) for at least `min_duration` [s]."""

    speed: float = 120.0 / 3.6
    min_duration: float = 1.0


@register("high_speed", version=4, config=HighSpeedConfig())
def high_speed(scene: Scene, ego: EgoPath, config: HighSpeedConfig) -> list[Tag]:
    """Vehicles (and the ego) driving faster than the threshold; value = peak speed [m/s]."""
    values, who = vehicles_and_ego(scene, ego, scene.speed, ego.smoothed_speed)
    return sustained(scene, "high_speed", who, values, config.speed, config.min_duration)


@dataclass(frozen=True)
class DenseTrafficConfig:
    """At least `min_vehicles` other vehicles with centres within `radius` [m] of the ego's centre,
    for at least `min_duration` [s] (or, for an ego known at fewer steps, all of them).

    An ego known only at its initial state (NGSIM: no solution, no twin) is judged at that one step:
    its tags cover a single step by definition, a snapshot of the traffic it starts in."""

    radius: float = 30.0
    min_vehicles: int = 10
    min_duration: float = 1.0


@register("dense_traffic", version=5, config=DenseTrafficConfig())
def dense_traffic(scene: Scene, ego: EgoPath, config: DenseTrafficConfig) -> list[Tag]:
    """Steps where the ego is surrounded by many vehicles; agent = the ego, value = peak vehicle count."""
    tracks = scene.scenario.tracks
    distance = np.hypot(tracks.x - ego.x[None], tracks.y - ego.y[None])[scene.is_vehicle & scene.others(ego)]
    count = (np.nan_to_num(distance, nan=np.inf) <= config.radius).sum(axis=0).astype(np.float64)
    count = np.where(ego.valid, count, np.nan)[None]
    ids = np.array([ego.agent_id], dtype=np.int64)
    seconds = min(config.min_duration, int(ego.valid.sum()) * scene.dt)
    return sustained(scene, "dense_traffic", ids, count, config.min_vehicles - 0.5, seconds, ego.agent_id)
