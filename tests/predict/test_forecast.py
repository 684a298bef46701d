"""Forecasts: constant velocity, lane following (offsets fade, braking agents stop, speeding-up ones
gain a little), several rows where a lane branches, and constant velocity for everyone else."""

from __future__ import annotations

import numpy as np
import pytest
import scenes

from drivestack.core.map import Lane, LaneGraph
from drivestack.core.scenario import AgentType
from drivestack.maps.index import MapIndex
from drivestack.predict import (
    AgentStates,
    ForecastConfig,
    LanePaths,
    constant_turn,
    constant_velocity,
    lane_following,
)

TIMES = np.arange(0.0, 8.01, 0.5)


def _agents(rows: list[tuple]) -> AgentStates:  # type: ignore[type-arg]
    """Agents from (x, y, yaw, speed, acceleration, kind[, yaw rate]) rows, 4.5 x 1.8 m boxes."""
    count = len(rows)
    kinds = [row[5] for row in rows]
    x, y, yaw, speed, accel = (np.array([row[k] for row in rows]) for k in range(5))
    return AgentStates(
        ids=np.arange(count, dtype=np.int64) + 1,
        x=x.astype(float),
        y=y.astype(float),
        yaw=yaw.astype(float),
        speed=speed.astype(float),
        acceleration=accel.astype(float),
        length=np.full(count, 4.5),
        width=np.full(count, 1.8),
        vulnerable=np.array([kind.is_vulnerable for kind in kinds]),
        pedestrian=np.array([kind is AgentType.PEDESTRIAN for kind in kinds]),
        yaw_rate=np.array([row[6] if len(row) > 6 else 0.0 for row in rows]),
    )


def _curve() -> LaneGraph:
    """Lane 1 along +x to x = 50, then lane 2 a quarter circle of radius 40 m turning left."""
    angles = np.linspace(-np.pi / 2, 0.0, 30)
    arc = np.column_stack([50.0 + 40.0 * np.cos(angles), 40.0 + 40.0 * np.sin(angles)])
    first = scenes.lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2,))
    normal = np.column_stack([-np.sin(angles + np.pi / 2), np.cos(angles + np.pi / 2)]) * 1.75
    second = Lane(2, left=arc + normal, right=arc - normal, center=arc, predecessors=(1,))
    return LaneGraph("curve", {1: first, 2: second})


