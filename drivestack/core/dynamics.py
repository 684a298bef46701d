"""Vehicle dynamics shared by planners and the simulator, vectorized over a batch of vehicles.

One model, used twice: the simulator executes the ego with it, and planners roll candidate
trajectories out with it, so a planner predicts exactly what the simulator will do.

- `bicycle_step`: kinematic bicycle about the rear axle with actuator limits (acceleration, jerk,
  steering angle, steering rate); states are reported at the vehicle centre, the pose every
  record and trajectory in drivestack uses. The centre lies half a wheelbase ahead of the rear axle.
  Each step integrates the exact arc of constant curvature; speed never goes negative (no reversing).
- `Tracker`: follows a timed reference. Lateral: a discrete LQR on the linearised lateral error
  dynamics of the rear axle (see `TrackerConfig`) on top of the reference's feed-forward
  curvature; one Riccati solution per dt. Longitudinal: feed-forward acceleration plus P on the
  speed error and P on the along-track position error; the position error is the integral of the
  speed error, so this is a PI speed controller that also removes lag along the path.
- `idm_acceleration` and `find_leaders`: the Intelligent Driver Model and the search for the
  object ahead along a path, used by the reactive agents and by IDM-based planners.

Arrays are (B,) for B vehicles unless stated; SI units; yaw in rad, counter-clockwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy.linalg import solve_discrete_are

from drivestack.core.geometry import wrap_angle
from drivestack.core.scenario import (
    DEFAULT_VEHICLE_TYPE,
    Occupancy,
    StaticObstacle,
    Tracks,
    Trajectory,
    occupancy_boxes,
    vehicle_dimensions,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
_TWO_PI = 2.0 * np.pi

# CommonRoad vehicle models (commonroad-vehicle-models parameters_vehicle1..3): wheelbase a + b [m]
# and maximum steering angle [rad] by vehicle type id (1 Ford Escort, 2 BMW 320i, 3 VW Vanagon).
_WHEELBASES = {1: 2.39268, 2: 2.578, 3: 2.47193}
_MAX_STEERING = {1: 0.910, 2: 1.066, 3: 1.023}


@dataclass(frozen=True)
class VehicleParams:
    """A vehicle's size and actuator limits.

    `length`, `width` [m] of the box; `wheelbase` [m]; acceleration within
    [-`max_deceleration`, `max_acceleration`] [m/s2] changing at most `max_jerk` [m/s3]; steering
    angle within +-`max_steering_angle` [rad] changing at most `max_steering_rate` [rad/s].
    Defaults: CommonRoad's vehicle type 2 (BMW 320i) geometry and steering limits (its steering
    rate 0.4 rad/s); acceleration and jerk limits of a road car (CommonRoad allows 11.5 m/s2, a
    friction bound, not an actuator one).
    """

    length: float = vehicle_dimensions(DEFAULT_VEHICLE_TYPE)[0]
    width: float = vehicle_dimensions(DEFAULT_VEHICLE_TYPE)[1]
    wheelbase: float = _WHEELBASES[DEFAULT_VEHICLE_TYPE]
    max_acceleration: float = 5.0
    max_deceleration: float = 9.0
    max_jerk: float = 20.0
    max_steering_angle: float = _MAX_STEERING[DEFAULT_VEHICLE_TYPE]
    max_steering_rate: float = 0.4

    @staticmethod
    def for_vehicle_type(vehicle_type: int | None) -> VehicleParams:
        """The parameters of CommonRoad vehicle type 1-3 (default type for None or an unknown id)."""
        known = vehicle_type if vehicle_type in _WHEELBASES else DEFAULT_VEHICLE_TYPE
        length, width = vehicle_dimensions(known)
        return VehicleParams(
            length=length,
            width=width,
            wheelbase=_WHEELBASES[known],
            max_steering_angle=_MAX_STEERING[known],
        )

    @property
    def limits(self) -> FloatArray:
        """(wheelbase, max acceleration, max deceleration, max jerk, max steering angle, max steering
        rate) as one array, the form the compiled kernels take."""
        return np.array(
            [
                self.wheelbase,
                self.max_acceleration,
                self.max_deceleration,
                self.max_jerk,
                self.max_steering_angle,
                self.max_steering_rate,
            ]
        )

    @property
    def max_curvature(self) -> float:
        """Tightest path curvature [1/m] of the rear axle at full steering lock."""
        return float(np.tan(self.max_steering_angle) / self.wheelbase)


@dataclass(frozen=True, eq=False)
class BicycleState:
    """States of B vehicles, each field (B,): centre position [m], yaw [rad], speed [m/s] (>= 0),
    realised acceleration [m/s2], yaw rate [rad/s] and steering angle [rad]."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    acceleration: FloatArray
    yaw_rate: FloatArray
    steering: FloatArray

    @staticmethod
    def of(
        x: float,
        y: float,
        yaw: float,
        speed: float,
        acceleration: float = 0.0,
        yaw_rate: float = 0.0,
        steering: float = 0.0,
        batch: int = 1,
    ) -> BicycleState:
        """`batch` copies of one state given as scalars."""
        values = (x, y, yaw, speed, acceleration, yaw_rate, steering)
        return BicycleState(*(np.full(batch, value, dtype=np.float64) for value in values))


