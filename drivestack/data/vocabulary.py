"""Mining a vocabulary of ego motions from the recorded drivers of a store (`train-vocabulary`).

1. Read the scenarios of one set in key order: their recorded human egos (solution trajectories)
   and, unless `egos_only`, their recorded cars, on the step their motion shows (highD and SinD
   declare 0.1 s but move 2 and 5 times further per step; `core.facts.retime_factor`, as
   the benchmark runs them). Reading stops once `max_windows` windows are found.
2. Cut every track into windows of `horizon` [s] without a gap, one starting every `stride` [s];
   resample them to the vocabulary's step `dt` (linear, yaw unwrapped) and express each in the
   frame of its first pose. Windows with implausible kinematics (tracking glitches: acceleration
   beyond `max_acceleration`, yaw rate beyond `max_yaw_rate`, reversing) are dropped; at most
   `max_windows` are clustered (a seeded sample).
3. Bin the windows by start speed (`speed_edges`) and, per bin, cluster them with seeded k-means
   (scipy's `kmeans2`, k-means++ start) on their positions every second; a bin gets a share of the
   `size` motions proportional to the square root of its window count (slow and rare speeds keep
   some motions; at least one per non-empty bin). Each cluster is represented by its medoid, the
   recorded window nearest its centre: a motion some driver really drove, not a blurred average.

The same store, set, configuration and seed give the same vocabulary.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.vq import kmeans2

from drivestack.core.errors import ConfigError
from drivestack.core.facts import retime_factor
from drivestack.core.motions import MotionVocabulary
from drivestack.core.scenario import AgentType, Scenario
from drivestack.data.sets import set_members
from drivestack.data.store import Store

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_REVERSING = 0.1  # [m/s] of recorded backward speed (a stopped car's tracking noise) still accepted


@dataclass(frozen=True)
class VocabularyConfig:
    """How motions are mined (see the module docstring): `size` motions of `horizon` [s] at step
    `dt` [s], windows every `stride` [s], start-speed bins `speed_edges` [m/s], k-means `seed`;
    at most `max_windows` windows are read and clustered."""

    size: int = 256
    seed: int = 0
    horizon: float = 8.0
    dt: float = 0.1
    stride: float = 0.5
    speed_edges: tuple[float, ...] = (0.0, 0.5, 2.0, 4.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 30.0, 45.0)
    egos_only: bool = False
    max_windows: int = 200_000
    max_acceleration: float = 8.0
    max_yaw_rate: float = 1.2
    kmeans_iterations: int = 20

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"vocabulary size must be at least 1, got {self.size}")
        if not 0.0 < self.dt < self.horizon <= 60.0:
            raise ConfigError(f"need 0 < dt < horizon <= 60 s, got dt {self.dt} s, horizon {self.horizon} s")
        if self.stride <= 0.0:
            raise ConfigError(f"stride must be positive, got {self.stride} s")
        if len(self.speed_edges) < 2 or (np.diff(self.speed_edges) <= 0.0).any():
            raise ConfigError("speed_edges must be at least two increasing speeds")


@dataclass(frozen=True, eq=False)
class Windows:
    """W recorded windows in their start frames on the vocabulary's grid: x, y [m], yaw [rad],
    speed [m/s] (W, T); `from_ego` (W,) whether a window is a recorded human ego's."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    from_ego: NDArray[np.bool_]

    @property
    def count(self) -> int:
        """Number of windows W."""
        return int(self.x.shape[0])


