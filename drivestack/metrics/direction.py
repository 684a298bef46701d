"""Driving-direction compliance: does the ego drive against its lane's direction?

nuPlan's driving_direction_compliance: the ego centre's progress along the centerline of the lane
it drives in (the driven lane, see `lanes.driven_lanes`) is summed over the last `direction_horizon`
(1 s: that many steps plus the current one, as nuPlan sums); steps off every lane, or where the
driven lane changes, add nothing. The largest backward progress within any window scores 1 below
2 m, 0.5 below 6 m and 0 otherwise. Deviation from nuPlan: where several lanes hold the centre,
nuPlan takes the map's first; drivestack takes the best-aligned one, and never a lane pointing
more than 60 deg off the heading where lanes overlap or in intersections (crossing and opposing
streams there are not the ego's lane; SinD humans cutting a turn otherwise read as wrong-way).
A lane pointing the other way that alone holds the centre on an open road still counts.
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


def lane_progress(ctx: MetricContext) -> StepValues:
    """Per step, the ego's progress [m] along its driven lane over the last `direction_horizon`."""
    index = ctx.map.index
    driven = ctx.driven_lane
    s = index.project(take(index.lane_ids, driven, -1).astype(np.int64), ctx.ego_xy)[0]
    same_lane = (driven[1:] == driven[:-1]) & (driven[1:] >= 0)
    step = np.concatenate([[0.0], np.where(same_lane, np.diff(s), 0.0)])
    window = int(ctx.config.direction_horizon / ctx.dt + 1e-9)
    total = np.cumsum(step)
    earlier = np.concatenate([np.zeros(window + 1), total[: max(0, len(total) - window - 1)]])
    return StepValues.everywhere(total - earlier[: len(total)])


def compliance(progress: FloatArray, compliant: float, violating: float) -> float:
    """nuPlan's score from windowed progress (T,) [m]: 1 if the worst backward progress < compliant [m],
    0.5 if < violating [m], else 0."""
    backward = max(0.0, -float(np.min(progress))) if len(progress) else 0.0
    if backward < compliant:
        return 1.0
    return 0.5 if backward < violating else 0.0
