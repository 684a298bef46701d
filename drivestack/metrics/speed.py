"""Speed-limit compliance (nuPlan speed_limit_compliance).

The over-speed at each step is how much the ego's speed exceeds the limit of its driven lane (0 off
the lanes and on lanes without a limit). The score is max(0, 1 - sum(over-speed) dt /
(`max_overspeed` x duration)), with duration the run's length (T - 1) dt; 1 for a single step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from drivestack.metrics.lanes import take
from drivestack.metrics.steps import StepValues

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]


def overspeed(ctx: MetricContext) -> StepValues:
    """Per step, the ego's speed above its driven lane's limit [m/s] (0 without lane or limit)."""
    limits = take(ctx.map.speed_limits, ctx.driven_lane, np.nan).astype(np.float64)
    excess = np.maximum(ctx.record.ego.speed - limits, 0.0)
    return StepValues.everywhere(np.where(np.isfinite(excess), excess, 0.0))


def compliance(excess: FloatArray, dt: float, max_overspeed: float) -> float:
    """nuPlan's speed-limit score from per-step over-speed (T,) [m/s] on steps `dt` [s] apart."""
    duration = (len(excess) - 1) * dt
    if duration <= 0.0:
        return 1.0
    loss = float(np.sum(excess)) * dt / (max(max_overspeed, 1e-3) * duration)
    return max(0.0, 1.0 - loss)
