"""The comfort bounds the metric judges a run by and the planner keeps its proposals within (one
type, so the two cannot drift apart); the defaults are nuPlan's closed-loop configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComfortBounds:
    """Strict bounds (as nuPlan's within-bound checks) on the smoothed longitudinal acceleration
    [`min_lon_accel`, `max_lon_accel`] [m/s2], and on the absolute lateral acceleration [m/s2], yaw
    rate [rad/s], yaw acceleration [rad/s2], longitudinal jerk and jerk magnitude [m/s3];
    Savitzky-Golay windows are durations [s] (nuPlan states them in samples at 10 Hz: 8, 15 and
    5), converted to samples at each scenario's own dt."""

    min_lon_accel: float = -4.05
    max_lon_accel: float = 2.40
    max_abs_lat_accel: float = 4.89
    max_abs_yaw_rate: float = 0.95
    max_abs_yaw_accel: float = 1.93
    max_abs_lon_jerk: float = 4.13
    max_abs_jerk: float = 8.37
    accel_window: float = 0.8
    """Window [s] smoothing accelerations (nuPlan: 8 samples, order 2)."""
    jerk_window: float = 1.5
    """Window [s] differentiating accelerations into jerk (nuPlan: 15 samples, order 2)."""
    yaw_window: float = 0.5
    """Window [s] differentiating the heading (nuPlan: 5 samples; order 2 rate, 3 accel)."""
