"""Set-based (occupancy) obstacles: the planner keeps clear of them, the collision metric sees them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scenes

from drivestack.core.scenario import AgentType, Occupancy, Scenario, Shape, ShapeKind, occupancy_boxes
from drivestack.metrics.score import evaluate
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate

BLOCK_X = 80.0  # [m] rear edge of the region blocking the lane
STEPS = 120


def _blocked(phantom: bool, first: int = 0) -> Scenario:
    """One lane along +x, the ego at x = 10 m driving 10 m/s toward a goal at x = 190 m, and a set-based
    obstacle covering the whole lane from x = 80 to 86 m at steps `first`.. (a polygon, its region)."""
    graph = scenes.straight_road(num_lanes=1, length=200.0)
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 10.0, 0.0, 10.0, num_steps=STEPS), recorded=False)
    base = scenes.scenario(graph, [], ego, num_steps=STEPS)
    square = np.array([[BLOCK_X, -2.0], [BLOCK_X + 6.0, -2.0], [BLOCK_X + 6.0, 2.0], [BLOCK_X, 2.0]])
    steps = np.arange(first, STEPS, dtype=np.int64)
    shapes = tuple(Shape(ShapeKind.POLYGON, vertices=square) for _ in steps)
    occupancy = Occupancy(77, AgentType.UNKNOWN, steps, shapes, phantom=phantom)
    return dataclasses.replace(base, occupancies=(occupancy,))


def test_occupancy_boxes_enclose_each_steps_region() -> None:
    scenario = _blocked(phantom=False, first=5)
    boxes, present = occupancy_boxes(scenario.occupancies, 3, 4)
    assert present.tolist() == [[False, False, True, True]]
    assert np.isnan(boxes[0, :2]).all()
    x, y, _, length, width = boxes[0, 2]
    assert (x, y) == pytest.approx((BLOCK_X + 3.0, 0.0))
    assert sorted((length, width)) == pytest.approx([4.0, 6.0])


PLANNERS_AND_KINDS = [("drivestack", False), ("drivestack", True), ("idm", False)]


@pytest.mark.parametrize(("planner", "phantom"), PLANNERS_AND_KINDS)
def test_planners_stop_before_an_occupancy_blocking_their_lane(planner: str, phantom: bool) -> None:
    scenario = _blocked(phantom)
    problem = scenario.planning_problems[0]
    record = simulate(scenario, problem.id, make_planner(planner))
    metrics = evaluate(scenario, problem, record)
    front = record.ego.x + 0.5 * record.ego.length
    assert front.max() < BLOCK_X, "the ego drove into the occupied region"
    assert record.ego.speed[-1] < 0.5, "the ego did not come to a stop before it"
    assert metrics.collisions == 0


def test_a_run_into_an_occupancy_is_an_at_fault_collision() -> None:
    scenario = _blocked(phantom=False)
    problem = scenario.planning_problems[0]
    record = simulate(scenario, problem.id, make_planner("constant-velocity"))
    metrics = evaluate(scenario, problem, record)
    front = record.ego.x + 0.5 * record.ego.length
    assert front.max() > BLOCK_X
    assert metrics.at_fault_collisions >= 1
    assert metrics.no_at_fault_collision < 1.0 and metrics.at_fault_collision


def test_an_occupancy_appearing_later_is_no_obstacle_before() -> None:
    """Before its first step the region is free: a run that passes before it appears collides with nothing."""
    scenario = _blocked(phantom=True, first=100)
    problem = scenario.planning_problems[0]
    record = simulate(scenario, problem.id, make_planner("constant-velocity"))
    metrics = evaluate(scenario, problem, record)
    assert record.ego.x[np.searchsorted(record.steps, 100)] > BLOCK_X + 10.0
    assert metrics.collisions == 0
