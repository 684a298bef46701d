"""How the other road users move in a closed-loop run: replayed from the log, or reacting (IDM).

`LogAgents` replays the recording (non-reactive). `IdmAgents` makes every moving vehicle follow its
own recorded path with IDM longitudinal control, reacting to the ego, to the other agents and to
static obstacles ahead of it; pedestrians, bicycles, parked and never-moving vehicles stay as
recorded. Both expose `initial(step)` and a pure `step(states, step, ego) -> states` (states at
`step` -> states at `step + 1`); agents exist exactly at the steps the recording has them.

IDM agents, against nuPlan's (`IdmParams` defaults are nuPlan's): the path is the agent's recorded
path, not a lane route, so there is no lane choice and no traffic-light stop line (a recorded
driver who waited at a red light drives on unless something stands ahead). The desired speed is
the speed limit of the agent's starting lane where the map gives one (nuPlan), else the larger of
nuPlan's 10 m/s and the agent's fastest recorded speed (nuPlan falls back to 10 m/s, which on the
Autobahn windows without limits would brake all traffic to 36 km/h). The leader is the nearest
object whose box, grown by half the agent's width, covers the agent's path within 20 m + 3 s of
travel (nuPlan: anything intersecting the remaining path, with agents' footprints grown by their
headway); all agents are updated at once from the same step (nuPlan updates them one after another).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.dynamics import (
    IdmParams,
    Obstacles,
    find_leaders,
    idm_acceleration,
    longitudinal_step,
    wrap,
)
from drivestack.core.geometry import wrap_angle
from drivestack.core.scenario import AgentType, Tracks

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class AgentMode(StrEnum):
    """How the other agents move: `LOG` replays the recording, `IDM` drives recorded paths with IDM,
    `REACTIVE` anchors each agent to its recording and reacts to what differs (`sim.reactive`)."""

    LOG = "log"
    IDM = "idm"
    REACTIVE = "reactive"


AGENT_MODES = tuple(mode.value for mode in AgentMode)
_STATE_FIELDS = ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate")
_MIN_PATH_LENGTH = 1.0  # [m] a vehicle that moves less than this in the recording stays as recorded
_LOOKAHEAD_DISTANCE = 20.0  # [m] path searched for a leader beyond the front bumper, plus ...
_LOOKAHEAD_TIME = 3.0  # [s] ... this much travel at the agent's speed
_LOOKAHEAD_SAMPLES = 32


@dataclass(frozen=True, eq=False)
class AgentStates:
    """Every agent of the scenario at one step, each field (A,) in `Tracks` row order: centre [m],
    yaw [rad], speed [m/s], velocity [m/s], acceleration [m/s2], yaw rate [rad/s]; `valid` marks the
    agents present; `progress` [m] along the recorded path for IDM-driven and reactive agents (NaN
    otherwise); `rested_at` [m] the progress where a reactive agent last stood still (NaN: not yet);
    a reactive agent's lane change: `lateral` [m] the offset of its lateral reference left of its
    recorded path, `lateral_slope` [-] and `lateral_bend` [1/m] its first and second derivatives
    along the path, `lateral_goal` [m] the offset it moves to (0: its recorded lane),
    `lateral_left` [s] the time left until it gets there, and `steering` [rad] the steering
    angle of the bicycle that drives it meanwhile (0 otherwise)."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    vx: FloatArray
    vy: FloatArray
    acceleration: FloatArray
    yaw_rate: FloatArray
    valid: BoolArray
    progress: FloatArray
    rested_at: FloatArray
    lateral: FloatArray
    lateral_slope: FloatArray
    lateral_bend: FloatArray
    lateral_goal: FloatArray
    lateral_left: FloatArray
    steering: FloatArray

    @staticmethod
    def from_log(tracks: Tracks, step: int) -> AgentStates:
        """The recorded states at `step` (copies)."""
        columns = {name: getattr(tracks, name)[:, step].copy() for name in _STATE_FIELDS}
        absent = np.full(tracks.num_agents, np.nan)
        none = np.zeros(tracks.num_agents)
        return AgentStates(
            **columns,
            valid=tracks.valid[:, step].copy(),
            progress=absent,
            rested_at=absent.copy(),
            lateral=none,
            lateral_slope=none.copy(),
            lateral_bend=none.copy(),
            lateral_goal=none.copy(),
            lateral_left=none.copy(),
            steering=none.copy(),
        )

    def obstacles(self, tracks: Tracks) -> Obstacles:
        """The agents as boxes (`tracks` gives their sizes)."""
        return Obstacles(self.x, self.y, self.yaw, self.speed, tracks.length, tracks.width, self.valid)


