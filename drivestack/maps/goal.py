"""A goal's position on a map: its regions and goal lanelets' polygons, as the `core.goal.GoalCheck`
the planner, the simulator and the metrics all use (built once per goal and map)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely

from drivestack.core.errors import InputError
from drivestack.core.goal import GoalCheck, shape_geometry
from drivestack.core.scenario import Goal, GoalState
from drivestack.maps.index import MapIndex


def position_geometry(state: GoalState, index: MapIndex) -> shapely.Geometry | None:
    """Union of a goal state's regions and goal lanelets (lane polygons), prepared; None when it
    gives no position. Raises InputError when a goal lanelet is not in the map."""
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


@lru_cache(maxsize=32)
def goal_check(goal: Goal, index: MapIndex) -> GoalCheck:
    """The check of `goal` on the map of `index`, cached per (goal, index) object."""
    return GoalCheck(goal, [position_geometry(state, index) for state in goal.states])
