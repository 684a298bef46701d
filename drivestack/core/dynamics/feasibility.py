"""Whether a planned trajectory is one a vehicle can drive: finite, on the step grid, within the
acceleration, jerk, steering and speed bounds (`check_trajectory`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.dynamics.bicycle import wrap
from drivestack.core.dynamics.tracker import sample_kernel
from drivestack.core.scenario import (
    Trajectory,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


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
    anchor = sample_kernel(times, x, y, yaw, speed, np.array([now]))
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