class AgentPolicy(Protocol):
    """Moves the other agents: `initial` states at the first step, then one step at a time."""

    @property
    def mode(self) -> str:
        """The policy's name (one of `AGENT_MODES`)."""
        ...

    def initial(self, step: int) -> AgentStates:
        """The agents' states at `step` (the run's first step)."""
        ...

    def step(self, states: AgentStates, step: int, ego: Obstacles) -> AgentStates:
        """The agents' states at `step + 1` given theirs and the ego's (one box) at `step`."""
        ...


@dataclass(frozen=True, eq=False)
class LogAgents:
    """Non-reactive agents: the recording, step by step."""

    tracks: Tracks
    mode: str = "log"

    def initial(self, step: int) -> AgentStates:
        """The recorded states at `step`."""
        return AgentStates.from_log(self.tracks, step)

    def step(self, states: AgentStates, step: int, ego: Obstacles) -> AgentStates:
        """The recorded states at `step + 1`, whatever the ego does."""
        return AgentStates.from_log(self.tracks, step + 1)


@dataclass(frozen=True, eq=False)
class RecordedPaths:
    """The recorded paths of R agents, padded to a common length: progress `s` (R, P) [m]
    (non-decreasing), points `x`, `y` (R, P) [m] and unwrapped yaw (R, P) [rad]; `count` (R,)
    valid points per row (the rest repeat the last point)."""

    s: FloatArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    count: IntArray

    @staticmethod
    def from_tracks(tracks: Tracks, rows: IntArray) -> tuple[RecordedPaths, FloatArray]:
        """The paths of agents `rows` (R,) and their progress at every step, (R, steps) [m] (NaN where
        absent): the cumulative distance between consecutive recorded positions."""
        valid = tracks.valid[rows]
        count = valid.sum(axis=1).astype(np.int64)
        # each row's valid steps first, in order; the padding repeats its last valid step
        order = np.argsort(~valid, axis=1, kind="stable")
        slot = np.minimum(np.arange(valid.shape[1])[None, :], np.maximum(count - 1, 0)[:, None])
        steps = np.take_along_axis(order, slot, axis=1)
        x, y = (np.take_along_axis(getattr(tracks, name)[rows], steps, axis=1) for name in ("x", "y"))
        yaw = np.unwrap(np.take_along_axis(tracks.yaw[rows], steps, axis=1), axis=1)
        s = np.zeros(x.shape)
        s[:, 1:] = np.cumsum(np.hypot(np.diff(x, axis=1), np.diff(y, axis=1)), axis=1)
        progress = np.full(x.shape, np.nan)
        np.put_along_axis(
            progress, order, np.where(np.arange(x.shape[1])[None, :] < count[:, None], s, np.nan), axis=1
        )
        return RecordedPaths(s, x, y, yaw, count), progress

    def subset(self, keep: BoolArray) -> RecordedPaths:
        """The paths of the rows where `keep` (R,) is True."""
        return RecordedPaths(self.s[keep], self.x[keep], self.y[keep], self.yaw[keep], self.count[keep])

    def at(self, rows: IntArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Points (x, y [m], yaw [rad]) at progress `s` on the paths of `rows`; shapes (Q,) or (Q, K)
        with rows (Q,). Beyond a path's end it continues straight along its last heading."""
        queries = np.asarray(s, dtype=np.float64)
        per_row = np.repeat(rows, queries.size // max(rows.size, 1)) if queries.ndim > rows.ndim else rows
        out = _path_kernel(
            self.s,
            self.x,
            self.y,
            self.yaw,
            self.count,
            per_row.astype(np.int64).ravel(),  # a copy: a read-only view would compile a second kernel
            queries.ravel(),
        )
        return out[0].reshape(queries.shape), out[1].reshape(queries.shape), out[2].reshape(queries.shape)


@njit(cache=True)
def _path_kernel(
    s: FloatArray,
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    count: IntArray,
    rows: IntArray,
    queries: FloatArray,
) -> FloatArray:
    """(3, Q): x, y, wrapped yaw at progress `queries` (Q,) on paths `rows` (Q,) (see `RecordedPaths.at`)."""
    out = np.empty((3, queries.shape[0]))
    for q in range(queries.shape[0]):
        r, at = rows[q], queries[q]
        last = count[r] - 1
        if at >= s[r, last]:  # straight on beyond the end
            beyond = at - s[r, last]
            heading = yaw[r, last]
            px, py = x[r, last] + beyond * np.cos(heading), y[r, last] + beyond * np.sin(heading)
        else:
            j = min(max(np.searchsorted(s[r, : last + 1], at, side="right") - 1, 0), max(last - 1, 0))
            span = s[r, j + 1] - s[r, j]
            f = min(max((at - s[r, j]) / span, 0.0), 1.0) if span > 0.0 else 0.0
            px = x[r, j] + f * (x[r, j + 1] - x[r, j])
            py = y[r, j] + f * (y[r, j + 1] - y[r, j])
            heading = yaw[r, j] + f * (yaw[r, j + 1] - yaw[r, j])
        out[0, q], out[1, q] = px, py
        out[2, q] = wrap(heading)
    return out


@dataclass(frozen=True, eq=False)
class IdmAgents:
    """Reactive agents: moving vehicles follow their recorded paths under IDM (see the module docstring).

    Build with `IdmAgents.build`; `reactive` (R,) are the IDM-driven rows of `tracks`.
    """

    tracks: Tracks
    dt: float
    params: IdmParams
    reactive: IntArray
    paths: RecordedPaths
    recorded_progress: FloatArray
    target_speed: FloatArray
    statics: Obstacles
    mode: str = "idm"

    @staticmethod
    def build(
        tracks: Tracks,
        dt: float,
        statics: Obstacles,
        speed_limits: FloatArray,
        params: IdmParams,
    ) -> IdmAgents:
        """IDM agents over `tracks` at step `dt` [s]; `speed_limits` (A,) [m/s] of each agent's
        starting lane (NaN: none given)."""
        types = tracks.agent_type
        vehicles = np.array(
            [kind.is_vehicle and kind is not AgentType.PARKED_VEHICLE for kind in types], dtype=bool
        )
        candidates = np.flatnonzero(vehicles & (tracks.valid.sum(axis=1) >= 2))
        paths, progress = RecordedPaths.from_tracks(tracks, candidates)
        moving = paths.s[:, -1] >= _MIN_PATH_LENGTH
        reactive = candidates[moving]
        paths = paths.subset(moving)
        progress = progress[moving]
        fastest = np.nanmax(
            np.where(tracks.valid[reactive], tracks.speed[reactive], np.nan), axis=1, initial=0.0
        )
        limits = speed_limits[reactive]
        target = np.where(
            np.isfinite(limits) & (limits > 0.0), limits, np.maximum(params.target_velocity, fastest)
        )
        return IdmAgents(tracks, dt, params, reactive, paths, progress, target, statics)

    def initial(self, step: int) -> AgentStates:
        """The recorded states at `step`, with IDM agents placed at their recorded progress."""
        states = AgentStates.from_log(self.tracks, step)
        states.progress[self.reactive] = self.recorded_progress[:, step]
        return states

    def step(self, states: AgentStates, step: int, ego: Obstacles) -> AgentStates:
        """Every IDM agent present at `step` and at `step + 1` advances along its path by IDM; those
        that appear at `step + 1` start from their recording; the rest replay the log."""
        following = AgentStates.from_log(self.tracks, step + 1)
        rows = self.reactive
        driving = states.valid[rows] & following.valid[rows]
        appearing = following.valid[rows] & ~states.valid[rows]
        following.progress[rows[appearing]] = self.recorded_progress[appearing, step + 1]
        if not driving.any():
            return following
        agents = rows[driving]
        index = np.flatnonzero(driving)
        speed = states.speed[agents]
        progress = states.progress[agents]
        length, width = self.tracks.length[agents], self.tracks.width[agents]
        lookahead = _LOOKAHEAD_DISTANCE + _LOOKAHEAD_TIME * speed
        distance = np.linspace(0.0, 1.0, _LOOKAHEAD_SAMPLES)[None, :] * lookahead[:, None]
        px, py, pyaw = self.paths.at(index, progress[:, None] + 0.5 * length[:, None] + distance)
        obstacles = Obstacles.concat(ego, states.obstacles(self.tracks), self.statics)
        gap, lead_speed = find_leaders(px, py, pyaw, distance, 0.5 * width, obstacles, exclude=agents + 1)
        accel = idm_acceleration(speed, self.target_speed[index], gap, lead_speed, self.params)
        new_progress, new_speed, realised = longitudinal_step(progress, speed, accel, self.dt)
        x, y, yaw = self.paths.at(index, new_progress)
        following.x[agents], following.y[agents], following.yaw[agents] = x, y, yaw
        following.speed[agents] = new_speed
        following.vx[agents], following.vy[agents] = new_speed * np.cos(yaw), new_speed * np.sin(yaw)
        following.acceleration[agents] = realised
        following.yaw_rate[agents] = np.asarray(wrap_angle(yaw - states.yaw[agents])) / self.dt
        following.progress[agents] = new_progress
        return following