@njit(cache=True)
def wrap(angle: float) -> float:
    """`angle` [rad] wrapped to [-pi, pi): `geometry.wrap_angle` for one number, inside compiled kernels."""
    wrapped = angle - _TWO_PI * np.floor((angle + np.pi) / _TWO_PI)
    return wrapped - _TWO_PI if wrapped >= np.pi else wrapped


@njit(cache=True)
def _bicycle_one(
    x: float,
    y: float,
    yaw: float,
    cos_yaw: float,
    sin_yaw: float,
    speed: float,
    acceleration: float,
    steering: float,
    accel_cmd: float,
    steer_cmd: float,
    limits: FloatArray,
    dt: float,
) -> tuple[float, float, float, float, float, float, float, float, float]:
    """`bicycle_step` for one vehicle (its heading's cosine and sine given, as a rollout has them
    from the step before): x, y, yaw, cos yaw, sin yaw, speed, accel, yaw rate, steering after `dt`."""
    wheelbase, max_acc, max_dec, max_jerk, max_steer, max_rate = limits
    half = 0.5 * wheelbase
    accel = min(max(accel_cmd, acceleration - max_jerk * dt), acceleration + max_jerk * dt)
    accel = min(max(accel, -max_dec), max_acc)
    steer = min(max(steer_cmd, steering - max_rate * dt), steering + max_rate * dt)
    steer = min(max(steer, -max_steer), max_steer)
    v1 = speed + accel * dt
    if v1 < 0.0:  # stops within the step instead of reversing
        distance = speed * speed / max(-2.0 * accel, 1e-12)
        v1 = 0.0
    else:
        distance = speed * dt + 0.5 * accel * dt * dt
    turn = distance * np.tan(steer) / wheelbase
    chord = distance * (np.sin(0.5 * turn) / (0.5 * turn) if abs(turn) > 1e-9 else 1.0)
    mid = yaw + 0.5 * turn
    new_yaw = wrap(yaw + turn)
    new_cos, new_sin = np.cos(new_yaw), np.sin(new_yaw)
    new_x = x - half * cos_yaw + chord * np.cos(mid) + half * new_cos
    new_y = y - half * sin_yaw + chord * np.sin(mid) + half * new_sin
    return new_x, new_y, new_yaw, new_cos, new_sin, v1, (v1 - speed) / dt, turn / dt, steer


@njit(cache=True)
def _bicycle_kernel(
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    speed: FloatArray,
    acceleration: FloatArray,
    steering: FloatArray,
    accel_cmd: FloatArray,
    steer_cmd: FloatArray,
    limits: FloatArray,
    dt: float,
) -> FloatArray:
    """`bicycle_step` on arrays (B,); `limits` = (wheelbase, max accel, max decel, max jerk, max
    steering angle, max steering rate); returns (7, B): x, y, yaw, speed, accel, yaw rate, steering."""
    out = np.empty((7, x.shape[0]))
    for i in range(x.shape[0]):
        new_x, new_y, new_yaw, _, _, v1, accel, yaw_rate, steer = _bicycle_one(
            x[i], y[i], yaw[i], np.cos(yaw[i]), np.sin(yaw[i]), speed[i], acceleration[i], steering[i],
            accel_cmd[i], steer_cmd[i], limits, dt,
        )  # fmt: skip
        out[:, i] = new_x, new_y, new_yaw, v1, accel, yaw_rate, steer
    return out


def bicycle_step(
    state: BicycleState,
    acceleration: FloatArray,
    steering: FloatArray,
    params: VehicleParams,
    dt: float,
) -> BicycleState:
    """The states `dt` [s] later under commanded acceleration [m/s2] and steering angle [rad] (B,).

    Commands are first limited by the actuators: rate (jerk, steering rate) from the current
    values, then range. The limited commands are held over the step; the rear axle moves on the
    exact arc of curvature tan(steering) / wheelbase; a vehicle that would reverse stops instead.
    """
    batch = state.x.shape
    out = _bicycle_kernel(
        state.x,
        state.y,
        state.yaw,
        state.speed,
        state.acceleration,
        state.steering,
        np.broadcast_to(np.asarray(acceleration, dtype=np.float64), batch),
        np.broadcast_to(np.asarray(steering, dtype=np.float64), batch),
        params.limits,
        float(dt),
    )
    return BicycleState(*out)


@dataclass(frozen=True, eq=False)
class Reference:
    """A reference for the next step of B vehicles: centre poses at now (`*0`) and one step later
    (`*1`): position [m], yaw [rad], speed [m/s], each (B,)."""

    x0: FloatArray
    y0: FloatArray
    yaw0: FloatArray
    speed0: FloatArray
    x1: FloatArray
    y1: FloatArray
    yaw1: FloatArray
    speed1: FloatArray


