"""The closed loop: determinism, pure steps, planner failures, start and end of a run, recorded data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scenes

from drivestack.bench import run_one
from drivestack.core.dynamics import VehicleParams
from drivestack.core.errors import ConfigError
from drivestack.core.limits import RunLimits
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.record import RunRecord
from drivestack.core.scenario import (
    EgoState,
    Goal,
    Interval,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Trajectory,
)
from drivestack.plan import make_planner
from drivestack.plan.baselines import LogReplayPlanner
from drivestack.sim.runner import ego_start, map_index, simulate
from drivestack.sim.world import DEFAULT_CONFIG, SimConfig, agent_policy, build_world


def _scene(num_steps: int = 60, goal: tuple[float, float] = (390.0, 0.0)) -> Scenario:
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    agents = [
        scenes.moving(2, 60.0, 0.0, 9.0, num_steps=num_steps),
        scenes.moving(3, 30.0, 3.5, 11.0, num_steps=num_steps),
    ]
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 10.0, 0.0, 10.0, num_steps=num_steps), goal=goal)
    return scenes.scenario(graph, agents, ego, num_steps=num_steps)


class Failing:
    """A planner whose `plan` misbehaves in a chosen way."""

    name = "failing"

    def __init__(self, how: str) -> None:
        self.how = how
        self.calls = 0

    def initialize(self, init: PlannerInit) -> None:
        if self.how == "initialize":
            raise RuntimeError("cannot start")

    def plan(self, observation: Observation) -> Trajectory:
        self.calls += 1
        good = make_planner("constant-velocity").plan(observation)
        if self.how == "raise":
            raise ValueError("boom")
        if self.how == "nan":
            return dataclasses.replace(good, speed=np.full(len(good), np.nan))
        if self.how == "teleport":
            return dataclasses.replace(good, x=good.x + 50.0)
        raise AssertionError(self.how)


def _assert_same(a: RunRecord, b: RunRecord) -> None:
    for name in ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering_angle"):
        np.testing.assert_array_equal(getattr(a.ego, name), getattr(b.ego, name))
    for name in ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate", "valid"):
        np.testing.assert_array_equal(getattr(a.agents, name), getattr(b.agents, name))
    np.testing.assert_array_equal(a.steps, b.steps)
    assert a.failures == b.failures and a.termination == b.termination
    for p, q in zip(a.planned, b.planned, strict=True):
        assert (p is None) == (q is None)
        if p is not None and q is not None:
            np.testing.assert_array_equal(p.x, q.x)


@pytest.mark.parametrize("how", ["raise", "nan", "teleport"])
def test_failing_planner_is_recorded_and_the_ego_brakes(how: str) -> None:
    planner = Failing(how)
    record = simulate(_scene(), scenes.EGO_ID, planner)
    calls = record.num_steps - 1
    assert planner.calls == calls == len(record.failures)
    expected = {"raise": "ValueError: boom", "nan": "NaN", "teleport": "m from the ego"}[how]
    assert all(expected in failure for failure in record.failures)
    assert all(plan is None for plan in record.planned)
    assert np.isfinite(record.plan_ms[:-1]).all() and np.isnan(record.plan_ms[-1])
    speed = record.ego.speed
    assert (np.diff(speed) <= 0.0).all() and speed[-1] == 0.0  # braked to a stop within 6 s
    settled = record.ego.acceleration[(speed > 0.0) & (np.arange(len(speed)) > 5)]
    np.testing.assert_allclose(settled[1:-1], -DEFAULT_CONFIG.fallback_deceleration)
    assert np.ptp(record.ego.y) < 1e-9  # steering held


def test_planner_failing_to_initialize_is_never_called() -> None:
    planner = Failing("initialize")
    record = simulate(_scene(), scenes.EGO_ID, planner)
    assert planner.calls == 0
    assert record.failures == ("initialize: RuntimeError: cannot start",)
    assert record.ego.speed[-1] == 0.0


def test_runs_are_bit_identical() -> None:
    first = simulate(_scene(), scenes.EGO_ID, make_planner("idm"), "idm")
    second = simulate(_scene(), scenes.EGO_ID, make_planner("idm"), "idm")
    _assert_same(first, second)


def test_world_step_is_pure() -> None:
    scenario = _scene()
    problem = scenario.planning_problems[0]
    policy = agent_policy(scenario, "idm", map_index(scenario.lane_graph), DEFAULT_CONFIG)
    world, state = build_world(scenario, problem.initial, policy, VehicleParams())
    before = {name: getattr(state.ego, name).copy() for name in ("x", "speed")}
    agents_before = state.agents.x.copy()
    trajectory = Trajectory(
        np.arange(3), 10.0 + 1.0 * np.arange(3), np.zeros(3), np.zeros(3), np.full(3, 10.0), 0.1
    )
    following = world.step(state, trajectory)
    again = world.step(state, trajectory)
    assert following is not state and following.step == state.step + 1
    np.testing.assert_array_equal(state.ego.x, before["x"])
    np.testing.assert_array_equal(state.ego.speed, before["speed"])
    np.testing.assert_array_equal(state.agents.x, agents_before)
    np.testing.assert_array_equal(following.ego.x, again.ego.x)
    np.testing.assert_array_equal(following.agents.x, again.agents.x)


def test_run_ends_at_the_goal_but_not_when_it_holds_at_the_start() -> None:
    reached = simulate(_scene(goal=(60.0, 0.0)), scenes.EGO_ID, make_planner("constant-velocity"))
    assert reached.termination == "goal_reached"
    assert reached.ego.x[-1] >= 55.0 > reached.ego.x[-2]  # the goal region starts at x = 55
    at_start = simulate(_scene(goal=(12.0, 0.0)), scenes.EGO_ID, make_planner("constant-velocity"))
    assert at_start.termination == "recording_end" and at_start.num_steps == 60


def test_run_ends_with_the_goal_time_interval() -> None:
    scenario = _scene()
    problem = scenario.planning_problems[0]
    short = Goal((dataclasses.replace(problem.goal.states[0], time=Interval(0, 25)),))
    scenario = dataclasses.replace(scenario, planning_problems=(dataclasses.replace(problem, goal=short),))
    record = simulate(scenario, scenes.EGO_ID, make_planner("constant-velocity"))
    assert record.termination == "goal_time_over" and record.steps[-1] == 25


def test_run_is_capped_at_max_steps() -> None:
    """Issue 21 item 3: a far recording end and goal window made runs last for hours."""
    scenario = _scene(num_steps=60, goal=(390.0, 0.0))
    capped = SimConfig(limits=RunLimits(max_steps=20))
    record = simulate(scenario, scenes.EGO_ID, make_planner("constant-velocity"), config=capped)
    assert record.termination == "step_cap" and record.num_steps == 21
    row = run_one(scenario, scenario.planning_problems[0], "constant-velocity", "log", capped)
    assert (row["termination"], row["steps"]) == ("step_cap", 21)
    free = simulate(scenario, scenes.EGO_ID, make_planner("constant-velocity"))
    assert free.termination == "recording_end" and free.num_steps == 60
    with pytest.raises(ConfigError, match="max_steps must be >= 1"):
        SimConfig(limits=RunLimits(max_steps=0))


@pytest.mark.parametrize("agents_end", [1, 20])
def test_run_lasts_the_goal_window_when_the_recording_ends_before_it(agents_end: int) -> None:
    """Agents recorded for `agents_end` steps only (1: nothing after the start), a goal window of
    steps 30-40 far ahead: the run goes on to the window's end, the agents absent after theirs."""
    scenario = _scene(num_steps=agents_end, goal=(390.0, 0.0))
    problem = scenario.planning_problems[0]
    late = Goal((dataclasses.replace(problem.goal.states[0], time=Interval(30, 40)),))
    scenario = dataclasses.replace(scenario, planning_problems=(dataclasses.replace(problem, goal=late),))
    for planner in ("constant-velocity", "drivestack"):
        record = simulate(scenario, scenes.EGO_ID, make_planner(planner))
        assert record.termination == "goal_time_over" and record.steps[-1] == 40
        assert record.agents.valid[:, :agents_end].all() and not record.agents.valid[:, agents_end:].any()


