"""Vehicle dynamics on constructed inputs: actuator limits, exact arcs, tracker convergence, IDM, leaders."""

from __future__ import annotations

import numpy as np
import pytest

from drivestack.core.dynamics import (
    BicycleState,
    FeasibilityBounds,
    IdmParams,
    Obstacles,
    Tracker,
    VehicleParams,
    bicycle_step,
    check_trajectory,
    find_leaders,
    idm_acceleration,
    idm_profile,
    longitudinal_step,
    rollout,
)
from drivestack.core.scenario import Trajectory

PARAMS = VehicleParams()


def _drive(state: BicycleState, accel: np.ndarray, steer: np.ndarray, dt: float) -> BicycleState:
    """Apply commands (B, N) for N steps; states (B, N + 1)."""
    states = [state]
    for n in range(accel.shape[1]):
        states.append(bicycle_step(states[-1], accel[:, n], steer[:, n], PARAMS, dt))
    names = ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering")
    return BicycleState(*(np.stack([getattr(s, name) for s in states], axis=1) for name in names))


def test_bicycle_respects_actuator_limits_under_wild_commands() -> None:
    rng = np.random.default_rng(0)
    dt, batch, steps = 0.1, 64, 200
    state = BicycleState.of(0.0, 0.0, 0.3, 25.0, batch=batch)
    accel = rng.uniform(-30.0, 30.0, (batch, steps))
    steer = rng.uniform(-3.0, 3.0, (batch, steps))
    run = _drive(state, accel, steer, dt)
    moving = (
        run.speed[:, 1:] > 0.0
    )  # a stop ends braking at once (no reversing), so jerk is checked while moving
    assert (run.speed >= 0.0).all()
    assert (run.acceleration[:, 1:] <= PARAMS.max_acceleration + 1e-12).all()
    assert (run.acceleration[:, 1:] >= -PARAMS.max_deceleration - 1e-12).all()
    jerk = np.abs(np.diff(run.acceleration[:, 1:], axis=1)) / dt
    assert (jerk[moving[:, 1:] & moving[:, :-1]] <= PARAMS.max_jerk + 1e-9).all()
    assert (np.abs(run.steering) <= PARAMS.max_steering_angle + 1e-12).all()
    assert (np.abs(np.diff(run.steering, axis=1)) <= PARAMS.max_steering_rate * dt + 1e-12).all()
    assert (run.yaw >= -np.pi).all() and (run.yaw < np.pi).all()


def test_braking_stops_without_reversing() -> None:
    dt = 0.1
    state = BicycleState.of(0.0, 0.0, 0.0, 3.0, acceleration=-9.0)
    run = _drive(state, np.full((1, 30), -9.0), np.zeros((1, 30)), dt)
    assert run.speed[0, -1] == 0.0
    assert (np.diff(run.x[0]) >= 0.0).all()
    # v^2 / (2 a) = 0.5 m from 3 m/s at 9 m/s2 (the actuator already brakes fully)
    assert run.x[0, -1] == pytest.approx(0.5, abs=1e-9)


def test_constant_steering_drives_an_exact_circle() -> None:
    dt, steer = 0.1, 0.2
    state = BicycleState.of(0.0, 0.0, 0.0, 8.0, steering=steer)
    run = _drive(state, np.zeros((1, 100)), np.full((1, 100), steer), dt)
    rear_x = run.x[0] - 0.5 * PARAMS.wheelbase * np.cos(run.yaw[0])
    rear_y = run.y[0] - 0.5 * PARAMS.wheelbase * np.sin(run.yaw[0])
    radius = PARAMS.wheelbase / np.tan(steer)
    centre = (rear_x[0], rear_y[0] + radius)
    np.testing.assert_allclose(np.hypot(rear_x - centre[0], rear_y - centre[1]), radius, atol=1e-9)
    np.testing.assert_allclose(run.yaw_rate[0, 1:], 8.0 / radius, rtol=1e-12)


@pytest.mark.parametrize("speed", [10.0, 30.0])
@pytest.mark.parametrize("dt", [0.1, 0.2])
def test_tracker_converges_to_a_straight_path(speed: float, dt: float) -> None:
    tracker = Tracker(dt, PARAMS)
    t = np.arange(round(8.0 / dt) + 1) * dt
    x = speed * t
    ref = [a[None] for a in (x, np.zeros_like(t), np.zeros_like(t), np.full_like(t, speed))]
    run = rollout(BicycleState.of(0.0, 1.0, 0.0, speed), *ref, tracker)
    settled = t >= 5.0
    assert np.abs(run.y[0, settled]).max() < 0.02
    assert run.y[0].min() > -0.1  # no real overshoot
    assert np.abs(run.x[0, settled] - x[settled]).max() < 0.05


