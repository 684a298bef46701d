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
    Runs,
    Scene,
    reduce_runs,
    relative_to_ego,
    runs,
    tags_from_runs,
    vehicles_and_ego,
)
from drivestack.data.tags import Tag


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


@dataclass(frozen=True)
class LaneChangeConfig:
    """A lane change: lanes held at least `min_dwell` [s] on both sides of it; the two lanes beside each
    other and nearly parallel where the vehicle enters the new one (headings within
    `max_lane_angle` [rad]); the vehicle driving along them, not turning: heading within
    `max_heading` [rad] of the old lane `min_dwell` before it leaves it and of the new lane
    `min_dwell` after it enters it; no lane of an intersection and no step in a junction meanwhile.

    A vehicle leaving a turn lane into one of several exit lanes, or drifting across the exit lanes
    as it finishes a turn, moves between lanes without changing lanes. On the recorded data the
    vehicles of real changes (highD, exiD, NGSIM) stay within 8 degrees of their lanes there; those
    finishing a turn in SinD's exit lanes are still 10 to 26 degrees off.
    """

    min_dwell: float = 1.0
    max_lane_angle: float = float(np.deg2rad(15.0))
    max_heading: float = float(np.deg2rad(10.0))


def lane_changes(
    scene: Scene, lanes: IntArray, xy: FloatArray, heading: FloatArray, config: LaneChangeConfig
) -> LaneChanges:
    """Lane changes (see `LaneChangeConfig`) in `lanes` (N, steps) (lane ids, -1 none) of agents at
    positions `xy` (N, steps, 2) [m] with headings `heading` (N, steps) [rad].

    The sequence of each row is cut into runs of one lane; runs of -1 and runs shorter than the
    dwell are dropped; a change is a pair of consecutive kept runs of the same row whose lanes are
    lateral neighbours (`MapIndex.side`) and which the agent really crossed between: it is outside
    the new lane a dwell before entering it and outside the old lane a dwell after (where two lanes
    overlap, e.g. fanning out, a switch is no change). Moving on to a successor lane is no change.
    """
    index = scene.map
    min_dwell = scene.steps_for(config.min_dwell)
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
    row, old, new = rows[change], lane[change], lane[change + 1]
    entered = starts[change + 1]
    before, after = ends[change] - (min_dwell - 1), entered + (min_dwell - 1)
    crossed = ~index.contains(new, xy[row, before]) & ~index.contains(old, xy[row, after])
    _, _, old_entry = index.project(old, xy[row, entered])
    _, _, new_entry = index.project(new, xy[row, entered])
    parallel = np.abs(angle_diff(old_entry, new_entry)) <= config.max_lane_angle
    _, _, old_heading = index.project(old, xy[row, before])
    _, _, new_heading = index.project(new, xy[row, after])
    along = np.abs(angle_diff(heading[row, before], old_heading)) <= config.max_heading
    along &= np.abs(angle_diff(heading[row, after], new_heading)) <= config.max_heading
    marked = np.array(sorted(index.intersection_lanes), dtype=np.int64)
    plain = ~np.isin(old, marked) & ~np.isin(new, marked)
    length = after - before + 1
    of = np.repeat(np.arange(len(change)), length)
    steps = before[of] + np.arange(len(of)) - np.repeat(np.cumsum(length) - length, length)
    inside = np.bincount(of, weights=scene.in_junction(xy[row[of], steps]), minlength=len(change))
    change = change[crossed & parallel & along & plain & (inside == 0)]
    return LaneChanges(
        rows[change], ends[change], starts[change + 1], lane[change], lane[change + 1], side[change]
    )


def agent_positions(scene: Scene) -> FloatArray:
    """Every agent's centre (agents, steps, 2) [m], NaN where invalid."""
    tracks = scene.scenario.tracks
    return np.stack([tracks.x, tracks.y], axis=-1)


@register("lane_change", version=5, config=LaneChangeConfig())
def lane_change(scene: Scene, ego: EgoPath, config: LaneChangeConfig) -> list[Tag]:
    """Vehicles (and the ego) moving to an adjacent same-direction lane; steps = [last step in the old
    lane, first step in the new one], value = +1 to the left, -1 to the right."""
    lanes, who = vehicles_and_ego(scene, ego, scene.lanes, ego.lane)
    xy, _ = vehicles_and_ego(scene, ego, agent_positions(scene), ego.xy)
    heading, _ = vehicles_and_ego(scene, ego, scene.heading, ego.yaw)
    found = lane_changes(scene, lanes.astype(np.int64), xy.astype(np.float64), heading, config)
    return tags_from_runs(
        scene.scenario_id,
        "lane_change",
        who,
        Runs(found.rows, found.left_step, found.entered_step),
        found.side.astype(np.float64),
    )


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
    drives (faster than `min_ego_speed` [m/s]); lane changes as `lane_change` finds them."""

    max_gap: float = 30.0
    max_heading: float = float(np.pi / 4.0)
    min_ego_speed: float = 1.0
    lane_change: LaneChangeConfig = LaneChangeConfig()


@register("cut_in", version=7, config=CutInConfig())
def cut_in(scene: Scene, ego: EgoPath, config: CutInConfig) -> list[Tag]:
    """Other vehicles cutting in ahead of the ego; steps = the lane change, value = gap [m] on entry."""
    rows = np.flatnonzero(scene.is_vehicle & scene.others(ego))
    xy = agent_positions(scene)[rows]
    found = lane_changes(scene, scene.lanes[rows], xy, scene.heading[rows], config.lane_change)
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
        turned = abs(float(angle_diff(scene.heading[row, entered], ego.yaw[entered])))
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
            tags.append(
                Tag(
                    scene.scenario_id,
                    "cut_in",
                    agent,
                    int(left),
                    int(entered),
                    float(entry_gap),
                    ego.agent_id,
                )
            )
    return tags


@dataclass(frozen=True)
class StoppedVehicleConfig:
    """A vehicle slower than `max_speed` [m/s] for at least `min_duration` [s], in a driving lane of the
    ego's path, with a bumper gap ahead of the ego in [0, `max_distance`] [m], at some step of which
    the ego drives (faster than `min_ego_speed` [m/s]: it approaches or passes; a parked ego, such
    as an inD problem cut from a parked car, has nothing to react to).

    Lanes come from `Scene.lanes`, where a standing vehicle keeps its last moving heading (highD
    records noise headings at standstill, which split one stop into many short runs)."""

    max_speed: float = 0.5
    min_duration: float = 2.0
    max_distance: float = 100.0
    min_ego_speed: float = 1.0


@register("stopped_vehicle_in_lane", version=4, config=StoppedVehicleConfig())
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
    driving = np.pad(np.cumsum(np.abs(np.nan_to_num(ego.smoothed_speed)) > config.min_ego_speed), (1, 0))
    found = found.select(driving[found.ends + 1] > driving[found.starts])
    values = reduce_runs(gap, found, np.minimum)
    ids = scene.scenario.tracks.ids
    return tags_from_runs(scene.scenario_id, "stopped_vehicle_in_lane", ids, found, values, ego.agent_id)
