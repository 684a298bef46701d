"""The minimal route: the ego's lane, successors toward the goal, a straight line off the map."""

from __future__ import annotations

import numpy as np
import pytest
import scenes

from drivestack.core.map import LaneGraph
from drivestack.core.scenario import Goal, GoalState, Interval, Shape, ShapeKind
from drivestack.maps.route import reference_path, route_lanes


def _fork() -> LaneGraph:
    """Lane 1 (x 0..50) forks into 2 (straight on to x 100) and 3 (turning up to (90, 40)), then 4 after 3."""
    lanes = {
        1: scenes.lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2, 3)),
        2: scenes.lane_between(2, (50.0, 0.0), (100.0, 0.0), predecessors=(1,)),
        3: scenes.lane_between(3, (50.0, 0.0), (90.0, 40.0), predecessors=(1,), successors=(4,)),
        4: scenes.lane_between(4, (90.0, 40.0), (90.0, 100.0), predecessors=(3,)),
    }
    return LaneGraph("fork", lanes)


def _goal_at(x: float, y: float) -> Goal:
    region = Shape(ShapeKind.RECTANGLE, length=6.0, width=6.0, center=(x, y))
    return Goal((GoalState(time=Interval(0, 100), regions=(region,)),))


def test_route_prefers_straight_on_without_a_goal() -> None:
    assert route_lanes(_fork(), 10.0, 0.0, 0.0) == (1, 2)


def test_route_heads_for_the_goal() -> None:
    assert route_lanes(_fork(), 10.0, 0.0, 0.0, _goal_at(90.0, 80.0)) == (1, 3, 4)
    path = reference_path(_fork(), 10.0, 0.0, 0.0, _goal_at(70.0, 20.0))
    assert path.points[-1] == pytest.approx((90.0, 100.0))


def test_route_follows_successors_until_long_enough() -> None:
    graph = scenes.straight_road(num_lanes=2, length=600.0, segments=6)
    lanes = route_lanes(graph, 20.0, scenes.LANE_WIDTH, 0.0)
    assert lanes == tuple(scenes.lane_id(1, j) for j in range(4))  # 80 + 3 x 100 m >= 300 m ahead of x = 20
    path = reference_path(graph, 20.0, scenes.LANE_WIDTH, 0.0)
    assert np.allclose(path.points[:, 1], scenes.LANE_WIDTH)


def test_route_off_the_map_takes_the_nearest_aligned_lane() -> None:
    graph = scenes.straight_road(num_lanes=2, length=200.0)
    # beside the road, heading along it: the nearer lane; heading against it there is no aligned lane
    assert route_lanes(graph, 50.0, -4.0, 0.0)[0] == scenes.lane_id(0)
    assert route_lanes(graph, 50.0, 9.0, 0.0)[0] == scenes.lane_id(1)


def test_reference_path_without_lanes_runs_straight_on() -> None:
    path = reference_path(LaneGraph("empty"), 5.0, 5.0, np.pi / 2)
    assert path.points[0] == pytest.approx((5.0, -5.0))
    assert path.points[-1][0] == pytest.approx(5.0)
    assert path.length > 300.0