@njit(cache=True)
def _sample_kernel(
    times: FloatArray, x: FloatArray, y: FloatArray, yaw: FloatArray, speed: FloatArray, query: FloatArray
) -> FloatArray:
    """(4, N): x, y, yaw, speed at `query` (N,) [s] on samples at `times` (T,), linear; yaw along the
    shorter turn between samples; ends held."""
    out = np.empty((4, query.shape[0]))
    last = times.shape[0] - 1
    for n in range(query.shape[0]):
        t = query[n]
        j = min(max(np.searchsorted(times, t, side="right") - 1, 0), last - 1) if last > 0 else 0
        k = min(j + 1, last)
        span = times[k] - times[j]
        f = min(max((t - times[j]) / span, 0.0), 1.0) if span > 0.0 else 0.0
        out[0, n] = x[j] + f * (x[k] - x[j])
        out[1, n] = y[j] + f * (y[k] - y[j])
        out[2, n] = wrap(yaw[j] + f * wrap(yaw[k] - yaw[j]))
        out[3, n] = speed[j] + f * (speed[k] - speed[j])
    return out


def sample_trajectory(trajectory: Trajectory, times: FloatArray) -> tuple[FloatArray, ...]:
    """(x, y, yaw, speed) of a trajectory at `times` (N,) [s] (time 0 = step 0), linear in time.

    Yaw turns the shorter way between samples; times outside the trajectory hold its ends.
    """
    out = _sample_kernel(
        trajectory.steps.astype(np.float64) * trajectory.dt,
        np.asarray(trajectory.x, dtype=np.float64),
        np.asarray(trajectory.y, dtype=np.float64),
        np.asarray(trajectory.yaw, dtype=np.float64),
        np.asarray(trajectory.speed, dtype=np.float64),
        np.asarray(times, dtype=np.float64),
    )
    return out[0], out[1], out[2], out[3]


def trajectory_reference(trajectory: Trajectory, step: int, dt: float) -> Reference:
    """The reference (B = 1) a trajectory gives for simulation step `step` -> `step + 1` of `dt` [s]."""
    now = sample_trajectory(trajectory, np.array([step * dt, (step + 1) * dt]))
    return Reference(*(values[:1] for values in now), *(values[1:] for values in now))


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker weights and gains.

    Lateral: the rear axle's lateral error d [m] to the reference obeys d'' = a_lat, a double
    integrator in the lateral acceleration a_lat = v^2 (curvature - reference curvature) once
    d' = v sin(heading error) is linearised; the discrete LQR on (d, d') with state costs
    `lateral_weight` [1/m2], `lateral_rate_weight` [s2/m2] and input cost `lateral_accel_weight`
    [s4/m2] gives one gain for every speed, so the path converges in time alike at any speed
    (defaults: about 1.2 rad/s, damping 0.9). Below `min_speed` [m/s] the curvature correction is
    computed at `min_speed` (the lateral dynamics vanish at rest). Longitudinal: `speed_gain` [1/s]
    on the speed error, `position_gain` [1/s2] on the along-track error (critically damped for
    position_gain = speed_gain^2 / 4).
    """

    lateral_weight: float = 2.0
    lateral_rate_weight: float = 1.8
    lateral_accel_weight: float = 1.0
    min_speed: float = 1.0
    speed_gain: float = 2.0
    position_gain: float = 1.0


@lru_cache(maxsize=32)
def _lateral_gain(dt: float, config: TrackerConfig) -> tuple[float, float]:
    """The discrete LQR gain (on d [m], d' [m/s]) of the lateral double integrator at step `dt` [s]."""
    a = np.array([[1.0, dt], [0.0, 1.0]])
    b = np.array([[0.5 * dt * dt], [dt]])
    q = np.diag([config.lateral_weight, config.lateral_rate_weight])
    r = np.array([[config.lateral_accel_weight]])
    p = solve_discrete_are(a, b, q, r)
    gain = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]
    return float(gain[0]), float(gain[1])


