"""Baseline planners closed-loop on hand-built roads, and the planner registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scenes

from drivestack.core.errors import ConfigError
from drivestack.core.geometry import box_corners, boxes_overlap
from drivestack.core.map import LaneGraph
from drivestack.core.record import RunRecord
from drivestack.core.scenario import Scenario
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate


def _road(speed_limit: float | None = None) -> LaneGraph:
    graph = scenes.straight_road(num_lanes=2, length=600.0, segments=3)
    lanes = {i: dataclasses.replace(lane, speed_limit=speed_limit) for i, lane in graph.lanes.items()}
    return LaneGraph(graph.map_id, lanes)


def _scene(
    graph: LaneGraph, agents: list[scenes.Agent], y0: float = 0.0, v0: float = 10.0, steps: int = 150
) -> Scenario:
    ego = scenes.Ego(
        scenes.moving(scenes.EGO_ID, 10.0, y0, v0, num_steps=steps), recorded=False, goal=(595.0, 0.0)
    )
    return scenes.scenario(graph, agents, ego, num_steps=steps)


def _collides(record: RunRecord) -> bool:
    ego, agents = record.ego, record.agents
    a = box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)
    b = box_corners(agents.x, agents.y, agents.yaw, agents.length[:, None], agents.width[:, None])
    b[~agents.valid] = np.nan
    return bool(boxes_overlap(a[None], b).any())


def test_constant_velocity_drives_straight_on() -> None:
    record = simulate(_scene(_road(), [], y0=0.4), scenes.EGO_ID, make_planner("constant-velocity"))
    np.testing.assert_allclose(record.ego.speed, 10.0, atol=1e-9)
    np.testing.assert_allclose(record.ego.y, 0.4, atol=1e-9)
    np.testing.assert_allclose(np.diff(record.ego.x), 1.0, atol=1e-9)


def test_idm_stops_behind_a_stopped_car() -> None:
    stopped = scenes.moving(2, 120.0, 0.0, 0.0, num_steps=250)
    record = simulate(_scene(_road(), [stopped], steps=250), scenes.EGO_ID, make_planner("idm"))
    assert record.failures == ()
    assert not _collides(record)
    gap = (120.0 - 4.5 / 2) - (record.ego.x[-1] + record.ego.length / 2)
    assert 0.5 < gap < 4.0
    assert record.ego.speed[-1] < 0.1


def test_idm_follows_a_slower_car_without_collision() -> None:
    slower = scenes.moving(2, 45.0, 0.0, 6.0, num_steps=150)
    record = simulate(_scene(_road(), [slower], v0=12.0), scenes.EGO_ID, make_planner("idm"))
    assert not _collides(record)
    assert record.ego.speed[-1] == pytest.approx(6.0, abs=0.6)


def test_idm_returns_to_the_centerline_and_keeps_the_speed_limit() -> None:
    record = simulate(_scene(_road(speed_limit=8.0), [], y0=1.0, v0=5.0), scenes.EGO_ID, make_planner("idm"))
    assert abs(record.ego.y[-1]) < 0.05 and np.abs(record.ego.y).max() <= 1.0 + 1e-9
    assert record.ego.speed[-1] == pytest.approx(8.0, abs=0.3)
    assert record.ego.speed.max() < 8.3


def test_idm_plans_are_what_the_simulator_executes() -> None:
    # off the centerline, heading away from it: the plan is a tracker rollout, so it is feasible and
    # the simulator's next state is the plan's next state
    graph = _road()
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 10.0, 1.2, 9.0, -1.5, num_steps=120), recorded=False)
    record = simulate(scenes.scenario(graph, [], ego, num_steps=120), scenes.EGO_ID, make_planner("idm"))
    assert record.failures == ()
    for k, plan in enumerate(record.planned[:-1]):
        assert plan is not None
        assert abs(plan.x[1] - record.ego.x[k + 1]) < 0.01 and abs(plan.y[1] - record.ego.y[k + 1]) < 0.01
    assert abs(record.ego.y[-1]) < 0.05


def test_idm_ignores_the_next_lane() -> None:
    beside = scenes.moving(2, 40.0, scenes.LANE_WIDTH, 0.0, num_steps=150)
    record = simulate(_scene(_road(), [beside]), scenes.EGO_ID, make_planner("idm"))
    assert record.ego.speed.min() > 9.9


def test_log_replay_needs_a_recorded_human() -> None:
    record = simulate(_scene(_road(), []), scenes.EGO_ID, make_planner("log-replay"))
    assert len(record.failures) == 1 and "no recorded human ego" in record.failures[0]


def test_unknown_planner() -> None:
    with pytest.raises(ConfigError, match="unknown planner 'pdm'"):
        make_planner("pdm")
