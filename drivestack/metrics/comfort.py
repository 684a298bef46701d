"""Comfort (nuPlan ego_is_comfortable): six smoothed signals must stay strictly within bounds.

Signals, each smoothed or differentiated with a Savitzky-Golay filter (scipy.signal.savgol_filter,
mode "interp") as nuPlan does:
- longitudinal acceleration: the record's acceleration (where missing: the derivative of speed),
  smoothed over `accel_window` (order 2); bounds (-4.05, 2.40) m/s2;
- lateral acceleration: speed x the record's yaw rate (where missing: the heading's rate),
  smoothed likewise; |.| < 4.89 m/s2;
- yaw rate: first derivative of the unwrapped heading over `yaw_window` (order 2); |.| < 0.95 rad/s;
- yaw acceleration: second derivative of the unwrapped heading over `yaw_window` (order 3); |.| < 1.93 rad/s2;
- longitudinal jerk: first derivative of the smoothed longitudinal acceleration over
  `jerk_window` (order 2); |.| < 4.13 m/s3;
- jerk magnitude: first derivative of the smoothed acceleration magnitude (longitudinal, lateral)
  over `jerk_window` (order 2); |.| < 8.37 m/s3.
Each filter is applied as a cached linear operator (`drivestack.core.filters`).
Windows are durations turned into an odd number of samples at the run's dt (at least order + 1,
at most the run's length): 0.8 s -> 9 samples, 1.5 s -> 15, 0.5 s -> 5 at 10 Hz. Deviation from
nuPlan: nuPlan smooths accelerations over 8 samples, an even window that shifts the smoothed signal
by half a step; drivestack uses 9. A signal too short for its filter is not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from drivestack.core.filters import savgol_operator, window_samples
from drivestack.metrics.config import MetricsConfig
from drivestack.metrics.steps import StepValues

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]


def savgol(values: FloatArray, duration: float, dt: float, order: int, deriv: int = 0) -> StepValues:
    """Savitzky-Golay smoothing (deriv 0) or derivative of `values` (T,) on steps `dt` [s] apart.

    Invalid everywhere (values NaN) when the run is too short for the filter.
    """
    window = window_samples(duration, dt, order, len(values))
    if window is None:
        return StepValues(np.full(len(values), np.nan), np.zeros(len(values), dtype=bool))
    return StepValues.everywhere(savgol_operator(len(values), window, order, deriv, dt) @ values)


def _filled(values: FloatArray, fallback: FloatArray) -> FloatArray:
    """`values` where finite, `fallback` elsewhere."""
    return np.where(np.isfinite(values), values, fallback)


def _heading(ctx: MetricContext, deriv: int) -> StepValues:
    """Derivative `deriv` (1 rate, 2 acceleration) of the ego's unwrapped heading [rad/s^deriv]."""
    config = ctx.config
    return savgol(np.unwrap(ctx.record.ego.yaw), config.comfort.yaw_window, ctx.dt, 1 + deriv, deriv)


def _raw_lon_accel(ctx: MetricContext) -> FloatArray:
    """The ego's longitudinal acceleration (T,) [m/s2] before smoothing."""
    ego = ctx.record.ego
    slope = savgol(ego.speed, ctx.config.comfort.accel_window, ctx.dt, 2, 1)
    return _filled(ego.acceleration, np.where(slope.valid, slope.values, 0.0))


def _raw_lat_accel(ctx: MetricContext) -> FloatArray:
    """The ego's lateral acceleration (T,) [m/s2] before smoothing: speed x yaw rate."""
    ego = ctx.record.ego
    rate = _heading(ctx, 1)
    return ego.speed * _filled(ego.yaw_rate, np.where(rate.valid, rate.values, 0.0))


def lon_accel(ctx: MetricContext) -> StepValues:
    """Smoothed longitudinal acceleration [m/s2]."""
    return savgol(_raw_lon_accel(ctx), ctx.config.comfort.accel_window, ctx.dt, 2)


def lat_accel(ctx: MetricContext) -> StepValues:
    """Smoothed lateral acceleration [m/s2]."""
    return savgol(_raw_lat_accel(ctx), ctx.config.comfort.accel_window, ctx.dt, 2)


def yaw_rate(ctx: MetricContext) -> StepValues:
    """Yaw rate from the heading [rad/s]."""
    return _heading(ctx, 1)


def yaw_accel(ctx: MetricContext) -> StepValues:
    """Yaw acceleration from the heading [rad/s2]."""
    return _heading(ctx, 2)


def _jerk_of(accel: StepValues, ctx: MetricContext) -> StepValues:
    """Jerk [m/s3]: derivative of a smoothed acceleration, invalid where the acceleration is."""
    if not accel.valid.any():
        return accel
    return savgol(accel.values, ctx.config.comfort.jerk_window, ctx.dt, 2, 1)


def lon_jerk(ctx: MetricContext) -> StepValues:
    """Longitudinal jerk [m/s3]."""
    return _jerk_of(lon_accel(ctx), ctx)


def jerk(ctx: MetricContext) -> StepValues:
    """Jerk of the acceleration magnitude [m/s3]."""
    magnitude = np.hypot(_raw_lon_accel(ctx), _raw_lat_accel(ctx))
    return _jerk_of(savgol(magnitude, ctx.config.comfort.accel_window, ctx.dt, 2), ctx)


def _within(signal: StepValues, low: float, high: float) -> bool:
    """True when every valid value lies strictly between low and high."""
    values = signal.values[signal.valid]
    return bool(np.all((values > low) & (values < high)))


def comfortable(signals: dict[str, StepValues], config: MetricsConfig) -> float:
    """1.0 when all six comfort signals (keyed as the registry names them) stay within bounds, else 0.0."""
    checks = (
        _within(signals["lon_accel"], config.comfort.min_lon_accel, config.comfort.max_lon_accel),
        _within(signals["lat_accel"], -config.comfort.max_abs_lat_accel, config.comfort.max_abs_lat_accel),
        _within(signals["yaw_rate"], -config.comfort.max_abs_yaw_rate, config.comfort.max_abs_yaw_rate),
        _within(signals["yaw_accel"], -config.comfort.max_abs_yaw_accel, config.comfort.max_abs_yaw_accel),
        _within(signals["lon_jerk"], -config.comfort.max_abs_lon_jerk, config.comfort.max_abs_lon_jerk),
        _within(signals["jerk"], -config.comfort.max_abs_jerk, config.comfort.max_abs_jerk),
    )
    return 1.0 if all(checks) else 0.0
