"""Where the ego is on the lane graph: per-map geometry (cached), lane membership, driven lane, in-lane test.

Lane rows are `MapIndex` rows (0..L-1); -1 means no lane. These helpers feed several metrics
(collision fault, TTC relevance, driving direction, speed limit), so they are computed once per run.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.geometry import angle_diff
from drivestack.core.map import LaneGraph
from drivestack.maps.index import AssignConfig, MapIndex
from drivestack.metrics.drivable import drivable_area

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_CACHE_SIZE = 64
# Lane choice for the driven lane: prefer lanes along the heading but reject none (so a wrong-way
# drive on an oncoming lane is still assigned to that lane and caught by driving-direction compliance).
PREFER_ALIGNED = AssignConfig(max_heading_error=np.pi)
# Heading error [rad] beyond which a lane in a junction is not taken as the driven lane: there,
# lanes of crossing and opposing streams overlap the ego's own turn.
CROSSING_ERROR = AssignConfig().max_heading_error


@dataclass(frozen=True, eq=False)
class MapGeometry:
    """One map as the metrics use it: its index, drivable area and lane topology as arrays.

    `successors` (L, L) is 1.0 where the column lane follows the row lane; `successor_rows[r]` lists
    them; `speed_limits` (L,) [m/s] is NaN where the map gives none.
    """

    index: MapIndex
    drivable: shapely.Geometry
    successors: NDArray[np.float32]
    successor_rows: tuple[tuple[int, ...], ...]
    speed_limits: FloatArray

    @staticmethod
    def build(graph: LaneGraph) -> MapGeometry:
        """Index the map and derive the arrays (O(lanes) shapely work)."""
        index = MapIndex(graph)
        lanes = [graph.lanes[int(lane_id)] for lane_id in index.lane_ids]
        successor_rows = tuple(
            tuple(int(row) for row in index.rows(np.array(lane.successors, dtype=np.int64)) if row >= 0)
            for lane in lanes
        )
        successors = np.zeros((len(lanes), len(lanes)), dtype=np.float32)
        for row, following in enumerate(successor_rows):
            successors[row, list(following)] = 1.0
        limits = np.array([np.nan if lane.speed_limit is None else lane.speed_limit for lane in lanes])
        return MapGeometry(index, drivable_area(index), successors, successor_rows, limits.astype(np.float64))


_maps: OrderedDict[str, MapGeometry] = OrderedDict()


def map_geometry(graph: LaneGraph) -> MapGeometry:
    """The `MapGeometry` of a lane graph, reused across runs on the same map (LRU cache by map id).

    `map_id` must name the map's content (the CommonRoad reader's is a hash of the lanes' geometry
    and topology); a cached map with another number of lanes under the same id is rebuilt.
    """
    found = _maps.get(graph.map_id)
    if found is None or len(found.index) != len(graph.lanes):
        found = MapGeometry.build(graph)
        _maps[graph.map_id] = found
        if len(_maps) > _CACHE_SIZE:
            _maps.popitem(last=False)
    else:
        _maps.move_to_end(graph.map_id)
    return found


def clear_map_cache() -> None:
    """Forget every cached map geometry (benchmarks measure cold starts with it)."""
    _maps.clear()


def take(values: NDArray[np.generic], rows: IntArray, fill: float) -> NDArray[np.generic]:
    """values (L,) at lane rows (T,), `fill` where the row is -1 (also when the map has no lanes)."""
    found = rows >= 0
    out = np.full(len(rows), fill, dtype=np.result_type(values, type(fill)))
    out[found] = values[rows[found]]
    return out


def membership(index: MapIndex, xy: FloatArray) -> BoolArray:
    """(N, L) True where lane row l's polygon holds point n of xy (N, 2) [m] (borders count for both)."""
    member = np.zeros((len(xy), len(index)), dtype=bool)
    points, rows = index.candidates(xy)
    member[points, rows] = True
    return member


def driven_lanes(
    member: BoolArray, preferred: IntArray, successor_rows: tuple[tuple[int, ...], ...]
) -> IntArray:
    """The lane row (T,) the ego centre drives in at each step, -1 where it is in none.

    nuPlan's route extraction: keep the previous lane while it holds the centre, else move to one of
    its successors that does (the `preferred` one if among them), else take `preferred` (T,), the
    best-aligned lane holding the centre. member (T, L) is the centre's lane membership.
    """
    driven = np.full(len(preferred), -1, dtype=np.int64)
    previous = -1
    for t in range(len(preferred)):
        if previous >= 0 and member[t, previous]:
            driven[t] = previous
            continue
        following = [row for row in successor_rows[previous] if member[t, row]] if previous >= 0 else []
        if following:
            driven[t] = preferred[t] if preferred[t] in following else following[0]
        else:
            driven[t] = preferred[t]
        previous = int(driven[t])
    return driven


def in_common_or_connected_lane(corners: BoolArray, successors: NDArray[np.float32]) -> BoolArray:
    """True at steps (T,) where the ego's four corners lie in one lane or in lanes that connect.

    corners (4, T, L): lane membership of the front-left, rear-left, rear-right, front-right corners.
    nuPlan's test (ego_lane_change): every corner is in some lane and either one lane holds all four,
    or each rear corner lies in the other's lane or a successor of it, and some lane holds (or
    follows) both front corners' lanes while being (or following) both opposite rear corners' lanes.
    """
    everywhere = np.any(corners, axis=2).all(axis=0)
    inside = everywhere & np.all(corners, axis=0).any(axis=1)
    open_steps = np.flatnonzero(everywhere & ~inside)
    if len(open_steps) == 0:
        return np.asarray(inside, dtype=bool)
    front_left, rear_left, rear_right, front_right = (
        np.ascontiguousarray(corners[i, open_steps], dtype=np.float32) for i in range(4)
    )
    following = np.ascontiguousarray(successors.T)

    def forward(lanes: NDArray[np.float32]) -> BoolArray:
        return (lanes + lanes @ successors) > 0

    def backward(lanes: NDArray[np.float32]) -> BoolArray:
        return (lanes + lanes @ following) > 0

    rear_right_on = forward(rear_right)
    rear_left_on = forward(rear_left)
    rear = ((rear_left > 0) & rear_right_on).any(axis=1) | ((rear_right > 0) & rear_left_on).any(axis=1)
    front = (backward(front_left) & rear_right_on & backward(front_right) & rear_left_on).any(axis=1)
    inside[open_steps] = rear & front
    return np.asarray(inside, dtype=bool)


def preferred_lanes(index: MapIndex, xy: FloatArray, yaw: FloatArray, overlapped: BoolArray) -> IntArray:
    """Best-aligned lane row (T,) holding each centre xy (T, 2) [m] with heading yaw (T,) [rad]; -1: none.

    A lane pointing more than CROSSING_ERROR off the heading is taken only where it is the one lane
    holding the centre outside intersections (an oncoming lane on an open road): where lanes overlap
    (`overlapped` (T,): two or more hold the centre) or in intersections, such a lane belongs to a
    crossing or opposing stream whose area the ego cuts through.
    """
    lane_ids = index.assign(xy, yaw, PREFER_ALIGNED)
    heading = index.project(lane_ids, xy)[2]
    crossing = np.abs(angle_diff(yaw, heading)) > CROSSING_ERROR
    junction = overlapped | np.isin(lane_ids, np.array(sorted(index.intersection_lanes), dtype=np.int64))
    return index.rows(np.where(crossing & junction, -1, lane_ids))
