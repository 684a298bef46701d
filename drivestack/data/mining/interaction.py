"""Detectors on the ego's interaction with other road users: low time-to-collision, vulnerable road users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivestack.core.geometry import angle_diff, box_corners, boxes_overlap
from drivestack.data.mining.registry import register
from drivestack.data.mining.scene import (
    BoolArray,
    EgoPath,
    FloatArray,
    Scene,
    fill_invalid,
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
    heading < `ahead_angle` [rad]); where the ego is in a junction (`Scene.junction_area`) or off
    every lane (nuPlan: in an intersection or between lanes) agents beside it count too (bearing <=
    `behind_angle`); agents behind never count. Agents already overlapping the ego at the step are
    skipped (nuPlan drops collided tracks; in recorded data they are annotation artefacts).
    Deviation: bearings are taken from the ego's centre (nuPlan: its rear axle).

    Two guards against what recorded data gets wrong, where nuPlan's own logs would not:
    - a pair whose recorded boxes come to overlap within the horizon while they drive the same way
      (headings within `parallel_angle` [rad]) at similar speeds (within `similar_speed` [m/s]) is a
      tracking artefact (a vehicle tracked twice, a truck's box too long), not a near miss: no
      vehicle drives through another;
    - an agent that never moves in the recording (slower than `parked_speed` [m/s] at every step,
      within `parked_extent` [m] of where it stands: parked) counts only while it stands in a lane
      of the ego's path. Beside that path, in car parks or at the kerb, it is met only by the
      straight-line projection of a turning ego, which the human drove past (nuPlan counts agents
      in the ego's path).
    """

    threshold: float = 2.0
    horizon: float = 3.0
    time_step: float = 0.1
    ahead_angle: float = float(np.deg2rad(20.0))
    behind_angle: float = float(np.deg2rad(150.0))
    stopped_speed: float = 5e-3
    parallel_angle: float = float(np.deg2rad(30.0))
    similar_speed: float = 3.0
    parked_speed: float = 0.5
    parked_extent: float = 1.0


def time_to_collision(scene: Scene, ego: EgoPath, config: LowTtcConfig) -> FloatArray:
    """TTC [s] of each agent with the ego at each step (agents, steps); inf where no overlap within the
    horizon or the pair is not relevant (see `LowTtcConfig`)."""
    tracks = scene.scenario.tracks
    longitudinal, lateral = relative_to_ego(scene, ego)
    bearing = np.abs(np.arctan2(lateral, longitudinal))
    beside_counts = (ego.lane < 0) | scene.in_junction(ego.xy)
    relevant = (bearing < config.ahead_angle) | (beside_counts[None] & (bearing <= config.behind_angle))
    relevant &= (np.abs(np.nan_to_num(ego.speed)) > config.stopped_speed)[None] & scene.others(ego)[:, None]
    relevant &= ~parked_off_path(scene, ego, config.parked_speed, config.parked_extent)
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
    ttc[ghosts_ahead(scene, ego, np.isfinite(ttc), config)] = np.inf
    return ttc


def parked_off_path(scene: Scene, ego: EgoPath, parked_speed: float, parked_extent: float) -> BoolArray:
    """(agents, steps) True where an agent that never moves (|speed| < `parked_speed` [m/s] at every
    valid step, positions within `parked_extent` [m]) stands outside every lane of the ego's path
    (`EgoPath.path_lanes`)."""
    tracks = scene.scenario.tracks
    parked = tracks.valid.any(axis=1) & ~np.any(tracks.valid & (np.abs(tracks.speed) >= parked_speed), axis=1)
    spread = [np.ptp(fill_invalid(values, tracks.valid), axis=1) for values in (tracks.x, tracks.y)]
    parked &= np.hypot(*spread) <= parked_extent
    rows, steps = np.nonzero(parked[:, None] & tracks.valid)
    points, lanes = scene.map.candidates(np.stack([tracks.x[rows, steps], tracks.y[rows, steps]], axis=-1))
    on_path = np.zeros(len(rows), dtype=bool)
    on_path[points[np.isin(scene.map.lane_ids[lanes], np.array(sorted(ego.path_lanes), dtype=np.int64))]] = (
        True
    )
    off = np.zeros(tracks.valid.shape, dtype=bool)
    off[rows, steps] = ~on_path
    return off


def ghosts_ahead(scene: Scene, ego: EgoPath, wanted: BoolArray, config: LowTtcConfig) -> BoolArray:
    """(agents, steps) True at the `wanted` (agents, steps) pairs whose recorded boxes overlap within
    the horizon (this step included) while both drive the same way at similar speeds: a tracking
    artefact (see `LowTtcConfig`)."""
    tracks = scene.scenario.tracks
    rows = np.flatnonzero(wanted.any(axis=1))
    ego_boxes = box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)[None]  # (1, T, 4, 2)
    boxes = box_corners(
        tracks.x[rows], tracks.y[rows], tracks.yaw[rows], tracks.length[rows, None], tracks.width[rows, None]
    )
    ghost = boxes_overlap(ego_boxes, boxes)
    ghost &= np.abs(angle_diff(tracks.yaw[rows], ego.yaw[None])) <= config.parallel_angle
    ghost &= np.abs(tracks.speed[rows] - ego.speed[None]) <= config.similar_speed
    window = scene.steps_for(config.horizon) + 1
    padded = np.pad(ghost, ((0, 0), (0, window - 1)))
    soon = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1).any(axis=2)
    result = np.zeros(wanted.shape, dtype=bool)
    result[rows] = soon & wanted[rows]
    return result


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


@register("low_ttc", version=5, config=LowTtcConfig())
def low_ttc(scene: Scene, ego: EgoPath, config: LowTtcConfig) -> list[Tag]:
    """Agents whose time-to-collision with the ego falls below the threshold; value = min TTC [s]."""
    ttc = time_to_collision(scene, ego, config)
    found = runs(ttc < config.threshold)
    values = reduce_runs(ttc, found, np.minimum)
    return tags_from_runs(
        scene.scenario_id, "low_ttc", scene.scenario.tracks.ids, found, values, ego.agent_id
    )


@dataclass(frozen=True)
class VulnerableRoadUserConfig:
    """A pedestrian, bicycle or motorcycle within `max_distance` [m] of the ego's path ahead (its
    positions from the current step on), at steps where the ego is known."""

    max_distance: float = 30.0


_DISTANCES_PER_CHUNK = 1 << 22  # (user, step, ego step) distances computed at once


@register("vulnerable_road_user", version=4, config=VulnerableRoadUserConfig())
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
    return tags_from_runs(
        scene.scenario_id, "vulnerable_road_user", tracks.ids[rows], found, values, ego.agent_id
    )
