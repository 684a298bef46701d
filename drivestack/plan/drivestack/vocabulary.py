"""A proposal source learned from recorded drivers: the motions of a `MotionVocabulary`, at the ego.

Every step, `VocabularySource.propose` picks the motions whose start speed is nearest the ego's
(within `speed_tolerance`, at most `max_proposals`), resamples them onto the planner's step grid,
places them at the ego's pose (each motion is relative to its start pose) and hands them to the
simulator's tracker like any other reference (`stages.rolled_out`), in the ego's lane option. The
planner's one scorer then scores them beside the rule-based proposals: a learned motion is chosen
only where it scores best under the same gates (no at-fault collision, on the drivable area) and
terms. Beyond the vocabulary's horizon a motion holds its last speed and heading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivestack.core.geometry import wrap_angle
from drivestack.core.motions import MotionVocabulary
from drivestack.plan.drivestack.decide import LaneOption, Scene
from drivestack.plan.drivestack.stages import Proposals, rolled_out

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class VocabularySourceConfig:
    """Which motions are proposed: those starting within `speed_tolerance` [m/s] (or
    `relative_tolerance` of the ego's speed, whichever is larger) of the ego's speed, the
    `max_proposals` nearest in start speed; with `match_speed`, each shifted to start at the ego's
    speed (see `VocabularySource.local`)."""

    speed_tolerance: float = 1.0
    relative_tolerance: float = 0.1
    max_proposals: int = 32
    match_speed: bool = True


class VocabularySource:
    """Proposes the vocabulary's motions at the ego (see the module docstring)."""

    def __init__(self, vocabulary: MotionVocabulary, config: VocabularySourceConfig | None = None) -> None:
        self.vocabulary = vocabulary
        self.config = config or VocabularySourceConfig()

    def chosen(self, speed: float) -> NDArray[np.int64]:
        """Rows of the motions proposed for an ego at `speed` [m/s], nearest start speed first."""
        config = self.config
        gap = np.abs(self.vocabulary.start_speed - speed)
        tolerance = max(config.speed_tolerance, config.relative_tolerance * speed)
        near = np.flatnonzero(gap <= tolerance)
        return near[np.argsort(gap[near], kind="stable")][: config.max_proposals]

    def propose(self, scene: Scene, options: list[LaneOption]) -> Proposals:
        """The chosen motions at the ego's pose and speed, rolled out in the ego's lane option (0)."""
        ego = scene.ego
        rows = self.chosen(float(ego.speed))
        x, y, yaw, speed = self.local(rows, scene.times, float(ego.speed))
        cos, sin = np.cos(ego.yaw), np.sin(ego.yaw)
        return rolled_out(
            scene,
            options,
            np.zeros(len(rows), dtype=np.int64),
            ego.x + cos * x - sin * y,
            ego.y + sin * x + cos * y,
            np.asarray(wrap_angle(ego.yaw + yaw), dtype=np.float64),
            speed,
        )

    def local(
        self, rows: NDArray[np.int64], times: FloatArray, start_speed: float | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """x, y [m], yaw [rad], speed [m/s] (M, T) of the motions `rows` at `times` (T,) [s] from their
        start, in their start frame. With `start_speed` [m/s] (and `config.match_speed`) each motion's
        speed is shifted to start there (its accelerations kept, never below 0) and it is driven at
        that speed along its own path; beyond the vocabulary's horizon (and its path's end) it holds
        its last speed and heading."""
        vocabulary = self.vocabulary
        shift = np.zeros(len(rows))
        if start_speed is not None and self.config.match_speed:
            shift = start_speed - vocabulary.start_speed[rows]
        speed = np.maximum(vocabulary.speed[rows] + shift[:, None], 0.0)  # (M, K) on the vocabulary's grid
        step = vocabulary.dt
        travel = np.concatenate(
            [np.zeros((len(rows), 1)), np.cumsum(0.5 * (speed[:, 1:] + speed[:, :-1]) * step, axis=1)], axis=1
        )
        x, y, yaw = vocabulary.x[rows], vocabulary.y[rows], vocabulary.yaw[rows]
        along = np.concatenate(
            [np.zeros((len(rows), 1)), np.cumsum(np.hypot(np.diff(x, axis=1), np.diff(y, axis=1)), axis=1)],
            axis=1,
        )
        last = len(vocabulary.times) - 1
        position = np.asarray(times, dtype=np.float64) / step
        low = np.minimum(np.floor(position).astype(np.int64), last - 1)
        frac = np.minimum(position - low, 1.0)
        beyond = np.maximum(times - vocabulary.horizon, 0.0)  # [s] past the vocabulary's horizon
        speed_at = speed[:, low] * (1.0 - frac) + speed[:, low + 1] * frac
        travel_at = (
            travel[:, low] * (1.0 - frac) + travel[:, low + 1] * frac + speed[:, -1:] * beyond[None, :]
        )
        out_x, out_y, out_yaw = (np.empty((len(rows), len(times))) for _ in range(3))
        for row in range(len(rows)):  # at most `max_proposals` motions
            on_path = np.minimum(travel_at[row], along[row, -1])
            out_x[row] = np.interp(on_path, along[row], x[row])
            out_y[row] = np.interp(on_path, along[row], y[row])
            out_yaw[row] = np.interp(on_path, along[row], yaw[row])
        past_end = travel_at - along[:, -1:]  # [m] beyond the path's end: straight on
        heading = yaw[:, -1:]
        out_x += past_end.clip(0.0) * np.cos(heading)
        out_y += past_end.clip(0.0) * np.sin(heading)
        return out_x, out_y, out_yaw, speed_at
