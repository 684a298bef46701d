"""Planning problems cut from a recorded log: the self-driving car's own track becomes the ego.

Logged datasets (WOMD, ScenarioNet, Argoverse 2) record the self-driving car among the other
tracks and mark a "current" step (the present of a prediction task). `problem_from_track` turns
that track into what a CommonRoad scenario with a solution file holds: a `PlanningProblem` whose
initial state is the track's state at the current step, and a `RecordedEgo` (the human reference)
with the track from there to its last valid step. The reader then removes the track from the
traffic (`drop_agent`), as CommonRoad's recorded humans are not among its obstacles.

The goal is where the recorded car ended: a rectangle oriented along the lane it is on there (its
own heading off the lanes), as wide as that lane (`GoalConfig.off_lane_width` off the lanes),
reaching `GoalConfig.length` / 2 ahead of its last position and back along that direction to
where it was `GoalConfig.time_slack` before its end (at least `GoalConfig.length` / 2); its
orientation within `GoalConfig.heading_tolerance` of that direction; its time window from the
current step to `GoalConfig.time_slack` after the car's last step. A log's other agents end with
the recording, which is where a run ends (`sim.runner.end_step`): so that a planner up to
`time_slack` slower than the human still reaches the goal, the slack is in the region (the human
enters it `time_slack` before its end, or 5 m before when it drove slower than 2.5 m/s), not only
in the time window after the recording. A car that never leaves its goal region (it stood still)
holds its goal already at the start: such runs go on to the end of the recording, and the metrics
report it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.errors import InputError
from drivestack.core.geometry import angle_diff, wrap_angle
from drivestack.core.limits import DEFAULT_READER_LIMITS
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import (
    DEFAULT_VEHICLE_TYPE,
    VEHICLE_DIMENSIONS,
    AgentType,
    Goal,
    GoalState,
    Interval,
    PlanningProblem,
    RecordedEgo,
    Shape,
    ShapeKind,
    Tracks,
    Trajectory,
)

FloatArray = NDArray[np.float64]
MAX_COORDINATE = DEFAULT_READER_LIMITS.max_coordinate
"""Largest position [m] a log may hold; steps beyond it (or not finite) are invalid."""
MIN_TIME_STEP = DEFAULT_READER_LIMITS.min_time_step_size
MAX_TIME_STEP = DEFAULT_READER_LIMITS.max_time_step_size
"""Bounds [s] of a log's time step."""
_PER_AGENT_FIELDS = ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate", "valid")


@dataclass(frozen=True)
class GoalConfig:
    """The goal cut from a log: region at least `length` [m] along the lane (from where the car was
    `time_slack` [s] before its end to `length` / 2 past it), at least `min_width` [m] wide
    (`off_lane_width` [m] where the car ends on no lane), orientation within `heading_tolerance`
    [rad] of the lane's direction, reachable until `time_slack` [s] after the car's last step."""

    length: float = 10.0
    min_width: float = 2.5
    off_lane_width: float = 4.0
    heading_tolerance: float = np.pi / 4.0
    time_slack: float = 2.0


def log_tracks(
    ids: NDArray[np.int64],
    agent_type: tuple[AgentType, ...],
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    vx: FloatArray,
    vy: FloatArray,
    length: FloatArray,
    width: FloatArray,
    valid: NDArray[np.bool_],
    dt: float,
) -> Tracks:
    """`Tracks` from a log's per-step arrays, each (agents, steps): positions [m], yaw [rad],
    world-frame velocity [m/s], box size [m]. Non-finite poses are invalid steps; the speed is the
    velocity along the heading; acceleration [m/s2] and yaw rate [rad/s] are finite differences
    over consecutive valid steps; each agent's size is the median of its valid steps."""
    valid = valid & (np.abs(x) <= MAX_COORDINATE) & (np.abs(y) <= MAX_COORDINATE) & np.isfinite(yaw)
    yaw = np.where(valid, np.asarray(wrap_angle(np.where(valid, yaw, 0.0)), dtype=np.float64), np.nan)
    vx, vy = (np.where(valid, np.nan_to_num(v), np.nan) for v in (vx, vy))
    speed = np.cos(yaw) * vx + np.sin(yaw) * vy
    sizes = [np.where(valid & np.isfinite(v) & (v > 0), v, np.nan) for v in (length, width)]
    with np.errstate(all="ignore"):
        median_length, median_width = (
            np.nan_to_num(np.nanmedian(v, axis=1), nan=0.0) if v.shape[1] else np.zeros(len(v)) for v in sizes
        )
    shapes = tuple(
        Shape(ShapeKind.RECTANGLE, length=float(a), width=float(b))
        for a, b in zip(median_length, median_width, strict=True)
    )
    return Tracks(
        ids=np.asarray(ids, dtype=np.int64),
        agent_type=agent_type,
        x=np.where(valid, x, np.nan),
        y=np.where(valid, y, np.nan),
        yaw=yaw,
        speed=speed,
        vx=vx,
        vy=vy,
        acceleration=step_rate(speed, valid, dt, angular=False),
        yaw_rate=step_rate(yaw, valid, dt, angular=True),
        valid=valid,
        length=median_length,
        width=median_width,
        shapes=shapes,
    )


