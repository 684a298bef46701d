"""Spatial and topological lane queries over a `LaneGraph`: which lane is a point in, where along it.

`MapIndex` builds, once per map, a shapely STRtree over the lane polygons and small lookup tables
from the graph's topology (lateral neighbours, successors). Every query takes arrays of points and
answers with arrays, so callers ask once for all agents at all steps. Lane ids are the graph's ids;
-1 means "no lane". Positions are world-frame [m], headings [rad] (CCW, wrapped to [-pi, pi)).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.geometry import angle_diff
from drivestack.core.map import Lane, LaneGraph

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# CommonRoad lanelet types that are not for driving in (a vehicle there is parked, off-road or misplaced).
NON_DRIVING_TYPES = frozenset(
    {"shoulder", "bicycleLane", "sidewalk", "crosswalk", "parking", "border", "restricted", "busLane"}
)
# Road users that make a lane a driving lane when listed as its users (CommonRoad vocabulary).
VEHICLE_USERS = frozenset({"vehicle", "car", "truck", "bus", "motorcycle", "priorityVehicle", "taxi"})
# Half the distance [m] over which a lane's heading is measured around a projected point.
_TANGENT_HALF_SPAN = 0.5
# Lanes cross (rather than merge, fork or run side by side) where their overlap exceeds this area
# [m2] and their headings there differ by an angle in this range [rad].
_CROSSING_AREA = 1.0
_CROSSING_ANGLES = (np.deg2rad(30.0), np.deg2rad(150.0))
# Lane ends closer than this [m] to the intersection area touch it (its outline is a union of lane
# polygons, so a lane joining at its border may miss it by rounding).
_JOINT_TOLERANCE = 0.5


@dataclass(frozen=True)
class AssignConfig:
    """How `MapIndex.assign` picks one lane for a point among the lanes whose polygon holds it.

    Lanes whose heading differs from the point's heading by more than `max_heading_error` [rad] are
    rejected (oncoming and crossing lanes); among the rest the lowest cost wins, cost =
    |lateral offset from the centerline| [m] + `heading_weight` [m/rad] * |heading difference| [rad].
    """

    max_heading_error: float = np.pi / 3.0
    heading_weight: float = 4.0


def points_in(area: shapely.Geometry, xy: FloatArray) -> BoolArray:
    """Whether points xy (N, 2) [m] lie in `area` (non-finite points: False)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(xy), dtype=bool)
    finite = np.isfinite(xy).all(axis=1)
    inside[finite] = shapely.intersects_xy(area, xy[finite, 0], xy[finite, 1])
    return inside


