"""When do two boxes moving at constant velocities overlap: the swept-box test the planner's safety
checks and the time-to-collision metric share.

Solved exactly with separating axes (both boxes' length and width directions): on each axis the
projections overlap in one time interval, the boxes in the intersection of the four. On its own
axes a box's half extent is its half size; |cos| and |sin| of the heading difference mix the other
box's half sizes.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_STILL = 1e-9  # [m/s] a closing rate below which the projections are taken as not moving


@njit(cache=True)
def overlap_interval(
    x: float,
    y: float,
    cos: float,
    sin: float,
    half_length: float,
    half_width: float,
    vx: float,
    vy: float,
    ox: float,
    oy: float,
    ocos: float,
    osin: float,
    ohalf_length: float,
    ohalf_width: float,
    ovx: float,
    ovy: float,
) -> tuple[float, float]:
    """Times (start, stop) [s] at which two boxes overlap (start > stop: never; times may be
    negative: in the past): each at centre (x, y) [m], heading (cos, sin), half sizes [m] and
    velocity (vx, vy) [m/s]."""
    mixed_cos = abs(cos * ocos + sin * osin)
    mixed_sin = abs(sin * ocos - cos * osin)
    start, stop = -np.inf, np.inf
    dx, dy, dvx, dvy = ox - x, oy - y, ovx - vx, ovy - vy
    for axis in range(4):
        if axis == 0:
            ax, ay = cos, sin
            reach = half_length + ohalf_length * mixed_cos + ohalf_width * mixed_sin
        elif axis == 1:
            ax, ay = -sin, cos
            reach = half_width + ohalf_length * mixed_sin + ohalf_width * mixed_cos
        elif axis == 2:
            ax, ay = ocos, osin
            reach = ohalf_length + half_length * mixed_cos + half_width * mixed_sin
        else:
            ax, ay = -osin, ocos
            reach = ohalf_width + half_length * mixed_sin + half_width * mixed_cos
        gap = dx * ax + dy * ay
        rate = dvx * ax + dvy * ay
        if abs(rate) < _STILL:
            if abs(gap) > reach:
                return np.inf, -np.inf
            continue
        first, last = (-reach - gap) / rate, (reach - gap) / rate
        start = max(start, min(first, last))
        stop = min(stop, max(first, last))
    return start, stop


@njit(cache=True)
def _intervals(boxes: FloatArray, others: FloatArray) -> FloatArray:
    """(2, K) start and stop of K box pairs given as (8, K) rows x, y, cos, sin, half length, half
    width, vx, vy."""
    count = boxes.shape[1]
    out = np.empty((2, count))
    for k in range(count):
        a, b = boxes[:, k], others[:, k]
        out[0, k], out[1, k] = overlap_interval(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
        )
    return out


def overlap_intervals(
    boxes: tuple[FloatArray, ...], others: tuple[FloatArray, ...]
) -> tuple[FloatArray, FloatArray]:
    """`overlap_interval` of K box pairs: each side (x, y, yaw, half length, half width, vx, vy)
    arrays (K,) [m, rad, m/s]; returns start and stop (K,) [s]."""

    def rows(box: tuple[FloatArray, ...]) -> FloatArray:
        x, y, yaw, half_length, half_width, vx, vy = (np.asarray(value, dtype=np.float64) for value in box)
        return np.ascontiguousarray(
            np.stack([x, y, np.cos(yaw), np.sin(yaw), half_length, half_width, vx, vy])
        )

    out = _intervals(rows(boxes), rows(others))
    return out[0], out[1]