def step_rate(values: FloatArray, valid: NDArray[np.bool_], dt: float, angular: bool) -> FloatArray:
    """Per-step rate of change (agents, steps) [1/s]: the mean of the backward and forward
    differences to valid neighbouring steps (0 for a lone step, NaN where invalid)."""
    step = np.diff(values, axis=1)
    if angular:
        step = np.asarray(angle_diff(values[:, 1:], values[:, :-1]), dtype=np.float64)
    pair = valid[:, 1:] & valid[:, :-1]
    step = np.where(pair, step / dt, 0.0)
    total = np.zeros_like(values)
    count = np.zeros(values.shape)
    total[:, 1:] += step
    total[:, :-1] += step
    count[:, 1:] += pair
    count[:, :-1] += pair
    return np.where(valid, total / np.maximum(count, 1.0), np.nan)


def problem_from_track(
    tracks: Tracks,
    row: int,
    current_step: int,
    lane_graph: LaneGraph,
    dt: float,
    problem_id: int = 1,
    source: str | Path = "",
    config: GoalConfig = GoalConfig(),
) -> tuple[PlanningProblem, RecordedEgo]:
    """The planning problem and recorded human of the track at `row` of `tracks`, from `current_step`.

    The track must be valid at `current_step`; its later steps up to its last valid one become the
    reference trajectory (gaps in between interpolated linearly, yaw along the shorter arc).
    Raises InputError naming `source` and the track otherwise.
    """
    element = f"track {int(tracks.ids[row])}"
    if not 0 <= current_step < tracks.num_steps or not tracks.valid[row, current_step]:
        raise InputError(
            source or None, element, f"the ego is not recorded at its current step {current_step}"
        )
    trajectory = _recorded_trajectory(tracks, row, current_step, dt)
    initial = dataclasses.replace(
        trajectory.state(0), acceleration=float(_finite(tracks.acceleration[row, current_step]))
    )
    window = Interval(current_step, int(trajectory.steps[-1]) + round(config.time_slack / dt))
    goal = _goal_at(lane_graph, trajectory, window, config)
    problem = PlanningProblem(id=problem_id, initial=initial, goal=Goal(states=(goal,)))
    recorded = RecordedEgo(
        planning_problem_id=problem_id,
        trajectory=trajectory,
        vehicle_model="KS",
        vehicle_type=_nearest_vehicle_type(float(tracks.length[row]), float(tracks.width[row])),
        cost_function="",
        source_file=str(source),
    )
    return problem, recorded


def drop_agent(tracks: Tracks, row: int) -> Tracks:
    """`tracks` without the agent at `row` (the recorded ego leaves the traffic)."""
    keep = np.arange(tracks.num_agents) != row
    fields = {name: getattr(tracks, name)[keep] for name in _PER_AGENT_FIELDS}
    return dataclasses.replace(
        tracks,
        ids=tracks.ids[keep],
        agent_type=tuple(kind for i, kind in enumerate(tracks.agent_type) if i != row),
        length=tracks.length[keep],
        width=tracks.width[keep],
        shapes=tuple(shape for i, shape in enumerate(tracks.shapes) if i != row),
        **fields,
    )


def _finite(value: float) -> float:
    """`value`, or 0 where it is NaN."""
    return float(value) if np.isfinite(value) else 0.0


