"""What detectors read: a scenario with its shared derived arrays (computed once), and its egos.

`Scene` wraps a `Scenario` and lazily derives what several detectors need (the map index, each
vehicle's lane at each step, smoothed speed and acceleration), so running eleven detectors costs one
lane assignment, not eleven. `EgoPath` is one planning problem's vehicle on the scenario's grid.

The ego: the planning problem's recorded (human) trajectory where a solution file provides one.
Some datasets build planning problems from recorded vehicles and keep those vehicles among the
agents (all of MONA's, most of inD's: an agent sits exactly at the initial state): without a
solution, that twin agent's track is the ego's recorded drive. Otherwise the ego is known only at
its initial state: it is valid at that single step, and its path ahead is its initial lane plus
the lanes downstream of it within `path_lookahead`. Nothing is extrapolated, so a scenario
without a recorded ego yields fewer findings, never invented ones. A twin is never counted as
traffic around its own ego (`Scene.others`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.signal import savgol_filter

from drivestack.core.facts import HEADING_SPEED, fill_invalid, held_heading, motion_time_step, twin_row
from drivestack.core.scenario import EgoState, PlanningProblem, RecordedEgo, Scenario, vehicle_dimensions
from drivestack.data.tags import Tag
from drivestack.maps.index import MapIndex, points_in

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Item = TypeVar("Item", bound=np.generic)
_ENTRY_TOLERANCE = 0.5  # [m] an intersection entry this close to the junction area is on it


@dataclass(frozen=True)
class SceneConfig:
    """Shared derivations: `smoothing_window` [s] of the Savitzky-Golay filter (quadratic) applied to
    speeds before differentiating, spanning at least `min_window_samples` steps; `path_lookahead`
    [m] of lanes ahead of an ego known only at its initial state; an agent within `twin_distance`
    [m] and `twin_heading` [rad] of the ego's first known state is the ego itself (its twin);
    below `heading_speed` [m/s] a recorded heading is not trusted (`held_heading`); parts of an
    unmarked map's crossing area smaller than `min_junction_area` [m2] are no junction.

    1.5 s suits the recorded data: NGSIM's speeds jump by metres per second between 0.1 s steps, and
    with a 1 s window 14% of its vehicles would brake harder than 3 m/s2 for 0.3 s (4% with 1.5 s
    and 0.5 s); on highD, exiD and MONA, whose speeds are smooth, the window changes little. On a
    coarse grid (SinD moves its agents every 0.5 s) 1.5 s would be 3 samples, which a quadratic
    reproduces exactly: 5 samples is the shortest window that smooths at all.

    Two lanes crossing fully overlap by at least a lane width squared (about 9 m2) and a junction
    holds several such crossings (NGSIM's Peachtree and Lankershim junctions: 80 and 416 m2); an
    isolated overlap of 5 m2 is two motorway lanes grazing where they were drawn a little too wide.
    """

    smoothing_window: float = 1.5
    min_window_samples: int = 5
    path_lookahead: float = 50.0
    twin_distance: float = 0.5
    twin_heading: float = 0.3
    heading_speed: float = HEADING_SPEED
    min_junction_area: float = 20.0


@dataclass(frozen=True, eq=False)
class EgoPath:
    """One planning problem's ego on the scenario grid: arrays of shape (steps,), NaN where not `valid`.

    `agent_id` is the planning problem id (tags about the ego carry it); `source` is "recorded"
    (solution trajectory), "agent" (the track of its twin agent) or "initial" (initial state only).
    Pose of the vehicle centre x, y [m], yaw [rad] (held where the ego stands, `held_heading`);
    `speed` [m/s] as recorded, `smoothed_speed`
    [m/s] and `acceleration` [m/s2] smoothed like the agents'; `lane` (steps,) the assigned lane id
    (-1 none) and `s` [m] the arc length along it; `path_lanes` every lane the ego drives on (known
    drive) or its initial lane and the lanes downstream of it (initial only); `twin` is
    the row of the agent that is the ego itself in the tracks (-1 for none).
    """

    agent_id: int
    source: str
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    smoothed_speed: FloatArray
    acceleration: FloatArray
    valid: BoolArray
    length: float
    width: float
    lane: IntArray
    s: FloatArray
    path_lanes: frozenset[int]
    twin: int = -1

    @property
    def xy(self) -> FloatArray:
        """Positions (steps, 2) [m]."""
        return np.stack([self.x, self.y], axis=-1)


class Scene:
    """A scenario plus the derived arrays detectors share, each computed on first use.

    Per-agent arrays have the tracks' shape (agents, steps); lanes are assigned to vehicles only
    (other road users get -1). `egos` holds one `EgoPath` per planning problem.
    """

    def __init__(self, scenario: Scenario, config: SceneConfig = SceneConfig()) -> None:
        self.scenario = scenario
        self.config = config

    @property
    def scenario_id(self) -> str:
        """The scenario's id (tags carry it)."""
        return self.scenario.scenario_id

    @cached_property
    def dt(self) -> float:
        """Time step [s] of the recorded motion (`motion_time_step`), used for durations and derivatives."""
        return motion_time_step(self.scenario)

    def steps_for(self, seconds: float) -> int:
        """Number of steps (>= 1) covering `seconds` [s] on this scenario's grid."""
        return max(1, round(seconds / self.dt))

    @cached_property
    def map(self) -> MapIndex:
        """Spatial index over the scenario's lane graph."""
        return MapIndex(self.scenario.lane_graph)

    @cached_property
    def is_vehicle(self) -> BoolArray:
        """(agents,) True for motorised vehicles (cars, trucks, buses, motorcycles, ...)."""
        return np.array([kind.is_vehicle for kind in self.scenario.tracks.agent_type], dtype=bool)

    @cached_property
    def is_vulnerable(self) -> BoolArray:
        """(agents,) True for pedestrians, bicycles and motorcycles."""
        return np.array([kind.is_vulnerable for kind in self.scenario.tracks.agent_type], dtype=bool)

    def smooth(self, values: FloatArray, valid: BoolArray, derivative: int = 0) -> FloatArray:
        """`smooth` of `values` (N, steps) with this scene's time step and window (or its `derivative`)."""
        config = self.config
        return smooth(values, valid, self.dt, config.smoothing_window, derivative, config.min_window_samples)

    @cached_property
    def speed(self) -> FloatArray:
        """(agents, steps) speed along the heading [m/s], smoothed; NaN where invalid."""
        tracks = self.scenario.tracks
        return self.smooth(tracks.speed, tracks.valid)

    @cached_property
    def acceleration(self) -> FloatArray:
        """(agents, steps) acceleration [m/s2] along the heading, from the smoothed speed; NaN if invalid."""
        tracks = self.scenario.tracks
        return self.smooth(tracks.speed, tracks.valid, derivative=1)

    @cached_property
    def heading(self) -> FloatArray:
        """(agents, steps) heading [rad], held at its last moving value at standstill (`held_heading`)."""
        tracks = self.scenario.tracks
        return held_heading(tracks.yaw, tracks.speed, tracks.valid, self.config.heading_speed)

    @cached_property
    def lanes(self) -> IntArray:
        """(agents, steps) lane id of each vehicle at each valid step, -1 else: the heading-aware best
        lane (`heading`), or for a vehicle that never moves (its heading is noise) the nearest lane."""
        tracks = self.scenario.tracks
        wanted = tracks.valid & self.is_vehicle[:, None]
        still = ~np.any(wanted & (np.abs(np.nan_to_num(tracks.speed)) >= self.config.heading_speed), axis=1)
        lanes = np.full(tracks.valid.shape, -1, dtype=np.int64)
        for rows, use_heading in ((wanted & ~still[:, None], True), (wanted & still[:, None], False)):
            xy = np.stack([tracks.x[rows], tracks.y[rows]], axis=-1)
            lanes[rows] = self.map.assign(xy, self.heading[rows] if use_heading else None)
        return lanes

    @cached_property
    def junction_area(self) -> shapely.Geometry:
        """Where traffic streams cross (`MapIndex.intersection_area`); on maps that mark no intersection
        lanes, only its parts of at least `min_junction_area` (see `SceneConfig`)."""
        area = self.map.intersection_area
        if self.map.intersection_lanes:
            return area
        parts = shapely.get_parts(area)
        junction = shapely.union_all(parts[shapely.area(parts) >= self.config.min_junction_area])
        shapely.prepare(junction)
        return junction

    def in_junction(self, xy: FloatArray) -> BoolArray:
        """Whether points xy (N, 2) [m] lie in the `junction_area` (non-finite points: False)."""
        return points_in(self.junction_area, xy)

    @cached_property
    def junction_entries(self) -> tuple[tuple[int, float], ...]:
        """(lane id, arc length [m]) where traffic enters the `junction_area`: the map's intersection
        entries (`MapIndex.intersection_entries`) that lie on it."""
        entries = self.map.intersection_entries
        if not entries or self.map.intersection_lanes:
            return entries
        rows = self.map.rows(np.array([lane for lane, _ in entries], dtype=np.int64))
        points = shapely.line_interpolate_point(self.map.centerlines[rows], [s for _, s in entries])
        kept = shapely.dwithin(self.junction_area, points, _ENTRY_TOLERANCE)
        return tuple(entry for entry, keep in zip(entries, kept.tolist(), strict=True) if keep)

    @cached_property
    def egos(self) -> tuple[EgoPath, ...]:
        """One ego per planning problem, recorded where a solution exists (see the module docstring)."""
        return tuple(
            self._ego(problem, self.scenario.recorded_ego(problem.id))
            for problem in self.scenario.planning_problems
        )

    def _ego(self, problem: PlanningProblem, recorded: RecordedEgo | None) -> EgoPath:
        """The `EgoPath` of one planning problem (see the module docstring for its sources)."""
        num_steps = self.scenario.num_steps
        tracks = self.scenario.tracks
        x, y, yaw, speed = (np.full(num_steps, np.nan) for _ in range(4))
        state = problem.initial
        if recorded is not None and len(recorded.trajectory):
            trajectory = recorded.trajectory
            inside = (trajectory.steps >= 0) & (trajectory.steps < num_steps)
            at = trajectory.steps[inside]
            x[at], y[at] = trajectory.x[inside], trajectory.y[inside]
            yaw[at], speed[at] = trajectory.yaw[inside], trajectory.speed[inside]
            length, width = vehicle_dimensions(recorded.vehicle_type)
            twin = self._twin(trajectory.state(0))
            source = "recorded"
        else:
            twin = self._twin(state)
            if twin >= 0:
                at = np.flatnonzero(tracks.valid[twin])
                x[at], y[at], yaw[at] = tracks.x[twin, at], tracks.y[twin, at], tracks.yaw[twin, at]
                speed[at] = tracks.speed[twin, at]
                length, width = float(tracks.length[twin]), float(tracks.width[twin])
                source = "agent"
            else:
                if 0 <= state.step < num_steps:
                    x[state.step], y[state.step] = state.x, state.y
                    yaw[state.step], speed[state.step] = state.yaw, state.speed
                length, width = vehicle_dimensions(None)
                source = "initial"
        valid = np.isfinite(x)
        yaw = held_heading(yaw[None], speed[None], valid[None], self.config.heading_speed)[0]
        lane = np.full(num_steps, -1, dtype=np.int64)
        lane[valid] = self.map.assign(np.stack([x[valid], y[valid]], axis=-1), yaw[valid])
        s, _, _ = self.map.project(lane, np.stack([x, y], axis=-1))
        path = set(lane[lane >= 0].tolist())
        if source == "initial" and path:
            path.update(self.map.downstream(int(lane[valid][0]), self.config.path_lookahead))
        return EgoPath(
            agent_id=problem.id,
            source=source,
            x=x,
            y=y,
            yaw=yaw,
            speed=speed,
            smoothed_speed=self.smooth(speed[None], valid[None])[0],
            acceleration=self.smooth(speed[None], valid[None], derivative=1)[0],
            valid=valid,
            length=length,
            width=width,
            lane=lane,
            s=s,
            path_lanes=frozenset(path),
            twin=twin,
        )

    def _twin(self, state: EgoState) -> int:
        """Row of the ego's twin agent (`twin_row` with this scene's thresholds), or -1."""
        return twin_row(self.scenario, state, self.config.twin_distance, self.config.twin_heading)

    def others(self, ego: EgoPath) -> BoolArray:
        """(agents,) True for every agent but the ego's twin: the traffic around the ego."""
        mask = np.ones(self.scenario.tracks.num_agents, dtype=bool)
        if ego.twin >= 0:
            mask[ego.twin] = False
        return mask


@dataclass(frozen=True)
class Rows:
    """Who the rows of a stacked array are: `agent_ids` (N,) and `problem_ids` (N,), the planning
    problem of a row that is an ego's own drive, -1 for the agents' rows."""

    agent_ids: IntArray
    problem_ids: IntArray


def vehicles_and_ego(
    scene: Scene, ego: EgoPath, agents: NDArray[Item], own: NDArray[Item]
) -> tuple[NDArray[Item], Rows]:
    """The vehicles' rows of `agents` (agents, steps, ...) followed by the ego's `own` (steps, ...)
    as a last row, unless the ego is one of the agents (its twin's row stands for it, as traffic
    every ego sees); with who the rows are (the ego's row: its planning problem id twice)."""
    vehicles = scene.is_vehicle
    ids = scene.scenario.tracks.ids[vehicles].astype(np.int64)
    problems = np.full(len(ids), -1, dtype=np.int64)
    if ego.twin >= 0:
        return agents[vehicles], Rows(ids, problems)
    return np.concatenate([agents[vehicles], own[None]]), Rows(
        np.append(ids, ego.agent_id), np.append(problems, ego.agent_id)
    )


def relative_to_ego(scene: Scene, ego: EgoPath) -> tuple[FloatArray, FloatArray]:
    """Agents' centres in the ego's frame at each step: longitudinal (ahead +) and lateral (left +)
    offsets (agents, steps) [m]; NaN where the agent or the ego is invalid."""
    tracks = scene.scenario.tracks
    dx, dy = tracks.x - ego.x[None], tracks.y - ego.y[None]
    cos, sin = np.cos(ego.yaw)[None], np.sin(ego.yaw)[None]
    valid = tracks.valid & ego.valid[None]
    return np.where(valid, dx * cos + dy * sin, np.nan), np.where(valid, dy * cos - dx * sin, np.nan)


def window_length(num_steps: int, dt: float, window: float, min_samples: int) -> int:
    """Samples (odd, >= 3) of a Savitzky-Golay window of `window` [s] at `dt` [s], at least
    `min_samples` and at most the `num_steps` of the grid."""
    return max(
        3, min(max(min_samples, round(window / dt)) | 1, num_steps if num_steps % 2 else num_steps - 1)
    )


def smooth(
    values: FloatArray, valid: BoolArray, dt: float, window: float, derivative: int = 0, min_samples: int = 5
) -> FloatArray:
    """Savitzky-Golay smoothing (quadratic, `window` [s] but at least `min_samples` steps) of `values`
    (A, T) along time, or its `derivative`-th time derivative [unit/s^k]; NaN where not `valid`.

    Invalid steps are filled with the nearest valid value and the grid's ends padded likewise, so
    every track is extended flat beyond its ends: derivatives there lean towards 0 (a conservative
    bias for braking detection, where end-of-window polynomial fits would exaggerate noise).
    """
    values = np.asarray(values, dtype=np.float64)
    num_steps = values.shape[1]
    if num_steps < 3 or values.shape[0] == 0:
        result = np.zeros_like(values) if derivative else values.copy()
        return np.where(valid, result, np.nan)
    filtered = savgol_filter(
        fill_invalid(values, valid),
        window_length(num_steps, dt, window, min_samples),
        polyorder=2,
        deriv=derivative,
        delta=dt,
        axis=1,
        mode="nearest",
    )
    return np.where(valid, filtered, np.nan)


@dataclass(frozen=True)
class Runs:
    """Maximal runs of True in a (rows, steps) mask: `rows`, `starts`, `ends` (inclusive), each (R,)."""

    rows: IntArray
    starts: IntArray
    ends: IntArray

    def __len__(self) -> int:
        return len(self.rows)

    def widened(self, margin: int, num_steps: int) -> Runs:
        """These runs extended by `margin` steps on both sides, within the grid's `num_steps`."""
        return Runs(
            self.rows, np.maximum(self.starts - margin, 0), np.minimum(self.ends + margin, num_steps - 1)
        )

    def select(self, keep: BoolArray) -> Runs:
        """The runs where `keep` (R,) is True."""
        return Runs(self.rows[keep], self.starts[keep], self.ends[keep])

    def mask(self, shape: tuple[int, int]) -> BoolArray:
        """The (rows, steps) mask that is True exactly on these runs."""
        delta = np.zeros((shape[0], shape[1] + 1), dtype=np.int64)
        np.add.at(delta, (self.rows, self.starts), 1)
        np.add.at(delta, (self.rows, self.ends + 1), -1)
        return np.cumsum(delta, axis=1)[:, :-1] > 0


def runs(mask: BoolArray, min_length: int = 1) -> Runs:
    """Maximal runs of True along axis 1 of `mask` (A, T) that last at least `min_length` steps."""
    mask = np.atleast_2d(np.asarray(mask, dtype=bool))
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    edges = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    keep = ends - starts >= min_length
    return Runs(
        start_rows[keep].astype(np.int64), starts[keep].astype(np.int64), ends[keep].astype(np.int64) - 1
    )


def close_gaps(mask: BoolArray, max_gap: int) -> BoolArray:
    """`mask` (A, T) with every run of False of at most `max_gap` steps between two Trues set True."""
    mask = np.atleast_2d(np.asarray(mask, dtype=bool))
    gaps = runs(~mask)
    short = (gaps.starts > 0) & (gaps.ends < mask.shape[1] - 1) & (gaps.ends - gaps.starts < max_gap)
    return mask | gaps.select(short).mask(mask.shape)


def reduce_runs(values: FloatArray, found: Runs, reducer: np.ufunc) -> FloatArray:
    """`reducer` (np.minimum or np.maximum) of `values` (A, T) over each run of `found`: (R,).

    NaN entries inside a run are ignored (treated as the reducer's identity); an all-NaN run gives +-inf.
    """
    if len(found) == 0:
        return np.zeros(0)
    neutral = np.inf if reducer is np.minimum else -np.inf
    masked = np.where(found.mask(values.shape) & ~np.isnan(values), values, neutral).ravel()
    flat_starts = found.rows * values.shape[1] + found.starts
    return np.asarray(reducer.reduceat(masked, flat_starts), dtype=np.float64)[: len(found)]


def tags_from_runs(
    scenario_id: str, tag: str, who: Rows | IntArray, found: Runs, values: FloatArray, problem_id: int = -1
) -> list[Tag]:
    """One `Tag` per run: agent `who[row]` (ids (N,), or `Rows` naming each row's problem too), steps
    [start, end], value `values[i]` (R,), planning problem `problem_id` (for plain ids)."""
    rows = who if isinstance(who, Rows) else Rows(who, np.full(len(who), problem_id, dtype=np.int64))
    return [
        Tag(
            scenario_id,
            tag,
            int(rows.agent_ids[row]),
            int(start),
            int(end),
            float(value),
            int(rows.problem_ids[row]),
        )
        for row, start, end, value in zip(
            found.rows.tolist(), found.starts.tolist(), found.ends.tolist(), values.tolist(), strict=True
        )
    ]
