"""Agent policies on hand-built scenes: IDM agents stop, queue without collisions, keep to their paths."""

from __future__ import annotations

import numpy as np
import pytest
import scenes

from drivestack.core.dynamics import IdmParams, Obstacles
from drivestack.core.geometry import box_corners, boxes_overlap
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.record import RunRecord
from drivestack.core.scenario import AgentType, Scenario, Trajectory
from drivestack.sim.agents import IdmAgents, LogAgents
from drivestack.sim.runner import simulate


class StandStill:
    """Stays where it is."""

    name = "stand-still"

    def initialize(self, init: PlannerInit) -> None:
        pass

    def plan(self, observation: Observation) -> Trajectory:
        ego = observation.ego
        steps = observation.step + np.arange(3)
        return Trajectory(
            steps, np.full(3, ego.x), np.full(3, ego.y), np.full(3, ego.yaw), np.zeros(3), observation.dt
        )


def _boxes(record: RunRecord) -> np.ndarray:
    """Agent boxes (A, T, 4, 2), NaN where absent."""
    agents = record.agents
    corners = box_corners(agents.x, agents.y, agents.yaw, agents.length[:, None], agents.width[:, None])
    corners[~agents.valid] = np.nan
    return corners


def _ego_boxes(record: RunRecord) -> np.ndarray:
    ego = record.ego
    return box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)


def _stopped_ego_scene(num_steps: int = 200) -> Scenario:
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    follower = scenes.moving(2, 40.0, 0.0, 10.0, num_steps=num_steps)  # recorded: drives through the ego
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 100.0, 0.0, 0.0, num_steps=num_steps), goal=(390.0, 0.0))
    return scenes.scenario(graph, [follower], ego, num_steps=num_steps)


def test_idm_agent_stops_behind_a_stopped_ego() -> None:
    record = simulate(_stopped_ego_scene(), scenes.EGO_ID, StandStill(), "idm")
    assert not boxes_overlap(_ego_boxes(record)[None], _boxes(record)).any()
    follower = record.agents
    assert follower.speed[0, -1] < 0.05
    gap = (record.ego.x[-1] - record.ego.length / 2) - (follower.x[0, -1] + follower.length[0] / 2)
    assert IdmParams().min_gap - 0.2 < gap < 3.0
    # the same scene replayed from the log drives through the ego
    replayed = simulate(_stopped_ego_scene(), scenes.EGO_ID, StandStill(), "log")
    assert boxes_overlap(_ego_boxes(replayed)[None], _boxes(replayed)).any()


def test_idm_queue_behind_a_stopped_car_has_no_collisions() -> None:
    num_steps = 200
    graph = scenes.straight_road(num_lanes=2, length=600.0)
    stopped = scenes.moving(10, 200.0, 0.0, 0.0, num_steps=num_steps)
    queue = [scenes.moving(11 + i, 150.0 - 18.0 * i, 0.0, 8.0 + i, num_steps=num_steps) for i in range(4)]
    ego = scenes.Ego(
        scenes.moving(scenes.EGO_ID, 20.0, scenes.LANE_WIDTH, 5.0, num_steps=num_steps), goal=(590.0, 3.5)
    )
    scenario = scenes.scenario(graph, [stopped, *queue], ego, num_steps=num_steps)
    record = simulate(scenario, scenes.EGO_ID, StandStill(), "idm")
    boxes = _boxes(record)
    pairs = boxes_overlap(boxes[:, None], boxes[None, :])  # (A, A, T)
    pairs[np.arange(5), np.arange(5)] = False
    assert not pairs.any()
    x = record.agents.x[:, -1]
    assert (np.diff(x) < 0.0).all()  # still in order
    assert (record.agents.speed[1:, -1] < 0.1).all()  # all stopped
    assert x[1] > 190.0  # the first has closed up to the stopped car


def test_unobstructed_idm_agent_keeps_to_its_recorded_path() -> None:
    num_steps = 80
    t = np.arange(num_steps) * scenes.DT
    radius, speed = 60.0, 10.0
    angle = speed * t / radius
    curve = scenes.Agent(
        2, radius * np.sin(angle), radius * (1.0 - np.cos(angle)), yaw=angle, speed=np.full(num_steps, speed)
    )
    late = scenes.Agent(3, np.r_[np.full(30, np.nan), 10.0 + np.arange(50) * 1.0], np.full(num_steps, -30.0))
    walker = scenes.moving(4, 0.0, 30.0, 0.0, 1.2, num_steps=num_steps, kind=AgentType.PEDESTRIAN)
    tracks = scenes.tracks([curve, late, walker], num_steps)
    policy = IdmAgents.build(tracks, scenes.DT, Obstacles.from_static(()), np.full(3, np.nan), IdmParams())
    ego = Obstacles(*(np.array([v]) for v in (500.0, 500.0, 0.0, 0.0, 4.5, 1.8)), np.ones(1, dtype=bool))
    states = [policy.initial(0)]
    for k in range(num_steps - 1):
        states.append(policy.step(states[-1], k, ego))
    x = np.array([s.x for s in states]).T
    y = np.array([s.y for s in states]).T
    on_circle = np.hypot(x[0], y[0] - radius)
    np.testing.assert_allclose(on_circle, radius, atol=0.02)  # chords of 1 m steps on a 60 m circle
    assert np.isnan(x[1, :30]).all() and x[1, 30] == 10.0  # appears where and when it was recorded
    np.testing.assert_array_equal(y[2], tracks.y[2])  # pedestrians replay the log
    assert list(policy.reactive) == [0, 1]


def test_log_agents_replay_the_recording() -> None:
    tracks = scenes.tracks([scenes.moving(2, 0.0, 0.0, 3.0, num_steps=10)], 10)
    policy = LogAgents(tracks)
    ego = Obstacles(*(np.zeros(1) for _ in range(6)), np.ones(1, dtype=bool))
    state = policy.step(policy.initial(4), 4, ego)
    assert state.x[0] == pytest.approx(tracks.x[0, 5])
