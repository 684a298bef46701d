"""Routing on the lane graph: cost-to-go toward the goal with lane-change edges, and corridors.

The lane graph has two kinds of edges: successors (drive on, cost = the distance driven) and lane
changes into an adjacent lane driven the same way (cost `RoutingConfig.lane_change_cost` [m], never
inside an intersection). `Router` solves, once per planning problem, the cost-to-go of every lane
at stations `station_spacing` apart (value iteration over the stations, so a lane change toward a
goal lane has a deadline: the end of the goal on that lane):

- goal mode (the goal constrains the position): V(lane, s) [m] = the cheapest way to enter a goal
  span, a stretch of a goal lanelet or of a lane whose centerline crosses a goal region;
- reach mode (no goal position, or the goal cannot be reached from here): the longest legal
  continuation, R(lane, s) [m] = how far one can drive on from here (capped at `reach_horizon`),
  lane changes costing `lane_change_cost`.

What a planner compares is the *excess* E(lane, s) >= 0 [m]: how much worse this lane is than the
best lane beside it (its lateral neighbours, both ways) at the same cross-section; a lane on the
route has E = 0. `Corridor` is a lane and its best continuation (successors of least cost-to-go,
ties to the straightest) as one reference path (Polyline + FrenetFrame) with, every
`corridor_spacing` metres, the lane, speed limit, curvature, excess and intersection flag, plus the
stop lines and goal spans along it. `Route` is the lane sequence, lane changes included, from the
ego's lane toward the goal. Positions [m], headings [rad], world frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.signal import savgol_filter

from drivestack.core.geometry import FrenetFrame, Polyline, angle_diff
from drivestack.core.goal import shape_geometry
from drivestack.core.map import Lane, LaneGraph
from drivestack.core.scenario import Goal, Interval
from drivestack.maps.index import MapIndex
from drivestack.maps.stops import lane_stop

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_AGAINST_GOAL = np.pi / 2.0  # [rad] a lane heading farther outside a goal orientation cannot end in it


@dataclass(frozen=True)
class RoutingConfig:
    """Routing parameters.

    `station_spacing` [m] of the cost-to-go; `lane_change_cost` [m] the detour one lane change is
    worth; `reach_horizon` [m] how far ahead reach mode looks; `corridor_length` [m] of road a
    corridor covers beyond its first lane; `corridor_spacing` [m] of its per-station tables;
    `curvature_window` [m] over which its curvature is smoothed; `max_heading_error` [rad] for a
    lane to count as aligned with the ego off the map; `max_excess` [m] caps the excess of lanes
    from which the goal cannot be reached; a corridor's centerline is resampled every
    `smoothing_spacing` [m] and smoothed over `smoothing_window` [m] (see `smooth`).
    """

    station_spacing: float = 2.0
    lane_change_cost: float = 30.0
    reach_horizon: float = 400.0
    corridor_length: float = 450.0
    corridor_spacing: float = 1.0
    curvature_window: float = 6.0
    max_heading_error: float = np.pi / 3.0
    max_excess: float = 200.0
    smoothing_spacing: float = 1.0
    smoothing_window: float = 9.0


def smooth(line: Polyline, spacing: float, window: float) -> Polyline:
    """`line` resampled every `spacing` [m] and smoothed with a cubic Savitzky-Golay filter over
    `window` [m] (its ends fitted by the same cubic): survey kinks at vertices (a few degrees every
    few metres on some maps) become gentle curvature a tracker can follow, while real curves keep
    their radius."""
    resampled = line.resample(spacing)
    points = resampled.points
    samples = int(window / spacing) // 2 * 2 + 1
    if len(points) <= samples:
        return resampled
    return Polyline(savgol_filter(points, samples, 3, axis=0, mode="interp"))


@dataclass(frozen=True)
class GoalSpan:
    """Where a lane's centerline lies in one goal state's position: arc lengths [s_in, s_out] [m]
    from the lane's start, the region's centre as a left offset `offset` [m] from the centerline
    there, and the index of the goal state in `Goal.states`."""

    lane_id: int
    s_in: float
    s_out: float
    offset: float
    state: int


class GoalSpans(NamedTuple):
    """A goal's spans on the lanes: `routed`, where the route goes (see `goal_spans`), and `beside`,
    where a region reaches into a lane from beside it without crossing its centerline while another
    lane's centerline does cross it (a place a path offset within that lane still reaches, e.g.
    when no lane change fits before it; never a route's goal)."""

    routed: tuple[GoalSpan, ...]
    beside: tuple[GoalSpan, ...]


