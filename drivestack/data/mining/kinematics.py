"""Detectors on motion alone: hard braking, high speed, dense traffic around the ego."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivestack.data.mining.registry import register
from drivestack.data.mining.scene import (
    EgoPath,
    FloatArray,
    IntArray,
    Runs,
    Scene,
    reduce_runs,
    runs,
    tags_from_runs,
    vehicles_and_ego,
)
from drivestack.data.tags import Tag


def sustained_runs(scene: Scene, values: FloatArray, above: float, seconds: float) -> Runs:
    """Runs where `values` (N, steps) exceed `above` for at least `seconds` [s]."""
    return runs(np.nan_to_num(values, nan=-np.inf) > above, scene.steps_for(seconds))


def sustained(
    scene: Scene, tag: str, ids: IntArray, values: FloatArray, above: float, seconds: float
) -> list[Tag]:
    """Tags for every run where `values` (N, steps) exceed `above` for at least `seconds` [s]; each
    tag's value is the run's maximum; `ids` (N,) name the rows' agents."""
    found = sustained_runs(scene, values, above, seconds)
    return tags_from_runs(scene.scenario_id, tag, ids, found, reduce_runs(values, found, np.maximum))


def max_ahead(values: FloatArray, window: int) -> FloatArray:
    """(N, steps): at each step the maximum of `values` (N, steps) over the next `window` steps
    (excluding the step itself; NaN ignored; -inf where there is none)."""
    padded = np.pad(np.nan_to_num(values, nan=-np.inf), ((0, 0), (0, window + 1)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded[:, 1:], window, axis=1)[:, : values.shape[1]].max(
        axis=2
    )


def noise_around(raw: FloatArray, smoothed: FloatArray, found: Runs, margin: int) -> FloatArray:
    """Root mean square [unit] of `raw` - `smoothed` (N, steps) over each run widened by `margin` steps
    on both sides (R,): how much the recorded signal jitters around its smooth version there."""
    squared = np.nan_to_num((raw - smoothed) ** 2)
    counted = np.isfinite(raw - smoothed).astype(np.float64)
    total = np.pad(np.cumsum(squared, axis=1), ((0, 0), (1, 0)))
    count = np.pad(np.cumsum(counted, axis=1), ((0, 0), (1, 0)))
    low = np.maximum(found.starts - margin, 0)
    high = np.minimum(found.ends + margin + 1, raw.shape[1])
    sums = total[found.rows, high] - total[found.rows, low]
    return np.sqrt(sums / np.maximum(count[found.rows, high] - count[found.rows, low], 1.0))


@dataclass(frozen=True)
class HardBrakingConfig:
    """Deceleration above `deceleration` [m/s2] held for at least `min_duration` [s], in a speed
    signal that jitters less than `max_noise` [m/s] (RMS about its smoothed version, from 1 s before
    to 1 s after), and not followed within `recovery` [s] by an acceleration above `max_rebound`
    [m/s2] (a dip in the track that snaps back, not a brake).

    Acceleration is the derivative of the Savitzky-Golay-smoothed speed (see `SceneConfig`): raw
    finite differences of recorded speeds are too noisy at 0.1 s steps to threshold. The noise test
    drops tracking artefacts: NGSIM tracks whose speed swings by several m/s within a second (boxes
    that stall and jump) would otherwise brake "hard" every few seconds; highD, exiD, MONA, SinD and
    inD tracks jitter by less than 0.1 m/s, genuine NGSIM decelerations by about 0.2 m/s.
    """

    deceleration: float = 3.0
    min_duration: float = 0.5
    max_noise: float = 0.4
    max_rebound: float = 4.0
    recovery: float = 2.0


@register("hard_braking", version=5, config=HardBrakingConfig())
def hard_braking(scene: Scene, ego: EgoPath, config: HardBrakingConfig) -> list[Tag]:
    """Vehicles (and the ego) decelerating harder than the threshold; value = peak deceleration [m/s2]."""
    values, ids = vehicles_and_ego(scene, ego, -scene.acceleration, -ego.acceleration)
    raw, _ = vehicles_and_ego(scene, ego, scene.scenario.tracks.speed, ego.speed)
    smoothed, _ = vehicles_and_ego(scene, ego, scene.speed, ego.smoothed_speed)
    found = sustained_runs(scene, values, config.deceleration, config.min_duration)
    steady = noise_around(raw, smoothed, found, scene.steps_for(1.0)) <= config.max_noise
    rebound = max_ahead(-values, scene.steps_for(config.recovery))
    steady &= ~(rebound[found.rows, found.ends] > config.max_rebound)
    found = Runs(found.rows[steady], found.starts[steady], found.ends[steady])
    return tags_from_runs(
        scene.scenario_id, "hard_braking", ids, found, reduce_runs(values, found, np.maximum)
    )


@dataclass(frozen=True)
class HighSpeedConfig:
    """Smoothed speed above `speed` [m/s] (default 120 km/h) for at least `min_duration` [s]."""

    speed: float = 120.0 / 3.6
    min_duration: float = 1.0


@register("high_speed", version=3, config=HighSpeedConfig())
def high_speed(scene: Scene, ego: EgoPath, config: HighSpeedConfig) -> list[Tag]:
    """Vehicles (and the ego) driving faster than the threshold; value = peak speed [m/s]."""
    values, ids = vehicles_and_ego(scene, ego, scene.speed, ego.smoothed_speed)
    return sustained(scene, "high_speed", ids, values, config.speed, config.min_duration)


@dataclass(frozen=True)
class DenseTrafficConfig:
    """At least `min_vehicles` other vehicles with centres within `radius` [m] of the ego's centre,
    for at least `min_duration` [s] (or, for an ego known at fewer steps, all of them)."""

    radius: float = 30.0
    min_vehicles: int = 10
    min_duration: float = 1.0


@register("dense_traffic", version=4, config=DenseTrafficConfig())
def dense_traffic(scene: Scene, ego: EgoPath, config: DenseTrafficConfig) -> list[Tag]:
    """Steps where the ego is surrounded by many vehicles; agent = the ego, value = peak vehicle count."""
    tracks = scene.scenario.tracks
    distance = np.hypot(tracks.x - ego.x[None], tracks.y - ego.y[None])[scene.is_vehicle & scene.others(ego)]
    count = (np.nan_to_num(distance, nan=np.inf) <= config.radius).sum(axis=0).astype(np.float64)
    count = np.where(ego.valid, count, np.nan)[None]
    ids = np.array([ego.agent_id], dtype=np.int64)
    seconds = min(config.min_duration, int(ego.valid.sum()) * scene.dt)
    return sustained(scene, "dense_traffic", ids, count, config.min_vehicles - 0.5, seconds)
