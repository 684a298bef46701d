"""Pieces of the drivestack planner on their own: lateral paths, speed profiles, the safety checks'
fault rules, gap acceptance, the desired-speed envelope and the comfort check against the metric."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scenes
from hypothesis import given, settings
from hypothesis import strategies as st

from drivestack.core.dynamics import BicycleState, Obstacles, Tracker, VehicleParams
from drivestack.core.scenario import EgoState, Goal, GoalState, Interval, Shape, ShapeKind
from drivestack.maps.index import MapIndex
from drivestack.maps.raster import MapRaster
from drivestack.maps.routing import Router
from drivestack.metrics.comfort import savgol
from drivestack.metrics.config import MetricsConfig
from drivestack.plan.drivestack.config import DecisionConfig, ProposalConfig, ScoringConfig
from drivestack.plan.drivestack.decide import Scene, envelope, gap_check
from drivestack.plan.drivestack.proposals import (
    ProfileLimits,
    ProfileRows,
    _distinct_rows,
    lateral_offsets,
    speed_profiles,
)
from drivestack.plan.drivestack.scoring import PastMotion, StepMarks, check_proposals, comfortable
from drivestack.plan.drivestack.stages import BRAKE, FIRM, IDM, STOP
from drivestack.predict import AgentStates, constant_velocity


def test_lateral_paths_leave_along_the_heading_and_arrive_parallel() -> None:
    s = np.linspace(0.0, 40.0, 4001)[None, :]
    d, rate = lateral_offsets(
        s, np.array([0.0]), np.array([-1.0]), np.array([0.1]), np.array([2.0]), np.array([30.0])
    )
    slope = np.gradient(d[0], s[0])
    np.testing.assert_allclose(rate[0, 1:-1], slope[1:-1], atol=1e-3)  # the analytic slope
    assert d[0, 0] == pytest.approx(-1.0) and slope[0] == pytest.approx(0.1, abs=1e-3)
    assert d[0, 3000] == pytest.approx(2.0) and abs(slope[3000]) < 1e-3
    np.testing.assert_allclose(d[0, 3000:], 2.0)  # holds the target after the transition


_LIMITS = ProfileLimits(
    front=2.25, comfort_jerk=ProposalConfig().comfort_jerk, brake_deceleration=8.0, brake_jerk=12.0,
    max_acceleration=1.5, speed_gain=0.6, slow_deceleration=2.5, firm_deceleration=3.8,
    firm_jerk=ProposalConfig().firm_jerk,
)  # fmt: skip


def _profiles(
    kind: int,
    wall: float,
    v0: float = 15.0,
    a0: float = 0.0,
    lead: tuple[float, float, float] = (np.inf, 0.0, 0.0),
) -> tuple[np.ndarray, ...]:
    """(s, v, a) of one profile; `lead` = the leader's bumper gap [m], speed [m/s], acceleration."""
    config = ProposalConfig()
    gap, speed, accel = (np.array([value]) for value in lead)
    rows = ProfileRows(
        s0=np.array([0.0]), corridor=np.array([0]), kind=np.array([kind]), fraction=np.array([1.0]),
        headway=np.array([1.0]), lead_gap=gap, lead_speed=speed, lead_accel=accel, wall=np.array([wall]),
    )  # fmt: skip
    out = speed_profiles(rows, v0, a0, np.full((1, 400), 15.0), 1.0, config.idm, _LIMITS, 0.1, 120)
    return out.s[0], out.v[0], out.a[0]


def test_profiles_stop_before_the_wall_with_bounded_jerk() -> None:
    for kind, settle in ((IDM, 0.0), (STOP, 4.0)):  # the just-in-time stop may settle a bit harder
        s, v, a = _profiles(kind, 60.0)
        assert v[-1] < 0.01 and 60.0 - 3.5 < s[-1] + 2.25 <= 60.0
        assert np.abs(np.diff(a)).max() / 0.1 <= ProposalConfig().comfort_jerk + settle + 1e-9
    s, v, a = _profiles(BRAKE, np.inf, a0=1.0)
    assert a.min() == pytest.approx(-8.0) and v[-1] == 0.0
    # braking firmly stays within the comfort metric: above -4.05 m/s2, jerk below 4.13 m/s3
    s, v, a = _profiles(FIRM, np.inf, a0=1.0)
    moving = v[1:] > 0.5  # until the last half metre per second, where the stop eases out
    assert a.min() == pytest.approx(-3.8) and v[-1] == 0.0 and a.min() > -4.05
    assert np.abs(np.diff(a))[moving].max() / 0.1 <= ProposalConfig().firm_jerk + 1e-9
    s, v, _ = _profiles(IDM, np.inf, v0=5.0)
    assert v[-1] == pytest.approx(15.0, abs=0.3)  # reaches the target speed (not only nears it)


