"""Detectors on the ego's interaction with other road users: low time-to-collision, vulnerable road users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivestack.core.geometry import box_corners, boxes_overlap
from drivestack.data.mining.registry import register
from drivestack.data.mining.scene import (
    EgoPath,
    FloatArray,
    Scene,
    reduce_runs,
    relative_to_ego,
    runs,
    tags_from_runs,
)
from drivestack.data.tags import Tag

_PAIRS_PER_CHUNK = 2048  # (agent, step) pairs propagated at once: bounds memory to ~20 MB


@dataclass(frozen=True)
class LowTtcConfig:
    """Time-to-collision as nuPlan computes it, tagged where it falls below `threshold` [s].

    The ego's and the agent's boxes move on at constant speed along their headings; TTC is the
    first of the times `time_step`, 2 `time_step`, ... below `horizon` (0.1, ..., 2.9 s as nuPlan
    steps them) at which they overlap. nuPlan's relevance rules: no TTC while the ego stands
    (|speed| <= `stopped_speed` [m/s]); agents count when they lie ahead (bearing off the ego's
    heading < `ahead_angle` [rad]); where the ego is in an intersection area or off every lane
    (nuPlan: in an intersection or between lanes) agents beside it count too (bearing <=
    `behind_angle`); agents behind never count. Agents already overlapping the ego at the step are
    skipped (nuPlan drops collided tracks; in recorded data they are annotation artefacts).
    Deviation: bearings are taken from the ego's centre (nuPlan: its rear axle).
    """

    threshold: float = 2.0
    horizon: float = 3.0
    time_step: float = 0.1
    ahead_angle: float = float(np.deg2rad(20.0))
    behind_angle: float = float(np.deg2rad(150.0))
    stopped_speed: float = 5e-3


def time_to_collision(scene: Scene, ego: EgoPath, config: LowTtcConfig) -> FloatArray:
    """TTC [s] of each agent with the ego at each step (agents, steps); inf where no overlap within the
    horizon or the pair is not relevant (see `LowTtcConfig`)."""
    tracks = scene.scenario.tracks
    longitudinal, lateral = relative_to_ego(scene, ego)
    bearing = np.abs(np.arctan2(lateral, longitudinal))
    beside_counts = (ego.lane < 0) | scene.map.in_intersection(ego.xy)
    relevant = (bearing < config.ahead_angle) | (beside_counts[None] & (bearing <= config.behind_angle))
    relevant &= (np.abs(np.nan_to_num(ego.speed)) > config.stopped_speed)[None] & scene.others(ego)[:, None]
    reach = (np.abs(ego.speed)[None] + np.abs(tracks.speed)) * config.horizon
    reach += 0.5 * (np.hypot(ego.length, ego.width) + np.hypot(tracks.length, tracks.width))[:, None]
    relevant &= np.hypot(longitudinal, lateral) <= reach
    rows, steps = np.nonzero(relevant)
    times = np.concatenate([[0.0], np.arange(config.time_step, config.horizon, config.time_step)])
    ttc = np.full(tracks.x.shape, np.inf)
    for begin in range(0, len(rows), _PAIRS_PER_CHUNK):
        r, t = rows[begin : begin + _PAIRS_PER_CHUNK], steps[begin : begin + _PAIRS_PER_CHUNK]
        ego_boxes = _propagated(ego.x[t], ego.y[t], ego.yaw[t], ego.speed[t], ego.length, ego.width, times)
        agent_boxes = _propagated(
            tracks.x[r, t], tracks.y[r, t], tracks.yaw[r, t], tracks.speed[r, t],
            tracks.length[r], tracks.width[r], times,
        )  # fmt: skip
        hit = boxes_overlap(ego_boxes, agent_boxes)  # (P, K + 1)
        collides = hit[:, 1:].any(axis=1) & ~hit[:, 0]
        ttc[r[collides], t[collides]] = times[1:][np.argmax(hit[collides, 1:], axis=1)]
    return ttc


def _propagated(
    x: FloatArray, y: FloatArray, yaw: FloatArray, speed: FloatArray, length: FloatArray | float,
    width: FloatArray | float, times: FloatArray,
) -> FloatArray:  # fmt: skip
    """Corners (P, K, 4, 2) [m] of P boxes moved at constant `speed` (P,) [m/s] along `yaw` (P,) [rad]
    for `times` (K,) [s]; lengths and widths scalars or (P,) [m]."""
    travel = speed[:, None] * times[None]
    return box_corners(
        x[:, None] + travel * np.cos(yaw)[:, None],
        y[:, None] + travel * np.sin(yaw)[:, None],
        yaw[:, None],
        np.broadcast_to(length, x.shape)[:, None],
        np.broadcast_to(width, x.shape)[:, None],
    )


@register("low_ttc", version=4, config=LowTtcConfig())
def low_ttc(scene: Scene, ego: EgoPath, config: LowTtcConfig) -> list[Tag]:
    """Agents whose time-to-collision with the ego falls below the threshold; value = min TTC [s]."""
    ttc = time_to_collision(scene, ego, config)
    found = runs(ttc < config.threshold)
    values = reduce_runs(ttc, found, np.minimum)
    return tags_from_runs(scene.scenario_id, "low_ttc", scene.scenario.tracks.ids, found, values)


@dataclass(frozen=True)
class VulnerableRoadUserConfig:
    """A pedestrian, bicycle or motorcycle within `max_distance` [m] of the ego's path ahead (its
    positions from the current step on), at steps where the ego is known."""

    max_distance: float = 30.0


_DISTANCES_PER_CHUNK = 1 << 22  # (user, step, ego step) distances computed at once


@register("vulnerable_road_user", version=3, config=VulnerableRoadUserConfig())
def vulnerable_road_user(scene: Scene, ego: EgoPath, config: VulnerableRoadUserConfig) -> list[Tag]:
    """Vulnerable road users near where the ego is about to drive; value = smallest distance [m]."""
    tracks = scene.scenario.tracks
    rows = np.flatnonzero(scene.is_vulnerable & scene.others(ego))
    num_steps = scene.scenario.num_steps
    ahead = (np.arange(num_steps)[None] >= np.arange(num_steps)[:, None]) & ego.valid[None]  # (t, t')
    distance = np.full((len(rows), num_steps), np.inf)
    chunk = max(1, _DISTANCES_PER_CHUNK // max(1, num_steps * num_steps))
    for begin in range(0, len(rows), chunk):
        r = rows[begin : begin + chunk]
        gaps = np.hypot(
            tracks.x[r][:, :, None] - ego.x[None, None], tracks.y[r][:, :, None] - ego.y[None, None]
        )
        distance[begin : begin + chunk] = np.where(ahead[None] & np.isfinite(gaps), gaps, np.inf).min(axis=2)
    found = runs((distance <= config.max_distance) & ego.valid[None])
    values = reduce_runs(distance, found, np.minimum)
    return tags_from_runs(scene.scenario_id, "vulnerable_road_user", tracks.ids[rows], found, values)