def test_run_starts_where_the_recorded_human_starts() -> None:
    scenario = scenes.human_starting_late(_scene(), 12, 40)
    shifted = scenario.recorded_egos[0].trajectory
    problem = scenario.planning_problems[0]
    assert ego_start(scenario, problem, scenario.recorded_egos[0]) == (12, -1)
    moved = PlanningProblem(problem.id, EgoState(0, 0.0, 0.0, 0.0, 10.0), problem.goal)
    assert ego_start(scenario, moved, scenario.recorded_egos[0]) == (0, -1)  # another start: its own step
    replay = simulate(scenario, scenes.EGO_ID, make_planner("log-replay"))
    assert replay.steps[0] == 12 and replay.steps[-1] == 51 and replay.termination == "human_end"
    np.testing.assert_array_equal(replay.ego.x, shifted.x)
    np.testing.assert_array_equal(replay.agents.x, scenario.tracks.x[:, 12:52])
    cv = simulate(scenario, scenes.EGO_ID, make_planner("constant-velocity"))
    assert cv.steps[0] == 12 and cv.steps[-1] == 59


class Replaying(LogReplayPlanner):
    """The log-replay planner without the oracle flag, handed the trajectory directly: a planner
    like any other, whose plans are checked in full."""

    name = "replaying"
    oracle = False

    def __init__(self, human: Trajectory) -> None:
        super().__init__()
        self.human = human

    def initialize(self, init: PlannerInit) -> None:
        self._human = self.human