def train_vocabulary(
    store: Store,
    set_name: str,
    config: VocabularyConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MotionVocabulary:
    """The vocabulary mined from set `set_name` of `store` (see the module docstring);
    `progress(done, total)` after each scenario read and each speed bin clustered. StoreError for an
    unknown set; ConfigError when the set is empty or holds no window of the horizon."""
    config = config or VocabularyConfig()
    members = set_members(store, set_name)
    if not members:
        raise ConfigError(f"set {set_name!r} is empty: nothing to learn motions from")
    bins = len(config.speed_edges) - 1
    total = len(members) + bins
    parts: list[Windows] = []
    found = read = 0
    for read, key in enumerate(members, start=1):
        windows_here = scenario_windows(store.load_scenario(key), config)
        parts += windows_here
        found += sum(part.count for part in windows_here)
        if progress is not None:
            progress(read, total)
        if found >= config.max_windows:  # enough read: the bound holds whatever the set's size
            break
    windows = _concat(parts, config)
    if windows.count == 0:
        source = "recorded egos" if config.egos_only else "recorded egos or cars"
        raise ConfigError(
            f"set {set_name!r}: no {source} drive {config.horizon:g} s without a gap; "
            "nothing to learn motions from (try a shorter --horizon)"
        )
    rng = np.random.default_rng(config.seed)
    if windows.count > config.max_windows:
        windows = _take(windows, np.sort(rng.choice(windows.count, config.max_windows, replace=False)))
    edges = np.asarray(config.speed_edges, dtype=np.float64)
    which = np.clip(np.searchsorted(edges, windows.speed[:, 0], side="right") - 1, 0, bins - 1)
    shares = _shares(np.bincount(which, minlength=bins), config.size)
    chosen: list[IntArray] = []
    weights: list[IntArray] = []
    for number in range(bins):
        if shares[number] > 0:
            medoids, sizes = _medoids(
                windows, np.flatnonzero(which == number), int(shares[number]), rng, config
            )
            chosen.append(medoids)
            weights.append(sizes)
        if progress is not None:
            progress(len(members) + number + 1, total)
    keep = np.concatenate(chosen)
    provenance: dict[str, str | int | float] = {
        "set": set_name,
        "store": str(store.root),
        "scenarios": len(members),
        "scenarios_read": read,
        "seed": config.seed,
        "size": config.size,
        "horizon_s": config.horizon,
        "stride_s": config.stride,
        "sources": "recorded egos" if config.egos_only else "recorded egos and cars",
        "windows": found,
        "windows_clustered": windows.count,
        "windows_from_egos": int(windows.from_ego.sum()),
        "motions_from_egos": int(windows.from_ego[keep].sum()),
    }
    return MotionVocabulary(
        times=np.arange(windows.x.shape[1], dtype=np.float64) * config.dt,
        x=windows.x[keep],
        y=windows.y[keep],
        yaw=windows.yaw[keep],
        speed=windows.speed[keep],
        weight=np.concatenate(weights),
        speed_edges=edges,
        provenance=provenance,
    ).check()


def scenario_windows(scenario: Scenario, config: VocabularyConfig) -> list[Windows]:
    """The windows of one scenario on the step its motion shows (`retime_factor`): its recorded egos'
    and (unless `config.egos_only`) its cars'."""
    dt = scenario.dt * retime_factor(scenario)
    egos = [ego.trajectory for ego in scenario.recorded_egos]
    found = []
    for trajectory in egos:  # one or a few per scenario
        first = int(trajectory.steps[0]) if len(trajectory) else 0
        span = int(trajectory.steps[-1]) - first + 1 if len(trajectory) else 0
        grid = np.full((4, 1, span), np.nan)
        at = trajectory.steps - first
        for row, values in enumerate((trajectory.x, trajectory.y, trajectory.yaw, trajectory.speed)):
            grid[row, 0, at] = values
        found.append(_track_windows(grid, np.isfinite(grid).all(axis=0), dt, True, config))
    if not config.egos_only:
        tracks = scenario.tracks
        cars = np.array([kind == AgentType.CAR for kind in tracks.agent_type], dtype=bool)
        grid = np.stack([tracks.x[cars], tracks.y[cars], tracks.yaw[cars], tracks.speed[cars]])
        valid = tracks.valid[cars] & np.isfinite(grid).all(axis=0)
        found.append(_track_windows(grid, valid, dt, False, config))
    return found


def _track_windows(
    values: FloatArray, valid: NDArray[np.bool_], step: float, from_ego: bool, config: VocabularyConfig
) -> Windows:
    """The windows of tracks `values` (4: x, y, yaw, speed; A, S) recorded every `step` [s] and
    `valid` (A, S): one every `config.stride` wherever the horizon is covered without a gap."""
    native = int(np.ceil(config.horizon / step - 1e-9)) + 1  # samples covering the horizon
    agents, steps = valid.shape
    if steps < native or agents == 0:
        return _empty(config)
    covered = np.asarray(np.lib.stride_tricks.sliding_window_view(valid, native, axis=1).all(axis=2))
    stride = max(1, round(config.stride / step))
    covered[:, np.arange(covered.shape[1]) % stride != 0] = False
    agent, start = np.nonzero(covered)
    if len(agent) == 0:
        return _empty(config)
    columns = start[:, None] + np.arange(native)[None, :]
    rows = [values[k][agent[:, None], columns] for k in range(4)]
    return _in_start_frame(np.stack(rows), step, from_ego, config)


def _in_start_frame(values: FloatArray, step: float, from_ego: bool, config: VocabularyConfig) -> Windows:
    """Windows `values` (4: x, y, yaw, speed; W, native samples recorded every `step` [s]) resampled
    to the vocabulary's grid, in their first pose's frame; implausible ones dropped."""
    dt = config.dt
    samples = round(config.horizon / dt) + 1
    native = values.shape[2]
    x, y, yaw, speed = values
    yaw = np.unwrap(yaw, axis=1)
    # resample: the same interpolation weights for every window
    position = np.arange(samples) * dt / step
    low = np.minimum(np.floor(position).astype(np.int64), native - 2)
    frac = position - low

    def resample(signal: FloatArray) -> FloatArray:
        return signal[:, low] * (1.0 - frac) + signal[:, low + 1] * frac

    x, y, yaw, speed = resample(x), resample(y), resample(yaw), resample(speed)
    cos, sin = np.cos(yaw[:, :1]), np.sin(yaw[:, :1])
    dx, dy = x - x[:, :1], y - y[:, :1]
    local_x, local_y = cos * dx + sin * dy, -sin * dx + cos * dy
    local_yaw = yaw - yaw[:, :1]
    acceleration = np.abs(np.diff(speed, axis=1)) / dt
    yaw_rate = np.abs(np.diff(local_yaw, axis=1)) / dt
    plausible = (
        (speed.min(axis=1) >= -_REVERSING)
        & (acceleration.max(axis=1) <= config.max_acceleration)
        & (yaw_rate.max(axis=1) <= config.max_yaw_rate)
    )
    keep = np.flatnonzero(plausible)
    return Windows(
        local_x[keep],
        local_y[keep],
        local_yaw[keep],
        np.maximum(speed[keep], 0.0),
        np.full(len(keep), from_ego),
    )


def _empty(config: VocabularyConfig) -> Windows:
    """No window."""
    none = np.zeros((0, round(config.horizon / config.dt) + 1))
    return Windows(none, none, none, none, np.zeros(0, dtype=bool))


def _concat(parts: list[Windows], config: VocabularyConfig) -> Windows:
    """The windows of `parts`, in order."""
    if not parts:
        return _empty(config)
    return Windows(
        np.concatenate([part.x for part in parts]),
        np.concatenate([part.y for part in parts]),
        np.concatenate([part.yaw for part in parts]),
        np.concatenate([part.speed for part in parts]),
        np.concatenate([part.from_ego for part in parts]),
    )


def _take(windows: Windows, rows: IntArray) -> Windows:
    """The windows at `rows`."""
    return Windows(
        windows.x[rows], windows.y[rows], windows.yaw[rows], windows.speed[rows], windows.from_ego[rows]
    )


def _shares(counts: IntArray, size: int) -> IntArray:
    """Motions per speed bin, `size` in all at most: one per non-empty bin (the fullest bins first
    when there are more bins than motions), the rest in proportion to the square root of each bin's
    window `counts` (largest remainders first), never more than a bin's windows."""
    shares = np.zeros_like(counts)
    filled = np.flatnonzero(counts > 0)
    shares[filled[np.argsort(-counts[filled], kind="stable")][:size]] = 1
    spare = np.sqrt(counts.astype(np.float64)) * (shares > 0)
    left = size - int(shares.sum())
    if left > 0 and spare.sum() > 0.0:
        exact = spare / spare.sum() * left
        extra = np.floor(exact).astype(np.int64)
        order = np.argsort(-(exact - extra), kind="stable")
        extra[order[: left - int(extra.sum())]] += 1
        shares += extra
    return np.minimum(shares, counts)


def _medoids(
    windows: Windows, rows: IntArray, k: int, rng: np.random.Generator, config: VocabularyConfig
) -> tuple[IntArray, IntArray]:
    """(window rows, cluster sizes) of the medoids of `k` seeded k-means clusters of the windows at
    `rows`, clustered on their positions every second [m]."""
    if k >= len(rows):
        return rows, np.ones(len(rows), dtype=np.int64)
    every = max(1, round(1.0 / config.dt))
    features = np.hstack([windows.x[rows, every::every], windows.y[rows, every::every]])
    with warnings.catch_warnings():  # an empty cluster is skipped below, not worth a warning
        warnings.simplefilter("ignore")
        centres, labels = kmeans2(features, k, iter=config.kmeans_iterations, minit="++", rng=rng)
    distance = ((features - centres[labels]) ** 2).sum(axis=1)
    medoids, sizes = [], []
    for cluster in np.unique(labels):  # empty clusters have no medoid and are skipped
        members = np.flatnonzero(labels == cluster)
        medoids.append(rows[members[np.argmin(distance[members])]])
        sizes.append(len(members))
    return np.asarray(medoids, dtype=np.int64), np.asarray(sizes, dtype=np.int64)
