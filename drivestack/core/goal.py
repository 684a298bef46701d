"""A goal's check over batches of states: at which (row, step) does one of its goal states hold.

A goal state holds when every field it gives holds (CommonRoad `GoalRegion.is_reached`): the step
lies in its time interval, the vehicle centre lies in its position (regions and goal lanelets,
boundary included), the speed in its velocity interval and the heading in its orientation interval,
taken modulo 2 pi (commonroad-io compares the raw numbers, so a heading of -3.1 rad misses an
interval [3.0, 3.3] it lies in).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.geometry import TWO_PI
from drivestack.core.scenario import Goal, Interval

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

ANGLE_TOLERANCE = 1e-9  # [rad] so that interval ends given to file precision still count as inside


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
        self._bounds = [
            None if geometry is None else shapely.total_bounds(geometry) for geometry in positions
        ]

    def mask(self, step: int, x: FloatArray, y: FloatArray, yaw: FloatArray, speed: FloatArray) -> BoolArray:
        """(B, T) True where states (B, T) (centre [m], heading [rad], speed [m/s]) at steps
        `step` + column satisfy a goal state."""
        found = np.zeros(x.shape, dtype=bool)
        steps = step + np.arange(x.shape[1])
        for state, geometry, bounds in zip(self.goal.states, self.positions, self._bounds, strict=True):
            mask = np.broadcast_to(in_interval(steps, state.time), x.shape).copy()
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
