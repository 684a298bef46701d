"""Constant-velocity and lane-following forecasts of agents, vectorized over agents and times.

- `constant_velocity`: every agent keeps its speed and heading (nuPlan's and PDM-Closed's model).
- `lane_following`: a vehicle on a lane it is aligned with drives along that lane and its
  straightest successors at its speed (braking ones keep braking until they stop), its lateral
  offset from the centerline fading with time constant `offset_decay`; pedestrians, bicycles,
  vehicles off the lanes or heading across them, and stopped agents fall back to constant velocity.

Lane paths (a lane and its straightest successors, resampled every `path_spacing` metres) are built
on first use per lane and kept (`LanePaths`), so a forecast is a gather from arrays. Positions [m],
headings [rad], speeds [m/s], times [s] from now; arrays (A, T) for A agents and T times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivestack.core.geometry import Polyline, angle_diff, box_corners
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import AgentType, Tracks
from drivestack.maps.index import MapIndex

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class ForecastConfig:
    """Lane-following parameters.

    A vehicle follows its lane when its heading is within `max_heading_error` [rad] of the lane's and
    it moves faster than `min_speed` [m/s]; its lateral offset decays with `offset_decay` [s]; an
    acceleration below `braking_threshold` [m/s2] is kept (down to a stop), others count as 0.
    Lane paths run `path_length` [m] from each lane's start, sampled every `path_spacing` [m].
    """

    max_heading_error: float = float(np.deg2rad(35.0))
    min_speed: float = 0.3
    offset_decay: float = 2.0
    braking_threshold: float = -1.0
    path_length: float = 320.0
    path_spacing: float = 1.0


@dataclass(frozen=True, eq=False)
class AgentStates:
    """Present states of A agents, each (A,): id, centre [m], yaw [rad], speed [m/s] along the
    heading, acceleration [m/s2], box length and width [m], and whether each is a vulnerable road
    user (pedestrian, bicycle, motorcycle)."""

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

    @property
    def count(self) -> int:
        """Number of agents A."""
        return int(self.ids.shape[0])

    @staticmethod
    def from_tracks(tracks: Tracks, column: int = -1) -> AgentStates:
        """The agents valid at `column` of `tracks` (default: the last, i.e. now) with finite poses.

        NaN speeds and accelerations count as 0 (an agent known only by its positions).
        """
        column = column % max(tracks.num_steps, 1)
        x, y, yaw = tracks.x[:, column], tracks.y[:, column], tracks.yaw[:, column]
        keep = tracks.valid[:, column] & np.isfinite(x) & np.isfinite(y) & np.isfinite(yaw)
        rows = np.flatnonzero(keep)
        kinds = [tracks.agent_type[i] for i in rows]
        return AgentStates(
            ids=tracks.ids[rows],
            x=x[rows],
            y=y[rows],
            yaw=yaw[rows],
            speed=np.nan_to_num(np.abs(tracks.speed[rows, column])),
            acceleration=np.nan_to_num(tracks.acceleration[rows, column]),
            length=tracks.length[rows],
            width=tracks.width[rows],
            vulnerable=np.array([kind.is_vulnerable for kind in kinds], dtype=bool),
            pedestrian=np.array([kind is AgentType.PEDESTRIAN for kind in kinds], dtype=bool),
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
)


@dataclass(frozen=True, eq=False)
class Forecast:
    """Forecast poses of A agents at `times` (T,) [s] from now: centre x, y [m], yaw [rad], speed
    [m/s], each (A, T); `ids`, box `length`, `width` [m] and `vulnerable` flags (A,)."""

    ids: IntArray
    times: FloatArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    length: FloatArray
    width: FloatArray
    vulnerable: BoolArray

    @property
    def count(self) -> int:
        """Number of agents A."""
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
    )


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
    """Each lane followed by its straightest successors as points every `spacing` metres.

    `points` (L, K, 2) [m] and `headings` (L, K) [rad] from each lane's start, for the index's L lanes
    (row order of `MapIndex`); `ends` (L,) [m] is where a path stops (a dead end or `length`). Rows
    are filled on first request (`rows`), so only lanes agents actually drive on are built.
    """

    def __init__(
        self, graph: LaneGraph, index: MapIndex, length: float = 320.0, spacing: float = 1.0
    ) -> None:
        self.graph = graph
        self.index = index
        self.spacing = spacing
        count = int(np.ceil(length / spacing)) + 1
        self.points = np.zeros((len(index), count, 2))
        self.headings = np.zeros((len(index), count))
        self.ends = np.zeros(len(index))
        self._built = np.zeros(len(index), dtype=bool)

    def rows(self, lane_ids: IntArray) -> IntArray:
        """Path rows of `lane_ids` (N,) (-1 for unknown lanes), building paths not built yet."""
        rows = self.index.rows(np.asarray(lane_ids, dtype=np.int64))
        missing = np.unique(rows[(rows >= 0) & ~self._built[np.maximum(rows, 0)]])
        for row in missing.tolist():  # once per lane and run
            self._build(row)
        return rows

    def _build(self, row: int) -> None:
        """Fill path `row`: the lane and its straightest successors, resampled."""
        lanes = [int(self.index.lane_ids[row])]
        length = self.spacing * (self.points.shape[1] - 1)
        total = float(self.index.lengths[row])
        while total < length:
            following = straightest_successor(self.graph, lanes[-1])
            if following is None or following in lanes:
                break
            lanes.append(following)
            total += float(self.index.lengths[self.index.rows(np.array([following]))[0]])
        line = Polyline(np.concatenate([self.graph.lanes[lane].center for lane in lanes])).without_spikes()
        stations = np.arange(self.points.shape[1]) * self.spacing
        self.points[row] = line.interpolate(stations)  # beyond the end: straight on
        self.headings[row] = line.heading_at(stations)
        self.ends[row] = min(line.length, length)
        self._built[row] = True


def lane_following(
    agents: AgentStates,
    paths: LanePaths,
    times: FloatArray,
    config: ForecastConfig = ForecastConfig(),
) -> Forecast:
    """Vehicles along their lanes, everyone else at constant velocity (see the module docstring)."""
    forecast = constant_velocity(agents, times)
    index = paths.index
    xy = np.column_stack([agents.x, agents.y])
    lanes = index.assign(xy, agents.yaw)
    s, d, heading = index.project(lanes, xy)
    with np.errstate(invalid="ignore"):
        aligned = np.abs(np.asarray(angle_diff(agents.yaw, heading))) <= config.max_heading_error
    follow = np.flatnonzero(
        (lanes >= 0) & ~agents.vulnerable & aligned & (agents.speed > config.min_speed) & np.isfinite(s)
    )
    if len(follow) == 0:
        return forecast
    rows = paths.rows(lanes[follow])
    t = np.asarray(times, dtype=np.float64)[None, :]
    speed = agents.speed[follow, None]
    braking = np.where(
        agents.acceleration[follow] < config.braking_threshold, agents.acceleration[follow], 0.0
    )[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        stop = np.where(braking < 0.0, speed / -braking, np.inf)
    moving = np.minimum(t, stop)
    travel = speed * moving + 0.5 * braking * moving * moving
    along = s[follow, None] + travel  # (F, T) arc length on each agent's lane path
    position = along / paths.spacing
    k = np.clip(np.floor(position).astype(np.int64), 0, paths.points.shape[1] - 2)
    fraction = np.clip(position - k, 0.0, None)[..., None]  # beyond the last sample: straight on
    row = rows[:, None]
    start, following = paths.points[row, k], paths.points[row, k + 1]
    centre = start + fraction * (following - start)
    lane_heading = paths.headings[row, k]
    decay = np.exp(-t / config.offset_decay)
    offset = d[follow, None] * decay
    normal = np.stack([-np.sin(lane_heading), np.cos(lane_heading)], axis=-1)
    forecast.x[follow] = centre[..., 0] + offset * normal[..., 0]
    forecast.y[follow] = centre[..., 1] + offset * normal[..., 1]
    lateral_rate = -offset / config.offset_decay
    velocity = np.maximum(speed + braking * moving, 0.0)
    forecast.yaw[follow] = np.asarray(
        angle_diff(lane_heading + np.arctan2(lateral_rate, np.maximum(velocity, 0.1)), 0.0)
    )
    forecast.speed[follow] = velocity
    return forecast