def goal_spans(goal: Goal | None, index: MapIndex) -> GoalSpans:
    """The goal's spans on the lanes. Routed: a goal lanelet whole, a goal region where a lane's
    centerline crosses it (else where it overlaps the lane polygon, around the region's centre).
    Beside: the stretch of a region's overlap with a lane no routed span of it is on, and the
    overlap's centre as a left offset."""
    routed: list[GoalSpan] = []
    beside: list[GoalSpan] = []
    for number, state in enumerate(goal.states if goal is not None else ()):
        rows = index.rows(np.asarray(state.lanelet_ids, dtype=np.int64))
        routed += [
            GoalSpan(int(index.lane_ids[row]), 0.0, float(index.lengths[row]), 0.0, number)
            for row in rows[rows >= 0].tolist()
        ]
        for region in state.regions:
            on, off = _region_spans(shape_geometry(region), index, number)
            routed += _along_goal(on, state.orientation, index) if state.orientation is not None else on
            beside += off
    return GoalSpans(tuple(routed), tuple(beside))


def _along_goal(spans: list[GoalSpan], orientation: Interval, index: MapIndex) -> list[GoalSpan]:
    """The spans on lanes that run within `_AGAINST_GOAL` of the goal's orientation interval where
    they cross the region (a lane crossing it the other way, e.g. oncoming traffic, cannot end a
    drive facing the goal's way); all of them when none does."""
    if not spans:
        return spans
    lane_ids = np.array([span.lane_id for span in spans], dtype=np.int64)
    rows = index.rows(lane_ids)
    middle = 0.5 * np.array([span.s_in + span.s_out for span in spans])
    points = shapely.get_coordinates(shapely.line_interpolate_point(index.centerlines[rows], middle))
    _, _, heading = index.project(lane_ids, points)
    width = orientation.end - orientation.start
    outside = np.remainder(heading - orientation.start, 2.0 * np.pi) - width  # > 0: past the end
    distance = np.where(outside <= 0.0, 0.0, np.minimum(outside, 2.0 * np.pi - width - outside))
    kept = [span for span, near in zip(spans, distance <= _AGAINST_GOAL, strict=True) if near]
    return kept or spans


def _region_spans(
    region: shapely.Geometry, index: MapIndex, state: int
) -> tuple[list[GoalSpan], list[GoalSpan]]:
    """Routed and beside spans of one goal region on the lanes whose polygon it overlaps (see
    `goal_spans`)."""
    if region.is_empty:
        return [], []
    centre = shapely.centroid(region)
    rows = np.flatnonzero(shapely.intersects(index.polygons, region))
    routed: list[GoalSpan] = []
    beside: list[GoalSpan] = []
    crossing = shapely.intersection(index.centerlines[rows], region)
    for row, piece in zip(rows.tolist(), crossing, strict=True):
        if piece.is_empty:
            continue
        located = shapely.line_locate_point(
            index.centerlines[row], shapely.points(shapely.get_coordinates(piece))
        )
        lane_id = int(index.lane_ids[row])
        _, offset, _ = index.project(np.array([lane_id]), shapely.get_coordinates(centre))
        routed.append(GoalSpan(lane_id, float(located.min()), float(located.max()), float(offset[0]), state))
    if not routed:
        for row in rows.tolist():  # the region lies beside the centerlines: around its centre
            lane_id = int(index.lane_ids[row])
            s, offset, _ = index.project(np.array([lane_id]), shapely.get_coordinates(centre))
            half = 0.5 * float(np.sqrt(shapely.area(region)))
            routed.append(GoalSpan(lane_id, float(s[0]) - half, float(s[0]) + half, float(offset[0]), state))
        return routed, beside
    crossed = {span.lane_id for span in routed}
    for row in rows.tolist():
        lane_id = int(index.lane_ids[row])
        overlap = shapely.intersection(index.polygons[row], region)
        if lane_id in crossed or shapely.area(overlap) <= 0.0:
            continue
        outline = shapely.get_coordinates(overlap)
        s, _, _ = index.project(np.full(len(outline), lane_id), outline)
        _, offset, _ = index.project(np.array([lane_id]), shapely.get_coordinates(shapely.centroid(overlap)))
        beside.append(GoalSpan(lane_id, float(s.min()), float(s.max()), float(offset[0]), state))
    return routed, beside


