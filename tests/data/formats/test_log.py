"""Planning problems cut from a log: the recorded car becomes the ego, its track the human reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scenes import DT, LANE_WIDTH, Agent, moving, straight_road, tracks

from drivestack.core.errors import InputError
from drivestack.core.scenario import Scenario, ShapeKind
from drivestack.data.formats._log import GoalConfig, drop_agent, problem_from_track
from drivestack.metrics import evaluate
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate

NUM_STEPS = 60
CURRENT = 10


def _log_scene() -> tuple[Scenario, int]:
    """A two-lane road with the logged car (id 7) in lane 0 and another car ahead in lane 1."""
    graph = straight_road(num_lanes=2, length=300.0)
    logged = moving(7, 10.0, 0.0, 12.0, num_steps=NUM_STEPS)
    other = moving(8, 40.0, LANE_WIDTH, 10.0, num_steps=NUM_STEPS)
    scenario = Scenario(
        scenario_id="log-test",
        dt=DT,
        num_steps=NUM_STEPS,
        lane_graph=graph,
        tracks=tracks([other, logged], NUM_STEPS),
    )
    return scenario, 1


def test_problem_starts_at_current_step_and_ends_where_the_car_ended() -> None:
    scenario, row = _log_scene()
    problem, recorded = problem_from_track(
        scenario.tracks, row, CURRENT, scenario.lane_graph, DT, problem_id=3
    )
    initial = problem.initial
    assert (initial.step, problem.id, recorded.planning_problem_id) == (CURRENT, 3, 3)
    assert initial.x == pytest.approx(10.0 + 12.0 * CURRENT * DT)
    assert initial.speed == pytest.approx(12.0)
    trajectory = recorded.trajectory
    assert trajectory.steps.tolist() == list(range(CURRENT, NUM_STEPS))
    assert trajectory.x[-1] == pytest.approx(10.0 + 12.0 * (NUM_STEPS - 1) * DT)
    (goal,) = problem.goal.states
    (region,) = goal.regions
    assert region.kind is ShapeKind.RECTANGLE
    assert region.center == pytest.approx((trajectory.x[-1], 0.0))
    assert region.orientation == pytest.approx(0.0, abs=1e-9)
    assert region.width == pytest.approx(LANE_WIDTH)  # as wide as the lane it ends on
    assert goal.time.start == CURRENT
    assert goal.time.end == NUM_STEPS - 1 + round(GoalConfig().time_slack / DT)
    assert goal.orientation is not None and goal.orientation.contains(0.0)


def test_goal_off_the_lanes_follows_the_car_heading() -> None:
    scenario, _ = _log_scene()
    diagonal = moving(9, 0.0, 20.0, 5.0, 5.0, num_steps=NUM_STEPS)  # far left of the road, heading 45 deg
    log = tracks([diagonal], NUM_STEPS)
    problem, _ = problem_from_track(log, 0, 0, scenario.lane_graph, DT)
    (region,) = problem.goal.states[0].regions
    assert region.orientation == pytest.approx(np.pi / 4)
    assert region.width == GoalConfig().off_lane_width


def test_gaps_in_the_track_are_interpolated() -> None:
    positions = 10.0 + np.arange(NUM_STEPS) * 1.0
    positions[20:25] = np.nan
    log = tracks(
        [Agent(5, positions, np.zeros(NUM_STEPS), yaw=np.zeros(NUM_STEPS), speed=np.full(NUM_STEPS, 10.0))],
        NUM_STEPS,
    )
    _, recorded = problem_from_track(log, 0, CURRENT, straight_road(), DT)
    assert recorded.trajectory.x[20 - CURRENT : 25 - CURRENT] == pytest.approx(10.0 + np.arange(20, 25) * 1.0)


def test_ego_absent_at_current_step_is_rejected() -> None:
    positions = np.full(NUM_STEPS, np.nan)
    positions[30:] = 1.0
    log = tracks([Agent(5, positions, np.zeros(NUM_STEPS))], NUM_STEPS)
    with pytest.raises(InputError, match=r"f\.bin: track 5: the ego is not recorded at its current step 10"):
        problem_from_track(log, 0, CURRENT, straight_road(), DT, source="f.bin")


def test_drop_agent_removes_exactly_that_row() -> None:
    scenario, row = _log_scene()
    kept = drop_agent(scenario.tracks, row)
    assert kept.ids.tolist() == [8]
    assert kept.x.shape == (1, NUM_STEPS) and kept.valid.shape == (1, NUM_STEPS)
    assert kept.x[0] == pytest.approx(scenario.tracks.x[0], nan_ok=True)
    assert len(kept.shapes) == len(kept.agent_type) == 1


def test_log_replay_of_the_recorded_car_reaches_its_goal_and_scores_full() -> None:
    scenario, row = _log_scene()
    problem, recorded = problem_from_track(scenario.tracks, row, CURRENT, scenario.lane_graph, DT)
    scenario = dataclasses.replace(
        scenario,
        tracks=drop_agent(scenario.tracks, row),
        planning_problems=(problem,),
        recorded_egos=(recorded,),
    )
    record = simulate(scenario, problem.id, make_planner("log-replay"), "log")
    assert record.steps[0] == CURRENT
    assert record.termination == "goal_reached"
    metrics = evaluate(scenario, problem, record, recorded)
    assert metrics.goal_reached and not metrics.any_collision
    assert metrics.score >= 0.9
