"""Scoring rolled-out proposals against the forecast traffic and the map, the way the metrics score
a run (`drivestack.metrics`: nuPlan's closed-loop score), in one compiled pass over all proposals.

Per proposal, `check_proposals` finds (every `stride` steps, the boxes moving on until the next
checked step, agents at their velocities and the ego as its rollout does, so nothing slips through
in between): the first at-fault collision with a forecast agent under nuPlan's fault rules (never
while the ego stands until the next checked step; always
with a stopped agent or when the ego's front bumper hits; an agent behind the ego, bearing from
the rear axle above `behind_angle`, rear-ends it; a sideways contact is the ego's fault while it
changes lanes, and here, where forecasts are too rough to tell side from front, always except with
a faster same-way agent passing the ego; blameless contacts are
recorded separately; agents overlapping the ego already at the first step are replayed ghosts
passing through it and are ignored), the first step whose time to collision is at most `ttc_min`
(boxes moving on at constant velocity, exact separating-axis intervals, sampled like nuPlan at
0.1 s; relevant agents are those ahead within `ahead_angle`, or every agent not behind while the
proposal changes lanes or crosses an intersection), and how many checked steps put a box corner
off the drivable area. `score_proposals` combines them with progress, speed-limit, comfort and
goal terms (see `ScoringConfig`). Arrays: proposals (B, T), agents (A, T), T = H + 1 steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.dynamics import BicycleState, VehicleParams
from drivestack.core.filters import savgol_operator, window_samples
from drivestack.core.goal import GoalCheck
from drivestack.core.overlap import overlap_interval
from drivestack.core.rows import distinct_rows
from drivestack.maps.raster import DRIVABLE, MapRaster, raster_cell
from drivestack.plan.drivestack.config import ScoringConfig
from drivestack.plan.drivestack.stages import BRAKE, STOP, Memory, Proposals
from drivestack.predict import Forecast

if TYPE_CHECKING:
    from drivestack.plan.drivestack.decide import LaneOption, Scene

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_TTC_GRID = 0.1  # [s] nuPlan's time-to-collision sampling
_GHOST_DEPTH = 0.5  # [m] boxes overlapping at the first step by this much are replayed ghosts
_SAME_WAY = np.cos(np.deg2rad(35.0))  # agents heading within this of the ego drive alongside it
_LANE_TOLERANCE = 0.1  # [m] a corner may stick out of its lane before the ego counts as between lanes


@njit(cache=True)
def _check_kernel(
    ex: FloatArray,
    ey: FloatArray,
    eyaw: FloatArray,
    ev: FloatArray,
    wide: BoolArray,
    changing: BoolArray,
    checked: BoolArray,
    ego: FloatArray,
    ax: FloatArray,
    ay: FloatArray,
    ayaw: FloatArray,
    av: FloatArray,
    asize: FloatArray,
    grid: NDArray[np.uint8],
    origin: FloatArray,
    resolution: float,
    params: FloatArray,
    stride: int,
    ttc_steps: int,
    dt: float,
) -> IntArray:
    """(5, B): first at-fault collision step (T: none), its agent (-1), first blameless collision
    step (T), first time-to-collision violation step (T), number of checked steps off the drivable
    area.

    `ego` = (half length, half width, rear-axle offset [m], drivable shrink [m]); `asize` (6, A)
    half lengths and widths [m], their growth rates [m/s] and caps [m] (for contacts only);
    `params` = (ego stopped speed, agent stopped speed, behind angle, ahead angle, ttc_min)."""
    half_length, half_width, rear, shrink = ego
    stopped_ego, stopped_agent, behind, ahead, ttc_min = params
    count, steps = ex.shape
    agents = ax.shape[0]
    out = np.empty((5, count), dtype=np.int64)
    ego_radius = np.hypot(half_length, half_width)
    grid_points = int(ttc_min / _TTC_GRID + 1e-9)
    # agents overlapping the ego now pass through it (a replayed log): nothing to decide about them
    present = np.zeros(agents, dtype=np.bool_)
    cos0, sin0 = np.cos(eyaw[0, 0]), np.sin(eyaw[0, 0])
    for j in range(agents):
        if np.isfinite(ax[j, 0]):
            ocos, osin = np.cos(ayaw[j, 0]), np.sin(ayaw[j, 0])
            deep = _GHOST_DEPTH  # a real overlap, not a margin touching the ego
            start, stop = overlap_interval(
                ex[0, 0], ey[0, 0], cos0, sin0, half_length - deep, half_width - deep, 0.0, 0.0,
                ax[j, 0], ay[j, 0], ocos, osin, asize[0, j] - deep, asize[1, j] - deep, 0.0, 0.0,
            )  # fmt: skip
            present[j] = start <= stop
    touched = np.zeros((count, agents), dtype=np.bool_)  # contacts are judged once, at the first
    collision = np.full(count, steps, dtype=np.int64)
    culprit = np.full(count, -1, dtype=np.int64)
    blameless = np.full(count, steps, dtype=np.int64)
    ttc = np.full(count, steps, dtype=np.int64)
    offroad = np.zeros(count, dtype=np.int64)
    span = dt * stride  # [s] until the next checked step: contacts in between count
    candidates = np.empty(agents, dtype=np.int64)
    near = np.empty((7, agents))  # per candidate: cos, sin, vx, vy, grown half length and width, radius
    for k in range(0, steps, stride):
        # agents that no proposal can reach at this step are skipped at once (proposals cluster)
        low_x, high_x = ex[:, k].min(), ex[:, k].max()
        low_y, high_y = ey[:, k].min(), ey[:, k].max()
        fastest = ev[:, k].max()
        found = 0
        for j in range(agents):
            ox, oy = ax[j, k], ay[j, k]
            if present[j] or not np.isfinite(ox):
                continue
            grown = np.hypot(asize[0, j] + asize[4, j], asize[1, j] + asize[5, j])
            margin = ego_radius + grown + (fastest + av[j, k]) * (span + ttc_min)
            if low_x - margin <= ox <= high_x + margin and low_y - margin <= oy <= high_y + margin:
                candidates[found] = j
                ocos, osin = np.cos(ayaw[j, k]), np.sin(ayaw[j, k])
                # forecasts grow less certain: boxes grow with time (up to a cap) for contacts
                ohl = asize[0, j] + min(asize[2, j] * k * dt, asize[4, j])
                ohw = asize[1, j] + min(asize[3, j] * k * dt, asize[5, j])
                near[:, found] = ocos, osin, av[j, k] * ocos, av[j, k] * osin, ohl, ohw, np.hypot(ohl, ohw)
                found += 1
        for b in range(count):
            x, y, yaw, v = ex[b, k], ey[b, k], eyaw[b, k], ev[b, k]
            cos, sin = np.cos(yaw), np.sin(yaw)
            if k > 0 and checked[b, k]:
                for corner in range(4):
                    along = (half_length - shrink) * (1.0 if corner < 2 else -1.0)
                    side = (half_width - shrink) * (1.0 if corner % 2 == 0 else -1.0)
                    cell = raster_cell(
                        x + along * cos - side * sin, y + along * sin + side * cos, grid, origin, resolution
                    )
                    if not (cell & DRIVABLE):
                        offroad[b] += 1
                        break
            check_ttc = k < ttc_steps and ttc[b] == steps and v > 0.005
            if collision[b] < steps and not check_ttc:
                continue  # nothing left to learn about this proposal but blameless contacts
            vx, vy = v * cos, v * sin
            # until the next checked step the ego moves as its rollout does (a standing ego may be
            # about to start: a contact then is its own doing)
            following = min(k + stride, steps - 1)
            mvx, mvy = vx, vy
            if following > k:
                mvx = (ex[b, following] - x) / (dt * (following - k))
                mvy = (ey[b, following] - y) / (dt * (following - k))
            moving = max(v, ev[b, following]) > stopped_ego
            rx, ry = x - rear * cos, y - rear * sin
            horizon = span + (ttc_min if check_ttc else 0.0)
            for n in range(found):
                j = candidates[n]
                if touched[b, j]:
                    continue
                ox, oy, ov = ax[j, k], ay[j, k], av[j, k]
                reach = ego_radius + near[6, n] + (max(v, ev[b, following]) + ov) * horizon
                if (ox - x) ** 2 + (oy - y) ** 2 > reach * reach:
                    continue
                ocos, osin, ovx, ovy, ohl, ohw = (
                    near[0, n],
                    near[1, n],
                    near[2, n],
                    near[3, n],
                    near[4, n],
                    near[5, n],
                )
                start, stop = overlap_interval(
                    x, y, cos, sin, half_length, half_width, mvx, mvy, ox, oy, ocos, osin, ohl, ohw, ovx, ovy
                )
                overlapping = start <= stop and stop >= 0.0 and start <= span
                if not overlapping and not check_ttc:
                    continue
                bx, by = ox - rx, oy - ry
                norm = np.hypot(bx, by)
                bearing = np.arccos(min(max((cos * bx + sin * by) / norm, -1.0), 1.0)) if norm > 0 else 0.0
                if overlapping:
                    touched[b, j] = True
                    if collision[b] < steps or not moving:
                        continue
                    at_fault = ov <= stopped_agent
                    if not at_fault and bearing <= behind:  # front bumper, or sideways while changing lanes
                        front_x, front_y = x + half_length * cos, y + half_length * sin
                        start, stop = overlap_interval(
                            front_x, front_y, cos, sin, 0.0, half_width, mvx, mvy,
                            ox, oy, ocos, osin, ohl, ohw, ovx, ovy,
                        )  # fmt: skip
                        front = start <= stop and stop >= 0.0 and start <= span
                        # a faster same-way agent passing the ego hits its side; a crossing one,
                        # or a slower one alongside (a merge), may well be hit by the ego
                        same_way = cos * ocos + sin * osin >= _SAME_WAY
                        overtaking = same_way and ov > v
                        at_fault = front or changing[b, k] or not overtaking
                    if at_fault:
                        collision[b], culprit[b] = k, j
                    elif blameless[b] == steps:
                        blameless[b] = k
                    continue
                if not check_ttc or not (bearing < ahead or (wide[b, k] and bearing <= behind)):
                    continue
                start, stop = overlap_interval(  # time to collision: the boxes as they are (as the metric)
                    x, y, cos, sin, half_length, half_width, vx, vy,
                    ox, oy, ocos, osin, asize[0, j], asize[1, j], ovx, ovy,
                )  # fmt: skip
                first = max(np.ceil(start / _TTC_GRID - 1e-9), 1.0)
                if start <= stop and first <= grid_points and first * _TTC_GRID <= stop + 1e-9:
                    ttc[b] = k
    out[0], out[1], out[2], out[3], out[4] = collision, culprit, blameless, ttc, offroad
    return out


@dataclass(frozen=True, eq=False)
class Checks:
    """Safety checks of B proposals: first at-fault collision step `collision` (T: none) and the
    agent row `culprit` (-1), first blameless collision step `blameless` (hit from behind, or
    sideways while keeping the lane), first time-to-collision violation step `ttc`, and `offroad`
    (number of checked steps with a corner off the drivable area)."""

    collision: IntArray
    culprit: IntArray
    blameless: IntArray
    ttc: IntArray
    offroad: IntArray

    def until(self, last: IntArray, steps: int) -> Checks:
        """The checks of steps up to `last` (B,) only (later findings dropped: `steps` means none)."""

        def upto(found: IntArray) -> IntArray:
            return np.where(found > last, steps, found)

        culprit = np.where(self.collision > last, -1, self.culprit)
        return Checks(upto(self.collision), culprit, upto(self.blameless), upto(self.ttc), self.offroad)


@dataclass(frozen=True, eq=False)
class StepMarks:
    """Per proposal and step (B, T): `wide` where every agent not behind is relevant to the time
    to collision (crossing an intersection or changing lanes), `changing` where the ego changes
    lanes (sideways contacts are its fault there), `checked` where the drivable area is checked
    (a run ends at its goal: later steps never happen)."""

    wide: BoolArray
    changing: BoolArray
    checked: BoolArray


def check_proposals(
    states: BicycleState,
    vehicle: VehicleParams,
    marks: StepMarks,
    forecast: Forecast,
    raster: MapRaster,
    dt: float,
    config: ScoringConfig,
) -> Checks:
    """Collision, time-to-collision and drivable-area checks of rolled-out proposals `states`
    (B, T) of a `vehicle` against the `forecast` agents (A, T) on the `raster`'s drivable area.
    Agents' boxes are grown by `config`'s margins (static rows, `source` -1, are where they are)
    and, for contacts, grow with time (`vehicle_growth`, `vulnerable_growth`)."""
    stride = max(1, round(config.check_interval / dt))
    ttc_steps = round(config.ttc_check / dt) + 1
    params = np.array(
        [
            config.ego_stopped_speed,
            config.agent_stopped_speed,
            config.behind_angle,
            config.ahead_angle,
            config.ttc_min,
        ]
    )
    margin = 2.0 * np.where(forecast.vulnerable, config.vulnerable_margin, config.vehicle_margin)
    margin[forecast.source < 0] = 0.0  # static obstacles are where they are
    growth = np.where(
        forecast.vulnerable[None, :],
        np.array(config.vulnerable_growth)[:, None],
        np.array(config.vehicle_growth)[:, None],
    )
    sizes = np.vstack([0.5 * (forecast.length + margin), 0.5 * (forecast.width + margin), growth])

    def floats(values: FloatArray) -> FloatArray:
        return np.ascontiguousarray(values, dtype=np.float64)

    # repeated proposals are checked once (row 0 stays first: the kernel reads the start from it)
    first, number = distinct_rows(
        states.x, states.y, states.yaw, states.speed, marks.wide, marks.changing, marks.checked
    )

    def flags(values: BoolArray) -> BoolArray:
        return np.ascontiguousarray(values[first], dtype=np.bool_)

    out = _check_kernel(
        floats(states.x[first]),
        floats(states.y[first]),
        floats(states.yaw[first]),
        floats(states.speed[first]),
        flags(marks.wide),
        flags(marks.changing),
        flags(marks.checked),
        np.array(
            [0.5 * vehicle.length, 0.5 * vehicle.width, 0.5 * vehicle.wheelbase, config.drivable_shrink]
        ),
        floats(forecast.x),
        floats(forecast.y),
        floats(forecast.yaw),
        floats(forecast.speed),
        floats(sizes),
        raster.grid,
        floats(raster.origin),
        float(raster.resolution),
        params,
        stride,
        ttc_steps,
        float(dt),
    )[:, number]
    return Checks(out[0], out[1], out[2], out[3], out[4])


Stages = tuple[tuple[float, int, int], ...]
"""Savitzky-Golay filters applied in turn, each (window [s], polynomial order, derivative)."""


@dataclass(frozen=True, eq=False)
class PastMotion:
    """The ego's executed accelerations [m/s2] and headings [rad] before now (P,) each, oldest
    first; `from_start`: they begin at the run's start."""

    acceleration: FloatArray
    yaw: FloatArray
    from_start: bool = True

    @staticmethod
    def none() -> PastMotion:
        """No past: the run starts now."""
        return PastMotion(np.zeros(0), np.zeros(0))