def start_lane(index: MapIndex, x: float, y: float, yaw: float, max_heading_error: float) -> int:
    """The lane a vehicle at (x, y) [m] heading `yaw` [rad] drives in; off the lanes, the nearest
    lane aligned within `max_heading_error` [rad] (else the nearest); -1 for a map without lanes."""
    lane = int(index.assign(np.array([[x, y]]), np.array([yaw]))[0])
    if lane >= 0 or len(index) == 0:
        return lane
    distance = shapely.distance(index.polygons, shapely.Point(x, y))
    _, _, heading = index.project(index.lane_ids, np.tile([x, y], (len(index), 1)))
    aligned = np.abs(np.asarray(angle_diff(heading, yaw))) <= max_heading_error
    return int(index.lane_ids[np.lexsort((distance, ~aligned))[0]])


@dataclass(frozen=True)
class StopLine:
    """A stop line on a corridor: arc length `s` [m] along it, and the lights and signs it serves."""

    s: float
    lane_id: int
    traffic_light_ids: tuple[int, ...]
    traffic_sign_ids: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Corridor:
    """A lane and its best continuation as one reference path (see the module docstring).

    `lane_ids` in driving order, lane k starting at arc length `lane_starts[k]` [m] of `frame`'s
    reference. Per station (K,), `spacing` [m] apart from s = 0: `points` (K, 2) [m] and
    `headings` [rad] of the reference, `lane_index` (into lane_ids), `half_left` and `half_right`
    [m] (distance to the lane's left and right bounds), `speed_limit` [m/s] (NaN where the map
    gives none), `curvature` [1/m] (left positive), `excess` [m] (route excess E),
    `in_intersection`. `dead_end` when the last lane has no
    successor; `stop_lines` and `goal` spans (arc lengths [s_in, s_out] on this corridor, the
    region centre's offset and the goal state index) along it; `goal_beside`: regions reaching into
    its lanes from beside (`GoalSpans.beside`), places to aim at, not to route to.
    """

    lane_ids: tuple[int, ...]
    lane_starts: FloatArray
    frame: FrenetFrame
    spacing: float
    points: FloatArray
    headings: FloatArray
    lane_index: IntArray
    half_left: FloatArray
    half_right: FloatArray
    speed_limit: FloatArray
    curvature: FloatArray
    excess: FloatArray
    in_intersection: BoolArray
    dead_end: bool
    stop_lines: tuple[StopLine, ...] = ()
    goal: tuple[GoalSpan, ...] = ()
    goal_beside: tuple[GoalSpan, ...] = ()
    _members: frozenset[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_members", frozenset(self.lane_ids))

    @property
    def reference(self) -> Polyline:
        """The centerline [m]."""
        return self.frame.reference

    @property
    def length(self) -> float:
        """Arc length of the reference [m]."""
        return self.frame.reference.length

    @property
    def first_lane(self) -> int:
        """The lane the corridor starts with."""
        return self.lane_ids[0]

    def holds(self, lane_id: int) -> bool:
        """True when `lane_id` is one of the corridor's lanes."""
        return lane_id in self._members

    def station(self, s: FloatArray | float) -> IntArray:
        """Station index (...) of arc lengths `s` (...) [m], clipped to the tables."""
        if isinstance(s, float) and abs(s) < 1e12:  # one arc length: no arrays (NaN goes below)
            station = min(max(round(s / self.spacing), 0), len(self.lane_index) - 1)
            return np.int64(station)  # type: ignore[return-value]  # numpy's scalar, as below
        k = np.rint(np.asarray(s, dtype=np.float64) / self.spacing).astype(np.int64)
        return np.minimum(np.maximum(k, 0), len(self.lane_index) - 1)

    def lane_at(self, s: float) -> int:
        """The lane at arc length `s` [m]."""
        return self.lane_ids[int(self.lane_index[int(self.station(s))])]


@dataclass(frozen=True)
class Route:
    """Lanes from the ego's lane toward the goal, in driving order; `lane_changes[k]` is True when
    lane k+1 is reached by a lane change from lane k (else it is a successor)."""

    lane_ids: tuple[int, ...]
    lane_changes: tuple[bool, ...]
    reaches_goal: bool


class Router:
    """Cost-to-go on one map toward one goal, corridors and routes (see the module docstring).

    Build once per planning problem; O(lanes x stations) numpy work per value-iteration sweep.
    """

    def __init__(
        self, graph: LaneGraph, index: MapIndex, goal: Goal | None, config: RoutingConfig = RoutingConfig()
    ) -> None:
        self.graph = graph
        self.index = index
        self.config = config
        self.spans, self.spans_beside = goal_spans(goal, index)
        lengths = zip(index.lane_ids.tolist(), index.lengths.tolist(), strict=True)
        self._lengths = {int(lane): float(length) for lane, length in lengths}
        self._stations = {
            lane: np.linspace(0.0, length, max(2, int(np.ceil(length / config.station_spacing)) + 1))
            for lane, length in self._lengths.items()
        }
        self._neighbours = {lane: self._lateral(lane) for lane in self._lengths}
        self.cost = self._goal_values()
        self.reach = self._reach_values()
        self._best_cost = self._cross_section(self.cost, np.minimum)
        self._best_reach = self._cross_section(self.reach, np.maximum)
        self._corridors: dict[int, Corridor] = {}

    # --- cost-to-go ---------------------------------------------------------------------------

    def _lateral(self, lane_id: int) -> tuple[int, ...]:
        """Adjacent lanes driven the same way that a lane change may enter (none in intersections)."""
        lane = self.graph.lanes[lane_id]
        if self.index.is_intersection(lane_id):
            return ()
        found = []
        for neighbour in (lane.left_neighbour, lane.right_neighbour):
            if (
                neighbour is not None
                and neighbour.same_direction
                and neighbour.lane_id in self._lengths
                and not self.index.is_intersection(neighbour.lane_id)
            ):
                found.append(neighbour.lane_id)
        return tuple(found)

    def _successors(self, lane_id: int) -> list[int]:
        """Successors that exist in the map."""
        return [m for m in self.graph.lanes[lane_id].successors if m in self._lengths]

    def _mapped(self, values: dict[int, FloatArray], lane: int, other: int) -> FloatArray:
        """`other`'s station values at `lane`'s stations, matched by fraction of length (parallel lanes)."""
        fraction = self._stations[lane] / max(self._lengths[lane], 1e-9)
        return np.interp(fraction * self._lengths[other], self._stations[other], values[other])

    def _goal_values(self) -> dict[int, FloatArray]:
        """V(lane, s) [m]: least cost to enter a goal span (inf where none can be reached)."""
        values = {lane: np.full(len(stations), np.inf) for lane, stations in self._stations.items()}
        if not self.spans:
            return values
        direct = {lane: values[lane].copy() for lane in values}
        for span in self.spans:
            s = self._stations[span.lane_id]
            here = np.where(s <= span.s_out, np.maximum(span.s_in - s, 0.0), np.inf)
            direct[span.lane_id] = np.minimum(direct[span.lane_id], here)
        change = self.config.lane_change_cost
        for _ in range(4 * len(values) + 4):  # Bellman-Ford sweeps; stops once nothing improves
            changed = False
            for lane, stations in self._stations.items():
                ahead = min((values[m][0] for m in self._successors(lane)), default=np.inf)
                best = np.minimum(direct[lane], (self._lengths[lane] - stations) + ahead)
                for other in self._neighbours[lane]:
                    best = np.minimum(best, change + self._mapped(values, lane, other))
                if (best < values[lane] - 1e-9).any():
                    values[lane] = best
                    changed = True
            if not changed:
                break
        return values

    def _reach_values(self) -> dict[int, FloatArray]:
        """R(lane, s) [m]: how far one can drive on (capped at `reach_horizon`), lane changes costing."""
        horizon, change = self.config.reach_horizon, self.config.lane_change_cost
        values = {lane: np.minimum(self._lengths[lane] - s, horizon) for lane, s in self._stations.items()}
        for _ in range(4 * len(values) + 4):
            changed = False
            for lane, stations in self._stations.items():
                ahead = max((values[m][0] for m in self._successors(lane)), default=0.0)
                best = np.minimum(self._lengths[lane] - stations + ahead, horizon)
                for other in self._neighbours[lane]:
                    best = np.maximum(best, self._mapped(values, lane, other) - change)
                if (best > values[lane] + 1e-9).any():
                    values[lane] = np.maximum(values[lane], best)
                    changed = True
            if not changed:
                break
        return values

    def _cross_section(self, values: dict[int, FloatArray], pick: np.ufunc) -> dict[int, FloatArray]:
        """For each lane, `pick` (min or max) of the values of every lane beside it (transitively
        left and right, any lane-change legality aside) at the same stations, itself included."""
        out = {}
        for lane in self._stations:
            best = values[lane]
            for other in self._side_lanes(lane):
                best = pick(best, self._mapped(values, lane, other))
            out[lane] = best
        return out

    def _side_lanes(self, lane_id: int) -> list[int]:
        """Every same-direction lane beside `lane_id`, following neighbours left and right."""
        found: list[int] = []
        for side in ("left_neighbour", "right_neighbour"):
            current = self.graph.lanes[lane_id]
            while True:
                neighbour = getattr(current, side)
                if (
                    neighbour is None
                    or not neighbour.same_direction
                    or neighbour.lane_id not in self._lengths
                    or neighbour.lane_id in found
                    or neighbour.lane_id == lane_id
                ):
                    break
                found.append(neighbour.lane_id)
                current = self.graph.lanes[neighbour.lane_id]
        return found

    def stations(self, lane_id: int) -> FloatArray:
        """Arc lengths (N,) [m] from the lane's start at which its cost-to-go is tabled."""
        return self._stations[lane_id]

    def goal_reachable(self, lane_id: int) -> bool:
        """True when a goal span can be entered from somewhere on `lane_id`."""
        return bool(np.isfinite(self.cost[lane_id]).any())

    def excess(self, lane_id: int, s: FloatArray) -> FloatArray:
        """E(lane, s) [m] >= 0 at arc lengths `s` (K,) from the lane's start (see the module docstring):
        goal mode where the lane's cross-section can still reach the goal there, else reach mode."""
        stations = self._stations[lane_id]
        cost = np.interp(s, stations, self.cost[lane_id])
        best_cost = np.interp(s, stations, self._best_cost[lane_id])
        reach = np.interp(s, stations, self.reach[lane_id])
        best_reach = np.interp(s, stations, self._best_reach[lane_id])
        with np.errstate(invalid="ignore"):
            goal_excess = np.where(np.isfinite(cost), cost - best_cost, self.config.max_excess)
        out = np.where(np.isfinite(best_cost), goal_excess, best_reach - reach)
        return np.clip(out, 0.0, self.config.max_excess)

    def best_successor(self, lane_id: int) -> int | None:
        """The successor to continue on: least cost-to-go (goal mode), else longest reach; ties go
        to the straightest."""
        options = self._successors(lane_id)
        if not options:
            return None
        heading = _end_heading(self.graph.lanes[lane_id])

        def key(successor: int) -> tuple[float, float, float]:
            turn = abs(float(angle_diff(_start_heading(self.graph.lanes[successor]), heading)))
            end_turn = abs(float(angle_diff(_end_heading(self.graph.lanes[successor]), heading)))
            cost = float(self.cost[successor][0])
            return (cost if np.isfinite(cost) else np.inf, -float(self.reach[successor][0]), turn + end_turn)

        return min(options, key=key)

    # --- corridors and routes -------------------------------------------------------------

    def continuation(self, lane_id: int, length: float) -> tuple[int, ...]:
        """`lane_id` and its best successors until `length` [m] beyond its end or a dead end."""
        lanes = [lane_id]
        ahead = 0.0
        while ahead < length:
            following = self.best_successor(lanes[-1])
            if following is None or following in lanes:
                break
            lanes.append(following)
            ahead += self._lengths[following]
        return tuple(lanes)

    def corridor(self, lane_id: int) -> Corridor:
        """The corridor starting at `lane_id` (built once, then cached)."""
        found = self._corridors.get(lane_id)
        if found is None:
            found = self._corridors[lane_id] = self._build_corridor(
                self.continuation(lane_id, self.config.corridor_length)
            )
        return found

    def _build_corridor(self, lanes: tuple[int, ...]) -> Corridor:
        """The corridor along `lanes` (see `Corridor`)."""
        config, graph = self.config, self.graph
        joined = Polyline(np.concatenate([graph.lanes[lane].center for lane in lanes])).without_spikes()
        line = smooth(joined, config.smoothing_spacing, config.smoothing_window)
        frame = FrenetFrame(line)
        ends = np.array([graph.lanes[lane].center[-1] for lane in lanes])
        # each lane's end on the joined line: the nearest point of the line, searched in order
        located = shapely.line_locate_point(shapely.LineString(line.points), shapely.points(ends))
        boundaries = np.maximum.accumulate(located)
        starts = np.concatenate([[0.0], boundaries[:-1]])
        stations = np.arange(0.0, line.length + config.corridor_spacing, config.corridor_spacing)
        lane_index = np.clip(np.searchsorted(starts, stations, side="right") - 1, 0, len(lanes) - 1)
        limits = np.array([graph.lanes[lane].speed_limit or np.nan for lane in lanes], dtype=np.float64)
        points = line.interpolate(stations)
        half_left, half_right = np.empty(len(stations)), np.empty(len(stations))
        # widths where the lane is: a last station past the line's end measures at the end
        inside = line.interpolate(np.minimum(stations, line.length))
        for k, lane in enumerate(lanes):  # a few lanes per corridor, once per corridor
            on = lane_index == k
            spots = shapely.points(inside[on])
            half_left[on] = shapely.distance(spots, shapely.LineString(graph.lanes[lane].left))
            half_right[on] = shapely.distance(spots, shapely.LineString(graph.lanes[lane].right))
        excess = np.empty(len(stations))
        for k, lane in enumerate(lanes):
            on = lane_index == k
            local = np.clip(stations[on] - starts[k], 0.0, self._lengths[lane])
            excess[on] = self.excess(lane, local)
        intersection = np.array([self.index.is_intersection(lane) for lane in lanes])
        goal, goal_beside = (
            tuple(
                GoalSpan(span.lane_id, starts[k] + span.s_in, starts[k] + span.s_out, span.offset, span.state)
                for k, lane in enumerate(lanes)
                for span in spans
                if span.lane_id == lane
            )
            for spans in (self.spans, self.spans_beside)
        )
        return Corridor(
            lane_ids=lanes,
            lane_starts=starts,
            frame=frame,
            spacing=config.corridor_spacing,
            points=points,
            headings=line.heading_at(stations),
            lane_index=lane_index.astype(np.int64),
            half_left=half_left,
            half_right=half_right,
            speed_limit=limits[lane_index],
            curvature=line.curvature_at(stations, config.curvature_window),
            excess=excess,
            in_intersection=intersection[lane_index],
            dead_end=not self._successors(lanes[-1]),
            stop_lines=self._stop_lines(lanes, starts),
            goal=goal,
            goal_beside=goal_beside,
        )

    def _stop_lines(self, lanes: tuple[int, ...], starts: FloatArray) -> tuple[StopLine, ...]:
        """Stop lines of the corridor's lanes, and the ends of lanes controlled by lights without one."""
        found = []
        for k, lane_id in enumerate(lanes):
            stop = lane_stop(self.graph.lanes[lane_id], self.index)
            if stop is not None:
                found.append(
                    StopLine(
                        float(starts[k] + stop.s), lane_id, stop.traffic_light_ids, stop.traffic_sign_ids
                    )
                )
        return tuple(found)

    def start_lane(self, x: float, y: float, yaw: float) -> int:
        """The lane a vehicle at (x, y) [m] heading `yaw` [rad] starts its route on: where lanes
        aligned with it overlap (a straight and a turn lane leaving one approach), the one with the
        least cost-to-go to the goal; otherwise as `start_lane`."""
        lane = start_lane(self.index, x, y, yaw, self.config.max_heading_error)
        overlapping = np.array(self.index.lanes_at(np.array([[x, y]]))[0], dtype=np.int64)
        if lane < 0 or len(overlapping) < 2:
            return lane
        s, _, heading = self.index.project(overlapping, np.tile([x, y], (len(overlapping), 1)))
        cost = np.array(
            [self._value(self.cost, int(m), float(p)) for m, p in zip(overlapping, s, strict=True)]
        )
        mine = cost[overlapping == lane]
        aligned = np.abs(np.asarray(angle_diff(heading, yaw))) <= self.config.max_heading_error
        cost[~aligned] = np.inf
        best = int(np.argmin(cost))
        if np.isfinite(cost[best]) and (len(mine) == 0 or cost[best] < float(mine[0]) - 1e-6):
            return int(overlapping[best])
        return lane

    def route(self, x: float, y: float, yaw: float, length: float | None = None) -> Route:
        """The lanes from the ego's lane at (x, y) [m], heading `yaw` [rad], toward the goal (lane
        changes where they pay), else on for `length` [m] (default `corridor_length`)."""
        lane = self.start_lane(x, y, yaw)
        if lane < 0:
            return Route((), (), False)
        s, _, _ = self.index.project(np.array([lane]), np.array([[x, y]]))
        position, driven = float(s[0]), 0.0
        budget = self.config.corridor_length if length is None else length
        lanes: list[int] = [lane]
        changes: list[bool] = []
        for _ in range(4 * len(self._lengths)):  # bounded: each lane is entered at most a few times
            current = lanes[-1]
            if self._enters_goal(current, position):
                return Route(tuple(lanes), tuple(changes), True)
            if driven >= budget and not np.isfinite(self._value(self.cost, current, position)):
                break
            change = self._better_neighbour(current, position)
            if change is not None:
                position *= self._lengths[change] / max(self._lengths[current], 1e-9)
                lanes.append(change)
                changes.append(True)
                continue
            following = self.best_successor(current)
            if following is None or following in lanes:
                break
            driven += self._lengths[current] - position
            lanes.append(following)
            changes.append(False)
            position = 0.0
        return Route(tuple(lanes), tuple(changes), False)

    def _value(self, values: dict[int, FloatArray], lane_id: int, position: float) -> float:
        """`values` of `lane_id` at arc length `position` [m] (linear between stations)."""
        return float(np.interp(position, self._stations[lane_id], values[lane_id]))

    def _enters_goal(self, lane_id: int, position: float) -> bool:
        """True when a goal span lies on `lane_id` at or ahead of `position` [m]."""
        return any(span.lane_id == lane_id and span.s_out >= position for span in self.spans)

    def _better_neighbour(self, lane_id: int, position: float) -> int | None:
        """The neighbour a route changes to at `position` [m] on `lane_id`: the one whose cost-to-go
        plus the change beats staying (goal mode), else whose reach minus the change beats it."""
        change = self.config.lane_change_cost
        successors = self._successors(lane_id)
        rest = self._lengths[lane_id] - position
        fraction = position / max(self._lengths[lane_id], 1e-9)
        options = [(other, fraction * self._lengths[other]) for other in self._neighbours[lane_id]]
        if np.isfinite(self._value(self.cost, lane_id, position)):
            stay = rest + min((self.cost[m][0] for m in successors), default=np.inf)
            if self._enters_goal(lane_id, position):
                stay = min(stay, self._value(self.cost, lane_id, position))
            gains = [(stay - change - self._value(self.cost, other, at), other) for other, at in options]
        else:
            stay = min(
                rest + max((self.reach[m][0] for m in successors), default=0.0), self.config.reach_horizon
            )
            gains = [(self._value(self.reach, other, at) - change - stay, other) for other, at in options]
        best = max(gains, default=(0.0, -1))
        return best[1] if best[0] > 1e-6 else None


def _start_heading(lane: Lane) -> float:
    """Heading [rad] of a lane's first centerline segment."""
    step = lane.center[1] - lane.center[0]
    return float(np.arctan2(step[1], step[0]))


def _end_heading(lane: Lane) -> float:
    """Heading [rad] of a lane's last centerline segment."""
    step = lane.center[-1] - lane.center[-2]
    return float(np.arctan2(step[1], step[0]))
