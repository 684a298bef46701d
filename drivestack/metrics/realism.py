"""How much the simulated agents of one run behave like their recording (after the Waymo Sim Agents
challenge, adapted to one rollout).

Waymo scores 32 rollouts per scenario by the likelihood of the logged behaviour under each agent's
simulated distribution; a closed-loop run here is one deterministic rollout, so the agents are
compared with their own recording directly, over the agent-steps both hold (`compared`: simulated
and recorded present, at the run's steps). Every measure is mode-agnostic: it reads only the
`RunRecord`'s agents and the scenario's recording, so `log` runs are the reference (no displacement,
no new collision, zero distribution distance; off-road steps and red-light crossings equal the
recording's own, stored beside them as `*_log`).

- Moving agents: recorded within the compared steps at least `moving_distance` (1 m) from where the
  comparison starts (IDM's own threshold for "a vehicle that moves"); standing agents are left out
  of ADE/FDE and the kinematic distributions, where they would only dilute the differences.
- ADE / FDE [m]: per moving agent, the mean / last centre distance simulated-to-recorded over its
  compared steps; averaged over the moving agents (each agent weighs the same, as in motion
  forecasting).
- Agent-agent collisions: pairs of agents whose simulated boxes overlap at some step, leaving out
  the pairs whose recorded boxes overlap at any step of the run (annotated boxes overlap in real
  data: queued cars, a tracker's size estimate; such a pair would overlap in any simulation that
  keeps them near their recording). Rate = agents in at least one new pair / agents present.
- Off-road [fraction of agent-steps]: moving vehicles (not parked, not VRUs) with a box corner at
  least `MetricsConfig.max_outside_distance` (0.3 m, the ego's drivable-area threshold) outside the
  drivable area (`drivable.drivable_area`, the union of driving lanes), simulated and recorded.
- Red-light violations [count]: a moving vehicle's centre crossing a stop line in its lane's
  direction between two steps while every light of the line shows red (or red-yellow) at the first
  of them. A line is the lane's `stop_line` where the map gives its ends, else the lane's end
  (CommonRoad's convention for a lane that references a light). A turn permitted on red (SinD's
  right turns) counts too: the recording's own count (`*_log`) is the reference it is read against.
- Distribution distances: Wasserstein-1 (`scipy.stats.wasserstein_distance`) between the simulated
  and the recorded samples, pooled over the moving agents' compared steps, of speed [m/s],
  longitudinal acceleration [m/s2] and jerk [m/s3] (finite differences of the positions, the same
  estimator on both sides, so a replay is exactly 0), and of the time headway [s] of vehicles
  moving at least `min_headway_speed` to the nearest vehicle ahead in their lane (bumper gap /
  speed, leader within `headway_range`). Why W1: it is in the quantity's own unit (how far, on
  average, the simulated values must move to match the recorded ones), needs no binning and stays
  finite when the supports do not overlap (KL and Jensen-Shannon on histograms need bins and
  saturate; Waymo's histogram likelihoods need many rollouts). NaN when a side has no sample.

Cost: O(agent-steps) array work plus a KD-tree search for nearby pairs (`scipy.spatial.cKDTree`,
one step's agents at a time in chunks of at most `max_points` points), and one STRtree query of the
motion segments against the stop lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from scipy.stats import wasserstein_distance

from drivestack.core.errors import InputError
from drivestack.core.geometry import box_corners, boxes_overlap
from drivestack.core.record import RunRecord
from drivestack.core.scenario import AgentType, LightColor, Scenario, Tracks
from drivestack.metrics.config import DEFAULT_CONFIG as METRICS_DEFAULTS
from drivestack.metrics.drivable import outside_distance
from drivestack.metrics.lanes import map_geometry

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_STOP_COLORS = (LightColor.RED, LightColor.RED_YELLOW)


@dataclass(frozen=True)
class RealismConfig:
    """Thresholds of the realism metrics (see the module docstring): `moving_distance` [m],
    `max_outside_distance` [m] (off-road corner), `min_headway_speed` [m/s], `headway_range` [m]
    (farthest leader centre), `max_points` (agent-steps per KD-tree chunk)."""

    moving_distance: float = 1.0
    max_outside_distance: float = METRICS_DEFAULTS.max_outside_distance
    min_headway_speed: float = 1.0
    headway_range: float = 100.0
    max_points: int = 200_000


DEFAULT_REALISM = RealismConfig()


@dataclass(frozen=True)
class RealismMetrics:
    """The realism of one run's agents (result columns of the same names; units in the names).

    `realism_agents` agents present in the run; `realism_moving` of them moving (ADE/FDE, kinematics);
    `realism_vehicle_steps` compared agent-steps of moving vehicles (off-road, red lights);
    `realism_ade_m` / `realism_fde_m` [m]; `realism_collisions` new colliding pairs and
    `realism_collision_rate` the fraction of agents in one; `realism_offroad_rate` (and `_log`, the
    recording's) fraction of moving-vehicle agent-steps off the road; `realism_red_lights` (and
    `_log`) red-light crossings; `realism_speed_w1_mps`, `realism_accel_w1_mps2`,
    `realism_jerk_w1_mps3`, `realism_headway_w1_s` Wasserstein-1 distances. NaN: not measurable
    (no moving agent, no sample).
    """

    realism_agents: int
    realism_moving: int
    realism_vehicle_steps: int
    realism_ade_m: float
    realism_fde_m: float
    realism_collisions: int
    realism_collision_rate: float
    realism_offroad_rate: float
    realism_offroad_rate_log: float
    realism_red_lights: int
    realism_red_lights_log: int
    realism_speed_w1_mps: float
    realism_accel_w1_mps2: float
    realism_jerk_w1_mps3: float
    realism_headway_w1_s: float


@dataclass(frozen=True, eq=False)
class AgentPoses:
    """Agents' poses on a run's steps, (A, T): centre [m], yaw [rad], `valid`."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    valid: BoolArray


