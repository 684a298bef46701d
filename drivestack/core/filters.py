"""Savitzky-Golay filters as cached linear operators, shared by the comfort metric and the planner.

scipy.signal.savgol_filter (mode "interp", the filter nuPlan's comfort metric uses) is linear, edges
included: applied once to the identity it gives a (length, length) matrix, and filtering a batch of
signals is then one matrix product. Windows are durations turned into odd sample counts at a dt.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.signal import savgol_filter

FloatArray = NDArray[np.float64]


def window_samples(duration: float, dt: float, order: int, length: int) -> int | None:
    """Odd Savitzky-Golay window [samples] closest to `duration` [s] at `dt` [s] for a polynomial of
    `order`, capped by the signal `length`; None when the signal is too short for the order."""
    samples = max(2 * round(0.5 * (duration / dt - 1.0)) + 1, order + 1 + order % 2)
    samples = min(samples, length if length % 2 else length - 1)
    return samples if samples > order else None


@lru_cache(maxsize=256)
def savgol_operator(length: int, window: int, order: int, deriv: int, dt: float) -> FloatArray:
    """The Savitzky-Golay filter on `length` samples as a read-only (length, length) matrix, built by
    scipy: filtering (or differentiating, `deriv` > 0, on steps `dt` [s] apart) is one product."""
    operator = np.asarray(savgol_filter(np.eye(length), window, order, deriv=deriv, delta=dt, axis=0))
    operator = operator.astype(np.float64)
    operator.setflags(write=False)
    return operator
