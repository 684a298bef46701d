"""Planning problems cut from a log: the recorded car becomes the ego, its track the human reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from recorded_data import DATA_ROOT
from scenes import DT, LANE_WIDTH, Agent, moving, straight_road, tracks

from drivestack.core.errors import InputError
from drivestack.core.scenario import AgentType, Scenario, ShapeKind
from drivestack.data.formats._log import GoalConfig, drop_agent, log_tracks, problem_from_track
from drivestack.data.formats.registry import identify
from drivestack.maps.goal import goal_check
from drivestack.maps.index import MapIndex
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
    # from where the car was `time_slack` (2 s, 24 m) before its end to half the length past it
    slack = round(GoalConfig().time_slack / DT)
    back, front = trajectory.x[-1 - slack], trajectory.x[-1] + 0.5 * GoalConfig().length
    assert region.center == pytest.approx((0.5 * (back + front), 0.0))
    assert region.length == pytest.approx(front - back)
    assert region.orientation == pytest.approx(0.0, abs=1e-9)
    assert region.width == pytest.approx(LANE_WIDTH)  # as wide as the lane it ends on
    assert goal.time.start == CURRENT
    assert goal.time.end == NUM_STEPS - 1 + round(GoalConfig().time_slack / DT)
    assert goal.orientation is not None and goal.orientation.contains(0.0)


def test_a_slow_car_s_goal_is_length_long_around_its_end() -> None:
    """A car slower than length / 2 per time_slack (here 1 m/s): the region is `length` long, centred
    on its last position."""
    slow = moving(7, 10.0, 0.0, 1.0, num_steps=NUM_STEPS)
    problem, recorded = problem_from_track(tracks([slow], NUM_STEPS), 0, CURRENT, straight_road(), DT)
    (region,) = problem.goal.states[0].regions
    assert region.center == pytest.approx((recorded.trajectory.x[-1], 0.0))
    assert region.length == pytest.approx(GoalConfig().length)


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


def test_log_tracks_derive_speed_rates_and_sizes() -> None:
    """Speed along the heading, rates over consecutive valid steps only, sizes as medians."""
    steps = 6
    valid = np.array([[True, True, True, False, True, True]])
    x = np.array([[0.0, 1.0, 2.2, np.nan, 5.0, 6.0]])
    yaw = np.full((1, steps), np.pi / 2)
    yaw[0, 1] = np.pi / 2 + 0.1
    vx, vy = np.zeros((1, steps)), np.full((1, steps), 10.0)
    vy[0, 2] = 12.0
    length = np.array([[4.0, 4.2, 100.0, np.nan, 4.1, 4.0]])
    log = log_tracks(
        np.array([3]), (AgentType.CAR,), x, np.zeros((1, steps)), yaw, vx, vy, length, length / 2, valid, DT
    )
    assert log.speed[0, 0] == pytest.approx(10.0) and log.speed[0, 2] == pytest.approx(12.0)
    assert log.speed[0, 1] == pytest.approx(10.0 * np.cos(0.1))
    assert np.isnan(log.acceleration[0, 3]) and not log.valid[0, 3]
    assert log.acceleration[0, 2] == pytest.approx((12.0 - 10.0 * np.cos(0.1)) / DT)  # no step into the gap
    assert log.yaw_rate[0, 0] == pytest.approx(0.1 / DT) and log.yaw_rate[0, 4] == pytest.approx(0.0)
    assert log.length[0] == pytest.approx(4.1) and log.shapes[0].length == pytest.approx(4.1)


def _log_samples() -> list[Path]:
    root = DATA_ROOT
    found = [
        p for p in sorted((root / "womd").glob("*.tfrecord")) if p.name != "motion_data_one_example.tfrecord"
    ]
    found += sorted((root / "scenarionet").glob("*/*.pkl"))
    return found + sorted((root / "argoverse2").glob("*/*-*"))


@pytest.mark.parametrize("path", _log_samples() or [None], ids=lambda p: p.name[:24] if p else "absent")
def test_the_human_enters_its_goal_time_slack_before_the_recording_ends(path: Path | None) -> None:
    """On every recorded log sample, the human's own drive satisfies its goal from about `time_slack`
    (2 s; 1.8-2.0 s on the samples, 0.7-1.1 s before the region reached back) before its last step
    on, or it drove less than `length` / 2 in those 2 s and enters the goal `length` / 2 before its
    end: a planner somewhat slower than the human still reaches the goal before the recording (and
    so the run) ends."""
    if path is None:
        pytest.skip(f"no log samples under {DATA_ROOT}")
    reader = identify(path)
    assert reader is not None
    scenario = reader.read(path, reader.members(path)[0])
    (problem,) = scenario.planning_problems
    trajectory = scenario.recorded_egos[0].trajectory
    xy = np.stack([trajectory.x, trajectory.y], axis=1)
    check = goal_check(problem.goal, MapIndex(scenario.lane_graph))
    held = check.mask(trajectory.steps, trajectory.x, trajectory.y, trajectory.yaw, trajectory.speed)
    config = GoalConfig()
    slack = round(config.time_slack / scenario.dt)
    assert held[-1]
    first = int(np.flatnonzero(~held)[-1]) + 1 if not held.all() else 0  # from here on it holds
    if first == 0:
        return  # stood still in its goal: held from the start
    driven = float(np.hypot(*(xy[-1] - xy[max(len(xy) - 1 - slack, 0)])))
    entered = float(np.hypot(*(xy[-1] - xy[first])))
    if driven >= 0.5 * config.length:
        # (in a turn the region, straight along the end's lane, holds a little less of those 2 s)
        assert len(xy) - 1 - first >= 0.75 * slack, (first, len(xy))
    else:
        assert entered >= 0.5 * config.length - 0.5
