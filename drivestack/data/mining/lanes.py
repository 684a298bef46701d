"""Detectors on lane occupancy: lane changes, cut-ins ahead of the ego, stopped vehicles in its lanes.

All start from each vehicle's lane at each step (`Scene.lanes`, heading-aware best lane). Lane
sequences are debounced: a lane occupied for less than `min_dwell` seconds (a vehicle straddling a
boundary, flickering between two lanes) is dropped before changes are read off the sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivestack.core.geometry import angle_diff
from drivestack.data.mining.registry import register
from drivestack.data.mining.scene import (
    EgoPath,
    FloatArray,
    IntArray,
    Scene,
    reduce_runs,
    relative_to_ego,
    runs,
    tags_from_runs,
    vehicles_and_ego,
)
from drivestack.data.tags import Tag
from drivestack.maps.index import MapIndex


@dataclass(frozen=True)
class LaneChanges:
    """Lane changes found in lane sequences, each (E,): row of the sequence, last step in the old lane,
    first step in the new lane, old and new lane ids, and the side (+1 left, -1 right)."""

    rows: IntArray
    left_step: IntArray
    entered_step: IntArray
    from_lane: IntArray
    to_lane: IntArray
    side: IntArray


def lane_changes(lanes: IntArray, xy: FloatArray, index: MapIndex, min_dwell: int) -> LaneChanges:
    """Changes between laterally adjacent lanes in `lanes` (N, steps) (lane ids, -1 none) of agents
    at positions `xy` (N, steps, 2) [m].

    The sequence of each row is cut into runs of one lane; runs of -1 and runs shorter than
    `min_dwell` steps are dropped; a change is a pair of consecutive kept runs of the same row whose
    lanes are lateral neighbours (`MapIndex.side`) and which the agent really crossed between: it
    is outside the new lane `min_dwell` steps before entering it and outside the old lane
    `min_dwell` steps after (where two lanes overlap, e.g. fanning out, a switch is no change).
    Moving on to a successor lane is no change, nor is a switch inside an intersection area, where
    parallel turn lanes overlap and are rarely drawn for lane changing.
    """
    num_rows, num_steps = lanes.shape
    starts_mask = np.ones(lanes.shape, dtype=bool)
    starts_mask[:, 1:] = lanes[:, 1:] != lanes[:, :-1]
    rows, starts = np.nonzero(starts_mask)
    flat_starts = rows * num_steps + starts
    ends = np.append(flat_starts[1:], num_rows * num_steps) - 1 - rows * num_steps
    lane = lanes[rows, starts]
    keep = (lane >= 0) & (ends - starts + 1 >= min_dwell)
    rows, starts, ends, lane = rows[keep], starts[keep], ends[keep], lane[keep]
    same_row = rows[1:] == rows[:-1]
    side = index.side(lane[:-1], lane[1:]).astype(np.int64)
    change = np.flatnonzero(same_row & (side != 0))
    before, after = ends[change] - (min_dwell - 1), starts[change + 1] + (min_dwell - 1)
    crossed = ~index.contains(lane[change + 1], xy[rows[change], before]) & ~index.contains(
        lane[change], xy[rows[change], after]
    )
    crossed &= ~index.in_intersection(xy[rows[change], starts[change + 1]])
    change = change[crossed]
    return LaneChanges(
        rows[change], ends[change], starts[change + 1], lane[change], lane[change + 1], side[change]
    )


def agent_positions(scene: Scene) -> FloatArray:
    """Every agent's centre (agents, steps, 2) [m], NaN where invalid."""
    tracks = scene.scenario.tracks
    return np.stack([tracks.x, tracks.y], axis=-1)


@dataclass(frozen=True)
class LaneChangeConfig:
    """Lanes must be held at least `min_dwell` [s] on both sides of a change to count."""

    min_dwell: float = 1.0


@register("lane_change", version=4, config=LaneChangeConfig())
def lane_change(scene: Scene, ego: EgoPath, config: LaneChangeConfig) -> list[Tag]:
    """Vehicles (and the ego) moving to an adjacent same-direction lane; steps = [last step in the old
    lane, first step in the new one], value = +1 to the left, -1 to the right."""
    lanes, ids = vehicles_and_ego(scene, ego, scene.lanes, ego.lane)
    xy, _ = vehicles_and_ego(scene, ego, agent_positions(scene), ego.xy)
    found = lane_changes(
        lanes.astype(np.int64), xy.astype(np.float64), scene.map, scene.steps_for(config.min_dwell)
    )
    return [
        Tag(scene.scenario_id, "lane_change", int(ids[row]), int(left), int(entered), float(side))
        for row, left, entered, side in zip(
            found.rows.tolist(),
            found.left_step.tolist(),
            found.entered_step.tolist(),
            found.side.tolist(),
            strict=True,
        )
    ]