def test_oracle_replays_a_recording_the_feasibility_check_rejects() -> None:
    scenario = _scene()
    human = scenario.recorded_egos[0]
    jumpy = dataclasses.replace(human.trajectory, x=human.trajectory.x + (human.trajectory.steps >= 20) * 1.5)
    scenario = dataclasses.replace(scenario, recorded_egos=(dataclasses.replace(human, trajectory=jumpy),))
    replay = simulate(scenario, scenes.EGO_ID, make_planner("log-replay"))
    assert replay.failures == ()
    np.testing.assert_array_equal(replay.ego.x, jumpy.x)
    copied = simulate(scenario, scenes.EGO_ID, Replaying(jumpy))
    assert copied.failures and "moves 2.50 m from state" in copied.failures[0]


@pytest.mark.parametrize("appears", [0, 15])
def test_the_egos_twin_leaves_the_traffic(appears: int) -> None:
    # no recorded human; the problem's ego is a recorded agent (from step `appears` on)
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    twin = scenes.moving(7, 10.0, 0.0, 10.0, num_steps=60 - appears)
    pad = np.full(appears, np.nan)
    twin = scenes.Agent(7, np.r_[pad, twin.x], np.r_[pad, twin.y], yaw=np.zeros(60), speed=np.full(60, 10.0))
    ahead = scenes.moving(8, 80.0, 0.0, 10.0, num_steps=60)
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 10.0, 0.0, 10.0, num_steps=60), recorded=False)
    scenario = scenes.scenario(graph, [twin, ahead], ego, num_steps=60)
    assert ego_start(scenario, scenario.planning_problems[0], None) == (appears, 0)
    record = simulate(scenario, scenes.EGO_ID, make_planner("constant-velocity"))
    assert record.steps[0] == appears
    assert not record.agents.valid[0].any() and np.isnan(record.agents.x[0]).all()
    assert record.agents.valid[1].all()  # the other agent stays
    assert scenario.tracks.valid[0, appears:].all()  # the scenario itself is untouched


def test_unknown_problem_and_agents_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no planning problem 99"):
        simulate(_scene(), 99, make_planner("idm"))
    with pytest.raises(ConfigError, match="agents 'crowd'"):
        simulate(_scene(), scenes.EGO_ID, make_planner("idm"), "crowd")


def test_log_replay_of_the_recorded_human_is_exact(highd: Scenario, sind: Scenario) -> None:
    for scenario in (highd, sind):
        problem = scenario.planning_problems[0]
        human: RecordedEgo = scenario.recorded_ego(problem.id)  # type: ignore[assignment]
        record = simulate(scenario, problem.id, make_planner("log-replay"))
        assert record.failures == ()
        count = record.num_steps
        np.testing.assert_array_equal(record.steps, human.trajectory.steps[:count])
        np.testing.assert_array_equal(record.ego.x, human.trajectory.x[:count])
        np.testing.assert_array_equal(record.ego.yaw, human.trajectory.yaw[:count])
        assert (record.ego.length, record.ego.width) == (4.298, 1.674)  # the human's vehicle type 1


@pytest.mark.parametrize("agents", ["log", "idm"])
def test_recorded_runs_are_bit_identical(highd: Scenario, agents: str) -> None:
    assert highd.tracks.num_agents >= 50
    problem = highd.planning_problems[0]
    first = simulate(highd, problem.id, make_planner("idm"), agents)
    second = simulate(highd, problem.id, make_planner("idm"), agents)
    assert first.failures == ()
    _assert_same(first, second)