def test_a_batch_gives_every_row_the_profile_it_gets_alone() -> None:
    # repeated rows (paths beside each other share their profiles and are computed once) mixed with
    # rows that differ in one input each: kind, wall, leader, fraction
    config = ProposalConfig()
    rows = [
        (IDM, np.inf, (np.inf, 0.0, 0.0), 1.0),
        (STOP, 60.0, (np.inf, 0.0, 0.0), 1.0),
        (IDM, np.inf, (30.0, 10.0, -2.0), 1.0),
        (IDM, np.inf, (np.inf, 0.0, 0.0), 0.6),
        (BRAKE, np.inf, (np.inf, 0.0, 0.0), 1.0),
    ]
    order = [0, 1, 0, 2, 3, 2, 4, 0, 1]

    def profiles(picked: list[int]) -> tuple[np.ndarray, ...]:
        kinds, walls, leads, fractions = zip(*(rows[k] for k in picked), strict=True)
        gap, speed, accel = (np.array(values) for values in zip(*leads, strict=True))
        count = len(picked)
        asked = ProfileRows(
            s0=np.zeros(count), corridor=np.zeros(count, dtype=np.int64), kind=np.array(kinds),
            fraction=np.array(fractions), headway=np.ones(count), lead_gap=gap, lead_speed=speed,
            lead_accel=accel, wall=np.array(walls),
        )  # fmt: skip
        out = speed_profiles(asked, 15.0, 0.0, np.full((1, 400), 15.0), 1.0, config.idm, _LIMITS, 0.1, 120)
        return out.s, out.v, out.a, out.binding

    batch = profiles(order)
    for row, k in enumerate(order):
        alone = profiles([k])
        for together, single in zip(batch, alone, strict=True):
            np.testing.assert_array_equal(together[row], single[0])
    assert not np.array_equal(batch[1][0], batch[1][1])  # the rows do differ


def test_close_faster_leaders_need_no_panic_braking_braking_ones_are_followed_to_a_stop() -> None:
    comfortable = ProposalConfig().idm.decel_max
    # a car cutting in 3 m ahead, 3 m/s faster: IDM alone would brake at its limit
    _, _, a = _profiles(IDM, np.inf, lead=(3.0, 18.0, 0.0))
    assert a.min() >= -comfortable - 0.1
    # a leader 20 m ahead braking at 4 m/s2 to a stop: the ego stops behind it, not into it
    s, v, a = _profiles(IDM, np.inf, lead=(20.0, 15.0, -4.0))
    leader_stop = 20.0 + 15.0**2 / (2.0 * 4.0)
    assert v[-1] < 0.05 and leader_stop - 6.0 < s[-1] < leader_stop
    assert a.min() > -8.0 + 1e-6


def _check(ego_speed: float, agent_x: float, agent_y: float, agent_yaw: float, agent_speed: float) -> int:
    """First at-fault collision step of an ego driving +x at `ego_speed` from x = 0 (T: none)."""
    times = np.arange(41) * 0.1
    return _check_motion(ego_speed * times, np.full(41, ego_speed), agent_x, agent_y, agent_yaw, agent_speed)


