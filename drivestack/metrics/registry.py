"""The metric registry (waymax style): name -> compute(context) -> per-step values and valid mask.

Every per-step signal behind the scenario metrics is registered here, so a run can be inspected
step by step (`compute_metric("ttc", ctx)`) and new metrics plug in without touching `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from drivestack.core.errors import ConfigError
from drivestack.maps.goal import goal_check
from drivestack.metrics import collisions, comfort, direction, drivable, progress, speed, ttc
from drivestack.metrics.context import MetricContext
from drivestack.metrics.steps import StepValues


@dataclass(frozen=True)
class Metric:
    """A registered per-step metric: its `name`, `unit`, what it measures, and how to compute it."""

    name: str
    unit: str
    description: str
    compute: Callable[[MetricContext], StepValues]


def _goal(ctx: MetricContext) -> StepValues:
    """1 at steps where one of the goal states is satisfied (CommonRoad semantics), else 0."""
    ego = ctx.record.ego
    xy = ctx.ego_xy
    mask = goal_check(ctx.problem.goal, ctx.map.index).mask(
        ctx.record.steps, xy[:, 0], xy[:, 1], ego.yaw, ego.speed
    )
    return StepValues.everywhere(mask.astype(np.float64))


def _in_lane(ctx: MetricContext) -> StepValues:
    """1 at steps where the ego's corners lie in one lane or connected lanes, else 0."""
    return StepValues.everywhere(ctx.in_lane.astype(np.float64))


def _contact(ctx: MetricContext) -> StepValues:
    """1 at steps where the ego's box overlaps any other box, else 0."""
    return StepValues.everywhere(np.any(ctx.collisions.contact, axis=0).astype(np.float64))


_ALL = (
    Metric("contact", "bool", "ego box overlaps another box", _contact),
    Metric("collisions", "count", "objects touched for the first time", collisions.new_collisions),
    Metric(
        "at_fault_collisions",
        "count",
        "at-fault first contacts (nuPlan rules)",
        collisions.new_at_fault_collisions,
    ),
    Metric("in_lane", "bool", "corners within one lane or connected lanes", _in_lane),
    Metric(
        "outside_drivable_area",
        "m",
        "largest corner distance outside the drivable area",
        drivable.corner_outside_distance,
    ),
    Metric(
        "lane_progress", "m", "progress along the driven lane over the last second", direction.lane_progress
    ),
    Metric(
        "route_progress", "m", "progress along the expert path / toward the goal", progress.progress_values
    ),
    Metric("ttc", "s", "time to collision at constant velocity (inf: none)", ttc.time_to_collision),
    Metric("overspeed", "m/s", "speed above the driven lane's limit", speed.overspeed),
    Metric("lon_accel", "m/s2", "smoothed longitudinal acceleration", comfort.lon_accel),
    Metric("lat_accel", "m/s2", "smoothed lateral acceleration", comfort.lat_accel),
    Metric("yaw_rate", "rad/s", "yaw rate from the heading", comfort.yaw_rate),
    Metric("yaw_accel", "rad/s2", "yaw acceleration from the heading", comfort.yaw_accel),
    Metric("lon_jerk", "m/s3", "longitudinal jerk", comfort.lon_jerk),
    Metric("jerk", "m/s3", "jerk of the acceleration magnitude", comfort.jerk),
    Metric("goal", "bool", "a goal state is satisfied", _goal),
    Metric("displacement", "m", "distance to the recorded human ego", progress.displacement),
)

METRICS: Mapping[str, Metric] = MappingProxyType({metric.name: metric for metric in _ALL})


def compute_metric(name: str, ctx: MetricContext) -> StepValues:
    """Per-step values of the registered metric `name`, computed once per context (the score, the
    stored run trace and the viewer ask for the same ones); raises ConfigError for an unknown name."""
    metric = METRICS.get(name)
    if metric is None:
        raise ConfigError(f"unknown metric {name!r}; expected one of {', '.join(METRICS)}")
    known = ctx.step_values.get(name)
    if known is None:
        known = ctx.step_values[name] = metric.compute(ctx)
    return known
