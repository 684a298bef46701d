"""The Intelligent Driver Model: its parameters, the compiled law (`idm_law`) and integrator
(`advance`) the reactive agents, IDM planners and drivestack's speed profiles share, batched
accelerations, longitudinal steps and profiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


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
def idm_law(speed: float, target: float, gap: float, lead_speed: float, params: FloatArray) -> float:
    """The IDM acceleration of one vehicle (see `idm_acceleration`); `params` as `IdmParams.array`."""
    min_gap, headway, accel_max, decel_max, exponent, braking = params
    # Treiber's desired gap: the dynamic part never below 0, or a faster leader would read as braking
    dynamic = speed * headway + speed * (speed - lead_speed) / (2.0 * np.sqrt(accel_max * decel_max))
    desired = min_gap + max(dynamic, 0.0)
    interaction = (desired / max(gap, min_gap)) ** 2 if np.isfinite(gap) else 0.0
    accel = accel_max * (1.0 - (speed / max(target, 1e-3)) ** exponent - interaction)
    return min(max(accel, -braking), accel_max)


@njit(cache=True)
def advance(progress: float, speed: float, accel: float, dt: float) -> tuple[float, float, float]:
    """(progress, speed, realised acceleration) after `dt` at constant `accel`, stopping rather than
    reversing; a negative `speed` (a recording's reversing or sign noise) counts as standing still."""
    speed = max(speed, 0.0)
    v1 = speed + accel * dt
    if v1 < 0.0:  # braking (accel < 0) to a stop within dt
        return progress + speed * speed / (-2.0 * accel), 0.0, -speed / dt
    return progress + speed * dt + 0.5 * accel * dt * dt, v1, accel


@njit(cache=True)
def _idm_kernel(
    speed: FloatArray, target: FloatArray, gap: FloatArray, lead_speed: FloatArray, params: FloatArray
) -> FloatArray:
    out = np.empty(speed.shape[0])
    for i in range(speed.shape[0]):
        out[i] = idm_law(speed[i], target[i], gap[i], lead_speed[i], params)
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
        out[0, i], out[1, i], out[2, i] = advance(progress[i], speed[i], accel[i], dt)
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
            s_next, v, _ = advance(s, v, idm_law(v, target, g, lead_speed[b], params), dt)
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
