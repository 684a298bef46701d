"""The planner interface: observations hold only the present and the past; only oracles see the human."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scenes

from drivestack.core.motions import MotionVocabulary, save_vocabulary
from drivestack.core.planner import Observation, Planner, PlannerInit, is_oracle
from drivestack.core.scenario import Scenario, Trajectory
from drivestack.plan import PLANNERS, PlannerOptions, make_planner
from drivestack.plan.baselines import ConstantVelocityPlanner
from drivestack.sim.runner import simulate

LOG_FIELDS = ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate", "valid")


def _scene() -> Scenario:
    """Two agents ahead of the ego whose every future position is a distinctive number."""
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    agents = [
        scenes.moving(2, 40.123, 0.0, 7.31, num_steps=60),
        scenes.moving(3, 20.457, scenes.LANE_WIDTH, 9.77, num_steps=60),
    ]
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 5.0, 0.0, 8.0, num_steps=60), goal=(390.0, 0.0))
    return scenes.scenario(graph, agents, ego, num_steps=60)


def _arrays(obj: object, seen: set[int]) -> list[np.ndarray]:
    """Every numpy array reachable from `obj` through fields, containers and array bases."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj, *(_arrays(obj.base, seen) if obj.base is not None else [])]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [a for f in dataclasses.fields(obj) for a in _arrays(getattr(obj, f.name), seen)]
    if isinstance(obj, dict):
        return [a for key, value in obj.items() for a in (*_arrays(key, seen), *_arrays(value, seen))]
    if isinstance(obj, (tuple, list)):
        return [a for item in obj for a in _arrays(item, seen)]
    return []


class Spy:
    """Drives straight on and keeps what it was given."""

    name = "spy"

    def __init__(self) -> None:
        self.init: PlannerInit | None = None
        self.observations: list[Observation] = []

    def initialize(self, init: PlannerInit) -> None:
        self.init = init

    def plan(self, observation: Observation) -> Trajectory:
        self.observations.append(observation)
        return ConstantVelocityPlanner().plan(observation)


@pytest.mark.parametrize("agents", ["log", "idm"])
def test_observation_cannot_reach_the_future(agents: str) -> None:
    scenario = _scene()
    spy = Spy()
    record = simulate(scenario, scenes.EGO_ID, spy, agents)
    assert len(spy.observations) == record.num_steps - 1 > 20
    log = [getattr(scenario.tracks, name) for name in LOG_FIELDS]
    for observation in spy.observations:
        k = observation.step
        column = k - int(record.steps[0])
        future = np.concatenate(
            [scenario.tracks.x[:, k + 1 :].ravel(), scenario.tracks.y[:, k + 1 :].ravel()]
        )
        future = future[np.isfinite(future) & (future != 0.0) & (future != scenes.LANE_WIDTH)]
        for array in _arrays(observation, set()):
            assert not any(np.shares_memory(array, source) for source in log)
            if array.dtype.kind == "f" and array is not observation.lane_graph:
                assert not np.isin(array, future).any(), f"step {k}: a future log value is reachable"
        # the newest column is the simulated present, and nothing lies beyond it
        np.testing.assert_array_equal(observation.agents.x[:, -1], record.agents.x[:, column])
        assert observation.ego_history.steps[-1] == k == observation.ego.step
        assert observation.agents.num_steps <= round(1.0 / scenario.dt) + 1


def test_a_run_starting_late_shows_the_agents_recorded_past_and_no_more() -> None:
    scenario = scenes.human_starting_late(_scene(), 12, 40)
    spy = Spy()
    record = simulate(scenario, scenes.EGO_ID, spy)
    first = spy.observations[0]
    assert record.steps[0] == first.step == 12 and len(first.ego_history.steps) == 1
    window = round(1.0 / scenario.dt) + 1  # one second: steps 2..12 of the log
    assert first.agents.num_steps == window
    np.testing.assert_array_equal(first.agents.x, scenario.tracks.x[:, 12 - window + 1 : 13])
    assert first.agents.valid.all()
    assert spy.observations[5].agents.num_steps == window  # the window slides into the simulated run
    np.testing.assert_array_equal(spy.observations[5].agents.x[:, -6:], record.agents.x[:, :6])


def test_only_oracles_receive_the_human() -> None:
    scenario = _scene()
    spy = Spy()
    simulate(scenario, scenes.EGO_ID, spy)
    assert spy.init is not None and spy.init.human_reference is None
    assert spy.init.route_lane_ids and spy.init.reference_path is not None
    assert not is_oracle(spy)
    replay = make_planner("log-replay")
    assert is_oracle(replay)
    record = simulate(scenario, scenes.EGO_ID, replay)
    human = scenario.recorded_egos[0].trajectory
    np.testing.assert_array_equal(record.ego.x, human.x[: record.num_steps])


def test_registered_planners_follow_the_protocol(tmp_path: Path) -> None:
    times = np.arange(11) * 0.1  # [s]
    straight = np.stack([10.0 * times])  # one motion: 1 s straight ahead at 10 m/s
    vocabulary = MotionVocabulary(
        times,
        straight,
        0 * straight,
        0 * straight,
        np.full_like(straight, 10.0),
        np.ones(1, dtype=np.int64),
        np.array([0.0, 45.0]),
    )
    options = PlannerOptions(vocabulary=str(save_vocabulary(vocabulary, tmp_path / "motions.npz")))
    for name in PLANNERS:
        planner = make_planner(name, options)
        assert isinstance(planner, Planner)
        assert planner.name == name
