"""Scenario-level metrics of one run and nuPlan's closed-loop score.

score = NC x DAC x MP x DDC x (5 EP + 5 TTC + 4 SL + 2 C) / 16 with NC no at-fault collision
{0, 0.5, 1}, DAC drivable-area compliance, MP making progress, DDC driving-direction compliance
{0, 0.5, 1}, EP ego progress ratio, TTC time to collision within bound, SL speed-limit compliance,
C comfort (weights from `MetricsConfig`). CommonRoad's goal check and the gap to the recorded
human (ADE/FDE) are reported beside the score, not in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from drivestack.core.record import RunRecord
from drivestack.core.scenario import PlanningProblem, RecordedEgo, Scenario
from drivestack.metrics import collisions, comfort, direction, drivable, progress, speed, ttc
from drivestack.metrics.config import DEFAULT_CONFIG, MetricsConfig
from drivestack.metrics.context import MetricContext
from drivestack.metrics.events import FailureEvents, failure_events
from drivestack.metrics.registry import compute_metric

_COMFORT_SIGNALS = ("lon_accel", "lat_accel", "yaw_rate", "yaw_accel", "lon_jerk", "jerk")


@dataclass(frozen=True)
class ScenarioMetrics:
    """All scenario-level metrics of one run. Scores are in [0, 1]; distances [m]; times [s].

    `goal_step` is the first scenario step at which a goal state holds (-1: never); `ade`/`fde` are
    the mean/final distance to the recorded human over the steps both cover (NaN without one);
    `expert_progress` is the reference progress (NaN when there is none, see `progress`); `events`
    names what went wrong and when (see `events.FailureEvents`).
    """

    score: float
    at_fault_collision: bool
    any_collision: bool
    no_at_fault_collision: float
    drivable_area: float
    driving_direction: float
    making_progress: float
    ego_progress: float
    ttc_within_bound: float
    speed_limit: float
    comfort: float
    goal_reached: bool
    goal_reached_at_start: bool
    ade: float
    fde: float
    steps: int
    goal_step: int
    collisions: int
    at_fault_collisions: int
    min_ttc: float
    max_outside_distance: float
    worst_lane_progress: float
    ego_progress_m: float
    expert_progress_m: float
    max_overspeed: float
    events: FailureEvents = field(default_factory=FailureEvents)

    def as_row(self) -> dict[str, float | bool | int | str | None]:
        """The metrics and their failure events as one flat result row (field name -> value)."""
        row = asdict(self)
        return {**row, **row.pop("events")}


def closed_loop_score(
    no_at_fault_collision: float,
    drivable_area: float,
    making_progress: float,
    driving_direction: float,
    ego_progress: float,
    ttc_within_bound: float,
    speed_limit: float,
    comfort_score: float,
    config: MetricsConfig = DEFAULT_CONFIG,
) -> float:
    """nuPlan's closed-loop score: the multiplier metrics times the weighted mean of the others."""
    weights = np.array(
        [config.weight_progress, config.weight_ttc, config.weight_speed_limit, config.weight_comfort]
    )
    terms = np.array([ego_progress, ttc_within_bound, speed_limit, comfort_score])
    gate = no_at_fault_collision * drivable_area * making_progress * driving_direction
    return float(gate * (weights @ terms) / weights.sum())


def evaluate(
    scenario: Scenario,
    problem: PlanningProblem,
    record: RunRecord,
    recorded_ego: RecordedEgo | None = None,
    config: MetricsConfig = DEFAULT_CONFIG,
) -> ScenarioMetrics:
    """Score a complete run of `problem` on `scenario` (recorded_ego: the human, for progress and ADE/FDE)."""
    return evaluate_context(MetricContext(scenario, problem, record, recorded_ego, config))


def evaluate_context(ctx: MetricContext) -> ScenarioMetrics:
    """Score the run of `ctx` (as `evaluate`; its intermediates stay cached in `ctx` for per-step use)."""
    config, record = ctx.config, ctx.record
    found = ctx.collisions
    nc = collisions.no_at_fault_score(found, config)
    outside_steps = compute_metric("outside_drivable_area", ctx).values
    outside = float(outside_steps.max())
    lane_progress = compute_metric("lane_progress", ctx).values
    ratio = progress.progress_ratio(ctx.progress, config.progress_floor)
    ttc_values = compute_metric("ttc", ctx).values
    overspeed = compute_metric("overspeed", ctx).values
    comfort_score = comfort.comfortable(
        {name: compute_metric(name, ctx) for name in _COMFORT_SIGNALS}, config
    )
    goal = compute_metric("goal", ctx).values > 0.5
    gap = compute_metric("displacement", ctx)
    dac = drivable.compliance(outside, config.max_outside_distance)
    mp = 1.0 if ratio >= config.min_progress_ratio else 0.0
    ddc = direction.compliance(lane_progress, config.direction_compliance, config.direction_violation)
    ttc_score = ttc.within_bound(ttc_values, config.ttc_min)
    sl = speed.compliance(overspeed, ctx.dt, config.max_overspeed)
    reached = np.flatnonzero(goal)
    return ScenarioMetrics(
        score=closed_loop_score(nc, dac, mp, ddc, ratio, ttc_score, sl, comfort_score, config),
        at_fault_collision=bool(found.at_fault.any()),
        any_collision=len(found.objects) > 0,
        no_at_fault_collision=nc,
        drivable_area=dac,
        driving_direction=ddc,
        making_progress=mp,
        ego_progress=ratio,
        ttc_within_bound=ttc_score,
        speed_limit=sl,
        comfort=comfort_score,
        goal_reached=len(reached) > 0,
        goal_reached_at_start=bool(goal[0]),
        ade=float(gap.values[gap.valid].mean()) if gap.valid.any() else float("nan"),
        fde=float(gap.values[gap.valid][-1]) if gap.valid.any() else float("nan"),
        steps=ctx.num_steps,
        goal_step=int(record.steps[reached[0]]) if len(reached) else -1,
        collisions=len(found.objects),
        at_fault_collisions=int(found.at_fault.sum()),
        min_ttc=float(ttc_values.min()),
        max_outside_distance=outside,
        worst_lane_progress=float(lane_progress.min()),
        ego_progress_m=float(ctx.progress.ego[-1]),
        expert_progress_m=ctx.progress.reference,
        max_overspeed=float(overspeed.max()),
        events=failure_events(ctx, outside_steps, lane_progress, ttc_values),
    )
