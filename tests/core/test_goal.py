"""The one goal check: the planner, the simulator and the metric agree on arrival, also at a
circular region's rim, where a coarse polygon would cut the circle short."""

from __future__ import annotations

import numpy as np
import scenes
import shapely

from drivestack.core.goal import GoalCheck, shape_geometry
from drivestack.core.scenario import Goal, GoalState, Interval, Shape, ShapeKind
from drivestack.maps.goal import goal_check
from drivestack.maps.index import MapIndex


def _circle_goal() -> Goal:
    region = Shape(ShapeKind.CIRCLE, radius=2.0, center=(100.0, 0.0))
    return Goal((GoalState(time=Interval(0, 50), regions=(region,), velocity=Interval(0.0, 20.0)),))


def test_a_point_just_inside_the_circle_between_polygon_vertices_has_arrived() -> None:
    goal = _circle_goal()
    check = goal_check(goal, MapIndex(scenes.straight_road(num_lanes=1, length=200.0)))
    # 0.9995 of the radius, half-way between two vertices of a 16-per-quarter polygon: outside that
    # polygon (its chords sag 0.12% of the radius), inside the true circle and the 64-per-quarter one
    angle = np.pi / 64.0
    x = np.array([[100.0 + 1.999 * np.cos(angle), 100.0 + 2.01 * np.cos(angle)]])
    y = np.array([[1.999 * np.sin(angle), 2.01 * np.sin(angle)]])
    reached = check.mask(np.array([10, 10]), x, y, np.zeros((1, 2)), np.full((1, 2), 5.0))
    assert reached.tolist() == [[True, False]]
    # the planner's and the router's former 16-per-quarter circle missed it (the metric's did not)
    coarse = GoalCheck(goal, [shapely.buffer(shapely.Point(100.0, 0.0), 2.0, quad_segs=16)])
    assert not coarse.mask(np.array([10]), x[:, :1], y[:, :1], np.zeros((1, 1)), np.full((1, 1), 5.0))[0, 0]
    assert shape_geometry(goal.states[0].regions[0]).contains(shapely.Point(x[0, 0], y[0, 0]))


def test_time_velocity_and_heading_each_gate_arrival() -> None:
    goal = Goal(
        (GoalState(time=Interval(5, 8), velocity=Interval(1.0, 3.0), orientation=Interval(3.0, 3.3)),)
    )
    check = GoalCheck(goal, [None])
    steps = np.array([4, 5, 6, 7, 8])
    speed = np.array([2.0, 2.0, 4.0, 2.0, 2.0])
    yaw = np.array([-3.1, -3.1, -3.1, 0.0, 3.2])  # -3.1 rad lies in [3.0, 3.3] modulo 2 pi
    assert check.mask(steps, np.zeros(5), np.zeros(5), yaw, speed).tolist() == [
        False,
        True,
        False,
        False,
        True,
    ]