@pytest.mark.parametrize("speed", [5.0, 12.0])
def test_tracker_converges_to_a_curved_path(speed: float) -> None:
    dt, radius = 0.1, 40.0
    tracker = Tracker(dt, PARAMS)
    t = np.arange(101) * dt
    heading = speed * t / radius
    half = 0.5 * PARAMS.wheelbase  # a kinematically consistent arc: rear axle on the circle, yaw tangent
    x = radius * np.sin(heading) + half * np.cos(heading)
    y = radius * (1.0 - np.cos(heading)) + half * np.sin(heading)
    run = rollout(
        BicycleState.of(x[0], y[0] - 0.5, 0.0, speed),
        x[None],
        y[None],
        heading[None],
        np.full((1, 101), speed),
        tracker,
    )
    error = np.hypot(run.x[0] - x, run.y[0] - y)
    assert error[t >= 5.0].max() < 0.05
    assert error[-1] < 0.01


def test_tracker_follows_a_speed_profile() -> None:
    dt = 0.1
    tracker = Tracker(dt, PARAMS)
    t = np.arange(101) * dt
    speed = np.clip(5.0 + 1.5 * t, None, 15.0)
    x = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * dt)])
    run = rollout(
        BicycleState.of(0.0, 0.0, 0.0, 5.0),
        x[None],
        np.zeros((1, 101)),
        np.zeros((1, 101)),
        speed[None],
        tracker,
    )
    assert np.abs(run.speed[0] - speed).max() < 0.3
    assert np.abs(run.x[0] - x).max() < 0.1


def test_rollout_is_vectorized_exactly() -> None:
    dt = 0.1
    tracker = Tracker(dt, PARAMS)
    t = np.arange(41) * dt
    starts = [(0.0, 0.5, 0.1, 8.0), (3.0, -1.0, -0.2, 12.0), (1.0, 0.0, 0.0, 0.0)]
    ref = (8.0 * t[None], np.zeros((1, 41)), np.zeros((1, 41)), np.full((1, 41), 8.0))
    batch = rollout(
        BicycleState(*(np.array([s[i] for s in starts]) for i in range(4)), *(np.zeros(3) for _ in range(3))),
        *(np.repeat(r, 3, axis=0) for r in ref),
        tracker,
    )
    for i, start in enumerate(starts):
        single = rollout(BicycleState.of(*start), *ref, tracker)
        np.testing.assert_array_equal(batch.x[i], single.x[0])
        np.testing.assert_array_equal(batch.yaw[i], single.yaw[0])


def test_vehicle_types_follow_commonroad() -> None:
    escort = VehicleParams.for_vehicle_type(1)
    assert (escort.length, escort.width) == (4.298, 1.674)
    assert escort.wheelbase == pytest.approx(2.39268)
    assert VehicleParams.for_vehicle_type(None) == VehicleParams()
    assert VehicleParams.for_vehicle_type(7) == VehicleParams()


def test_idm_law() -> None:
    params = IdmParams()
    free = idm_acceleration(np.array([10.0]), np.array([10.0]), np.array([np.inf]), np.array([0.0]), params)
    assert free[0] == pytest.approx(0.0)
    start = idm_acceleration(np.array([0.0]), np.array([10.0]), np.array([np.inf]), np.array([0.0]), params)
    assert start[0] == pytest.approx(params.accel_max)
    close = idm_acceleration(np.array([10.0]), np.array([10.0]), np.array([5.0]), np.array([0.0]), params)
    assert close[0] == -params.decel_max  # clipped, as nuPlan
    hard = IdmParams(max_braking=8.0)
    assert (
        idm_acceleration(np.array([10.0]), np.array([10.0]), np.array([5.0]), np.array([0.0]), hard)[0]
        == -8.0
    )
    # a standing car exactly at the standstill gap stays put
    hold = idm_acceleration(
        np.array([0.0]), np.array([10.0]), np.array([params.min_gap]), np.array([0.0]), params
    )
    assert hold[0] == pytest.approx(0.0)


def test_idm_never_brakes_for_a_faster_leader() -> None:
    params = IdmParams()
    # 12 m behind a leader 15 m/s faster: Treiber's desired gap is the standstill gap, not below it
    faster = idm_acceleration(np.array([20.0]), np.array([30.0]), np.array([12.0]), np.array([35.0]), params)
    free = idm_acceleration(np.array([20.0]), np.array([30.0]), np.array([np.inf]), np.array([0.0]), params)
    assert 0.0 < faster[0] <= free[0]
    assert faster[0] == pytest.approx(free[0] - params.accel_max * (params.min_gap / 12.0) ** 2)


def test_longitudinal_step_from_a_negative_recorded_speed_stands_still() -> None:
    """A recording's negative speed (reversing, sign noise) starts from standstill: with a gentle
    acceleration or none it neither jumps backwards nor forwards (it jumped by 3.6e11 m)."""
    s, v, a = longitudinal_step(
        np.array([5.0, 5.0, 5.0]), np.array([-0.6] * 3), np.array([0.0, 1e-9, 0.4]), 0.5
    )
    np.testing.assert_allclose(s, [5.0, 5.0, 5.0 + 0.5 * 0.4 * 0.25])
    np.testing.assert_allclose(v, [0.0, 5e-10, 0.2])
    np.testing.assert_allclose(a, [0.0, 1e-9, 0.4])


