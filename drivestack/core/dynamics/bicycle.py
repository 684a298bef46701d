"""The kinematic bicycle the simulator executes and planners roll out with: vehicle parameters,
batched states and one step about the rear axle with actuator limits (acceleration, jerk, steering
angle, steering rate); states are reported at the vehicle centre, half a wheelbase ahead of the
rear axle. Each step integrates the exact arc of constant curvature; speed never goes negative."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.scenario import (
    DEFAULT_VEHICLE_TYPE,
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
def bicycle_one(
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
        new_x, new_y, new_yaw, _, _, v1, accel, yaw_rate, steer = bicycle_one(
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


def brake_step(state: BicycleState, deceleration: float, params: VehicleParams, dt: float) -> BicycleState:
    """One step of braking at `deceleration` [m/s2] (> 0) with the steering held (the fallback)."""
    return bicycle_step(state, np.full_like(state.speed, -deceleration), state.steering, params, dt)