@dataclass(frozen=True, eq=False)
class StopLines:
    """S stop lines: ends `start`, `end` (S, 2) [m], the unit driving direction across them
    `direction` (S, 2), and `red` (S, T) True where every light of the line stops traffic."""

    start: FloatArray
    end: FloatArray
    direction: FloatArray
    red: BoolArray


def recorded_poses(scenario: Scenario, record: RunRecord) -> AgentPoses:
    """The recording of the record's agents at the run's steps (absent beyond the recording's end).

    InputError when the record's agents are not the scenario's (another scenario's run)."""
    tracks, agents = scenario.tracks, record.agents
    if agents.num_agents != tracks.num_agents or not np.array_equal(agents.ids, tracks.ids):
        raise InputError(
            None,
            f"run record {record.scenario_id} / problem {record.planning_problem_id}",
            f"its {agents.num_agents} agents are not the scenario's {tracks.num_agents}",
        )
    inside = (record.steps >= 0) & (record.steps < tracks.num_steps)
    columns = np.clip(record.steps, 0, tracks.num_steps - 1)
    return AgentPoses(
        tracks.x[:, columns], tracks.y[:, columns], tracks.yaw[:, columns], tracks.valid[:, columns] & inside
    )


def simulated_poses(record: RunRecord) -> AgentPoses:
    """The record's simulated agents as poses."""
    agents = record.agents
    return AgentPoses(agents.x, agents.y, agents.yaw, agents.valid)


def moving_agents(poses: AgentPoses, compared: BoolArray, distance: float) -> BoolArray:
    """(A,) True for agents that get `distance` [m] or farther from their first compared position."""
    first = np.argmax(compared, axis=1)
    rows = np.arange(len(first))
    reach = np.hypot(poses.x - poses.x[rows, first][:, None], poses.y - poses.y[rows, first][:, None])
    return np.asarray((np.where(compared, reach, 0.0) >= distance).any(axis=1))