@dataclass(frozen=True, eq=False)
class _Chain:
    """Filter stages as one (length, length) operator `full`, and `tail`: the last `reach` rows of
    the operator for a signal that ends there (the rows the end's edge fits shape), over the last
    samples they read (as many as the stages' windows together)."""

    full: FloatArray
    tail: FloatArray
    reach: int


def _window(duration: float, dt: float, order: int) -> int:
    """The metric's window [samples] for `duration` [s] at `dt` [s] on a long signal."""
    window = window_samples(duration, dt, order, 1 << 20)
    return 0 if window is None else window


@lru_cache(maxsize=128)
def _chain(length: int, dt: float, stages: Stages) -> _Chain | None:
    """The metric's filter `stages` at `dt` on `length` samples; None when too short for them."""

    def operator(size: int) -> FloatArray | None:
        product = np.eye(size)
        for duration, order, deriv in stages:
            window = window_samples(duration, dt, order, size)
            if window is None:
                return None
            product = savgol_operator(size, window, order, deriv, dt) @ product
        return product

    windows = [_window(duration, dt, order) for duration, order, _ in stages]
    reach = sum(window // 2 for window in windows)
    full, edge = operator(length), operator(sum(windows))
    if full is None or edge is None or reach == 0:
        return None
    return _Chain(full, edge[-reach:], reach)


def _metric_within(
    signal: FloatArray,
    stages: Stages,
    bound: tuple[float, float],
    now: int,
    from_start: bool,
    end: IntArray,
    dt: float,
) -> BoolArray:
    """(B,) True where `signal` (B, N) (the past, then rollouts from column `now` that end the run
    at column `end` (B,) of theirs, or go on when `end` is past their last) filtered by `stages`
    stays strictly within `bound` wherever the rollout shapes the filtered value and the metric's
    value is known: not before the filter's reach into the past (nor, without the run's start,
    where the past's own edge distorts it), not within the reach of the horizon's end when the run
    goes on beyond it, with the metric's edge fits where the run ends."""
    # the past further back than the filters reach into the judged columns changes nothing
    reach = sum(_window(duration, dt, order) // 2 for duration, order, _ in stages)
    cut = max(now - 2 * reach, 0)
    if cut > 0:
        signal, now, from_start = signal[:, cut:], now - cut, False
    count, length = signal.shape
    chain = _chain(length, dt, stages)
    if chain is None:
        return np.ones(count, dtype=bool)
    low, high = bound
    first = max(now - chain.reach, 0 if from_start else min(chain.reach, now))
    ends = now + end < length
    stop = np.where(ends, now + end, length - 1)
    column = np.arange(length)[None, :]
    judged = (column >= first) & (column <= (stop - chain.reach)[:, None])
    values = signal @ chain.full.T
    ok = np.asarray(~(judged & ((values <= low) | (values >= high))).any(axis=1), dtype=bool)
    ending = np.flatnonzero(ends)
    if len(ending):
        size = chain.tail.shape[1]
        last = stop[ending]
        at = np.clip(last[:, None] - size + 1 + np.arange(size)[None, :], 0, None)
        edge = np.take_along_axis(signal[ending], at, axis=1) @ chain.tail.T
        rows = last[:, None] - chain.reach + 1 + np.arange(chain.reach)[None, :]
        ok[ending] &= ~((rows >= first) & ((edge <= low) | (edge >= high))).any(axis=1)
    return ok


def comfortable(
    acceleration: FloatArray,
    speed: FloatArray,
    yaw: FloatArray,
    yaw_rate: FloatArray,
    past: PastMotion,
    end: IntArray,
    dt: float,
    config: ScoringConfig,
) -> BoolArray:
    """(B,) True where rollouts (B, T) of accelerations [m/s2], speeds [m/s], headings [rad] and yaw
    rates [rad/s], ending the run at column `end` (B,) (T: it goes on), keep the comfort metric in
    bounds. Longitudinal acceleration and jerk, yaw rate and yaw acceleration are filtered as the
    metric filters the run (the executed `past`, then the rollout; see `_metric_within`). Unsmoothed
    accelerations and step jerks must keep the bounds too until the run ends (smoothing hides what
    replanning every step makes of them; a proposal that starts out of bounds is judged from its
    second step), and so must the states' lateral acceleration and yaw rate."""
    count, steps = acceleration.shape
    bounds = config.comfort
    now = len(past.acceleration)
    lon = np.concatenate([np.broadcast_to(past.acceleration, (count, now)), acceleration], axis=1)
    heading = np.unwrap(np.concatenate([np.broadcast_to(past.yaw, (count, now)), yaw], axis=1), axis=1)
    smooth = (bounds.accel_window, 2, 0)
    judged: tuple[tuple[FloatArray, Stages, tuple[float, float]], ...] = (
        (lon, (smooth,), (bounds.min_lon_accel, bounds.max_lon_accel)),
        (lon, (smooth, (bounds.jerk_window, 2, 1)), (-bounds.max_abs_lon_jerk, bounds.max_abs_lon_jerk)),
        (heading, ((bounds.yaw_window, 2, 1),), (-bounds.max_abs_yaw_rate, bounds.max_abs_yaw_rate)),
        (heading, ((bounds.yaw_window, 3, 2),), (-bounds.max_abs_yaw_accel, bounds.max_abs_yaw_accel)),
    )
    ok = np.ones(count, dtype=bool)
    for signal, stages, bound in judged:  # four signals, each one batched product
        ok &= _metric_within(signal, stages, bound, now, past.from_start, end, dt)
    until = np.arange(1, steps)[None, :] <= end[:, None]
    later = acceleration[:, 1:]
    ok &= ~(until & ((later <= bounds.min_lon_accel) | (later >= bounds.max_lon_accel))).any(axis=1)
    ok &= ~(until[:, 1:] & (np.abs(np.diff(later, axis=1)) >= bounds.max_abs_lon_jerk * dt)).any(axis=1)
    rate = np.abs(yaw_rate[:, 1:])
    ok &= (speed[:, 1:] * rate).max(axis=1) < bounds.max_abs_lat_accel
    return np.asarray(ok & (rate.max(axis=1) < bounds.max_abs_yaw_rate), dtype=bool)


@dataclass(frozen=True, eq=False)
class Scores:
    """Scores of B proposals: `total` (what is maximised), `safe` (passes the gates), the nuPlan-like
    terms `progress` (normalised), `ttc`, `speed_limit`, `comfort` and `goal` (reaches a goal
    state), each (B,), and the safety `checks` they rest on."""

    total: FloatArray
    safe: BoolArray
    progress: FloatArray
    ttc: FloatArray
    speed_limit: FloatArray
    comfort: FloatArray
    goal: BoolArray
    checks: Checks


@dataclass(frozen=True, eq=False)
class Features:
    """What the scorer weighs per proposal besides its checks, (B,) each: `progress` [m] along the
    route, `overspeed` integral [m] over the limit, `comfort` (keeps the comfort metric in bounds),
    `goal` credit (in (0, 1] where it reaches a goal state, which is then all the progress there
    is; 0 elsewhere), `lane_changes`, `consistent` (with the previous choice), `offset` [m] off the
    centerline, `straddle` (share of steps riding the line between two lanes without changing
    lanes) and `effort` (mean absolute acceleration [m/s2])."""

    progress: FloatArray
    overspeed: FloatArray
    comfort: BoolArray
    goal: FloatArray
    lane_changes: IntArray
    consistent: BoolArray
    offset: FloatArray
    straddle: FloatArray
    effort: FloatArray


def score_proposals(
    checks: Checks,
    features: Features,
    steps: int,
    gate: int,
    offroad_now: bool,
    horizon: float,
    config: ScoringConfig,
) -> Scores:
    """Combine the checks of proposals over `steps` (T) steps (at-fault collisions before step
    `gate` are unsafe, later ones cost) with their `features` into `total` (-inf for unsafe
    proposals) over a `horizon` [s].

    The gates are no at-fault collision and staying on the drivable area, unless the ego is off it
    already (`offroad_now`: then fewer off-road steps are merely better). Progress is normalised by
    the best safe proposal's (at least `progress_floor` [m])."""
    progress, overspeed, comfort, goal = (
        features.progress,
        features.overspeed,
        features.comfort,
        features.goal,
    )
    on_road = checks.offroad == 0
    safe = (checks.collision >= gate) & (on_road | offroad_now)
    pool = safe if safe.any() else np.ones_like(safe)
    arrives = goal > 0.0
    best = max(float(progress[pool & ~arrives].max(initial=0.0)), config.progress_floor)
    progress_term = np.where(arrives, 1.0, np.clip(progress / best, 0.0, 1.0))
    ttc_term = (checks.ttc >= steps).astype(np.float64)
    speed_term = np.clip(1.0 - overspeed / (config.max_overspeed * horizon), 0.0, 1.0)
    comfort_term = comfort.astype(np.float64)
    weights = config.weight_progress + config.weight_ttc + config.weight_speed_limit + config.weight_comfort
    weighted = (
        config.weight_progress * progress_term
        + config.weight_ttc * ttc_term
        + config.weight_speed_limit * speed_term
        + config.weight_comfort * comfort_term
    ) / weights
    extras = (
        config.goal_bonus * goal
        - config.lane_change_cost * features.lane_changes
        + config.consistency_bonus * features.consistent
        - config.blameless_collision_cost * (checks.blameless < steps)
        - config.late_collision_cost * (checks.collision < steps)
        - config.offset_cost * features.offset
        - config.straddle_cost * features.straddle
        - config.effort_cost * features.effort
    )
    if offroad_now:
        extras = extras - 0.5 * checks.offroad / max(int(checks.offroad.max(initial=1)), 1)
    total = np.where(safe, weighted + extras, -np.inf)
    return Scores(total, safe, progress_term, ttc_term, speed_term, comfort_term, arrives, checks)


class DrivestackScorer:
    """Scores proposals of any source the way the metrics score a run (see the module docstring),
    on one map's drivable `raster` toward the run's `goal`."""

    def __init__(self, config: ScoringConfig, raster: MapRaster, goal: GoalCheck) -> None:
        self.config = config
        self.raster = raster
        self.goal = goal

    def score(self, scene: Scene, options: list[LaneOption], proposals: Proposals, memory: Memory) -> Scores:
        """Checks and scores of the rolled-out `proposals`; `memory` says which lane and offset the
        previous step chose (consistency with it earns a bonus)."""
        config = self.config
        vehicle, forecast, raster, states = scene.vehicle, scene.forecast, self.raster, proposals.states
        along = proposals.s
        steps = along.shape[1]
        last = scene.last_step
        run_end = steps if last is None else max(last - scene.step, 1)  # column the run ends at
        judged = min(run_end, steps - 1)  # the last column the run lives to see
        corridors = [option.corridor for option in options]
        excess_end = np.empty(proposals.count)
        lane_limit = np.empty(along.shape)
        wanted = np.empty(along.shape)
        crossing = np.empty(along.shape, dtype=bool)
        lane_left = np.empty(along.shape)
        lane_right = np.empty(along.shape)
        for number, corridor in enumerate(corridors):  # at most three corridors
            rows = proposals.option == number
            here = corridor.station(along[rows])  # (rows, T) stations, gathered from once
            excess_end[rows] = corridor.excess[here[:, judged]]
            lane_limit[rows] = corridor.speed_limit[here]
            wanted[rows] = options[number].envelope[here]
            crossing[rows] = corridor.in_intersection[here]
            lane_left[rows] = corridor.half_left[here]
            lane_right[rows] = corridor.half_right[here]
        first = options[0]
        excess_now = float(first.corridor.excess[first.corridor.station(first.s0)])
        progress = (along[:, judged] - along[:, 0]) - (excess_end - excess_now)
        sides = np.array([option.side for option in options])[proposals.option]
        shifting = np.abs(proposals.d - proposals.d[:, -1:]) > 0.3
        # off its lane's middle by more than the lane allows, the ego is "changing lanes" for the metric
        half = 0.5 * vehicle.width - _LANE_TOLERANCE
        straddling = (proposals.d + half > lane_left) | (half - proposals.d > lane_right)
        changing = (shifting & (sides != 0)[:, None]) | straddling
        wide = crossing | changing
        # a run ends where a goal state holds: what a proposal would do after reaching it never happens
        horizon = scene.step + np.arange(steps)
        reached = self.goal.mask(horizon, states.x, states.y, states.yaw, states.speed)
        reached[:, 0] = False
        reached[:, run_end + 1 :] = False  # an arrival after the run ends never happens
        arrives = reached.any(axis=1)
        arrival = np.where(arrives, reached.argmax(axis=1), steps - 1)
        # the drivable area and the limit are judged while the run lasts; collisions over the horizon
        until = np.arange(steps)[None, :] <= np.minimum(arrival, run_end)[:, None]
        marks = StepMarks(wide, changing, until)
        checks = check_proposals(states, vehicle, marks, forecast, raster, scene.dt, config)
        checks = checks.until(arrival, steps)
        # the limit the plan respects: the map's, or the envelope where the goal asks for more, an
        # excuse only the arrival it buys makes (none where the run ends inside the horizon without)
        excused = arrives | (run_end >= steps - 1)
        limit = np.where(excused[:, None], np.maximum(lane_limit, wanted), lane_limit)  # NaN: no limit
        with np.errstate(invalid="ignore"):
            excess = np.where(np.isfinite(limit) & until, np.maximum(states.speed - limit, 0.0), 0.0)
        overspeed = excess[:, 1:].sum(axis=1) * scene.dt
        held = np.minimum(np.arange(steps)[None, :], arrival[:, None])  # states frozen at the goal
        end = np.minimum(np.where(arrives, arrival, steps), run_end)
        comfort = comfortable(
            states.acceleration,
            np.take_along_axis(states.speed, held, axis=1),
            states.yaw,
            np.take_along_axis(states.yaw_rate, held, axis=1),
            scene.past,
            end,
            scene.dt,
            config,
        )
        goal = np.where(arrives, 1.0 - 0.5 * arrival / (steps - 1), 0.0)  # sooner is better
        corridor_holds = np.array([option.corridor.holds(memory.target_lane) for option in options])
        consistent = corridor_holds[proposals.option]
        gate = config.collision_gate_reaction + scene.ego.speed / config.collision_gate_deceleration
        gate = min(max(gate, config.collision_gate_min), (steps - 1) * scene.dt)
        target = proposals.target
        features = Features(
            progress=progress,
            overspeed=overspeed,
            comfort=comfort,
            goal=goal,
            lane_changes=(sides != 0).astype(np.int64),
            consistent=consistent,
            offset=np.where(sides == 0, np.abs(target) + np.abs(target - memory.offset), 0.0),
            straddle=(straddling & (sides == 0)[:, None]).mean(axis=1),
            effort=np.abs(states.acceleration).mean(axis=1),
        )
        horizon_s = (steps - 1) * scene.dt
        return score_proposals(
            checks, features, steps, round(gate / scene.dt), scene.off_road, horizon_s, config
        )


def choose(scores: Scores, proposals: Proposals, off_road: bool) -> int:
    """The best safe proposal other than the emergency brake, else the best safe one. Without one:
    when every proposal leaves the drivable area (and the ego is not `off_road` already), the
    emergency brake (stop as soon as possible); otherwise, of the proposals on it, the one whose
    first collision comes latest (then comfortable ones: there is time to replan, then braking ones)."""
    kind, checks = proposals.kind, scores.checks
    calm = scores.safe & (kind != BRAKE)
    if calm.any():
        return int(np.argmax(np.where(calm, scores.total, -np.inf)))
    if scores.safe.any():
        return int(np.argmax(scores.total))
    on_road = checks.offroad == 0
    if not on_road.any() and not off_road:
        return int(np.flatnonzero(kind == BRAKE)[-1])
    brake_first = (kind == BRAKE).astype(np.float64) + 0.5 * (kind == STOP)
    order = np.lexsort((brake_first, scores.comfort, checks.collision, on_road | off_road))
    return int(order[-1])