def _check_motion(
    ego_x: np.ndarray, ego_v: np.ndarray, agent_x: float, agent_y: float, agent_yaw: float, agent_speed: float
) -> int:
    """First at-fault collision step of an ego along +x at positions `ego_x` (41,) [m] and speeds
    `ego_v` every 0.1 s with one car at constant velocity (T: none)."""
    times = np.arange(41) * 0.1
    ex, ev = ego_x[None], ego_v[None]
    agents = AgentStates(
        np.array([5]), np.array([agent_x]), np.array([agent_y]), np.array([agent_yaw]),
        np.array([agent_speed]), np.zeros(1), np.array([4.5]), np.array([1.8]),
        np.zeros(1, bool), np.zeros(1, bool), np.zeros(1),
    )  # fmt: skip
    forecast = constant_velocity(agents, times)
    graph = scenes.straight_road(num_lanes=3, length=400.0)
    raster = MapRaster(MapIndex(graph))
    states = BicycleState(ex, np.zeros_like(ex), np.zeros_like(ex), ev, *(np.zeros_like(ex),) * 3)
    marks = StepMarks(np.zeros(ex.shape, bool), np.zeros(ex.shape, bool), np.ones(ex.shape, bool))
    vehicle = VehicleParams(length=4.5, width=1.8, wheelbase=2.6)
    exact = dataclasses.replace(ScoringConfig(), vehicle_margin=0.0, vehicle_growth=(0.0, 0.0, 0.0, 0.0))
    checks = check_proposals(states, vehicle, marks, forecast, raster, 0.1, exact)
    return int(checks.collision[0])


def test_fault_rules_follow_nuplan() -> None:
    assert _check(10.0, 30.0, 0.0, 0.0, 0.0) < 41  # into a stopped car ahead: at fault
    assert _check(10.0, 30.0, 0.0, 0.0, 2.0) < 41  # into a slower car ahead: front bumper
    assert _check(10.0, -20.0, 0.0, 0.0, 20.0) == 41  # rear-ended by a faster car: not at fault
    assert _check(10.0, 20.0, -8.0, np.pi / 2, 4.0) < 41  # a crossing car ahead of the rear axle
    # a car crossing just in front, clipping the standing ego's bumper: not the ego's fault while it
    # stands, its own if it pulls away into it at once
    times = np.arange(41) * 0.1
    crossing = (3.0, -3.0, np.pi / 2, 10.0)
    assert _check_motion(np.zeros(41), np.zeros(41), *crossing) == 41
    assert _check_motion(1.5 * times**2, 3.0 * times, *crossing) < 41


def _scene(agents: AgentStates, speed: float = 20.0) -> Scene:
    ego = EgoState(0, 50.0, 0.0, 0.0, speed)
    forecast = constant_velocity(agents, np.arange(41) * 0.1)
    boxes = Obstacles(agents.x, agents.y, agents.yaw, agents.speed, agents.length, agents.width,
                      np.ones(agents.count, bool))  # fmt: skip
    goal = Goal((GoalState(time=Interval(0, 100)),))
    times = np.arange(41) * 0.1
    tracker = Tracker(0.1, VehicleParams())
    return Scene(0, 0.1, ego, VehicleParams(), agents, forecast, boxes, {}, 20.0, goal, times, tracker)


def _car(x: float, y: float, speed: float) -> AgentStates:
    return AgentStates(
        np.array([7]), np.array([x]), np.array([y]), np.zeros(1), np.array([speed]), np.zeros(1),
        np.array([4.5]), np.array([1.8]), np.zeros(1, bool), np.zeros(1, bool), np.zeros(1),
    )  # fmt: skip


def test_gap_acceptance_on_the_target_lane() -> None:
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    left = Router(graph, MapIndex(graph), None).corridor(scenes.lane_id(1))
    config = DecisionConfig()
    assert gap_check(_scene(_car(90.0, 3.5, 20.0)), left, 50.0, config)[0]
    closing = gap_check(_scene(_car(30.0, 3.5, 30.0)), left, 50.0, config)  # 15.5 m behind, 10 m/s faster
    assert not closing.accepted and "rear" in closing.reason
    assert closing.blocker == 0 and not closing.ahead
    assert not gap_check(_scene(_car(56.0, 3.5, 20.0)), left, 50.0, config)[0]  # alongside
    # a follower about 6.4 m behind at the ego's speed: too close to start even a needed change, not
    # so close that one under way turns back
    tight = _scene(_car(39.0, 3.5, 20.0))
    assert not gap_check(tight, left, 50.0, config, mandatory=True)[0]
    assert gap_check(tight, left, 50.0, config, mandatory=True, continuing=True)[0]


