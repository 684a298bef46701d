"""Ego progress (nuPlan ego_progress_along_expert_route), making progress, and the gap to the human.

Progress is measured along a reference:
- "expert": where a recorded human ego exists, its driven path (the polyline of its positions,
  simplified within 0.1 m so that standstill jitter adds no length). Progress at a step is the arc
  length of the ego centre's projection onto that path, minus the start's; the expert's progress
  is the path's length up to where the human was at the run's last step (its last position when
  the run outlasts its drive). As in nuPlan, ego and expert are compared over the same time span:
  nuPlan runs every scenario to its end, while a run here ends early where its goal holds, so
  the human's own replay scores 1 against itself and an ego that arrives sooner loses nothing.
  Deviation from nuPlan: nuPlan projects onto the lane baselines of the
  roadblocks the expert drove through; CommonRoad has no roadblocks, and the human's own path is
  the route it took. A human who never moved has progress 0 (the ego's is measured along the
  human's heading), so any ego that does not back up scores 1, as in nuPlan.
- "goal": without a human but with a goal position, progress is how much closer (straight line)
  the ego centre got to the goal regions/lanelets than at the start, and the reference progress is
  the starting distance (what reaching the goal takes). This is drivestack's definition.
- "none": neither (e.g. time-only goals): the ratio is 1, as nuPlan scores a run whose expert has
  no route.
The ratio (nuPlan): 0 when the ego went backwards more than `progress_floor` (2 m), else
min(1, max(ego, floor) / max(reference, floor)). Making progress: ratio >= 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.scenario import RecordedEgo
from drivestack.maps.goal import goal_check
from drivestack.metrics.steps import StepValues

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]

_SIMPLIFY = 0.1  # [m] tolerance when simplifying the expert's path


@dataclass(frozen=True, eq=False)
class Progress:
    """The ego's progress (T,) [m] since the first step along the reference, and the reference's own [m]."""

    kind: str
    ego: FloatArray
    reference: float


def expert_path(recorded: RecordedEgo) -> shapely.LineString | None:
    """The recorded human's driven path, simplified within 0.1 m; None when it never moves."""
    trajectory = recorded.trajectory
    xy = np.column_stack([trajectory.x, trajectory.y])
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < 2 or np.ptp(xy, axis=0).max() <= 0.0:
        return None
    return shapely.simplify(shapely.LineString(xy), _SIMPLIFY, preserve_topology=False)


def _expert_progress(recorded: RecordedEgo, path: shapely.LineString, last_step: int) -> float:
    """How far [m] along its own `path` the human got by `last_step` (the end of the run it is
    compared with), from its first recorded position."""
    trajectory = recorded.trajectory
    known = np.isfinite(trajectory.x) & np.isfinite(trajectory.y)
    steps = trajectory.steps[known]
    at = int(np.searchsorted(steps, last_step, side="right")) - 1  # its last state by then
    if at >= len(steps) - 1:
        return float(path.length)
    xy = np.column_stack([trajectory.x[known][[0, max(at, 0)]], trajectory.y[known][[0, max(at, 0)]]])
    start, end = shapely.line_locate_point(path, shapely.points(xy))
    return float(end - start)


def _goal_regions(ctx: MetricContext) -> shapely.Geometry | None:
    """Union of every goal state's position (regions and lanelets); None when no state constrains position."""
    return goal_check(ctx.problem.goal, ctx.map.index).position


def route_progress(ctx: MetricContext) -> Progress:
    """The ego's progress along the expert's path, toward the goal, or no reference (module docstring)."""
    recorded = ctx.recorded_ego
    if recorded is not None:
        path = expert_path(recorded)
        if path is None:  # a human who never moved: progress along its heading, reference 0 m
            heading = float(recorded.trajectory.yaw[0])
            along = (ctx.ego_xy - ctx.ego_xy[0]) @ np.array([np.cos(heading), np.sin(heading)])
            return Progress("expert", along, 0.0)
        s = shapely.line_locate_point(path, shapely.points(ctx.ego_xy))
        return Progress("expert", s - s[0], _expert_progress(recorded, path, int(ctx.record.steps[-1])))
    regions = _goal_regions(ctx)
    if regions is not None:
        distance = shapely.distance(regions, shapely.points(ctx.ego_xy))
        return Progress("goal", distance[0] - distance, float(distance[0]))
    return Progress("none", np.zeros(ctx.num_steps), np.nan)


def progress_values(ctx: MetricContext) -> StepValues:
    """Per step, the ego's progress [m] along the reference since the first step (invalid without one)."""
    progress = ctx.progress
    valid = np.full(ctx.num_steps, progress.kind != "none")
    return StepValues(progress.ego, valid)


def progress_ratio(progress: Progress, floor: float) -> float:
    """nuPlan's ego-to-expert progress ratio in [0, 1] (see the module docstring)."""
    if progress.kind == "none":
        return 1.0
    final = float(progress.ego[-1])
    if final < -floor:
        return 0.0
    return min(1.0, max(final, floor) / max(progress.reference, floor))


def displacement(ctx: MetricContext) -> StepValues:
    """Per step, the distance [m] from the ego centre to the recorded human at the same step
    (valid where both exist)."""
    gap = np.full(ctx.num_steps, np.nan)
    recorded = ctx.recorded_ego
    if recorded is not None:
        trajectory = recorded.trajectory
        _, ours, theirs = np.intersect1d(ctx.record.steps, trajectory.steps, return_indices=True)
        gap[ours] = np.hypot(
            ctx.ego_xy[ours, 0] - trajectory.x[theirs], ctx.ego_xy[ours, 1] - trajectory.y[theirs]
        )
    return StepValues(gap, np.isfinite(gap))
