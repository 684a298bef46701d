"""CommonRoad goal semantics: position, time, velocity and orientation, each reached and missed."""

from __future__ import annotations

import numpy as np
import pytest
from metric_scenes import cruise, ego, goal_state, motion, road, run
from scenes import lane_id

from drivestack.core.goal import angle_in_interval
from drivestack.core.scenario import Interval

# The default ego drives from x = 10 m at 10 m/s along +x: it covers x in [50, 60] m during steps 40..50.
REGION = (50.0, -2.0, 60.0, 2.0)


def test_reaching_and_missing_the_goal_by_time() -> None:
    assert run(cruise(), goals=(goal_state(time=(35, 45), region=REGION),)).goal_reached
    missed = run(cruise(), goals=(goal_state(time=(20, 30), region=REGION),))
    assert not missed.goal_reached and missed.goal_step == -1


def test_reaching_and_missing_the_goal_by_velocity() -> None:
    reached = run(cruise(), goals=(goal_state(region=REGION, velocity=(8.0, 12.0)),))
    assert reached.goal_reached and reached.goal_step == 40
    assert not run(cruise(), goals=(goal_state(region=REGION, velocity=(0.0, 5.0)),)).goal_reached


def test_reaching_and_missing_the_goal_by_orientation() -> None:
    assert run(cruise(), goals=(goal_state(region=REGION, orientation=(-0.1, 0.1)),)).goal_reached
    assert not run(cruise(), goals=(goal_state(region=REGION, orientation=(0.5, 1.0)),)).goal_reached


def test_orientation_interval_wraps_around() -> None:
    x, v, a = motion(300.0, -10.0, 60)
    westward = ego(x, 0.0, -np.pi + 0.01, np.abs(v), a)  # heading -3.13 rad lies in [3.0, 3.3] modulo 2 pi
    region = (250.0, -2.0, 260.0, 2.0)
    assert run(westward, goals=(goal_state(region=region, orientation=(3.0, 3.3)),)).goal_reached
    assert not run(westward, goals=(goal_state(region=region, orientation=(2.0, 3.0)),)).goal_reached


@pytest.mark.parametrize(
    ("yaw", "interval", "inside"),
    [
        (0.0, (-0.1, 0.1), True),
        (-3.1, (3.0, 3.3), True),
        (3.1, (-3.3, -3.0), True),
        (1.0, (-3.3, -3.0), False),
        (2.0, (-7.0, 0.0), True),  # wider than a turn: every heading
        (0.3, (0.1, 0.2), False),
    ],
)
def test_angle_in_interval(yaw: float, interval: tuple[float, float], inside: bool) -> None:
    assert bool(angle_in_interval(np.array([yaw]), Interval(*interval))[0]) is inside


def test_goal_lanelet_and_alternatives() -> None:
    graph = road(lanes=2)
    left_lane = goal_state(time=(0, 100), lanelets=(lane_id(1),))
    assert not run(cruise(), graph=graph, goals=(left_lane,)).goal_reached
    assert run(cruise(), graph=graph, goals=(left_lane, goal_state(region=REGION))).goal_reached
    assert run(cruise(y=3.5), graph=graph, goals=(left_lane,)).goal_reached


def test_goal_satisfied_at_the_start() -> None:
    start = run(cruise(), goals=(goal_state(region=(0.0, -2.0, 20.0, 2.0)),))
    assert start.goal_reached and start.goal_reached_at_start and start.goal_step == 0
    assert not run(cruise(), goals=(goal_state(region=REGION),)).goal_reached_at_start
