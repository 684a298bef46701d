"""The one goal check (CommonRoad `GoalRegion.is_reached`) the planner, the simulator and the metrics
share, vectorized over batches of states: at which (row, step) does one of a goal's states hold.

A goal state holds when every field it gives holds: the step lies in its time interval, the vehicle
centre (the pose the run record stores) lies in its position (regions and goal lanelets, boundary
included; circles are 256-gons, radius within 1e-4), the speed in its velocity interval and the
heading in its orientation interval, taken modulo 2 pi. Deviation from commonroad-io: it compares
the raw numbers, so a heading of -3.1 rad misses an interval [3.0, 3.3] it lies in. The positions'
lanelet polygons come from the map (`maps.goal.goal_check`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.geometry import TWO_PI
from drivestack.core.scenario import Goal, Interval, Shape, ShapeKind

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

ANGLE_TOLERANCE = 1e-9  # [rad] so that interval ends given to file precision still count as inside
_CIRCLE_SEGMENTS = 64  # segments per quarter circle


def shape_geometry(shape: Shape) -> shapely.Geometry:
    """A world-frame goal `shape` as a valid shapely geometry (circles as 256-gons; groups as unions)."""
    if shape.kind is ShapeKind.CIRCLE:
        return shapely.buffer(shapely.Point(shape.center), shape.radius, quad_segs=_CIRCLE_SEGMENTS)
    if shape.kind is ShapeKind.GROUP:
        return shapely.union_all([shape_geometry(part) for part in shape.parts])
    ring = shape.outline()
    return shapely.make_valid(shapely.Polygon(ring)) if len(ring) >= 3 else shapely.Polygon()


def angle_in_interval(yaw: FloatArray, interval: Interval) -> BoolArray:
    """True where headings `yaw` (...) [rad] lie in the orientation interval, taken modulo 2 pi."""
    width = interval.end - interval.start
    if width >= TWO_PI - ANGLE_TOLERANCE:
        return np.ones(np.shape(yaw), dtype=bool)
    offset = np.remainder(np.asarray(yaw, dtype=np.float64) - interval.start, TWO_PI)
    return np.asarray((offset <= width + ANGLE_TOLERANCE) | (offset >= TWO_PI - ANGLE_TOLERANCE), dtype=bool)


def in_interval(values: NDArray[np.floating] | NDArray[np.integer], interval: Interval) -> BoolArray:
    """True where `values` (...) lie in the closed interval [start, end]."""
    return np.asarray((values >= interval.start) & (values <= interval.end), dtype=bool)


class GoalCheck:
    """A goal with the position of each of its states as a prepared geometry (None: any position),
    checked over batches of states."""

    def __init__(self, goal: Goal, positions: Sequence[shapely.Geometry | None]) -> None:
        self.goal = goal
        self.positions = tuple(positions)
        self._bounds = [None if shape is None else shapely.total_bounds(shape) for shape in positions]

    @property
    def position(self) -> shapely.Geometry | None:
        """The union of every goal state's position; None when no state constrains the position."""
        found = [shape for shape in self.positions if shape is not None]
        return shapely.union_all(found) if found else None

    def mask(
        self, steps: IntArray, x: FloatArray, y: FloatArray, yaw: FloatArray, speed: FloatArray
    ) -> BoolArray:
        """(..., T) True where states (..., T) (centre [m], heading [rad], speed [m/s]) at `steps`
        (T,) satisfy a goal state."""
        found = np.zeros(np.shape(x), dtype=bool)
        for state, geometry, bounds in zip(self.goal.states, self.positions, self._bounds, strict=True):
            mask = np.broadcast_to(in_interval(steps, state.time), found.shape).copy()
            if state.velocity is not None:
                mask &= in_interval(speed, state.velocity)
            if state.orientation is not None:
                mask &= angle_in_interval(yaw, state.orientation)
            if geometry is not None and bounds is not None:
                mask &= (x >= bounds[0]) & (x <= bounds[2]) & (y >= bounds[1]) & (y <= bounds[3])
                if mask.any():
                    mask[mask] = shapely.intersects_xy(geometry, x[mask], y[mask])
            found |= mask
        return found
