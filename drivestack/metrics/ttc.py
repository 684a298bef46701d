"""Time to collision: when would the ego hit someone if everyone kept their speed and heading?

nuPlan's time_to_collision_within_bound: at each step the ego and the relevant objects are moved
at constant velocity along their headings, and the TTC is the first time t = 0.1, 0.2, ..., 2.9 s
(`ttc_step` up to, not including, `ttc_horizon`) at which the boxes overlap; inf when none does or
the ego is stopped (|speed| <= 0.005 m/s); 0 at a step with a new at-fault collision. Relevant are
objects not collided with yet that are ahead of the ego (bearing from the rear axle < 20 deg), or,
while the ego is changing lanes, off the lanes or in an intersection, every object not behind it
(bearing <= 150 deg). The score is 1 when the TTC stays above 0.95 s at every step, else 0.

Instead of stepping the boxes 29 times, the overlap of two boxes moving at constant velocities is
solved exactly (`core.overlap`, the test the planner's checks use too) and the first grid time in
that interval is taken, which is what nuPlan's stepping finds. Deviation: a reversing ego moves
backwards (nuPlan moves every ego forward at its speed's magnitude).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from drivestack.core.overlap import overlap_intervals
from drivestack.metrics.collisions import bearing
from drivestack.metrics.steps import StepValues

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_EPS = 1e-9


def first_grid_time(start: FloatArray, stop: FloatArray, step: float, horizon: float) -> FloatArray:
    """First time of the grid step, 2 step, ... (< horizon) [s] inside [start, stop] (K,); inf if none."""
    grid = np.arange(step, horizon, step)
    k = np.maximum(np.ceil(start / step - _EPS), 1.0)
    inside = (k <= len(grid)) & (k * step <= stop + _EPS) & (start <= stop)
    index = np.clip(k, 1, len(grid)).astype(np.int64) - 1
    return np.where(inside, grid[index], np.inf)


def time_to_collision(ctx: MetricContext) -> StepValues:
    """Per step, nuPlan's time to collision [s] (inf when no relevant object is hit within the horizon)."""
    config, objects, ego = ctx.config, ctx.objects, ctx.record.ego
    num_steps = ctx.num_steps
    collisions = ctx.collisions
    collided_from = np.full(objects.count, num_steps, dtype=np.int64)
    collided_from[collisions.objects] = collisions.steps
    step_index = np.arange(num_steps)
    flat_heading = np.broadcast_to(ego.yaw, objects.x.shape)
    angle = bearing(
        np.broadcast_to(ctx.rear_axle, (*objects.x.shape, 2)).reshape(-1, 2),
        flat_heading.reshape(-1),
        np.stack([objects.x, objects.y], axis=-1).reshape(-1, 2),
    ).reshape(objects.x.shape)
    lateral_too = ~ctx.in_lane | ctx.in_intersection
    relevant = (angle < config.ahead_angle) | (lateral_too[None, :] & ~(angle > config.behind_angle))
    relevant &= objects.valid & (step_index[None, :] < collided_from[:, None])
    relevant &= (np.abs(ego.speed) > config.ttc_stopped_speed)[None, :]
    # objects farther than both can close within the horizon cannot be hit (NaN compares False)
    gap = np.hypot(objects.x - ego.x[None, :], objects.y - ego.y[None, :])
    radius = 0.5 * (np.hypot(objects.length, objects.width) + np.hypot(ego.length, ego.width))
    relevant &= gap <= radius + (np.abs(ego.speed)[None, :] + objects.speed) * config.ttc_horizon
    rows, cols = np.nonzero(relevant)
    speed = ego.speed[cols]
    start, stop = overlap_intervals(
        (
            ego.x[cols],
            ego.y[cols],
            ego.yaw[cols],
            np.full(len(cols), 0.5 * ego.length),
            np.full(len(cols), 0.5 * ego.width),
            speed * np.cos(ego.yaw[cols]),
            speed * np.sin(ego.yaw[cols]),
        ),
        (
            objects.x[rows, cols],
            objects.y[rows, cols],
            objects.yaw[rows, cols],
            0.5 * objects.length[rows, cols],
            0.5 * objects.width[rows, cols],
            objects.speed[rows, cols] * np.cos(objects.yaw[rows, cols]),
            objects.speed[rows, cols] * np.sin(objects.yaw[rows, cols]),
        ),
    )
    ttc = np.full(num_steps, np.inf)
    np.minimum.at(ttc, cols, first_grid_time(start, stop, config.ttc_step, config.ttc_horizon))
    ttc[collisions.steps[collisions.at_fault]] = 0.0
    return StepValues.everywhere(ttc)


def within_bound(ttc: FloatArray, minimum: float) -> float:
    """1.0 when the time to collision (T,) [s] stays above `minimum` [s] at every step, else 0.0."""
    return 1.0 if bool(np.all(ttc > minimum)) else 0.0
