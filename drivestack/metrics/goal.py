"""CommonRoad's goal check, vectorized over a run: at which steps is one of the goal states satisfied.

A goal state holds at a step when every field it gives holds there (CommonRoad `GoalRegion.is_reached`):
the step lies in its time interval, the ego's reference point (the vehicle centre, the pose the
run record stores) lies in one of its regions or goal lanelets (boundary included; circles are
256-gons), the speed in its
velocity interval and the heading in its orientation interval. Deviation from commonroad-io: the
orientation interval is tested modulo 2 pi (commonroad-io compares the raw numbers, so a heading of
-3.1 rad misses an interval [3.0, 3.3] it lies in).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.errors import InputError
from drivestack.core.geometry import TWO_PI
from drivestack.core.scenario import Goal, GoalState, Interval, Shape, ShapeKind
from drivestack.maps.index import MapIndex

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_ANGLE_TOLERANCE = 1e-9  # [rad] so that interval ends given to file precision still count as inside
_CIRCLE_SEGMENTS = 64  # segments per quarter circle


def angle_in_interval(yaw: FloatArray, interval: Interval) -> BoolArray:
    """True where headings `yaw` (N,) [rad] lie in the orientation interval, taken modulo 2 pi."""
    width = interval.end - interval.start
    if width >= TWO_PI - _ANGLE_TOLERANCE:
        return np.ones(np.shape(yaw), dtype=bool)
    offset = np.remainder(np.asarray(yaw, dtype=np.float64) - interval.start, TWO_PI)
    return (offset <= width + _ANGLE_TOLERANCE) | (offset >= TWO_PI - _ANGLE_TOLERANCE)


def in_interval(values: FloatArray, interval: Interval) -> BoolArray:
    """True where `values` (N,) lie in the closed interval [start, end]."""
    return (values >= interval.start) & (values <= interval.end)


def shape_geometry(shape: Shape) -> shapely.Geometry:
    """A world-frame goal `shape` as a valid shapely geometry (circles as 256-gons, radius within 1e-4)."""
    if shape.kind is ShapeKind.CIRCLE:
        return shapely.buffer(shapely.Point(shape.center), shape.radius, quad_segs=_CIRCLE_SEGMENTS)
    if shape.kind is ShapeKind.GROUP:
        return shapely.union_all([shape_geometry(part) for part in shape.parts])
    ring = shape.outline()
    return shapely.make_valid(shapely.Polygon(ring)) if len(ring) >= 3 else shapely.Polygon()


@lru_cache(maxsize=32)
def position_geometry(state: GoalState, index: MapIndex) -> shapely.Geometry | None:
    """Union of a goal state's regions and goal lanelets (lane polygons); None when it gives no position.

    Cached per (goal state, map index) object, so a simulator checking the goal every step builds it
    once. Raises InputError when a goal lanelet is not in the map.
    """
    if not state.has_position:
        return None
    parts = [shape_geometry(region) for region in state.regions]
    if state.lanelet_ids:
        rows = index.rows(np.asarray(state.lanelet_ids, dtype=np.int64))
        if (rows < 0).any():
            missing = [lane for lane, row in zip(state.lanelet_ids, rows, strict=True) if row < 0]
            raise InputError(None, "goal / lanelets", f"goal lanelets {missing} are not in the map")
        parts += list(index.polygons[rows])
    geometry = shapely.union_all(parts)
    shapely.prepare(geometry)
    return geometry


def goal_state_mask(
    state: GoalState, steps: IntArray, xy: FloatArray, yaw: FloatArray, speed: FloatArray, index: MapIndex
) -> BoolArray:
    """True at the steps (T,) where the ego (centre xy (T, 2) [m], yaw (T,) [rad], speed (T,) [m/s])
    satisfies every field of one goal state."""
    mask = in_interval(steps.astype(np.float64), state.time)
    if state.velocity is not None:
        mask &= in_interval(speed, state.velocity)
    if state.orientation is not None:
        mask &= angle_in_interval(yaw, state.orientation)
    geometry = position_geometry(state, index)
    if geometry is not None and mask.any():
        mask[mask] = shapely.intersects_xy(geometry, xy[mask, 0], xy[mask, 1])
    return mask


def goal_mask(
    goal: Goal, steps: IntArray, xy: FloatArray, yaw: FloatArray, speed: FloatArray, index: MapIndex
) -> BoolArray:
    """True at the steps (T,) where any of the goal's alternative states holds (CommonRoad semantics)."""
    mask = np.zeros(len(steps), dtype=bool)
    for state in goal.states:
        mask |= goal_state_mask(state, steps, xy, yaw, speed, index)
    return mask