def test_longitudinal_step_stops_instead_of_reversing() -> None:
    s, v, a = longitudinal_step(np.array([0.0]), np.array([1.0]), np.array([-4.0]), 1.0)
    assert (s[0], v[0], a[0]) == (pytest.approx(0.125), 0.0, -1.0)


def test_idm_profile_matches_stepping_the_law() -> None:
    params = IdmParams(max_braking=8.0)
    s, v = idm_profile(
        np.array([0.0, 5.0]), np.array([12.0, 3.0]), np.array([40.0, np.inf]), np.array([0.0, 0.0]),
        np.array([100.0, np.inf]), np.array([14.0, 8.0]), params, 0.1, 150,
    )  # fmt: skip
    assert s.shape == v.shape == (2, 151)
    # first: behind a stopped car 40 m ahead, stops short of it; second: free road, limit 14 then 8 m/s
    assert v[0, -1] < 0.05 and 40.0 - params.min_gap - 0.5 < s[0, -1] < 40.0
    progress, speed, gap = np.array([0.0]), np.array([12.0]), 40.0
    for _ in range(150):
        accel = idm_acceleration(speed, np.array([14.0]), np.array([gap]), np.array([0.0]), params)
        new, speed, _ = longitudinal_step(progress, speed, accel, 0.1)
        gap -= float(new[0] - progress[0])
        progress = new
    assert s[0, -1] == pytest.approx(progress[0], abs=1e-9)
    past = s[1] > 100.0  # the desired speed drops from 14 to 8 m/s there
    assert v[1, ~past].max() > 11.0 and past.any() and v[1, -1] < v[1, past][0] and abs(v[1, -1] - 8.0) < 0.5


def _obstacles(*rows: tuple[float, float, float, float, float, float]) -> Obstacles:
    array = np.array(rows, dtype=float).reshape(-1, 6)
    return Obstacles(*array.T, np.ones(len(array), dtype=bool))


def test_find_leaders_on_a_straight_path() -> None:
    distance = np.linspace(0.0, 50.0, 26)[None]
    px, py, pyaw = distance + 2.0, np.zeros_like(distance), np.zeros_like(distance)
    obstacles = _obstacles(
        (
            22.25,
            0.3,
            0.0,
            4.0,
            4.5,
            1.8,
        ),  # ahead in the lane: rear edge at 20 m from x=0, 18 m from the bumper
        (12.0, 3.5, 0.0, 9.0, 4.5, 1.8),  # beside, next lane
        (-5.0, 0.0, 0.0, 9.0, 4.5, 1.8),  # behind
    )
    gap, speed = find_leaders(px, py, pyaw, distance, np.array([0.9]), obstacles)
    assert gap[0] == pytest.approx(18.0)
    assert speed[0] == pytest.approx(4.0)
    crossing = _obstacles((12.0, 0.0, np.pi / 2, 3.0, 4.5, 1.8))
    gap, speed = find_leaders(px, py, pyaw, distance, np.array([0.9]), crossing)
    assert gap[0] == pytest.approx(10.0 - 0.9)
    assert speed[0] == pytest.approx(0.0, abs=1e-12)
    gap, _ = find_leaders(px, py, pyaw, distance, np.array([0.9]), obstacles, exclude=np.array([0]))
    assert np.isinf(gap[0])


def _straight(speed: float, steps: int, dt: float = 0.1) -> Trajectory:
    t = np.arange(steps) * dt
    return Trajectory(
        np.arange(steps), speed * t, np.zeros(steps), np.zeros(steps), np.full(steps, speed), dt
    )


def test_check_trajectory_accepts_and_rejects() -> None:
    good = _straight(10.0, 50)
    assert check_trajectory(good, 0, 0.1, 0.0, 0.0) is None
    assert check_trajectory(good, 0, 0.1, 30.0, 0.0) is not None  # far from the ego
    assert "covers" in str(check_trajectory(good, 49, 0.1, 49.0, 0.0))  # ends now
    nan = Trajectory(good.steps, good.x.copy(), good.y, good.yaw, good.speed, 0.1)
    nan.x[3] = np.nan
    assert "NaN" in str(check_trajectory(nan, 0, 0.1, 0.0, 0.0))
    jump = Trajectory(good.steps, good.x + (good.steps > 10) * 5.0, good.y, good.yaw, good.speed, 0.1)
    assert "moves" in str(check_trajectory(jump, 0, 0.1, 0.0, 0.0))
    strict = FeasibilityBounds(max_speed=5.0)
    assert "speed" in str(check_trajectory(good, 0, 0.1, 0.0, 0.0, strict))
    coarse = Trajectory(
        np.arange(5) * 5, 10.0 * np.arange(5) * 0.5, np.zeros(5), np.zeros(5), np.full(5, 10.0), 0.1
    )
    assert check_trajectory(coarse, 3, 0.1, 3.0, 0.0) is None  # any time grid covering now and next
