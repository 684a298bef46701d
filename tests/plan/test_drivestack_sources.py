"""Extra proposal sources plug into the drivestack planner: their proposals are rolled out, scored
by the same scorer as the rule-based ones, and may be chosen; forecast models are named by an enum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scenes
from watched_planner import Watched

from drivestack.core.errors import ConfigError
from drivestack.core.scenario import (
    EgoState,
    Goal,
    GoalState,
    Interval,
    PlanningProblem,
    Scenario,
    Shape,
    ShapeKind,
)
from drivestack.plan.drivestack import DrivestackConfig, DrivestackPlanner
from drivestack.plan.drivestack.decide import LaneOption, Scene
from drivestack.plan.drivestack.stages import OTHER, Proposals, rolled_out
from drivestack.predict import ForecastModel
from drivestack.sim.runner import simulate


class ConstantVelocity:
    """A third source in a few lines: the ego keeps its heading and speed, in its own lane."""

    def propose(self, scene: Scene, options: list[LaneOption]) -> Proposals:
        ego, travel = scene.ego, scene.ego.speed * scene.times[None, :]
        x, y = ego.x + np.cos(ego.yaw) * travel, ego.y + np.sin(ego.yaw) * travel
        yaw, speed = np.full(x.shape, ego.yaw), np.full(x.shape, ego.speed)
        return rolled_out(scene, options, np.zeros(1, dtype=np.int64), x, y, yaw, speed)


def _road(agents: list[scenes.Agent], steps: int) -> Scenario:
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    scenario = scenes.scenario(graph, agents, None, num_steps=steps)
    region = Shape(ShapeKind.RECTANGLE, length=10.0, width=3.0, center=(380.0, 0.0))
    problem = PlanningProblem(
        scenes.EGO_ID,
        EgoState(step=0, x=10.0, y=0.0, yaw=0.0, speed=15.0),
        Goal((GoalState(time=Interval(0, steps - 1), regions=(region,)),)),
    )
    return dataclasses.replace(scenario, planning_problems=(problem,))


def test_a_constant_velocity_source_is_scored_like_the_rule_based_proposals() -> None:
    planner = Watched(ConstantVelocity())
    record = simulate(_road([], 20), scenes.EGO_ID, planner)
    assert record.failures == () and len(planner.seen) == record.num_steps - 1
    for proposals, scores in planner.seen:
        assert proposals.kind[-1] == OTHER and (proposals.kind[:-1] != OTHER).all()
        # on an empty straight road keeping speed is safe and makes as much progress as any
        assert scores.safe[-1] and np.isfinite(scores.total[-1])
        assert scores.progress[-1] >= scores.progress[:-1].max() - 0.05
        np.testing.assert_allclose(proposals.states.speed[-1], 15.0, atol=0.05)
    alone = DrivestackPlanner()
    simulate(_road([], 20), scenes.EGO_ID, alone)
    with_source = [decision.proposals for decision in planner.decisions]
    assert with_source == [decision.proposals + 1 for decision in alone.decisions]


def test_a_source_driving_into_a_stopped_car_is_gated() -> None:
    planner = Watched(ConstantVelocity())
    stopped = scenes.moving(2, 45.0, 0.0, 0.0, num_steps=20)
    record = simulate(_road([stopped], 20), scenes.EGO_ID, planner)
    proposals, scores = planner.seen[0]
    assert not scores.safe[-1] and scores.total[-1] == -np.inf  # 15 m/s into a car 35 m ahead
    assert scores.checks.collision[-1] < proposals.s.shape[1]
    assert scores.safe.any() and not record.termination.startswith("collision")


def test_forecast_models_are_named_by_an_enum() -> None:
    assert DrivestackConfig(forecast_model="cv").forecast_model is ForecastModel.CV
    assert DrivestackConfig().forecast_model is ForecastModel.LANE
    with pytest.raises(ConfigError, match="forecast_model 'kalman'"):
        DrivestackConfig(forecast_model="kalman")