def _recorded_trajectory(tracks: Tracks, row: int, current_step: int, dt: float) -> Trajectory:
    """The track from `current_step` to its last valid step, (T,) arrays; gaps interpolated."""
    valid = tracks.valid[row]
    last = int(np.flatnonzero(valid)[-1])
    steps = np.arange(current_step, last + 1, dtype=np.int64)
    known = np.flatnonzero(valid[current_step : last + 1]) + current_step
    yaw = np.unwrap(tracks.yaw[row, known])

    def filled(values: np.ndarray) -> np.ndarray:
        return np.interp(steps, known, values)

    return Trajectory(
        steps=steps,
        x=filled(tracks.x[row, known]),
        y=filled(tracks.y[row, known]),
        yaw=np.asarray(wrap_angle(filled(yaw)), dtype=np.float64),
        speed=filled(tracks.speed[row, known]),
        dt=dt,
    )


def _goal_at(lane_graph: LaneGraph, trajectory: Trajectory, time: Interval, config: GoalConfig) -> GoalState:
    """A goal region around the trajectory's last position, along the lane there that best fits its
    last heading, reaching back along that direction to where the car was `config.time_slack`
    before its end (at least `config.length` / 2 behind and ahead of the end)."""
    x, y, yaw = float(trajectory.x[-1]), float(trajectory.y[-1]), float(trajectory.yaw[-1])
    heading, width = yaw, config.off_lane_width
    found = _lane_frame(lane_graph, x, y, yaw)
    if found is not None:
        heading, lane_width = found
        width = max(config.min_width, lane_width)
    direction = np.array([np.cos(heading), np.sin(heading)])
    tail = trajectory.steps >= trajectory.steps[-1] - round(config.time_slack / trajectory.dt)
    along = (trajectory.x[tail] - x) * direction[0] + (trajectory.y[tail] - y) * direction[1]
    front, back = 0.5 * config.length, min(float(along.min()), -0.5 * config.length)
    center = np.array([x, y]) + 0.5 * (front + back) * direction
    region = Shape(
        kind=ShapeKind.RECTANGLE,
        length=front - back,
        width=width,
        center=(float(center[0]), float(center[1])),
        orientation=heading,
    )
    tolerance = config.heading_tolerance
    return GoalState(
        time=time,
        regions=(region,),
        orientation=Interval(heading - tolerance, heading + tolerance),
    )


def _lane_frame(lane_graph: LaneGraph, x: float, y: float, yaw: float) -> tuple[float, float] | None:
    """(heading [rad], width [m]) of the lane holding (x, y) whose direction is closest to `yaw`
    (within 60 degrees), or None. Only lanes whose bounding box holds the point are examined."""
    point = shapely.Point(x, y)
    best: tuple[float, float, float] | None = None  # (heading error, heading, width)
    for lane in lane_graph.lanes.values():
        ring = lane.polygon()
        low, high = ring.min(axis=0), ring.max(axis=0)
        if not (low[0] <= x <= high[0] and low[1] <= y <= high[1]) or len(lane.center) < 2:
            continue
        if not shapely.Polygon(ring).buffer(0).intersects(point):
            continue
        center = shapely.LineString(lane.center)
        s = center.project(point)
        ahead = center.interpolate(min(s + 0.5, center.length))
        behind = center.interpolate(max(s - 0.5, 0.0))
        heading = float(np.arctan2(ahead.y - behind.y, ahead.x - behind.x))
        error = abs(float(angle_diff(yaw, heading)))
        if error > np.pi / 3.0 or (best is not None and error >= best[0]):
            continue
        foot = center.interpolate(s)
        width = shapely.LineString(lane.left).distance(foot) + shapely.LineString(lane.right).distance(foot)
        best = (error, heading, float(width))
    return None if best is None else (best[1], best[2])


def _nearest_vehicle_type(length: float, width: float) -> int:
    """The CommonRoad vehicle type (1-3) whose (length, width) [m] is closest to the recorded car's."""
    if not (np.isfinite(length) and np.isfinite(width)) or length <= 0 or width <= 0:
        return DEFAULT_VEHICLE_TYPE
    return min(
        VEHICLE_DIMENSIONS,
        key=lambda kind: np.hypot(VEHICLE_DIMENSIONS[kind][0] - length, VEHICLE_DIMENSIONS[kind][1] - width),
    )
