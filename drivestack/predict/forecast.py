"""Constant-velocity and lane-following forecasts of agents, vectorized over agents and times.

- `constant_velocity`: every agent keeps its speed and heading (nuPlan's and PDM-Closed's model).
- `lane_following`: a vehicle on a lane it is aligned with drives along that lane and its
  straightest successors at its speed (braking ones keep braking until they stop, accelerating
  ones keep accelerating a little; every one slows down for curves and turns ahead), its lateral
  offset from the centerline fading with time constant `offset_decay`; where lanes overlap
  (intersections) or branch ahead, it gets one forecast row per lane it may take (multi-modal
  occupancy); pedestrians, bicycles, vehicles off the lanes or heading across them, and stopped
  agents fall back to constant velocity, turning at their present yaw rate for a few seconds.

Lane paths (a lane and its straightest successors, resampled every `path_spacing` metres) are built
on first use per lane and kept (`LanePaths`), so a forecast is a gather from arrays. Positions [m],
headings [rad], speeds [m/s], times [s] from now; arrays (A, T) for A agents and T times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.geometry import Polyline, angle_diff, box_corners
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import AgentType, Tracks
from drivestack.maps.index import MapIndex

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_HEADING_WEIGHT = 4.0  # [m/rad] lane choice cost = |offset| + weight x heading error (as MapIndex.assign)
_CURVATURE_WINDOW = 6.0  # [m] over which a lane path's curvature is smoothed (as routing's corridors)


@dataclass(frozen=True)
class ForecastConfig:
    """Lane-following parameters.

    A vehicle follows its lane when its heading is within `max_heading_error` [rad] of the lane's and
    it moves faster than `min_speed` [m/s]; its lateral offset decays with `offset_decay` [s]; an
    acceleration below `braking_threshold` [m/s2] is kept (down to a stop), one above
    `speeding_threshold` too (at most `max_acceleration`, until `speed_gain` [m/s] faster), others
    count as 0.
    Lane paths run `path_length` [m] from each lane's start, sampled every `path_spacing` [m].
    `multimodal`: a vehicle follows every lane holding it that it is aligned with, and near a lane's
    end (within `branch_time` [s] of travel plus `branch_distance` [m]) every successor, up to
    `max_modes` rows; otherwise only its best-aligned lane's straightest continuation. Agents not
    following a lane keep their yaw rate (see `constant_turn`).
    A vehicle moving sideways off its lane's centre faster than `drift_speed` [m/s] (a lane change
    under way) gets one more row that keeps drifting until `drift_offset` [m] (a lane width) off it.
    Along its lane path a vehicle takes curves at most `turn_lateral_acceleration` [m/s2] (a turn
    at an intersection is not taken at the speed of going straight), slowing for them ahead at
    `turn_deceleration` [m/s2] and speeding up again after them at `max_acceleration`.
    """

    max_heading_error: float = float(np.deg2rad(35.0))
    min_speed: float = 0.3
    offset_decay: float = 2.0
    braking_threshold: float = -1.0
    speeding_threshold: float = 0.5
    max_acceleration: float = 2.0
    speed_gain: float = 5.0
    path_length: float = 320.0
    path_spacing: float = 1.0
    multimodal: bool = True
    max_modes: int = 3
    max_turn_rate: float = 0.6
    min_turn_rate: float = 0.05
    turn_time: float = 3.0
    branch_time: float = 1.5
    branch_distance: float = 5.0
    drift_speed: float = 0.4
    drift_offset: float = 3.5
    turn_lateral_acceleration: float = 3.0
    turn_deceleration: float = 2.0


@dataclass(frozen=True, eq=False)
class AgentStates:
    """Present states of A agents, each (A,): id, centre [m], yaw [rad], speed [m/s] along the
    heading, acceleration [m/s2], box length and width [m], whether each is a vulnerable road user
    (pedestrian, bicycle, motorcycle) or a pedestrian, and yaw rate [rad/s]."""

    ids: IntArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    acceleration: FloatArray
    length: FloatArray
    width: FloatArray
    vulnerable: BoolArray
    pedestrian: BoolArray
    yaw_rate: FloatArray

    @property
    def count(self) -> int:
        """Number of agents A."""
        return int(self.ids.shape[0])

    @staticmethod
    def from_tracks(
        tracks: Tracks, column: int = -1, dt: float | None = None, window: float = 1.0
    ) -> AgentStates:
        """The agents valid at `column` of `tracks` (default: the last, i.e. now) with finite poses.

        Given the step `dt` [s], accelerations and yaw rates are the mean changes of speed and yaw
        over the last `window` [s] of the tracks (recorded ones may be noisy or on another time
        grid), where the agent was there then; otherwise the recorded ones. NaN speeds,
        accelerations and yaw rates count as 0 (an agent known only by its positions).
        """
        column = column % max(tracks.num_steps, 1)
        x, y, yaw = tracks.x[:, column], tracks.y[:, column], tracks.yaw[:, column]
        keep = tracks.valid[:, column] & np.isfinite(x) & np.isfinite(y) & np.isfinite(yaw)
        rows = np.flatnonzero(keep)
        kinds = [tracks.agent_type[i] for i in rows]
        speed = tracks.speed[rows, column]
        acceleration = tracks.acceleration[rows, column]
        yaw_rate = tracks.yaw_rate[rows, column]
        back = min(round(window / dt), column) if dt is not None and dt > 0.0 else 0
        if back >= 1:
            then = column - back
            before_speed, before_yaw = tracks.speed[rows, then], tracks.yaw[rows, then]
            there = tracks.valid[rows, then] & np.isfinite(before_speed) & np.isfinite(before_yaw)
            span = back * float(dt)  # type: ignore[arg-type]
            acceleration = np.where(there, (speed - before_speed) / span, acceleration)
            turned = np.asarray(angle_diff(yaw[rows], before_yaw))
            yaw_rate = np.where(there, turned / span, yaw_rate)
        return AgentStates(
            ids=tracks.ids[rows],
            x=x[rows],
            y=y[rows],
            yaw=yaw[rows],
            speed=np.nan_to_num(np.abs(speed)),
            acceleration=np.nan_to_num(acceleration),
            length=tracks.length[rows],
            width=tracks.width[rows],
            vulnerable=np.array([kind.is_vulnerable for kind in kinds], dtype=bool),
            pedestrian=np.array([kind is AgentType.PEDESTRIAN for kind in kinds], dtype=bool),
            yaw_rate=np.nan_to_num(yaw_rate),
        )

    def take(self, rows: IntArray | BoolArray) -> AgentStates:
        """The agents at `rows` (indices or a mask)."""
        return AgentStates(*(getattr(self, name)[rows] for name in _AGENT_FIELDS))


_AGENT_FIELDS = (
    "ids",
    "x",
    "y",
    "yaw",
    "speed",
    "acceleration",
    "length",
    "width",
    "vulnerable",
    "pedestrian",
    "yaw_rate",
)


@dataclass(frozen=True, eq=False)
class Forecast:
    """Forecast poses of A rows at `times` (T,) [s] from now: centre x, y [m], yaw [rad], speed
    [m/s], each (A, T); `ids`, box `length`, `width` [m] and `vulnerable` flags (A,); `source` (A,)
    the row of the agent each forecast row belongs to (an agent may have several rows, one per
    lane it may follow; -1 for rows that are no agent's, e.g. static obstacles)."""

    ids: IntArray
    times: FloatArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    length: FloatArray
    width: FloatArray
    vulnerable: BoolArray
    source: IntArray

    @property
    def count(self) -> int:
        """Number of forecast rows A."""
        return int(self.ids.shape[0])

    def corners(self) -> FloatArray:
        """Occupancy: box corners (A, T, 4, 2) [m] at every forecast time (core.geometry order)."""
        return box_corners(self.x, self.y, self.yaw, self.length[:, None], self.width[:, None])


def constant_velocity(agents: AgentStates, times: FloatArray) -> Forecast:
    """Every agent moving on at its present speed and heading, at `times` (T,) [s] from now."""
    t = np.asarray(times, dtype=np.float64)[None, :]
    travel = agents.speed[:, None] * t
    cos, sin = np.cos(agents.yaw)[:, None], np.sin(agents.yaw)[:, None]
    shape = (agents.count, t.shape[1])
    return Forecast(
        ids=agents.ids,
        times=t[0],
        x=agents.x[:, None] + travel * cos,
        y=agents.y[:, None] + travel * sin,
        yaw=np.broadcast_to(agents.yaw[:, None], shape).copy(),
        speed=np.broadcast_to(agents.speed[:, None], shape).copy(),
        length=agents.length,
        width=agents.width,
        vulnerable=agents.vulnerable,
        source=np.arange(agents.count),
    )


def constant_turn(agents: AgentStates, times: FloatArray, config: ForecastConfig) -> Forecast:
    """Every agent at its present speed, turning at its present yaw rate (at most `max_turn_rate`
    [rad/s], rates below `min_turn_rate` count as 0) for the first `turn_time` [s], then straight
    on: constant velocity for agents going straight, arcs for ones already turning."""
    forecast = constant_velocity(agents, times)
    rate = np.clip(agents.yaw_rate, -config.max_turn_rate, config.max_turn_rate)
    turning = np.flatnonzero((np.abs(rate) >= config.min_turn_rate) & (agents.speed > 0.0))
    if len(turning) == 0:
        return forecast
    t = np.asarray(times, dtype=np.float64)[None, :]
    omega, speed, yaw = rate[turning, None], agents.speed[turning, None], agents.yaw[turning, None]
    bend = np.minimum(t, config.turn_time)
    heading = yaw + omega * bend
    # along the arc while turning, then straight on along the final heading
    x = agents.x[turning, None] + speed / omega * (np.sin(heading) - np.sin(yaw))
    y = agents.y[turning, None] - speed / omega * (np.cos(heading) - np.cos(yaw))
    straight = speed * (t - bend)
    forecast.x[turning] = x + straight * np.cos(heading)
    forecast.y[turning] = y + straight * np.sin(heading)
    forecast.yaw[turning] = np.asarray(angle_diff(heading, 0.0))
    return forecast


def straightest_successor(graph: LaneGraph, lane_id: int) -> int | None:
    """The successor of `lane_id` whose centerline turns least from the lane's end (None at a dead end)."""
    lane = graph.lanes[lane_id]
    options = [m for m in lane.successors if m in graph.lanes]
    if not options:
        return None
    end = lane.center[-1] - lane.center[-2]
    heading = np.arctan2(end[1], end[0])

    def turn(successor: int) -> float:
        center = graph.lanes[successor].center
        chord = center[-1] - center[0]
        return abs(float(angle_diff(np.arctan2(chord[1], chord[0]), heading)))

    return min(options, key=turn)


class LanePaths:
    """Lane paths as points every `spacing` metres: a lane, then either its straightest successors
    (the default path) or a given successor first (a branch) and the straightest on from there.

    `points` (P, K, 2) [m], `headings` (P, K) [rad] and `curvature` (P, K) [1/m] from the lane's
    start; `beside` (L, 2) whether each index lane has a same-direction neighbour on its left,
    right; `table` (L, S + 1) holds the path row of each index lane (row order of `MapIndex`):
    column 0 the default path, column i + 1 the branch through its i-th successor (-1: not built
    yet or no such successor).
    Paths are built on first request (`rows`), so only lanes agents actually drive on cost anything.
    """

    def __init__(
        self, graph: LaneGraph, index: MapIndex, length: float = 320.0, spacing: float = 1.0
    ) -> None:
        self.graph = graph
        self.index = index
        self.spacing = spacing
        self.samples = int(np.ceil(length / spacing)) + 1
        branches = max((len(lane.successors) for lane in graph.lanes.values()), default=0)
        self.successors = np.full((len(index), branches), -1, dtype=np.int64)
        # whether each lane has a same-direction neighbour on its left and its right (lane changes)
        self.beside = np.zeros((len(index), 2), dtype=bool)
        for row, lane_id in enumerate(index.lane_ids.tolist()):  # once per map
            lane = graph.lanes[lane_id]
            known = [m for m in lane.successors if m in graph.lanes]
            self.successors[row, : len(known)] = known
            for side, neighbour in enumerate((lane.left_neighbour, lane.right_neighbour)):
                self.beside[row, side] = (
                    neighbour is not None and neighbour.same_direction and neighbour.lane_id in graph.lanes
                )
        self.table = np.full((len(index), branches + 1), -1, dtype=np.int64)
        self.points = np.zeros((0, self.samples, 2))
        self.headings = np.zeros((0, self.samples))
        self.curvature = np.zeros((0, self.samples))
        self._caps: dict[tuple[float, float], FloatArray] = {}

    def speed_caps(self, lateral: float, deceleration: float) -> FloatArray:
        """(P, K) [m/s] the fastest a vehicle drives at each path sample: curves taken at most
        `lateral` [m/s2], slowing for the ones ahead at `deceleration` [m/s2]; kept per setting."""
        key = (lateral, deceleration)
        known = self._caps.get(key, np.zeros((0, self.samples)))
        if len(known) < len(self.points):  # paths built since: their caps too
            stations = np.arange(self.samples) * self.spacing
            with np.errstate(divide="ignore"):
                squared = lateral / np.abs(self.curvature[len(known) :])  # inf on straights
            # v(s)^2 <= v(s')^2 + 2 b (s' - s) for every s' ahead: one reverse running minimum
            budget = np.minimum.accumulate((squared + 2.0 * deceleration * stations)[:, ::-1], axis=1)
            caps = np.sqrt(budget[:, ::-1] - 2.0 * deceleration * stations)
            known = self._caps[key] = np.concatenate([known, caps])
        return known

    def rows(self, lane_rows: IntArray, columns: IntArray) -> IntArray:
        """Path rows (N,) of (index lane row, column) pairs (N,), building the ones missing."""
        found = self.table[lane_rows, columns]
        if (found >= 0).all():
            return found
        missing = np.unique(np.stack([lane_rows[found < 0], columns[found < 0]], axis=1), axis=0)
        for lane_row, column in missing.tolist():  # once per lane and branch, never per step
            self._build(lane_row, column)
        return self.table[lane_rows, columns]

    def _build(self, lane_row: int, column: int) -> None:
        """Build the path of `lane_row` through successor `column` - 1 (0: the straightest)."""
        lanes = [int(self.index.lane_ids[lane_row])]
        if column > 0:
            lanes.append(int(self.successors[lane_row, column - 1]))
        length = self.spacing * (self.samples - 1)
        total = sum(float(self.index.lengths[self.index.rows(np.array([lane]))[0]]) for lane in lanes)
        while total < length:
            following = straightest_successor(self.graph, lanes[-1])
            if following is None or following in lanes:
                break
            lanes.append(following)
            total += float(self.index.lengths[self.index.rows(np.array([following]))[0]])
        line = Polyline(np.concatenate([self.graph.lanes[lane].center for lane in lanes])).without_spikes()
        stations = np.arange(self.samples) * self.spacing
        self.points = np.concatenate(
            [self.points, line.interpolate(stations)[None]]
        )  # beyond the end: straight
        self.headings = np.concatenate([self.headings, line.heading_at(stations)[None]])
        curvature = line.curvature_at(stations, _CURVATURE_WINDOW)
        self.curvature = np.concatenate([self.curvature, curvature[None]])
        self.table[lane_row, column] = len(self.points) - 1


def _lane_modes(
    agents: AgentStates, paths: LanePaths, config: ForecastConfig
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """The lane modes of vehicles that follow lanes: (agent row, path row, arc length s [m] on the
    path, lateral offset d [m], lateral speed [m/s], + leftwards, 0 unless toward a same-direction
    neighbour lane) (M,) each, sorted by agent. A vehicle gets one mode per lane holding it that it is
    aligned with (the best-aligned first); near the end of a lane with several successors (within
    `branch_time` of travel) one mode per successor instead. At most `max_modes` per vehicle."""
    index = paths.index
    movers = np.flatnonzero(~agents.vulnerable & (agents.speed > config.min_speed))
    empty = np.zeros(0, dtype=np.int64)
    if len(movers) == 0:
        return empty, empty, np.zeros(0), np.zeros(0), np.zeros(0)
    xy = np.column_stack([agents.x[movers], agents.y[movers]])
    points, rows = index.candidates(xy)
    s, d, heading = index.project(index.lane_ids[rows], xy[points])
    signed = np.asarray(angle_diff(agents.yaw[movers][points], heading))
    keep = np.abs(signed) <= config.max_heading_error
    points, rows, s, d, signed = points[keep], rows[keep], s[keep], d[keep], signed[keep]
    cost = np.abs(d) + _HEADING_WEIGHT * np.abs(signed)
    if not config.multimodal:  # the single best-aligned lane per vehicle
        order = np.lexsort((cost, points))
        first = order[np.unique(points[order], return_index=True)[1]]
        points, rows, s, d, cost, signed = (
            points[first],
            rows[first],
            s[first],
            d[first],
            cost[first],
            signed[first],
        )
    # branch at lane ends: every successor (columns 1..) instead of the straightest (column 0)
    branches = (paths.successors[rows] >= 0).sum(axis=1)
    speed = agents.speed[movers][points]
    lateral = speed * np.sin(signed)
    near_end = index.lengths[rows] - s < speed * config.branch_time + config.branch_distance
    split = near_end & (branches >= 2) & config.multimodal
    count = np.where(split, branches, 1)
    repeat = np.repeat(np.arange(len(points)), count)
    offsets = np.arange(len(repeat)) - np.repeat(np.cumsum(count) - count, count)
    columns = np.where(split[repeat], offsets + 1, 0)
    agent = movers[points[repeat]]
    order = np.lexsort((cost[repeat], agent))
    agent, repeat, columns = agent[order], repeat[order], columns[order]
    rank = np.arange(len(agent)) - np.searchsorted(agent, agent)
    keep = rank < config.max_modes
    agent, repeat, columns = agent[keep], repeat[keep], columns[keep]
    path_rows = paths.rows(rows[repeat], columns)
    # sideways motion counts only toward a lane one may change to
    toward = paths.beside[rows[repeat], np.where(lateral[repeat] > 0.0, 0, 1)]
    return agent, path_rows, s[repeat], d[repeat], np.where(toward, lateral[repeat], 0.0)


@njit(cache=True)
def _curve_limited(
    start: FloatArray,
    free: FloatArray,
    caps: FloatArray,
    rows: IntArray,
    spacing: float,
    times: FloatArray,
    acceleration: float,
) -> tuple[FloatArray, FloatArray]:
    """Arc lengths [m] and speeds [m/s] (M, T) of M modes starting at `start` (M,) on path `rows`
    (M,) at `times` (T,) [s]: each at its `free` (M, T) speed, at most the path's speed cap `caps`
    (P, K) [m/s] (samples `spacing` [m] apart) where it gets to, regaining speed after a curve at
    `acceleration` [m/s2] at most (its present speed holds at first)."""
    modes, steps = free.shape
    last = caps.shape[1] - 1
    along = np.empty((modes, steps))
    speed = np.empty((modes, steps))
    for m in range(modes):
        s, v = start[m], free[m, 0]
        along[m, 0], speed[m, 0] = s, v
        for k in range(1, steps):
            h = times[k] - times[k - 1]
            sample = min(max(int((s + v * h) / spacing), 0), last)
            target = min(free[m, k], caps[rows[m], sample], v + acceleration * h)
            s += 0.5 * (v + target) * h
            v = target
            along[m, k], speed[m, k] = s, v
    return along, speed


def lane_following(
    agents: AgentStates,
    paths: LanePaths,
    times: FloatArray,
    config: ForecastConfig = ForecastConfig(),
) -> Forecast:
    """Vehicles along their lanes (one forecast row per lane mode, see `_lane_modes`, plus one
    drifting on sideways for a lane change under way), everyone else at constant velocity and turn
    rate (one row, `constant_turn`); `Forecast.source` maps rows back to agents."""
    cv = constant_turn(agents, times, config)
    agent, path_rows, s, d, lateral = _lane_modes(agents, paths, config)
    if len(agent) == 0:
        return cv
    # a lane change under way: the best mode drifting away from its centerline, once more
    best = np.concatenate([[True], agent[1:] != agent[:-1]])
    twins = np.flatnonzero(best & (np.abs(lateral) > config.drift_speed) & (d * np.sign(lateral) > -0.5))
    drift = np.concatenate([np.zeros(len(agent)), lateral[twins]])
    agent, path_rows, s, d = (np.concatenate([a, a[twins]]) for a in (agent, path_rows, s, d))
    t = np.asarray(times, dtype=np.float64)[None, :]
    speed = agents.speed[agent, None]
    acceleration = agents.acceleration[agent]
    accel = np.where(
        acceleration < config.braking_threshold,
        acceleration,
        np.where(
            acceleration > config.speeding_threshold, np.minimum(acceleration, config.max_acceleration), 0.0
        ),
    )[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        # braking agents come to a stop, speeding-up ones gain at most `speed_gain`
        ramp = np.where(accel < 0.0, speed / -accel, np.where(accel > 0.0, config.speed_gain / accel, np.inf))
    moving = np.minimum(t, ramp)
    free = np.maximum(speed + accel * moving, 0.0)  # (M, T) [m/s] as if the path ran straight
    caps = paths.speed_caps(config.turn_lateral_acceleration, config.turn_deceleration)
    # (M, T) arc length on each mode's lane path and speed
    along, velocity = _curve_limited(s, free, caps, path_rows, paths.spacing, t[0], config.max_acceleration)
    position = along / paths.spacing
    k = np.clip(np.floor(position).astype(np.int64), 0, paths.samples - 2)
    fraction = np.clip(position - k, 0.0, None)[..., None]  # beyond the last sample: straight on
    row = path_rows[:, None]
    start, following = paths.points[row, k], paths.points[row, k + 1]
    centre = start + fraction * (following - start)
    lane_heading = paths.headings[row, k]
    settled = d[:, None] * np.exp(-t / config.offset_decay)
    limit = np.maximum(np.abs(d), config.drift_offset)[:, None]
    drifted = d[:, None] + drift[:, None] * t
    drifting = (drift != 0.0)[:, None]
    offset = np.where(drifting, np.clip(drifted, -limit, limit), settled)
    lateral_rate = np.where(
        drifting, np.where(np.abs(drifted) < limit, drift[:, None], 0.0), -settled / config.offset_decay
    )
    normal = np.stack([-np.sin(lane_heading), np.cos(lane_heading)], axis=-1)
    alone = np.ones(agents.count, dtype=bool)
    alone[agent] = False
    others = np.flatnonzero(alone)  # as np.setdiff1d, without its sort
    return Forecast(
        ids=np.concatenate([agents.ids[agent], agents.ids[others]]),
        times=cv.times,
        x=np.concatenate([centre[..., 0] + offset * normal[..., 0], cv.x[others]]),
        y=np.concatenate([centre[..., 1] + offset * normal[..., 1], cv.y[others]]),
        yaw=np.concatenate(
            [
                np.asarray(
                    angle_diff(lane_heading + np.arctan2(lateral_rate, np.maximum(velocity, 0.1)), 0.0)
                ),
                cv.yaw[others],
            ]
        ),
        speed=np.concatenate([velocity, cv.speed[others]]),
        length=np.concatenate([agents.length[agent], agents.length[others]]),
        width=np.concatenate([agents.width[agent], agents.width[others]]),
        vulnerable=np.concatenate([agents.vulnerable[agent], agents.vulnerable[others]]),
        source=np.concatenate([agent, others]),
    )


class ForecastModel(StrEnum):
    """How a planner forecasts the agents: `LANE` along each vehicle's most likely lane (others at
    constant velocity), `CV` everyone at constant velocity."""

    LANE = "lane"
    CV = "cv"

    def forecast(
        self, agents: AgentStates, paths: LanePaths, times: FloatArray, config: ForecastConfig
    ) -> Forecast:
        """The agents' forecast at `times` (T,) [s] from now under this model."""
        if self is ForecastModel.LANE:
            return lane_following(agents, paths, times, config)
        return constant_velocity(agents, times)