@dataclass(frozen=True, eq=False)
class Tracker:
    """Computes acceleration and steering commands that make vehicles follow a `Reference`.

    Build once per (dt, params, config); `control` is vectorized over the batch.
    """

    dt: float
    params: VehicleParams = VehicleParams()
    config: TrackerConfig = TrackerConfig()
    gains: tuple[float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gains", _lateral_gain(float(self.dt), self.config))

    @property
    def kernel_gains(self) -> FloatArray:
        """(lateral offset gain, lateral rate gain, min speed, speed gain, position gain, max
        curvature), the form the compiled kernels take."""
        config = self.config
        return np.array(
            [
                *self.gains,
                config.min_speed,
                config.speed_gain,
                config.position_gain,
                self.params.max_curvature,
            ]
        )

    def control(self, state: BicycleState, ref: Reference) -> tuple[FloatArray, FloatArray]:
        """(acceleration [m/s2], steering angle [rad]) commands (B,) for the step now -> now + dt."""
        out = _control_kernel(
            state.x,
            state.y,
            state.yaw,
            state.speed,
            state.steering,
            np.stack([ref.x0, ref.y0, ref.yaw0, ref.speed0, ref.x1, ref.y1, ref.yaw1, ref.speed1]),
            self.params.wheelbase,
            self.kernel_gains,
            float(self.dt),
        )
        return out[0], out[1]


Pose = tuple[float, float, float, float, float, float]  # x, y, yaw, cos yaw, sin yaw, speed


@njit(cache=True)
def _pose(x: float, y: float, yaw: float, speed: float) -> Pose:
    """A `Pose` with its heading's cosine and sine."""
    return x, y, yaw, np.cos(yaw), np.sin(yaw), speed


@njit(cache=True)
def _control_one(
    ego: Pose, steering: float, now: Pose, after: Pose, wheelbase: float, gains: FloatArray, dt: float
) -> tuple[float, float]:
    """`Tracker.control` for one vehicle: (acceleration, steering angle) that take the `ego` from
    the reference pose `now` toward `after`, one step later; `gains` as in `_control_kernel`."""
    k_offset, k_rate, min_speed, speed_gain, position_gain, limit = gains
    x, y, yaw, cos_yaw, sin_yaw, speed = ego
    x0, y0, yaw0, cos0, sin0, v0 = now
    x1, y1, yaw1, cos1, sin1, v1 = after
    half = 0.5 * wheelbase
    # rear axles: the ego's relative to the reference's now, and the reference's next step
    ex = x - half * cos_yaw - (x0 - half * cos0)
    ey = y - half * sin_yaw - (y0 - half * sin0)
    along = ex * cos0 + ey * sin0  # ego ahead of the reference: > 0
    lateral = -ex * sin0 + ey * cos0  # ego left of the reference: > 0
    step_x = x1 - half * cos1 - (x0 - half * cos0)
    step_y = y1 - half * sin1 - (y0 - half * sin0)
    distance = np.hypot(step_x, step_y)
    # a reference at rest gives no curvature: keep the wheel where it is
    feedforward = wrap(yaw1 - yaw0) / distance if distance > 1e-3 else np.tan(steering) / wheelbase
    v = max(speed, min_speed)
    lateral_accel = -k_offset * lateral - k_rate * v * np.sin(wrap(yaw - yaw0))
    curvature = min(max(feedforward + lateral_accel / (v * v), -limit), limit)
    acceleration = (v1 - v0) / dt + speed_gain * (v0 - speed) - position_gain * along
    return acceleration, np.arctan(curvature * wheelbase)


@njit(cache=True)
def _control_kernel(
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    speed: FloatArray,
    steering: FloatArray,
    ref: FloatArray,
    wheelbase: float,
    gains: FloatArray,
    dt: float,
) -> FloatArray:
    """`Tracker.control` on arrays (B,); `ref` (8, B) as `Reference`'s fields; `gains` = (lateral
    offset gain, lateral rate gain, min speed, speed gain, position gain, max curvature)."""
    out = np.empty((2, x.shape[0]))
    for i in range(x.shape[0]):
        r = ref[:, i]
        out[:, i] = _control_one(
            _pose(x[i], y[i], yaw[i], speed[i]), steering[i], _pose(r[0], r[1], r[2], r[3]),
            _pose(r[4], r[5], r[6], r[7]), wheelbase, gains, dt,
        )  # fmt: skip
    return out


def perfect_step(ref: Reference, params: VehicleParams, dt: float) -> BicycleState:
    """The state a perfect tracker reaches: exactly the reference one step ahead.

    Acceleration, yaw rate and steering angle are those that explain the step (finite differences).
    """
    step_x = ref.x1 - ref.x0
    step_y = ref.y1 - ref.y0
    distance = np.hypot(step_x, step_y)
    turn = np.asarray(wrap_angle(ref.yaw1 - ref.yaw0))
    curvature = np.where(distance > 1e-3, turn / np.maximum(distance, 1e-3), 0.0)
    return BicycleState(
        x=ref.x1.copy(),
        y=ref.y1.copy(),
        yaw=ref.yaw1.copy(),
        speed=ref.speed1.copy(),
        acceleration=(ref.speed1 - ref.speed0) / dt,
        yaw_rate=turn / dt,
        steering=np.arctan(curvature * params.wheelbase),
    )


def brake_step(state: BicycleState, deceleration: float, params: VehicleParams, dt: float) -> BicycleState:
    """One step of braking at `deceleration` [m/s2] (> 0) with the steering held (the fallback)."""
    return bicycle_step(state, np.full_like(state.speed, -deceleration), state.steering, params, dt)


def rollout(
    state: BicycleState,
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    speed: FloatArray,
    tracker: Tracker,
) -> BicycleState:
    """Simulate B vehicles tracking references given on the step grid, shape (B, H + 1) (column 0 =
    now), with the simulator's tracker and bicycle; returns states of shape (B, H + 1)."""
    start = np.stack([getattr(state, name) for name in _STATE_FIELDS]).astype(np.float64)
    reference = np.stack([x, y, yaw, speed]).astype(np.float64)
    out = _rollout_kernel(
        start,
        reference,
        tracker.params.limits,
        tracker.params.wheelbase,
        tracker.kernel_gains,
        float(tracker.dt),
    )
    return BicycleState(*out)


_STATE_FIELDS = ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering")


@njit(cache=True)
def _rollout_kernel(
    state: FloatArray,
    reference: FloatArray,
    limits: FloatArray,
    wheelbase: float,
    gains: FloatArray,
    dt: float,
) -> FloatArray:
    """`rollout` on arrays: `state` (7, B) in `_STATE_FIELDS` order, `reference` (4, B, H + 1) as
    x, y, yaw, speed; returns (7, B, H + 1)."""
    batch, horizon = state.shape[1], reference.shape[2] - 1
    out = np.empty((7, batch, horizon + 1))
    for i in range(batch):  # one vehicle at a time: its states and references lie contiguous in h
        out[:, i, 0] = state[:, i]
        x, y, yaw, speed, accel, _, steering = state[:, i]
        cos_yaw, sin_yaw = np.cos(yaw), np.sin(yaw)
        now = _pose(reference[0, i, 0], reference[1, i, 0], reference[2, i, 0], reference[3, i, 0])
        for h in range(horizon):
            after = _pose(
                reference[0, i, h + 1], reference[1, i, h + 1], reference[2, i, h + 1], reference[3, i, h + 1]
            )
            ego = (x, y, yaw, cos_yaw, sin_yaw, speed)
            accel_cmd, steer_cmd = _control_one(ego, steering, now, after, wheelbase, gains, dt)
            x, y, yaw, cos_yaw, sin_yaw, speed, accel, yaw_rate, steering = _bicycle_one(
                x, y, yaw, cos_yaw, sin_yaw, speed, accel, steering, accel_cmd, steer_cmd, limits, dt
            )
            out[:, i, h + 1] = x, y, yaw, speed, accel, yaw_rate, steering
            now = after  # the reference's next pose, its cosine and sine already known
    return out


@dataclass(frozen=True)
class FeasibilityBounds:
    """What a planned trajectory must satisfy to be executable (generous physical bounds).

    Its state at the current time lies within `max_anchor_distance` [m] of the ego; speeds within
    [-`speed_tolerance`, `max_speed`] [m/s]; speed changes within `max_abs_acceleration` [m/s2];
    consecutive positions no farther apart than the speeds allow (plus `position_tolerance` [m]);
    curvature at most `max_curvature` [1/m] wherever the path advances more than `curvature_min_step` [m].
    The bounds admit recorded human drivers, whose finite differences are noisy.
    """

    max_anchor_distance: float = 5.0
    speed_tolerance: float = 0.5
    max_speed: float = 70.0
    max_abs_acceleration: float = 20.0
    position_tolerance: float = 0.5
    max_curvature: float = 1.0
    curvature_min_step: float = 0.5

    @staticmethod
    def structural() -> FeasibilityBounds:
        """No physical bound, only the structural checks (finite values, increasing steps, covering
        now and the next step): for oracles, whose recordings are what they are."""
        return FeasibilityBounds(np.inf, np.inf, np.inf, np.inf, np.inf, np.inf, np.inf)


def check_trajectory(
    trajectory: Trajectory,
    step: int,
    dt: float,
    x: float,
    y: float,
    bounds: FeasibilityBounds = FeasibilityBounds(),
) -> str | None:
    """Why `trajectory` cannot be executed from the ego at (x, y) [m] at simulation step `step`
    (grid spacing `dt` [s]), or None when it can. It must cover now and the next step."""
    n = len(trajectory)
    fields = [np.asarray(getattr(trajectory, name), dtype=np.float64) for name in ("steps", *_CHECKED)]
    if n < 2 or any(values.shape != (n,) for values in fields):
        return f"expected at least 2 states with equal-length arrays, got {n} steps"
    if not (np.isfinite(trajectory.dt) and trajectory.dt > 0.0):
        return f"expected dt > 0, got {trajectory.dt}"
    limits = np.array(
        [
            bounds.max_anchor_distance,
            bounds.speed_tolerance,
            bounds.max_speed,
            bounds.max_abs_acceleration,
            bounds.position_tolerance,
            bounds.max_curvature,
            bounds.curvature_min_step,
        ]
    )
    times, xs, ys, yaws, speeds = fields
    code, index, value, limit = _check_kernel(
        times * trajectory.dt, xs, ys, yaws, speeds, step * dt, (step + 1) * dt, float(x), float(y), limits
    )
    return None if code == 0 else _CHECK_MESSAGES[code].format(index=index, value=value, limit=limit)


_CHECKED = ("x", "y", "yaw", "speed")
_CHECK_MESSAGES = {
    1: "state {index} holds NaN or infinite values",
    2: "steps are not strictly increasing at state {index}",
    3: "covers {value:.3f}..{limit:.3f} s, not the current and the next step",
    4: "starts {value:.2f} m from the ego, expected within {limit} m",
    5: "speed {value:.2f} m/s at state {index} outside [0, {limit}]",
    6: "acceleration {value:.1f} m/s2 at state {index} beyond {limit}",
    7: "moves {value:.2f} m from state {index} to the next, its speeds allow {limit:.2f} m",
    8: "curvature {value:.2f} 1/m at state {index} beyond {limit}",
}


@njit(cache=True)
def _check_kernel(
    times: FloatArray,
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    speed: FloatArray,
    now: float,
    following: float,
    ego_x: float,
    ego_y: float,
    limits: FloatArray,
) -> tuple[int, int, float, float]:
    """`check_trajectory`'s tests: (code (0: feasible, else a key of _CHECK_MESSAGES), state index,
    offending value, its bound); `limits` in `FeasibilityBounds` field order."""
    anchor_limit, speed_tolerance, max_speed, max_accel, tolerance, max_curvature, min_step = limits
    n = times.shape[0]
    for i in range(n):
        if not (np.isfinite(x[i]) and np.isfinite(y[i]) and np.isfinite(yaw[i]) and np.isfinite(speed[i])):
            return 1, i, 0.0, 0.0
        if i > 0 and times[i] <= times[i - 1]:
            return 2, i, 0.0, 0.0
    if times[0] > now + 1e-9 or times[n - 1] < following - 1e-9:
        return 3, 0, times[0], times[n - 1]
    anchor = _sample_kernel(times, x, y, yaw, speed, np.array([now]))
    distance = np.hypot(anchor[0, 0] - ego_x, anchor[1, 0] - ego_y)
    if distance > anchor_limit:
        return 4, 0, distance, anchor_limit
    for i in range(n):
        if speed[i] < -speed_tolerance or speed[i] > max_speed:
            return 5, i, speed[i], max_speed
    for i in range(n - 1):
        gap = times[i + 1] - times[i]
        accel = abs(speed[i + 1] - speed[i]) / gap
        if accel > max_accel:
            return 6, i, accel, max_accel
        moved = np.hypot(x[i + 1] - x[i], y[i + 1] - y[i])
        reach = max(abs(speed[i]), abs(speed[i + 1])) * gap + tolerance
        if moved > reach:
            return 7, i, moved, reach
        if moved > min_step:
            curvature = abs(wrap(yaw[i + 1] - yaw[i])) / moved
            if curvature > max_curvature:
                return 8, i, curvature, max_curvature
    return 0, 0, 0.0, 0.0


@dataclass(frozen=True)
class IdmParams:
    """Intelligent Driver Model parameters; defaults are nuPlan's IDM agents'.

    `target_velocity` [m/s] desired speed on a free road; `min_gap` [m] standstill gap (also the
    smallest gap the law divides by); `headway_time` [s]; `accel_max` [m/s2]; `decel_max` [m/s2]
    (> 0, comfortable braking); `exponent` of the free-road term; `max_braking` [m/s2] the largest
    braking applied (None: `decel_max`, as nuPlan clips).
    """

    target_velocity: float = 10.0
    min_gap: float = 1.0
    headway_time: float = 1.5
    accel_max: float = 1.0
    decel_max: float = 2.0
    exponent: float = 4.0
    max_braking: float | None = None

    @property
    def array(self) -> FloatArray:
        """(min_gap, headway_time, accel_max, decel_max, exponent, largest braking), the form the
        compiled kernels take."""
        braking = self.decel_max if self.max_braking is None else self.max_braking
        return np.array(
            [self.min_gap, self.headway_time, self.accel_max, self.decel_max, self.exponent, braking]
        )


@njit(cache=True)
def _idm(speed: float, target: float, gap: float, lead_speed: float, params: FloatArray) -> float:
    """The IDM acceleration of one vehicle (see `idm_acceleration`); `params` as `IdmParams.array`."""
    min_gap, headway, accel_max, decel_max, exponent, braking = params
    # Treiber's desired gap: the dynamic part never below 0, or a faster leader would read as braking
    dynamic = speed * headway + speed * (speed - lead_speed) / (2.0 * np.sqrt(accel_max * decel_max))
    desired = min_gap + max(dynamic, 0.0)
    interaction = (desired / max(gap, min_gap)) ** 2 if np.isfinite(gap) else 0.0
    accel = accel_max * (1.0 - (speed / max(target, 1e-3)) ** exponent - interaction)
    return min(max(accel, -braking), accel_max)


@njit(cache=True)
def _advance(progress: float, speed: float, accel: float, dt: float) -> tuple[float, float, float]:
    """(progress, speed, realised acceleration) after `dt` at constant `accel`, stopping rather than
    reversing."""
    v1 = speed + accel * dt
    if v1 < 0.0:
        return progress + speed * speed / max(-2.0 * accel, 1e-12), 0.0, -speed / dt
    return progress + speed * dt + 0.5 * accel * dt * dt, v1, accel


@njit(cache=True)
def _idm_kernel(
    speed: FloatArray, target: FloatArray, gap: FloatArray, lead_speed: FloatArray, params: FloatArray
) -> FloatArray:
    out = np.empty(speed.shape[0])
    for i in range(speed.shape[0]):
        out[i] = _idm(speed[i], target[i], gap[i], lead_speed[i], params)
    return out


def _flat(*arrays: FloatArray | float) -> tuple[tuple[int, ...], list[FloatArray]]:
    """The broadcast shape of `arrays` and each broadcast to it, flattened (contiguous float64)."""
    broadcast = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))
    return broadcast[0].shape, [np.ascontiguousarray(a).ravel() for a in broadcast]