def displacement_errors(
    simulated: AgentPoses, recorded: AgentPoses, compared: BoolArray, agents: BoolArray
) -> tuple[float, float]:
    """(ADE, FDE) [m] over `agents` (A,): per agent the mean and last simulated-to-recorded centre
    distance over its `compared` (A, T) steps, then the mean over agents; NaN without agents."""
    rows = np.flatnonzero(agents & compared.any(axis=1))
    if len(rows) == 0:
        return float("nan"), float("nan")
    mask = compared[rows]
    gap = np.hypot(simulated.x[rows] - recorded.x[rows], simulated.y[rows] - recorded.y[rows])
    gap = np.where(mask, gap, 0.0)
    mean = gap.sum(axis=1) / mask.sum(axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    return float(mean.mean()), float(gap[np.arange(len(rows)), last].mean())


def kinematics(poses: AgentPoses, mask: BoolArray, dt: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Speed [m/s], acceleration [m/s2] and jerk [m/s3], (A, T - 1), (A, T - 2), (A, T - 3), as
    successive finite differences of the positions over consecutive `mask` (A, T) steps; NaN elsewhere."""
    step = np.hypot(np.diff(poses.x, axis=1), np.diff(poses.y, axis=1)) / dt
    speed = np.where(mask[:, 1:] & mask[:, :-1], step, np.nan)
    accel = np.diff(speed, axis=1) / dt
    return speed, accel, np.diff(accel, axis=1) / dt


def distribution_distance(simulated: FloatArray, recorded: FloatArray) -> float:
    """Wasserstein-1 distance between two samples (their finite values), in their unit; NaN when a
    side has none."""
    a, b = simulated[np.isfinite(simulated)], recorded[np.isfinite(recorded)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(wasserstein_distance(a, b))


def near_pairs(poses: AgentPoses, mask: BoolArray, radius: float, max_points: int) -> tuple[IntArray, ...]:
    """Every (i, j, t), i < j, of agents both in `mask` (A, T) at step t with centres at most
    `radius` [m] apart: a KD-tree over (x, y, t * spacing), so points of different steps are never
    within reach, built on chunks of whole steps holding at most `max_points` points."""
    steps, agents = np.nonzero(mask.T)  # step-major order
    if len(agents) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    boundaries = np.concatenate([[0], np.cumsum(np.bincount(steps, minlength=mask.shape[1]))])
    spacing = 2.0 * radius + 1.0
    found: list[IntArray] = []
    start = 0
    while start < len(agents):
        stop = int(boundaries[np.searchsorted(boundaries, start + max_points, side="right") - 1])
        if stop <= start:  # one step holds more than max_points: it is a chunk of its own
            stop = int(boundaries[np.searchsorted(boundaries, start, side="right")])
        chunk = slice(start, stop)
        points = np.column_stack(
            [
                poses.x[agents[chunk], steps[chunk]],
                poses.y[agents[chunk], steps[chunk]],
                steps[chunk] * spacing,
            ]
        )
        pairs = cKDTree(points).query_pairs(radius, output_type="ndarray").astype(np.int64) + start
        found.append(pairs.reshape(-1, 2))
        start = stop
    pairs = np.concatenate(found)
    i, j = agents[pairs[:, 0]], agents[pairs[:, 1]]
    return np.minimum(i, j), np.maximum(i, j), steps[pairs[:, 0]]


def colliding_pairs(poses: AgentPoses, mask: BoolArray, tracks: Tracks, max_points: int) -> IntArray:
    """The distinct agent pairs (P, 2), i < j, whose boxes overlap at some `mask` (A, T) step."""
    if tracks.num_agents < 2:
        return np.zeros((0, 2), dtype=np.int64)
    reach = 0.5 * np.hypot(tracks.length, tracks.width)
    i, j, t = near_pairs(poses, mask, 2.0 * float(reach.max()), max_points)
    close = np.hypot(poses.x[i, t] - poses.x[j, t], poses.y[i, t] - poses.y[j, t]) <= reach[i] + reach[j]
    i, j, t = i[close], j[close], t[close]

    def corners(rows: IntArray) -> FloatArray:
        return box_corners(
            poses.x[rows, t], poses.y[rows, t], poses.yaw[rows, t], tracks.length[rows], tracks.width[rows]
        )

    hit = boxes_overlap(corners(i), corners(j))
    return np.unique(np.column_stack([i[hit], j[hit]]), axis=0).reshape(-1, 2)


def offroad_steps(
    poses: AgentPoses, mask: BoolArray, tracks: Tracks, area: shapely.Geometry, threshold: float
) -> int:
    """Number of `mask` (A, T) agent-steps with a box corner `threshold` [m] or more outside `area`."""
    rows, steps = np.nonzero(mask)
    corners = box_corners(
        poses.x[rows, steps],
        poses.y[rows, steps],
        poses.yaw[rows, steps],
        tracks.length[rows],
        tracks.width[rows],
    )
    return int((outside_distance(area, corners).max(axis=1, initial=0.0) >= threshold).sum())


def stop_lines(scenario: Scenario, steps: IntArray) -> StopLines:
    """The scenario's stop lines controlled by its lights and their red state at `steps` (T,)."""
    graph, lights = scenario.lane_graph, {light.id: light for light in scenario.traffic_lights}
    index = map_geometry(graph).index
    starts, ends, middles, lanes, red = [], [], [], [], []
    for lane in graph.lanes.values():
        line = lane.stop_line
        known = [
            i
            for i in sorted(set(lane.traffic_light_ids) | set(line.traffic_light_ids if line else ()))
            if i in lights
        ]
        if not known:
            continue
        if line is not None and line.start is not None and line.end is not None:
            a, b = np.asarray(line.start, dtype=np.float64), np.asarray(line.end, dtype=np.float64)
        else:
            a, b = lane.left[-1].astype(np.float64), lane.right[-1].astype(np.float64)
        colors = [lights[i].colors_at(steps) for i in known]
        red.append(np.array([[c in _STOP_COLORS for c in row] for row in colors]).all(axis=0))
        starts.append(a)
        ends.append(b)
        middles.append(0.5 * (a + b))
        lanes.append(lane.id)
    if not starts:
        none = np.zeros((0, 2))
        return StopLines(none, none, none, np.zeros((0, len(steps)), dtype=bool))
    _, _, heading = index.project(np.array(lanes, dtype=np.int64), np.array(middles))
    return StopLines(
        np.array(starts), np.array(ends), np.column_stack([np.cos(heading), np.sin(heading)]), np.array(red)
    )


def red_light_crossings(poses: AgentPoses, mask: BoolArray, lines: StopLines) -> int:
    """Number of (agent, step) moves between consecutive `mask` (A, T) steps whose centre crosses a
    stop line forwards (from before it to on or past it) while it is red at the first step."""
    if len(lines.start) == 0:
        return 0
    moves = mask[:, :-1] & mask[:, 1:]
    rows, steps = np.nonzero(moves)
    a = np.column_stack([poses.x[rows, steps], poses.y[rows, steps]])
    b = np.column_stack([poses.x[rows, steps + 1], poses.y[rows, steps + 1]])
    segments = shapely.linestrings(np.stack([a, b], axis=1))
    tree = shapely.STRtree(shapely.linestrings(np.stack([lines.start, lines.end], axis=1)))
    move, line = tree.query(segments, predicate="intersects")
    # half-open: from strictly before the line to on or past it, so touching it at a step counts once
    middle = 0.5 * (lines.start[line] + lines.end[line])
    before = np.einsum("ij,ij->i", a[move] - middle, lines.direction[line]) < 0.0
    after = np.einsum("ij,ij->i", b[move] - middle, lines.direction[line]) >= 0.0
    crossing = move[before & after & lines.red[line, steps[move]]]
    return len(np.unique(crossing))


def headways(
    poses: AgentPoses, mask: BoolArray, speed: FloatArray, tracks: Tracks, config: RealismConfig
) -> FloatArray:
    """Time headways [s] of every (follower, step) in `mask` (A, T) moving at `speed` (A, T - 1)
    [m/s] >= `min_headway_speed` to the nearest agent ahead in `mask` heading the same way (less
    than 90 deg apart) whose box would overlap the follower's if moved beside it: bumper gap / speed."""
    i, j, t = near_pairs(poses, mask, config.headway_range, config.max_points)
    follower, leader, t = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([t, t])
    keep = t < speed.shape[1]
    follower, leader, t = follower[keep], leader[keep], t[keep]
    v = speed[follower, t]
    yaw = poses.yaw[follower, t]
    dx, dy = poses.x[leader, t] - poses.x[follower, t], poses.y[leader, t] - poses.y[follower, t]
    along = np.cos(yaw) * dx + np.sin(yaw) * dy
    across = -np.sin(yaw) * dx + np.cos(yaw) * dy
    gap = along - 0.5 * (tracks.length[follower] + tracks.length[leader])
    same_way = np.cos(poses.yaw[leader, t] - yaw) > 0.0
    ahead = (
        (v >= config.min_headway_speed)
        & (gap > 0.0)
        & (np.abs(across) <= 0.5 * (tracks.width[follower] + tracks.width[leader]))
        & same_way
    )
    if not ahead.any():
        return np.zeros(0)
    key = follower[ahead] * mask.shape[1] + t[ahead]
    headway = gap[ahead] / v[ahead]
    order = np.lexsort((headway, key))
    first = np.concatenate([[True], np.diff(key[order]) != 0])
    return headway[order][first]


def realism_metrics(
    scenario: Scenario, record: RunRecord, config: RealismConfig = DEFAULT_REALISM
) -> RealismMetrics:
    """The realism of the agents of `record`, a run on `scenario`, against their recording (see the
    module docstring). InputError when the record's agents are not the scenario's."""
    tracks, dt = record.agents, float(record.dt)
    simulated, recorded = simulated_poses(record), recorded_poses(scenario, record)
    compared = simulated.valid & recorded.valid
    moving = moving_agents(recorded, compared, config.moving_distance)
    ade, fde = displacement_errors(simulated, recorded, compared, moving)
    present = simulated.valid.any(axis=1)
    new = _new_pairs(
        colliding_pairs(simulated, simulated.valid, tracks, config.max_points),
        colliding_pairs(recorded, recorded.valid, tracks, config.max_points),
        tracks.num_agents,
    )
    vehicles = np.array(
        [kind.is_vehicle and kind is not AgentType.PARKED_VEHICLE for kind in tracks.agent_type], dtype=bool
    )
    driving = compared & (moving & vehicles)[:, None]
    area = map_geometry(scenario.lane_graph).drivable
    agent_steps = int(driving.sum())
    offroad = [
        offroad_steps(poses, driving, tracks, area, config.max_outside_distance) / agent_steps
        if agent_steps
        else float("nan")
        for poses in (simulated, recorded)
    ]
    lines = stop_lines(scenario, record.steps)
    kinematic = compared & moving[:, None]
    sim_kin, rec_kin = kinematics(simulated, kinematic, dt), kinematics(recorded, kinematic, dt)
    headway_mask = compared & vehicles[:, None]
    return RealismMetrics(
        realism_agents=int(present.sum()),
        realism_moving=int(moving.sum()),
        realism_vehicle_steps=agent_steps,
        realism_ade_m=ade,
        realism_fde_m=fde,
        realism_collisions=len(new),
        realism_collision_rate=float(len(np.unique(new)) / present.sum()) if present.any() else float("nan"),
        realism_offroad_rate=offroad[0],
        realism_offroad_rate_log=offroad[1],
        realism_red_lights=red_light_crossings(simulated, driving, lines),
        realism_red_lights_log=red_light_crossings(recorded, driving, lines),
        realism_speed_w1_mps=distribution_distance(sim_kin[0], rec_kin[0]),
        realism_accel_w1_mps2=distribution_distance(sim_kin[1], rec_kin[1]),
        realism_jerk_w1_mps3=distribution_distance(sim_kin[2], rec_kin[2]),
        realism_headway_w1_s=distribution_distance(
            headways(simulated, headway_mask, sim_kin[0], tracks, config),
            headways(recorded, headway_mask, rec_kin[0], tracks, config),
        ),
    )


def _new_pairs(simulated: IntArray, recorded: IntArray, count: int) -> IntArray:
    """The pairs (P, 2) of `simulated` that are not among `recorded` (agents numbered below `count`)."""
    seen = recorded[:, 0] * count + recorded[:, 1]
    return simulated[~np.isin(simulated[:, 0] * count + simulated[:, 1], seen)]