def test_constant_velocity_moves_along_the_heading() -> None:
    agents = _agents([(0.0, 0.0, np.pi / 2, 2.0, 0.0, AgentType.PEDESTRIAN)])
    forecast = constant_velocity(agents, TIMES)
    np.testing.assert_allclose(forecast.x[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(forecast.y[0], 2.0 * TIMES)
    assert forecast.corners().shape == (1, len(TIMES), 4, 2)
    np.testing.assert_array_equal(forecast.source, [0])


def test_lane_following_takes_the_curve_and_drops_its_offset() -> None:
    graph = _curve()
    paths = LanePaths(graph, MapIndex(graph))
    agents = _agents([(20.0, 0.8, 0.0, 10.0, 0.0, AgentType.CAR)])
    forecast = lane_following(agents, paths, TIMES, ForecastConfig(multimodal=False))
    assert forecast.count == 1
    # after 8 s at 10 m/s the car is 80 m on: 30 m to the curve's start, then 50 m around it
    angle = -np.pi / 2 + 50.0 / 40.0
    expected = np.array([50.0 + 40.0 * np.cos(angle), 40.0 + 40.0 * np.sin(angle)])
    np.testing.assert_allclose([forecast.x[0, -1], forecast.y[0, -1]], expected, atol=0.6)
    assert forecast.yaw[0, -1] == pytest.approx(angle + np.pi / 2, abs=0.05)
    travelled = np.hypot(np.diff(forecast.x[0]), np.diff(forecast.y[0])).sum()
    assert travelled == pytest.approx(80.0, abs=1.0)


def _turn(radius: float) -> LaneGraph:
    """Lane 1 along +x to x = 60, then lane 2 turning left by 90 degrees on a circle of `radius` [m],
    then lane 3 straight up along +y."""
    angles = np.linspace(-np.pi / 2, 0.0, 30)
    arc = np.column_stack([60.0 + radius * np.cos(angles), radius + radius * np.sin(angles)])
    normal = np.column_stack([-np.sin(angles + np.pi / 2), np.cos(angles + np.pi / 2)]) * 1.75
    lanes = {
        1: scenes.lane_between(1, (0.0, 0.0), (60.0, 0.0), successors=(2,)),
        2: Lane(2, left=arc + normal, right=arc - normal, center=arc, predecessors=(1,), successors=(3,)),
        3: scenes.lane_between(3, (60.0 + radius, radius), (60.0 + radius, 300.0), predecessors=(2,)),
    }
    return LaneGraph("turn", lanes)


def test_vehicles_slow_down_for_a_tight_turn_and_speed_up_after_it() -> None:
    radius = 12.0
    graph = _turn(radius)
    paths = LanePaths(graph, MapIndex(graph))
    agents = _agents([(10.0, 0.0, 0.0, 14.0, 0.0, AgentType.CAR)])
    config = ForecastConfig(multimodal=False)
    times = np.arange(0.0, 12.01, 0.5)
    forecast = lane_following(agents, paths, times, config)
    x, y, speed = forecast.x[0], forecast.y[0], forecast.speed[0]
    in_turn = (x > 61.0) & (y < radius - 1.0)
    assert in_turn.any()
    fastest = np.sqrt(config.turn_lateral_acceleration * radius)  # 6 m/s
    assert speed[in_turn].max() <= fastest + 0.5
    # it slows down ahead of the turn, no harder than it anticipates turns, and speeds up after it
    assert speed[0] == pytest.approx(14.0)
    approach = speed[: np.argmax(in_turn)]
    assert approach.min() < 10.0  # slowing down before the turn begins
    assert approach[0] - approach.min() <= config.turn_deceleration * 0.5 * (len(approach) - 1) + 0.2
    assert np.diff(approach).min() >= -1.5 * config.turn_deceleration * 0.5  # no sudden braking
    after = y > radius + 1.0  # up the straight after the turn
    assert after.any() and np.diff(speed[after]).min() >= 0.0 and speed[-1] == pytest.approx(14.0)
    assert np.diff(speed).max() <= config.max_acceleration * 0.5 + 1e-9
    # the positions follow the speeds: no jump anywhere along the path
    steps = np.hypot(np.diff(x), np.diff(y))
    np.testing.assert_allclose(steps, 0.25 * (speed[1:] + speed[:-1]), rtol=0.1, atol=0.3)
    # a gentle curve at the same speed is taken at that speed
    gentle = lane_following(agents, LanePaths(_turn(80.0), MapIndex(_turn(80.0))), times, config)
    np.testing.assert_allclose(gentle.speed[0], 14.0)


def test_braking_agents_stop_and_accelerating_ones_gain_a_little() -> None:
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    paths = LanePaths(graph, MapIndex(graph))
    agents = _agents(
        [
            (10.0, 0.0, 0.0, 10.0, -4.0, AgentType.CAR),
            (10.0, 0.0, 0.0, 10.0, 1.0, AgentType.CAR),
            (10.0, 0.0, 0.0, 10.0, 0.2, AgentType.CAR),
        ]
    )
    forecast = lane_following(agents, paths, TIMES)
    rows = {int(source): row for row, source in enumerate(forecast.source)}
    np.testing.assert_allclose(forecast.x[rows[0], -1], 10.0 + 10.0**2 / 8.0, atol=1e-6)  # stopped
    assert forecast.speed[rows[0], -1] == 0.0
    assert forecast.speed[rows[1], -1] == pytest.approx(15.0)  # at most `speed_gain` faster
    np.testing.assert_allclose(forecast.x[rows[2]], 10.0 + 10.0 * TIMES, atol=1e-6)  # small: ignored


def _fork() -> LaneGraph:
    lanes = {
        1: scenes.lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2, 3)),
        2: scenes.lane_between(2, (50.0, 0.0), (200.0, 0.0), predecessors=(1,)),
        3: scenes.lane_between(3, (50.0, 0.0), (150.0, 100.0), predecessors=(1,)),
    }
    return LaneGraph("fork", lanes)


def test_a_vehicle_near_a_fork_gets_one_row_per_branch() -> None:
    graph = _fork()
    paths = LanePaths(graph, MapIndex(graph))
    agents = _agents(
        [
            (45.0, 0.0, 0.0, 8.0, 0.0, AgentType.CAR),  # 5 m before the fork
            (5.0, 0.0, 0.0, 8.0, 0.0, AgentType.CAR),  # far from it: the straightest only
            (45.0, 0.0, 0.0, 4.0, 0.0, AgentType.BICYCLE),  # vulnerable: constant velocity
        ]
    )
    forecast = lane_following(agents, paths, TIMES)
    counts = np.bincount(forecast.source, minlength=3)
    np.testing.assert_array_equal(counts, [2, 1, 1])
    near = np.flatnonzero(forecast.source == 0)
    ends = sorted(forecast.y[near, -1].tolist())
    assert ends[0] == pytest.approx(0.0, abs=0.1) and ends[1] > 20.0  # straight on, and up the branch
    np.testing.assert_allclose(forecast.y[forecast.source == 2][0], 0.0, atol=1e-9)
    single = lane_following(agents, paths, TIMES, ForecastConfig(multimodal=False))
    assert single.count == 3