def idm_acceleration(
    speed: FloatArray, target: FloatArray, gap: FloatArray, lead_speed: FloatArray, params: IdmParams
) -> FloatArray:
    """IDM acceleration [m/s2] at `speed` toward `target` speed [m/s] behind a leader `gap` [m]
    ahead (bumper to bumper; inf: none) driving at `lead_speed` [m/s] along the path; shapes broadcast.

    As nuPlan: the gap is clamped to `min_gap` before dividing, the result clipped to
    [-max_braking, accel_max] (max_braking defaults to decel_max). Unlike nuPlan, the desired gap is
    Treiber's min_gap + max(0, v T + v dv / (2 sqrt(a b))): a leader pulling away never reads as braking.
    """
    shape, (v, v0, g, lead) = _flat(speed, target, gap, lead_speed)
    return _idm_kernel(v, v0, g, lead, params.array).reshape(shape)


@njit(cache=True)
def _advance_kernel(progress: FloatArray, speed: FloatArray, accel: FloatArray, dt: float) -> FloatArray:
    out = np.empty((3, progress.shape[0]))
    for i in range(progress.shape[0]):
        out[0, i], out[1, i], out[2, i] = _advance(progress[i], speed[i], accel[i], dt)
    return out


def longitudinal_step(
    progress: FloatArray, speed: FloatArray, accel: FloatArray, dt: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(progress [m], speed [m/s], realised acceleration [m/s2]) after `dt` [s] at constant `accel`,
    stopping rather than reversing. Shapes broadcast."""
    shape, (s, v, a) = _flat(progress, speed, accel)
    out = _advance_kernel(s, v, a, float(dt))
    return out[0].reshape(shape), out[1].reshape(shape), out[2].reshape(shape)


@njit(cache=True)
def _profile_kernel(
    progress: FloatArray,
    speed: FloatArray,
    gap: FloatArray,
    lead_speed: FloatArray,
    target_ends: FloatArray,
    targets: FloatArray,
    params: FloatArray,
    dt: float,
    steps: int,
) -> FloatArray:
    out = np.empty((2, progress.shape[0], steps + 1))
    for b in range(progress.shape[0]):
        s, v, g = progress[b], speed[b], gap[b]
        out[0, b, 0], out[1, b, 0] = s, v
        for h in range(steps):
            target = targets[min(np.searchsorted(target_ends, s), targets.shape[0] - 1)]
            s_next, v, _ = _advance(s, v, _idm(v, target, g, lead_speed[b], params), dt)
            g += lead_speed[b] * dt - (s_next - s)  # the leader keeps its speed
            s = s_next
            out[0, b, h + 1], out[1, b, h + 1] = s, v
    return out


def idm_profile(
    progress: FloatArray | float,
    speed: FloatArray | float,
    gap: FloatArray | float,
    lead_speed: FloatArray | float,
    target_ends: FloatArray,
    targets: FloatArray,
    params: IdmParams,
    dt: float,
    steps: int,
) -> tuple[FloatArray, FloatArray]:
    """IDM progress [m] and speed [m/s] of B vehicles over `steps` steps of `dt` [s], shape (B, steps + 1).

    Each starts at `progress`, `speed` (B,) behind a leader `gap` [m] ahead (inf: none) that keeps
    `lead_speed` [m/s]; the desired speed at progress s is `targets[i]` for the first i with
    s <= `target_ends[i]` (the last beyond them), e.g. the speed limits of a route's lanes.
    """
    _, (s, v, g, lead) = _flat(progress, speed, gap, lead_speed)
    out = _profile_kernel(
        s,
        v,
        g,
        lead,
        np.asarray(target_ends, dtype=np.float64),
        np.asarray(targets, dtype=np.float64),
        params.array,
        float(dt),
        int(steps),
    )
    return out[0], out[1]


@dataclass(frozen=True, eq=False)
class Obstacles:
    """Boxes other road users occupy now, each field (N,): centre [m], yaw [rad], speed [m/s] along
    the heading, length and width [m]; `present` marks the rows that exist."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    length: FloatArray
    width: FloatArray
    present: BoolArray

    @staticmethod
    def from_static(obstacles: tuple[StaticObstacle, ...]) -> Obstacles:
        """Static obstacles as world-frame boxes bounding their shapes (speed 0), each field (S,)."""
        boxes = np.zeros((len(obstacles), 5))
        for i, obstacle in enumerate(obstacles):  # once per run
            ring = obstacle.shape.outline()
            low, high = (ring.min(axis=0), ring.max(axis=0)) if len(ring) else (np.zeros(2), np.zeros(2))
            centre = 0.5 * (low + high)
            cos, sin = np.cos(obstacle.yaw), np.sin(obstacle.yaw)
            boxes[i] = (
                obstacle.x + cos * centre[0] - sin * centre[1],
                obstacle.y + sin * centre[0] + cos * centre[1],
                obstacle.yaw,
                high[0] - low[0],
                high[1] - low[1],
            )
        count = len(obstacles)
        return Obstacles(
            boxes[:, 0],
            boxes[:, 1],
            boxes[:, 2],
            np.zeros(count),
            boxes[:, 3],
            boxes[:, 4],
            np.ones(count, bool),
        )

    @staticmethod
    def from_occupancies(occupancies: tuple[Occupancy, ...], step: int) -> Obstacles:
        """The occupancies present at `step` as standing boxes enclosing their regions, each field (N,)."""
        boxes, present = occupancy_boxes(occupancies, step, 1)
        now = boxes[present[:, 0], 0]
        count = len(now)
        return Obstacles(
            now[:, 0], now[:, 1], now[:, 2], np.zeros(count), now[:, 3], now[:, 4], np.ones(count, bool)
        )

    @staticmethod
    def from_tracks(tracks: Tracks, column: int) -> Obstacles:
        """The agents of `tracks` at `column` as boxes (absent ones not `present`)."""
        return Obstacles(
            tracks.x[:, column],
            tracks.y[:, column],
            tracks.yaw[:, column],
            tracks.speed[:, column],
            tracks.length,
            tracks.width,
            tracks.valid[:, column],
        )

    @staticmethod
    def concat(*parts: Obstacles) -> Obstacles:
        """The rows of several obstacle sets, in order."""
        names = ("x", "y", "yaw", "speed", "length", "width", "present")
        return Obstacles(*(np.concatenate([getattr(part, name) for part in parts]) for name in names))


def find_leaders(
    path_x: FloatArray,
    path_y: FloatArray,
    path_yaw: FloatArray,
    distance: FloatArray,
    half_width: FloatArray,
    obstacles: Obstacles,
    exclude: NDArray[np.int64] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The nearest obstacle ahead along each of R paths: (gap [m], its speed along the path [m/s]) (R,).

    Each path is sampled ahead of its vehicle's front bumper: points (R, K) [m] with headings
    `path_yaw` (R, K) [rad] at arc distances `distance` (R, K) [m] from the bumper (increasing). An
    obstacle blocks a path where its box, grown by the vehicle's `half_width` (R,) [m] sideways and
    half a sample spacing lengthwise, holds a sample; the gap is the distance along the path to the
    obstacle's near edge. `exclude` (R,) names an obstacle row to ignore per path (the vehicle
    itself; -1 for none). Paths with no obstacle get gap inf and speed 0.
    """
    rows = path_x.shape[0]
    px, py, pyaw, along, half = (
        np.ascontiguousarray(a, dtype=np.float64) for a in (path_x, path_y, path_yaw, distance, half_width)
    )
    out = _leaders_kernel(
        px,
        py,
        pyaw,
        along,
        half,
        np.stack(
            [obstacles.x, obstacles.y, obstacles.yaw, obstacles.speed, obstacles.length, obstacles.width]
        ),
        np.ascontiguousarray(obstacles.present, dtype=np.bool_),
        np.full(rows, -1, dtype=np.int64)
        if exclude is None
        else np.ascontiguousarray(exclude, dtype=np.int64),
    )
    return out[0], out[1]


@njit(cache=True)
def _leaders_kernel(
    path_x: FloatArray,
    path_y: FloatArray,
    path_yaw: FloatArray,
    distance: FloatArray,
    half_width: FloatArray,
    boxes: FloatArray,
    present: BoolArray,
    exclude: NDArray[np.int64],
) -> FloatArray:
    """`find_leaders` with obstacles as `boxes` (6, N): x, y, yaw, speed, length, width; (2, R) out."""
    rows, samples = path_x.shape
    out = np.empty((2, rows))
    for r in range(rows):
        best, lead = np.inf, 0.0
        reach = distance[r, samples - 1] + half_width[r]
        spacing = 0.0
        for k in range(samples - 1):
            spacing = max(spacing, distance[r, k + 1] - distance[r, k])
        for j in range(boxes.shape[1]):
            if not present[j] or j == exclude[r]:
                continue
            ox, oy, oyaw, ospeed, olength, owidth = boxes[:, j]
            radius = 0.5 * np.hypot(olength, owidth)
            if np.hypot(ox - path_x[r, 0], oy - path_y[r, 0]) > reach + radius:
                continue
            cos, sin = np.cos(oyaw), np.sin(oyaw)
            for k in range(samples):
                dx, dy = path_x[r, k] - ox, path_y[r, k] - oy
                if abs(dx * cos + dy * sin) > 0.5 * (olength + spacing):
                    continue
                if abs(-dx * sin + dy * cos) > 0.5 * owidth + half_width[r]:
                    continue
                # the obstacle's centre along the path from this sample, minus its extent along the path
                heading = path_yaw[r, k]
                relative = oyaw - heading
                centre = distance[r, k] - (dx * np.cos(heading) + dy * np.sin(heading))
                extent = 0.5 * (abs(olength * np.cos(relative)) + abs(owidth * np.sin(relative)))
                if centre - extent < best:
                    best, lead = centre - extent, ospeed * np.cos(relative)
                break
        out[0, r], out[1, r] = best, lead
    return out