def bumper_gap(scene: Scene, ego: EgoPath) -> FloatArray:
    """Distance [m] from the ego's front to each agent's rear along the ego's heading (agents, steps):
    longitudinal centre offset minus half of both lengths; negative beside or behind; NaN where invalid."""
    longitudinal, _ = relative_to_ego(scene, ego)
    return longitudinal - 0.5 * (ego.length + scene.scenario.tracks.length[:, None])


@dataclass(frozen=True)
class CutInConfig:
    """A vehicle changes into the ego's lane, or a lane downstream of it on the ego's path, with a
    bumper gap ahead of the ego in [0, `max_gap`] [m] when it enters, heading within `max_heading`
    [rad] of the ego (a cut-in comes from a parallel lane, not across a junction), while the ego
    drives (faster than `min_ego_speed` [m/s]); lane changes debounced by `min_dwell` [s]."""

    max_gap: float = 30.0
    min_dwell: float = 1.0
    max_heading: float = float(np.pi / 4.0)
    min_ego_speed: float = 1.0


@register("cut_in", version=6, config=CutInConfig())
def cut_in(scene: Scene, ego: EgoPath, config: CutInConfig) -> list[Tag]:
    """Other vehicles cutting in ahead of the ego; steps = the lane change, value = gap [m] on entry."""
    rows = np.flatnonzero(scene.is_vehicle & scene.others(ego))
    xy = agent_positions(scene)[rows]
    found = lane_changes(scene.lanes[rows], xy, scene.map, scene.steps_for(config.min_dwell))
    gap = bumper_gap(scene, ego)
    tags = []
    for row, left, entered, to_lane in zip(
        rows[found.rows].tolist(),
        found.left_step.tolist(),
        found.entered_step.tolist(),
        found.to_lane.tolist(),
        strict=True,
    ):
        ego_lane = int(ego.lane[entered])
        entry_gap = gap[row, entered]
        turned = abs(float(angle_diff(scene.scenario.tracks.yaw[row, entered], ego.yaw[entered])))
        moving = abs(float(ego.smoothed_speed[entered])) > config.min_ego_speed
        if (
            ego_lane < 0
            or not 0.0 <= entry_gap <= config.max_gap
            or turned > config.max_heading
            or not moving
        ):
            continue
        reach = config.max_gap + float(ego.s[entered]) + ego.length
        if to_lane == ego_lane or (
            to_lane in ego.path_lanes and to_lane in scene.map.downstream(ego_lane, reach)
        ):
            agent = int(scene.scenario.tracks.ids[row])
            tags.append(Tag(scene.scenario_id, "cut_in", agent, int(left), int(entered), float(entry_gap)))
    return tags


@dataclass(frozen=True)
class StoppedVehicleConfig:
    """A vehicle slower than `max_speed` [m/s] for at least `min_duration` [s], in a driving lane of the
    ego's path, with a bumper gap ahead of the ego in [0, `max_distance`] [m]."""

    max_speed: float = 0.5
    min_duration: float = 2.0
    max_distance: float = 100.0


@register("stopped_vehicle_in_lane", version=3, config=StoppedVehicleConfig())
def stopped_vehicle_in_lane(scene: Scene, ego: EgoPath, config: StoppedVehicleConfig) -> list[Tag]:
    """Stopped vehicles in a driving lane ahead on the ego's path; value = smallest gap [m] to the ego."""
    slow = np.nan_to_num(scene.speed, nan=np.inf) < config.max_speed
    slow &= (scene.is_vehicle & scene.others(ego))[:, None]
    stopped = runs(slow, scene.steps_for(config.min_duration)).mask(slow.shape)
    lanes_ahead = np.array(sorted(ego.path_lanes & scene.map.driving_lanes), dtype=np.int64)
    gap = bumper_gap(scene, ego)
    ahead = np.nan_to_num(gap, nan=-np.inf) >= 0.0
    ahead &= gap <= config.max_distance
    found = runs(stopped & ahead & np.isin(scene.lanes, lanes_ahead))
    values = reduce_runs(gap, found, np.minimum)
    return tags_from_runs(
        scene.scenario_id, "stopped_vehicle_in_lane", scene.scenario.tracks.ids, found, values
    )