def test_turning_agents_off_the_lanes_keep_turning_for_a_while() -> None:
    agents = _agents([(0.0, 0.0, 0.0, 5.0, 0.0, AgentType.BICYCLE, 0.5)])
    forecast = constant_turn(agents, TIMES, ForecastConfig(turn_time=2.0))
    np.testing.assert_allclose(forecast.yaw[0, TIMES >= 2.0], 1.0)  # turned 0.5 rad/s for 2 s
    radius = 5.0 / 0.5
    at_two = np.flatnonzero(TIMES == 2.0)[0]
    np.testing.assert_allclose(
        [forecast.x[0, at_two], forecast.y[0, at_two]], [radius * np.sin(1.0), radius * (1 - np.cos(1.0))]
    )
    step = np.hypot(np.diff(forecast.x[0]), np.diff(forecast.y[0]))
    np.testing.assert_allclose(step, 2.5, atol=0.02)  # at its speed all along


def test_agents_off_the_lanes_or_across_them_keep_their_velocity() -> None:
    graph = scenes.straight_road(num_lanes=1, length=200.0)
    paths = LanePaths(graph, MapIndex(graph))
    agents = _agents(
        [
            (50.0, 30.0, 0.0, 10.0, 0.0, AgentType.CAR),  # off the map
            (50.0, 0.0, np.pi / 2, 10.0, 0.0, AgentType.CAR),  # crossing the lane
        ]
    )
    forecast = lane_following(agents, paths, TIMES)
    cv = constant_velocity(agents, TIMES)
    order = np.argsort(forecast.source)
    np.testing.assert_allclose(forecast.x[order], cv.x)
    np.testing.assert_allclose(forecast.y[order], cv.y)


def test_a_lane_change_under_way_drifts_on_toward_the_neighbour_lane() -> None:
    # a car at 25 m/s heading 3 degrees left: 1.3 m/s sideways, toward the left lane on a two-lane road
    yaw = np.deg2rad(3.0)
    rows = [(50.0, 0.5, yaw, 25.0, 0.0, AgentType.CAR), (50.0, 3.5, 0.0, 25.0, 0.0, AgentType.CAR)]
    two = scenes.straight_road(num_lanes=2, length=400.0)
    forecast = lane_following(_agents(rows), LanePaths(two, MapIndex(two)), TIMES)
    drifting = np.flatnonzero(forecast.source == 0)
    assert len(drifting) == 2  # its lane, and the lane change going on
    final = sorted(forecast.y[drifting, -1].tolist())
    assert final[0] == pytest.approx(0.0, abs=0.1) and final[1] == pytest.approx(3.5, abs=0.1)
    assert np.count_nonzero(forecast.source == 1) == 1  # the straight one: one row
    # on a one-lane road there is nothing to change to
    one = scenes.straight_road(num_lanes=1, length=400.0)
    alone = lane_following(_agents(rows[:1]), LanePaths(one, MapIndex(one)), TIMES)
    assert alone.count == 1 and alone.y[0, -1] == pytest.approx(0.0, abs=0.1)


def test_accelerations_and_yaw_rates_come_from_the_recent_motion_when_the_step_is_known() -> None:
    # a car braking at 2 m/s2 whose file claims -10 m/s2 and a spinning yaw rate
    tracks = scenes.tracks([scenes.braking(3, 0.0, 0.0, 15.0, 2.0, num_steps=30)], 30)
    tracks.acceleration[:] = -10.0
    tracks.yaw_rate[:] = 1.0
    recorded = AgentStates.from_tracks(tracks, column=20)
    assert recorded.acceleration[0] == pytest.approx(-10.0) and recorded.yaw_rate[0] == pytest.approx(1.0)
    derived = AgentStates.from_tracks(tracks, column=20, dt=scenes.DT)
    assert derived.acceleration[0] == pytest.approx(-2.0, abs=0.05)
    assert derived.yaw_rate[0] == pytest.approx(0.0, abs=1e-9)
    first = AgentStates.from_tracks(tracks, column=0, dt=scenes.DT)  # no history yet: as recorded
    assert first.acceleration[0] == pytest.approx(-10.0)