def test_envelope_slows_ahead_of_a_lower_limit() -> None:
    graph = scenes.straight_road(num_lanes=1, length=400.0, segments=2)
    lanes = dict(graph.lanes)
    lanes[scenes.lane_id(0, 1)] = dataclasses.replace(lanes[scenes.lane_id(0, 1)], speed_limit=10.0)
    graph = dataclasses.replace(graph, lanes=lanes)
    corridor = Router(graph, MapIndex(graph), None).corridor(scenes.lane_id(0, 0))
    speeds = envelope(corridor, 25.0, Goal(()), 0.0, DecisionConfig())
    assert speeds[5] == pytest.approx(25.0)
    assert speeds[200] == pytest.approx(10.0, abs=0.1)
    b = DecisionConfig().anticipation_deceleration
    assert speeds[150] == pytest.approx(np.sqrt(10.0**2 + 2 * b * 50.0), abs=0.3)  # braking ahead


def _goal_ahead(x: float, velocity: Interval | None = None, steps: int = 1000) -> Goal:
    """A 10 m goal region on the single lane of `scenes.straight_road` centred at `x` [m]."""
    region = Shape(ShapeKind.RECTANGLE, length=10.0, width=3.0, center=(x, 0.0))
    return Goal((GoalState(time=Interval(0, steps), regions=(region,), velocity=velocity),))


def test_envelope_hurries_to_reach_the_goal_before_the_run_ends() -> None:
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    goal = _goal_ahead(150.0)
    corridor = Router(graph, MapIndex(graph), goal).corridor(scenes.lane_id(0))
    config = DecisionConfig()
    relaxed = envelope(corridor, 10.0, goal, 0.0, config, dt=0.1)
    assert relaxed[0] == pytest.approx(10.0)
    # 147 m to 2 m into the goal in 14 s less the margin: faster than desired, within the overspeed
    hurried = envelope(corridor, 10.0, goal, 0.0, config, dt=0.1, deadline=14.0)
    needed = (145.0 + 2.0) / (14.0 - config.deadline_margin)
    assert hurried[0] == pytest.approx(needed, abs=0.05)
    # out of reach even 2 m/s faster: no hurrying, it would buy nothing
    hopeless = envelope(corridor, 10.0, goal, 0.0, config, dt=0.1, deadline=5.0)
    assert hopeless[0] == pytest.approx(10.0)
    # in the run's last moments, inside the margin, the pace toward a goal still in reach holds
    last_moments = envelope(corridor, 10.0, goal, 140.0, config, now=13.3, dt=0.1, deadline=14.0)
    assert last_moments[corridor.station(140.0)] == pytest.approx(10.0 + config.goal_overspeed)


def test_a_lower_limit_beyond_the_goal_never_slows_the_ego_below_the_goal_velocity() -> None:
    graph = scenes.straight_road(num_lanes=1, length=400.0, segments=2)
    lanes = dict(graph.lanes)
    lanes[scenes.lane_id(0, 1)] = dataclasses.replace(lanes[scenes.lane_id(0, 1)], speed_limit=5.0)
    graph = dataclasses.replace(graph, lanes=lanes)
    goal = _goal_ahead(190.0, velocity=Interval(15.0, 20.0))
    corridor = Router(graph, MapIndex(graph), goal).corridor(scenes.lane_id(0, 0))
    speeds = envelope(corridor, 25.0, goal, 0.0, DecisionConfig())
    inside = int(190.0 / corridor.spacing)
    assert 15.0 < speeds[inside] <= 20.0  # the 5 m/s limit 10 m on is not anticipated below the goal's
    assert speeds[int(300.0 / corridor.spacing)] == pytest.approx(5.0)


def _metric_lon_comfortable(acceleration: np.ndarray, dt: float) -> bool:
    """The comfort metric's longitudinal verdict on a whole run's accelerations."""
    config = MetricsConfig()
    smoothed = savgol(acceleration, config.comfort.accel_window, dt, 2).values
    jerk = savgol(smoothed, config.comfort.jerk_window, dt, 2, 1).values
    return bool(
        np.all((smoothed > config.comfort.min_lon_accel) & (smoothed < config.comfort.max_lon_accel))
        and np.all(np.abs(jerk) < config.comfort.max_abs_lon_jerk)
    )