class MapIndex:
    """Vectorized lane queries over one map: lane membership, best lane, projection, topology.

    Build once per map (O(lanes) shapely work); all queries take (N, 2) point arrays.
    Lanes are addressed by id in the public API; `rows` maps ids to the internal 0..L-1 order.
    """

    def __init__(self, graph: LaneGraph) -> None:
        lanes = [graph.lanes[lane_id] for lane_id in sorted(graph.lanes)]
        self.graph = graph
        self.lane_ids: IntArray = np.array([lane.id for lane in lanes], dtype=np.int64)
        self._row = {int(lane_id): row for row, lane_id in enumerate(self.lane_ids)}
        polygons = np.array([_polygon(lane.polygon()) for lane in lanes], dtype=object)
        self.polygons: NDArray[np.object_] = polygons
        self.centerlines: NDArray[np.object_] = np.array(
            [shapely.linestrings(lane.center) for lane in lanes], dtype=object
        )
        self.lengths: FloatArray = shapely.length(self.centerlines).astype(np.float64)
        self._tree = shapely.STRtree(polygons)
        self.intersection_lanes = frozenset(intersection_lanes_of(graph))
        self.driving_lanes = frozenset(lane.id for lane in lanes if _is_driving(lane))
        self._side = self._lateral_table()

    def __len__(self) -> int:
        return len(self.lane_ids)

    def rows(self, lane_ids: IntArray) -> IntArray:
        """Internal row (0..L-1) of each lane id (N,); -1 for -1 and for ids not in the map."""
        lookup = np.asarray(lane_ids, dtype=np.int64)
        if len(self.lane_ids) == 0:
            return np.full(lookup.shape, -1, dtype=np.int64)
        position = np.clip(np.searchsorted(self.lane_ids, lookup), 0, len(self.lane_ids) - 1)
        return np.where(self.lane_ids[position] == lookup, position, -1)

    def candidates(self, xy: FloatArray) -> tuple[IntArray, IntArray]:
        """All (point index, lane row) pairs where lane polygons hold the points xy (N, 2) [m].

        Points on a shared border belong to both lanes; non-finite points belong to none.
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        finite = np.flatnonzero(np.isfinite(xy).all(axis=1))
        if len(finite) == 0 or len(self.lane_ids) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pairs = self._tree.query(shapely.points(xy[finite]), predicate="intersects")
        return finite[pairs[0]].astype(np.int64), pairs[1].astype(np.int64)

    def lanes_at(self, xy: FloatArray) -> list[tuple[int, ...]]:
        """For each point of xy (N, 2) [m], the ids of every lane whose polygon holds it (sorted)."""
        points, rows = self.candidates(xy)
        found: list[list[int]] = [[] for _ in range(len(np.asarray(xy).reshape(-1, 2)))]
        for point, row in zip(points.tolist(), rows.tolist(), strict=True):
            found[point].append(int(self.lane_ids[row]))
        return [tuple(sorted(ids)) for ids in found]

    def contains(self, lane_ids: IntArray, xy: FloatArray) -> BoolArray:
        """Whether each point xy (N, 2) [m] lies in the polygon of lane `lane_ids` (N,) (False for -1)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        rows = self.rows(lane_ids)
        inside = np.zeros(len(xy), dtype=bool)
        known = rows >= 0
        inside[known] = shapely.intersects_xy(self.polygons[rows[known]], xy[known, 0], xy[known, 1])
        return inside

    def project(self, lane_ids: IntArray, xy: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Frenet coordinates of points xy (N, 2) [m] on lanes `lane_ids` (N,)'s centerlines.

        Returns arc length s (N,) [m] from the lane's start (clipped to the lane), signed lateral
        offset d (N,) [m] (left of the driving direction positive) and the lane heading (N,) [rad] at s.
        Entries whose lane id is -1 or unknown are NaN.
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        rows = self.rows(lane_ids)
        s, d, heading = (np.full(len(xy), np.nan) for _ in range(3))
        known = np.flatnonzero((rows >= 0) & np.isfinite(xy).all(axis=1))
        if len(known) == 0:
            return s, d, heading
        s[known], d[known], heading[known] = self._project_rows(rows[known], xy[known])
        return s, d, heading

    def _project_rows(self, rows: IntArray, xy: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """`project` for valid rows (N,) and finite points (N, 2)."""
        lines = self.centerlines[rows]
        s = shapely.line_locate_point(lines, shapely.points(xy))
        length = self.lengths[rows]
        ahead = shapely.get_coordinates(
            shapely.line_interpolate_point(lines, np.minimum(s + _TANGENT_HALF_SPAN, length))
        )
        behind = shapely.get_coordinates(
            shapely.line_interpolate_point(lines, np.maximum(s - _TANGENT_HALF_SPAN, 0.0))
        )
        foot = shapely.get_coordinates(shapely.line_interpolate_point(lines, s))
        tangent = ahead - behind
        heading = np.arctan2(tangent[:, 1], tangent[:, 0])
        offset = xy - foot
        d = np.cos(heading) * offset[:, 1] - np.sin(heading) * offset[:, 0]
        return s, d, heading

    def assign(
        self, xy: FloatArray, yaw: FloatArray | None = None, config: AssignConfig = AssignConfig()
    ) -> IntArray:
        """The best lane id for each point xy (N, 2) [m] driving with heading yaw (N,) [rad]; -1 for none.

        Candidates are lanes whose polygon holds the point; with `yaw` given, lanes pointing the other
        way or across (see `AssignConfig`) are rejected, so oncoming and crossing lanes never win.
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        best = np.full(len(xy), -1, dtype=np.int64)
        points, rows = self.candidates(xy)
        if len(points) == 0:
            return best
        _, d, heading = self._project_rows(rows, xy[points])
        cost = np.abs(d)
        if yaw is not None:
            error = np.abs(angle_diff(np.asarray(yaw, dtype=np.float64)[points], heading))
            keep = error <= config.max_heading_error
            points, rows, cost = points[keep], rows[keep], cost[keep] + config.heading_weight * error[keep]
        order = np.lexsort((cost, points))
        first = np.unique(points[order], return_index=True)[1]
        chosen = order[first]
        best[points[chosen]] = self.lane_ids[rows[chosen]]
        return best

    def side(self, from_lanes: IntArray, to_lanes: IntArray) -> NDArray[np.int8]:
        """Where `to_lanes` (N,) lie beside `from_lanes` (N,): +1 left, -1 right, 0 not a lateral neighbour.

        Lateral means a same-direction left/right neighbour, also across one successor or
        predecessor step (a lane change that happens where lane segments join); a lane's own
        successors and predecessors are never lateral (where a lane fans out into turn lanes,
        those are successors and neighbours of each other at once).
        """
        a, b = self.rows(from_lanes), self.rows(to_lanes)
        known = (a >= 0) & (b >= 0)
        result = np.zeros(a.shape, dtype=np.int8)
        result[known] = self._side[a[known], b[known]]
        return result

    def _lateral_table(self) -> NDArray[np.int8]:
        """(L, L) table of `side`: +1 where column lane is left of row lane, -1 right, 0 otherwise."""
        table = np.zeros((len(self), len(self)), dtype=np.int8)
        direct: dict[int, list[tuple[int, int]]] = {}
        for lane in self.graph.lanes.values():
            pairs = [
                (neighbour.lane_id, sign)
                for neighbour, sign in ((lane.left_neighbour, 1), (lane.right_neighbour, -1))
                if neighbour is not None and neighbour.same_direction and neighbour.lane_id in self._row
            ]
            direct[lane.id] = pairs
        for lane in self.graph.lanes.values():
            linked = [lane.id, *lane.successors, *lane.predecessors]
            for other in linked:
                for neighbour_id, sign in direct.get(other, []):
                    if neighbour_id not in linked:
                        table[self._row[lane.id], self._row[neighbour_id]] = sign
        return table

    def is_intersection(self, lane_id: int) -> bool:
        """True when the lane lies inside an intersection (typed so, or a turn/straight lane of one)."""
        return lane_id in self.intersection_lanes

    @cached_property
    def intersection_area(self) -> shapely.Geometry:
        """Where traffic streams cross: the union of the intersection lanes' polygons; on maps that
        mark no intersection lanes (NGSIM 2018b), the union of the overlaps of lanes that cross each
        other (see `_CROSSING_ANGLES`). Marked maps keep their marks: lanes there may overlap at
        steep angles where they only diverge, which the crossing test would misread."""
        if self.intersection_lanes:
            typed = self.polygons[self.rows(np.array(sorted(self.intersection_lanes), dtype=np.int64))]
            area = shapely.union_all(typed)
        else:
            area = shapely.union_all(self._crossings())
        shapely.prepare(area)
        return area

    def _crossings(self) -> NDArray[np.object_]:
        """Overlaps (polygons) of lane pairs that cross: overlapping by more than `_CROSSING_AREA`
        with headings at the overlap's centre differing by an angle within `_CROSSING_ANGLES`."""
        first, second = self._tree.query(self.polygons, predicate="intersects")
        pairs = first < second
        first, second = first[pairs], second[pairs]
        overlaps = shapely.intersection(self.polygons[first], self.polygons[second])
        big = shapely.area(overlaps) > _CROSSING_AREA
        first, second, overlaps = first[big], second[big], overlaps[big]
        centre = shapely.get_coordinates(shapely.centroid(overlaps))
        angle = np.abs(
            angle_diff(self._project_rows(first, centre)[2], self._project_rows(second, centre)[2])
        )
        return overlaps[(angle > _CROSSING_ANGLES[0]) & (angle < _CROSSING_ANGLES[1])]

    @cached_property
    def merge_lanes(self) -> frozenset[int]:
        """Lanes where traffic streams merge, read from the topology, outside intersections.

        A junction: a lane with two or more predecessors, together with them, where it starts
        away from the `intersection_area` (turns joining an exit belong to the intersection). A lane
        drop: a lane without successors beside a same-direction neighbour that continues, together
        with that neighbour (traffic on it meets the vehicles that must merge in), where the lane
        ends away from the intersection area.
        """
        lanes = self.graph.lanes
        merges: set[int] = set()
        for lane in lanes.values():
            predecessors = [p for p in lane.predecessors if p in lanes]
            if len(predecessors) >= 2 and not self._at_intersection(lane.center[0]):
                merges.update([lane.id, *predecessors])
            if lane.successors or self._at_intersection(lane.center[-1]):
                continue
            for neighbour in (lane.left_neighbour, lane.right_neighbour):
                if neighbour is None or not neighbour.same_direction or neighbour.lane_id not in lanes:
                    continue
                if lanes[neighbour.lane_id].successors:
                    merges.update([lane.id, neighbour.lane_id])
        return frozenset(merges)

    def _at_intersection(self, point: FloatArray) -> bool:
        """True when `point` (2,) [m] lies within `_JOINT_TOLERANCE` of the `intersection_area`."""
        return bool(shapely.dwithin(self.intersection_area, shapely.Point(point), _JOINT_TOLERANCE))

    def in_intersection(self, xy: FloatArray) -> BoolArray:
        """Whether points xy (N, 2) [m] lie in the `intersection_area` (non-finite points: False)."""
        return points_in(self.intersection_area, xy)

    @cached_property
    def intersection_entries(self) -> tuple[tuple[int, float], ...]:
        """(lane id, arc length [m]) where traffic enters an intersection: the start of every marked
        intersection lane, or on unmarked maps where each centerline first enters the crossings."""
        if self.intersection_lanes:
            return tuple((lane, 0.0) for lane in sorted(self.intersection_lanes))
        inside = shapely.intersection(self.centerlines, self.intersection_area)
        entries = []
        for row in np.flatnonzero(~shapely.is_empty(inside)).tolist():
            points = shapely.points(shapely.get_coordinates(inside[row]))
            first = float(shapely.line_locate_point(self.centerlines[row], points).min())
            entries.append((int(self.lane_ids[row]), first))
        return tuple(entries)

    def downstream(self, lane_id: int, max_distance: float) -> dict[int, float]:
        """Lanes reachable from `lane_id` along successors, each with the distance [m] from the start of
        `lane_id` to its own start (the lane itself at 0), for starts closer than `max_distance` [m]."""
        reached = {lane_id: 0.0}
        queue = deque([lane_id])
        while queue:
            current = queue.popleft()
            row = self._row.get(current)
            if row is None:
                continue
            end = reached[current] + float(self.lengths[row])
            if end >= max_distance:
                continue
            for successor in self.graph.lanes[current].successors:
                if successor in self._row and end < reached.get(successor, np.inf):
                    reached[successor] = end
                    queue.append(successor)
        return reached


def _polygon(ring: FloatArray) -> shapely.Geometry:
    """A valid shapely polygon for a lane outline ring (K, 2) [m] (self-crossing outlines repaired)."""
    if len(ring) < 3:
        return shapely.Polygon()
    polygon = shapely.Polygon(ring)
    return polygon if polygon.is_valid else shapely.make_valid(polygon)


def _is_driving(lane: Lane) -> bool:
    """True for lanes vehicles drive in: no non-driving type, and vehicles among the users (if listed)."""
    users = set(lane.users_one_way) | set(lane.users_bidirectional)
    return not (set(lane.lane_types) & NON_DRIVING_TYPES) and (not users or bool(users & VEHICLE_USERS))


def intersection_lanes_of(graph: LaneGraph) -> set[int]:
    """Lanes typed "intersection" plus the right/straight/left successors of every intersection approach."""
    lanes = {lane.id for lane in graph.lanes.values() if "intersection" in lane.lane_types}
    for intersection in graph.intersections:
        for incoming in intersection.incomings:
            lanes.update(incoming.successors_right, incoming.successors_straight, incoming.successors_left)
    return lanes & set(graph.lanes)
