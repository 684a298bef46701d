"""The tracker that follows a timed reference (see `TrackerConfig`): a discrete LQR on the
linearised lateral error of the rear axle on top of the reference's feed-forward curvature, and a
PI speed controller along the path; `rollout` simulates B vehicles tracking references with it and
the bicycle, so a planner predicts exactly what the simulator will do."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy.linalg import solve_discrete_are

from drivestack.core.dynamics.bicycle import BicycleState, VehicleParams, bicycle_one, wrap
from drivestack.core.geometry import wrap_angle
from drivestack.core.rows import distinct_rows
from drivestack.core.scenario import (
    Trajectory,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


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
def sample_kernel(
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
    out = sample_kernel(
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
    params: VehicleParams = field(default_factory=VehicleParams)
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
    starts = [np.asarray(getattr(state, name)) for name in _STATE_FIELDS]
    first, number = distinct_rows(*starts, x, y, yaw, speed)  # repeated vehicles are rolled out once
    start = np.stack([values[first] for values in starts]).astype(np.float64)
    reference = np.stack([x[first], y[first], yaw[first], speed[first]]).astype(np.float64)
    out = _rollout_kernel(
        start,
        reference,
        tracker.params.limits,
        tracker.params.wheelbase,
        tracker.kernel_gains,
        float(tracker.dt),
    )
    return BicycleState(*(out if len(first) == len(number) else out[:, number]))


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
            x, y, yaw, cos_yaw, sin_yaw, speed, accel, yaw_rate, steering = bicycle_one(
                x, y, yaw, cos_yaw, sin_yaw, speed, accel, steering, accel_cmd, steer_cmd, limits, dt
            )
            out[:, i, h + 1] = x, y, yaw, speed, accel, yaw_rate, steering
            now = after  # the reference's next pose, its cosine and sine already known
    return out