def _planner_lon_comfortable(acceleration: np.ndarray, end: int, dt: float) -> bool:
    """The planner's comfort verdict on one straight rollout from the run's start (no past)."""
    row = acceleration[None, :]
    zeros = np.zeros_like(row)
    past = PastMotion.none()
    return bool(comfortable(row, zeros, zeros, zeros, past, np.array([end]), dt, ScoringConfig())[0])


def test_comfort_check_sees_the_jerk_the_metric_measures_where_the_run_ends() -> None:
    # braking harder every step: each step's jerk (4 m/s3) is within the bound, but where the run
    # ends there, the metric's end-point derivative (1.5 x last step - 0.5 x the one before) is not
    dt = 0.5
    acceleration = np.array([0.0, 0.0, -1.0, -3.0, -3.0, -3.0, -3.0, -3.0, -3.0])
    assert not _metric_lon_comfortable(acceleration[:4], dt)
    assert not _planner_lon_comfortable(acceleration, 3, dt)
    assert _metric_lon_comfortable(acceleration, dt)
    assert _planner_lon_comfortable(acceleration, len(acceleration), dt)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1.2, 1.2), min_size=41, max_size=41),
    st.integers(24, 40),
    st.sampled_from([0.1, 0.2, 0.5]),
)
def test_comfort_check_agrees_with_the_metric_on_runs_it_sees_whole(
    steps: list[float], end: int, dt: float
) -> None:
    # a run the rollout covers from its start to its end: the planner judges it as the metric does
    # (plus the raw per-step bounds, which the metric's smoothing may hide)
    acceleration = np.cumsum(np.asarray(steps) * dt * 3.0)
    acceleration = np.clip(acceleration, -5.0, 3.0)
    config = ScoringConfig()
    run = acceleration[: end + 1]
    raw = bool(
        np.all((run[1:] > config.comfort.min_lon_accel) & (run[1:] < config.comfort.max_lon_accel))
        and np.all(np.abs(np.diff(run[1:])) < config.comfort.max_abs_lon_jerk * dt)
    )
    assert _planner_lon_comfortable(acceleration, end, dt) == (_metric_lon_comfortable(run, dt) and raw)


def test_comfort_check_judges_the_heading_as_the_metric_does_at_the_runs_end() -> None:
    # a steady turn that tightens on the last two steps: the yaw acceleration the metric fits at
    # the run's end exceeds its bound while the yaw rate stays within it
    dt = 0.2
    rate = np.array([0.0, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.45, 0.75, 0.75, 0.75, 0.75, 0.75])
    yaw = np.concatenate([[0.0], np.cumsum(rate[1:] * dt)])
    config, metric = ScoringConfig(), MetricsConfig()
    zeros = np.zeros((1, len(yaw)))
    past = PastMotion.none()

    def verdict(end: int) -> bool:
        return bool(comfortable(zeros, zeros, yaw[None, :], zeros, past, np.array([end]), dt, config)[0])

    end = 9
    yaw_accel = savgol(yaw[: end + 1], metric.comfort.yaw_window, dt, 3, 2).values
    assert np.abs(yaw_accel).max() >= metric.comfort.max_abs_yaw_accel
    assert (
        np.abs(savgol(yaw[: end + 1], metric.comfort.yaw_window, dt, 2, 1).values).max()
        < metric.comfort.max_abs_yaw_rate
    )
    assert not verdict(end)
    calm = savgol(yaw[:6], metric.comfort.yaw_window, dt, 3, 2).values
    assert np.abs(calm).max() < metric.comfort.max_abs_yaw_accel
    assert verdict(5)


def test_distinct_profile_rows_are_numpys_unique_rows() -> None:
    """The rows `speed_profiles` computes once are `np.unique(axis=0)`'s: same first rows, same
    order, same mapping back, with -0.0, NaN and inf among the values."""
    rng = np.random.default_rng(5)
    values = np.array([0.0, -0.0, 1.0, 2.5, -1.0, np.inf, np.nan])
    for _ in range(300):
        table = rng.choice(values, size=(int(rng.integers(1, 30)), int(rng.integers(1, 12))))
        table = table[rng.integers(0, len(table), int(rng.integers(1, 250)))]  # many equal rows
        _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
        found_first, found_inverse = _distinct_rows(table)
        assert np.array_equal(found_first, first)
        assert np.array_equal(found_inverse, inverse.ravel())
