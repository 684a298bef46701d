"""Traffic for generated scenarios: vehicles driving fixed routes with IDM, pedestrians on crosswalks.

Road users are seen as discs covering their boxes (`_Agents.discs`), so a long truck's rear blocks a
path as much as its centre. Every vehicle follows its route's path; each step its acceleration is
the lowest of the IDM law (`core.dynamics.idm_acceleration`, desired speed the path's limit times
the driver's factor) behind every candidate obstacle, and the braking a coming curve needs:
- road users ahead in its corridor (a disc within the two half widths plus `CORRIDOR_MARGIN` of a
  path point within `LOOKAHEAD` m), at their speed along the path;
- its stop line while the light shows red or red-yellow, or yellow when IDM can still stop there
  (a vehicle that cannot keeps going);
- the end of a lane that ends (an acceleration lane), once it is within braking reach;
- inside an intersection, road users it must give way to that will be on its path within its
  horizon (predicted at constant velocity, or speeding up for vehicles free to go; pedestrians
  along their own path), as stopped obstacles where they will be: left turns give way to straight
  and right-turning traffic, turns to straight traffic, everyone to pedestrians and to vehicles
  still clearing the box after their green. Past its stop line with nothing to give way to, a
  vehicle is committed and only watches pedestrians.
A vehicle with a lane change (a merge from the ramp, or a change toward its goal lane) starts it
once, inside its window, when MOBIL's safety test passes (with IDM: neither it nor its new follower
would brake harder than LANE_CHANGE_BRAKING); its path then blends into the target lane's over about
four seconds (quintic blend). Drivers on the through lane let a vehicle that must merge in ahead of
them when it is far enough ahead (courtesy), which opens the gaps merging needs.

Pedestrians walk their crossing at their own speed, keep a step behind the one ahead, and wait at
the kerb until one of their lights is green long enough to cross and no vehicle is on the crosswalk
or within three seconds of it.

Vehicles enter at their spawn step when their entry is free (later otherwise) and leave at the end
of their path. A vehicle marked `clears` (the ego) takes its place at its spawn step and removes the
vehicles in its way (the recording starts then, so they never appear). Everything is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from drivestack.core.dynamics import IdmParams, idm_acceleration, longitudinal_step
from drivestack.core.geometry import Polyline, points_in_polygon, wrap_angle
from drivestack.core.scenario import AgentType, LightColor, TrafficLight
from drivestack.data.synth.roads import SPACING, Crossing, Route, curve_speed

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

DRIVERS = IdmParams(
    target_velocity=13.89, min_gap=2.0, headway_time=1.3, accel_max=1.4, decel_max=2.5, max_braking=8.0
)
"""IDM parameters of generated drivers (human-like, comfortable; emergency braking up to 8 m/s2)."""
LOOKAHEAD = 80.0
"""How far ahead along its path a vehicle looks for obstacles [m]."""
CORRIDOR_MARGIN = 0.6
"""Lateral clearance [m] beyond the two half widths under which a road user blocks a path."""
YELLOW_DECELERATION = 3.5
"""A vehicle stops at yellow when it can do so at this deceleration [m/s2]."""
CURVE_BRAKING = 0.8
"""A vehicle starts braking for a curve once the deceleration it needs exceeds this [m/s2]."""
YIELD_HORIZON = {0: 2.0, 1: 3.0, 2: 4.5}
"""Prediction horizon [s] of the give-way check by priority level (straight, right, left)."""
WALK_ACCELERATION = 1.0
"""How fast pedestrians change their walking speed [m/s2]."""
WALK_SPACING = 1.0
"""Closest a pedestrian follows another on the same crossing [m] (centre to centre)."""
LANE_CHANGE_BRAKING = 1.5
"""A lane change starts only when neither the changer nor its new follower must brake harder [m/s2]."""
MERGE_BRAKING = 2.5
"""The same for a vehicle whose lane ends (it must merge) [m/s2]."""
COURTESY_REACH = 3.0
"""Extra lateral reach [m] within which drivers treat a vehicle waiting to merge in as ahead of them."""
LANE_CHANGE_TIME = 4.0
"""Duration [s] of a lane change (the blend length is this times the speed, 25-80 m)."""

_WINDOW = round(LOOKAHEAD / SPACING)
_WAITING, _ACTIVE, _GONE = 0, 1, 2
_STOP_COLORS = (LightColor.RED, LightColor.RED_YELLOW)


@dataclass(frozen=True, eq=False)
class Vehicle:
    """A vehicle to simulate: type and size [m], its route, desired speed (`speed_factor` x the path's
    limit, at most `max_speed` [m/s]), the step it enters at, its `start` station [m] and speed
    [m/s] then (None: desired speed or what the traffic ahead allows), an optional lane change
    (`change_to` route, stations [m] on its own path where it may start), its priority level
    through an intersection (0 straight, 1 right, 2 left) and whether it `clears` its way on entry.
    """

    agent_type: AgentType
    length: float
    width: float
    route: Route
    spawn: int
    speed_factor: float = 1.0
    max_speed: float = np.inf
    start: float = 0.0
    speed: float | None = None
    change_to: Route | None = None
    change_window: tuple[float, float] = (0.0, 0.0)
    level: int = 0
    clears: bool = False


@dataclass(frozen=True, eq=False)
class Walker:
    """A pedestrian walking `crossing` at `speed` [m/s] from station `start` [m], entering at `spawn`."""

    crossing: Crossing
    speed: float
    spawn: int
    start: float = 0.0
    radius: float = 0.3


@dataclass(frozen=True, eq=False)
class TrafficRun:
    """States over `steps` steps of every vehicle (rows in input order), then every walker: (A, T)
    arrays of centre [m], yaw [rad], speed [m/s], acceleration [m/s2], yaw rate [rad/s] and path
    curvature [1/m], NaN where `valid` is False."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    acceleration: FloatArray
    yaw_rate: FloatArray
    curvature: FloatArray
    valid: BoolArray


def _headings(path: FloatArray) -> FloatArray:
    """Tangent heading (P,) [rad] at each point of a path (P, 2)."""
    tangent = np.gradient(path, axis=0)
    return np.arctan2(tangent[:, 1], tangent[:, 0])


def green_left(lights: Sequence[TrafficLight], steps: int) -> tuple[list[tuple[LightColor, ...]], IntArray]:
    """Each light's colour at steps 0..steps-1 and (L, steps) how many green steps remain from each
    step on (0 where it is not green)."""
    colors = [light.colors_at(np.arange(steps)) for light in lights]
    left = np.zeros((len(lights), steps), dtype=np.int64)
    for row, series in enumerate(colors):
        count = 0
        for t in range(steps - 1, -1, -1):
            count = count + 1 if series[t] is LightColor.GREEN else 0
            left[row, t] = count
    return colors, left


@dataclass(frozen=True, eq=False)
class _Agents:
    """The road users present at one step, each field (N,): centre [m], yaw [rad], speed [m/s], half
    length and width [m], priority level (walkers -1), vehicle row (-1 for walkers), the
    acceleration [m/s2] predictions assume (vehicles free to go pick up speed: a stopped car at a
    green light will move), walker index (-1 for vehicles), whether a vehicle is still clearing
    an intersection after its green ended, and whether it is waiting to merge from a lane that ends."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    half_length: FloatArray
    half_width: FloatArray
    level: IntArray
    row: IntArray
    pickup: FloatArray
    walker: IntArray
    clearing: BoolArray
    merging: BoolArray

    def discs(self, times: FloatArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
        """Discs covering every road user's box: centres x, y [m], radii [m] and owners (index into
        these agents), (D,) each; a box of length L and width W gets ceil((L - W) / 2) + 1 discs of
        radius W / 2 along its axis. With `times` (K,) [s], the discs moved on at constant velocity
        over each time at their `pickup` acceleration, (D K,)."""
        count = np.ceil((self.half_length - self.half_width) / 1.0).astype(np.int64) + 1
        owner = np.repeat(np.arange(len(self.x)), count)
        first = np.cumsum(count) - count
        share = (np.arange(len(owner)) - first[owner]) / np.maximum(count[owner] - 1, 1)
        along = (self.half_length - self.half_width)[owner] * (2 * share - 1)
        along = np.where(count[owner] == 1, 0.0, along)
        cos, sin = np.cos(self.yaw[owner]), np.sin(self.yaw[owner])
        x, y, radius = self.x[owner] + along * cos, self.y[owner] + along * sin, self.half_width[owner]
        if times is None:
            return x, y, radius, owner
        moved = (
            self.speed[owner][:, None] * times[None, :]
            + 0.5 * self.pickup[owner][:, None] * times[None, :] ** 2
        )
        return (
            (x[:, None] + moved * cos[:, None]).ravel(),
            (y[:, None] + moved * sin[:, None]).ravel(),
            np.repeat(radius, len(times)),
            np.repeat(owner, len(times)),
        )


@dataclass
class _Paths:
    """Every vehicle's current path, padded to one length: points (M, P, 2), headings, curvature and
    desired speed (M, P), and the real point count (M,)."""

    points: FloatArray
    heading: FloatArray
    curvature: FloatArray
    desired: FloatArray
    count: IntArray
    limits: list[FloatArray] = field(default_factory=list)

    def store(self, row: int, path: FloatArray, desired: FloatArray, limits: FloatArray) -> None:
        """Put a path (P, 2) with its desired speeds (P,) and limits (P,) into `row`."""
        n = len(path)
        self.points[row, :n], self.points[row, n:] = path, path[-1]
        heading = _headings(path)
        self.heading[row, :n], self.heading[row, n:] = heading, heading[-1]
        curvature = Polyline(path).curvature_at(SPACING * np.arange(n), window=2.0)
        self.curvature[row, :n], self.curvature[row, n:] = curvature, 0.0
        self.desired[row, :n], self.desired[row, n:] = desired, desired[-1]
        self.count[row] = n
        self.limits[row] = limits


class _Simulation:
    """The state of one traffic simulation and its step."""

    def __init__(
        self,
        vehicles: Sequence[Vehicle],
        walkers: Sequence[Walker],
        lights: Sequence[TrafficLight],
        steps: int,
        dt: float,
    ) -> None:
        self.vehicles, self.walkers, self.dt, self.steps = vehicles, walkers, dt, steps
        self.colors, self.green_left = green_left(lights, steps)
        m = len(vehicles)
        longest = max(
            [len(v.route.path) for v in vehicles] + [len(v.change_to.path) for v in vehicles if v.change_to]
        )
        size = longest + 2 * round(80.0 / SPACING) + _WINDOW
        self.paths = _Paths(
            points=np.zeros((m, size, 2)),
            heading=np.zeros((m, size)),
            curvature=np.zeros((m, size)),
            desired=np.zeros((m, size)),
            count=np.zeros(m, dtype=np.int64),
            limits=[np.zeros(0)] * m,
        )
        for row, vehicle in enumerate(vehicles):
            self.paths.store(
                row,
                vehicle.route.path,
                self._desired(vehicle, vehicle.route.path, vehicle.route.limits),
                vehicle.route.limits,
            )
        self.length = np.array([v.length for v in vehicles])
        self.width = np.array([v.width for v in vehicles])
        self.level = np.array([v.level for v in vehicles])
        self.horizon = np.array(
            [YIELD_HORIZON[v.level] if v.route.movement != "lane" else 0.0 for v in vehicles]
        )
        self.conflict = np.array([v.route.conflict for v in vehicles]).reshape(m, 2)
        self.stop_at = np.array([v.route.stops[0][0] if v.route.stops else np.nan for v in vehicles])
        self.stop_light = np.array([v.route.stops[0][1] if v.route.stops else -1 for v in vehicles])
        self.changes = np.array([v.change_to is not None for v in vehicles])
        self.lane_ends = np.array([bool(v.route.merge_into) for v in vehicles])
        self.spawn_step = np.array([v.spawn for v in vehicles])
        self.changed = np.zeros(m, dtype=bool)
        self.committed = np.zeros(m, dtype=bool)
        self.going = np.zeros(m, dtype=bool)  # decided at yellow not to stop
        self.status = np.full(m, _WAITING)
        self.s = np.zeros(m)
        self.v = np.zeros(m)
        self.walk_status = np.full(len(walkers), _WAITING)
        self.walk_s = np.array([w.start for w in walkers], dtype=np.float64)
        self.walk_v = np.zeros(len(walkers))
        self.crossing = np.zeros(len(walkers), dtype=bool)  # committed to crossing
        self.walk_lines = [Polyline(walker.crossing.path) for walker in walkers]
        rows = m + len(walkers)
        self.out = {
            name: np.full((rows, steps), np.nan)
            for name in ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "curvature")
        }
        self.valid = np.zeros((rows, steps), dtype=bool)

    @staticmethod
    def _desired(vehicle: Vehicle, path: FloatArray, limits: FloatArray) -> FloatArray:
        """Desired speed (P,) [m/s] along a path: the driver's share of the limit, capped, and the
        comfortable curve speed."""
        return np.minimum(np.minimum(limits * vehicle.speed_factor, vehicle.max_speed), curve_speed(path))

    # --- geometry ------------------------------------------------------------------------------------

    def _pose(self, rows: IntArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(x, y, yaw, curvature) (n,) of vehicles `rows` at stations `s` [m] on their paths."""
        position = s / SPACING
        base = np.clip(np.floor(position).astype(np.int64), 0, self.paths.count[rows] - 2)
        frac = np.clip(position - base, 0.0, None)
        p0, p1 = self.paths.points[rows, base], self.paths.points[rows, base + 1]
        xy = p0 + (p1 - p0) * frac[:, None]
        h0, h1 = self.paths.heading[rows, base], self.paths.heading[rows, base + 1]
        yaw = np.asarray(wrap_angle(h0 + wrap_angle(h1 - h0) * np.minimum(frac, 1.0)))
        return xy[:, 0], xy[:, 1], yaw, self.paths.curvature[rows, base]

    def _agents(self, t: int) -> _Agents:
        """Every road user present now (vehicles, then walkers)."""
        rows = np.flatnonzero(self.status == _ACTIVE)
        held = np.isfinite(self._stop_gap(rows, t))
        held_back = np.array(
            [
                self.colors[light][t] is not LightColor.GREEN if light >= 0 else False
                for light in self.stop_light[rows]
            ],
            dtype=bool,
        )
        slow = (
            self.v[rows] < self.paths.desired[rows, np.floor(self.s[rows] / SPACING).astype(np.int64)] - 1.0
        )
        x, y, yaw, _ = self._pose(rows, self.s[rows])
        walking = np.flatnonzero(self.walk_status == _ACTIVE)
        wx, wy, wyaw = self._walker_pose(walking)
        radius = np.array([self.walkers[i].radius for i in walking.tolist()])
        return _Agents(
            x=np.concatenate([x, wx]),
            y=np.concatenate([y, wy]),
            yaw=np.concatenate([yaw, wyaw]),
            speed=np.concatenate([self.v[rows], self.walk_v[walking]]),
            half_length=np.concatenate([self.length[rows] / 2, radius]),
            half_width=np.concatenate([self.width[rows] / 2, radius]),
            level=np.concatenate([self.level[rows], -np.ones(len(walking), dtype=np.int64)]),
            row=np.concatenate([rows, -np.ones(len(walking), dtype=np.int64)]),
            pickup=np.concatenate([np.where(slow & ~held, DRIVERS.accel_max, 0.0), np.zeros(len(walking))]),
            walker=np.concatenate([-np.ones(len(rows), dtype=np.int64), walking]),
            clearing=np.concatenate([self.committed[rows] & held_back, np.zeros(len(walking), dtype=bool)]),
            merging=np.concatenate(
                [self.lane_ends[rows] & ~self.changed[rows], np.zeros(len(walking), dtype=bool)]
            ),
        )

    def _walker_future(self, i: int, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Where walker `i` will be after `times` (K,) [s] at its walking speed along its path, held at
        the kerb until it has committed to crossing: x, y (K,) [m]."""
        walker = self.walkers[i]
        ahead = self.walk_s[i] + walker.speed * times
        if not self.crossing[i]:
            ahead = np.minimum(ahead, max(walker.crossing.kerb, self.walk_s[i]))
        xy = self.walk_lines[i].interpolate(np.minimum(ahead, SPACING * (len(walker.crossing.path) - 1)))
        return xy[:, 0], xy[:, 1]

    def _walker_pose(self, walking: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(x, y, yaw) (n,) of the walkers `walking` where they are now on their paths."""
        x, y, yaw = np.zeros(len(walking)), np.zeros(len(walking)), np.zeros(len(walking))
        for k, i in enumerate(walking.tolist()):
            line = self.walkers[i].crossing.path
            position = min(self.walk_s[i] / SPACING, len(line) - 1.0)
            base = min(int(position), len(line) - 2)
            frac = position - base
            x[k], y[k] = line[base] + (line[base + 1] - line[base]) * frac
            dx, dy = line[base + 1] - line[base]
            yaw[k] = np.arctan2(dy, dx)
        return x, y, yaw

    def _project(
        self, rows: IntArray, px: FloatArray, py: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Points (N,) seen from vehicles `rows` (m,): their station ahead of the vehicle's centre [m],
        lateral distance to its path [m] and the path heading there [rad], each (m, N), over the
        LOOKAHEAD window (path points every 2 SPACING); points farther than LOOKAHEAD from the
        vehicle are not looked at (ahead -inf, lateral inf)."""
        m, n = len(rows), len(px)
        ahead, lateral, heading = np.full((m, n), -np.inf), np.full((m, n), np.inf), np.zeros((m, n))
        base = np.floor(self.s[rows] / SPACING).astype(np.int64)
        origin = self.paths.points[rows, base]
        near_i, near_j = np.nonzero(
            np.hypot(px[None, :] - origin[:, 0:1], py[None, :] - origin[:, 1:2]) < LOOKAHEAD + 5.0
        )
        if len(near_i) == 0:
            return ahead, lateral, heading
        index = np.minimum(
            base[near_i, None] + np.arange(0, _WINDOW, 2)[None, :],
            self.paths.count[rows[near_i]][:, None] - 1,
        )
        points = self.paths.points[rows[near_i, None], index]  # (pairs, W / 2, 2)
        squared = (points[..., 0] - px[near_j, None]) ** 2 + (points[..., 1] - py[near_j, None]) ** 2
        nearest = squared.argmin(axis=1)
        pairs = np.arange(len(near_i))
        at = index[pairs, nearest]
        lateral[near_i, near_j] = np.sqrt(squared[pairs, nearest])
        ahead[near_i, near_j] = at * SPACING - self.s[rows[near_i]]
        heading[near_i, near_j] = self.paths.heading[rows[near_i], at]
        return ahead, lateral, heading

    # --- decisions ------------------------------------------------------------------------------------

    def _obstacles(self, rows: IntArray, agents: _Agents, t: int) -> tuple[FloatArray, FloatArray]:
        """Gaps [m] (bumper to obstacle) and obstacle speeds along the path [m/s], (m, C), of every
        obstacle candidate of vehicles `rows` (inf gap: none)."""
        half_length = self.length[rows] / 2
        x, y, radius, owner = agents.discs()
        ahead, lateral, heading = self._project(rows, x, y)
        other = agents.row[owner][None, :] != rows[:, None]
        # drivers on the through lane let a vehicle that must merge in ahead of them (courtesy)
        courtesy = agents.merging[owner][None, :] & ~self.lane_ends[rows][:, None]
        reach = (
            self.width[rows][:, None] / 2
            + radius[None, :]
            + CORRIDOR_MARGIN
            + np.where(courtesy, COURTESY_REACH, 0.0)
        )
        blocking = other & (ahead > 0) & (lateral < reach)
        # ... when it is far enough ahead to let it in comfortably
        blocking &= ~courtesy | (ahead - half_length[:, None] - radius[None, :] > self.v[rows][:, None])
        gaps = [np.where(blocking, ahead - half_length[:, None] - radius[None, :], np.inf)]
        speeds = [
            np.maximum(agents.speed[owner][None, :] * np.cos(agents.yaw[owner][None, :] - heading), 0.0)
        ]
        end = (self.paths.count[rows] - 1) * SPACING - self.s[rows] - half_length - 1.0
        near_end = (
            self.lane_ends[rows]
            & ~self.changed[rows]
            & (end < self.v[rows] ** 2 / (2 * DRIVERS.decel_max) + 15.0)
        )
        for stopped in (
            self._give_way(rows, agents),
            self._stop_gap(rows, t),
            np.where(near_end, np.maximum(end, 0.05), np.inf),
        ):
            gaps.append(stopped[:, None])
            speeds.append(np.zeros((len(rows), 1)))
        return np.concatenate(gaps, axis=1), np.concatenate(speeds, axis=1)

    def _give_way(self, rows: IntArray, agents: _Agents) -> FloatArray:
        """Gap (m,) [m] to the nearest place on each vehicle's path inside its conflict zone where a
        road user it must give way to will be within its horizon (inf: none), as a stopped obstacle.

        Vehicles give way to higher-priority vehicles and to vehicles still clearing the box after
        their green ended, until their front passes the stop line with nothing to give way to (then
        they are committed themselves); to pedestrians all through the zone (at most 2 s ahead once
        committed)."""
        gaps = np.full(len(rows), np.inf)
        s = self.s[rows]
        front = s + self.length[rows] / 2
        zone = (self.horizon[rows] > 0) & (s > self.conflict[rows, 0] - 40.0) & (s < self.conflict[rows, 1])
        for k in np.flatnonzero(zone).tolist():
            row = int(rows[k])
            me = int(np.flatnonzero(agents.row == row)[0])
            heading = agents.yaw[me]
            same_way = np.abs(wrap_angle(agents.yaw - heading)) < 0.5  # followed or following: no conflict
            committed = self.committed[row]
            # before committing: give way to higher priority and to vehicles clearing the box
            yielded = ((agents.level < self.level[row]) | agents.clearing) & ~same_way & (agents.row != row)
            if committed:
                yielded &= agents.level < 0
            horizon = min(self.horizon[row], 2.0) if committed else self.horizon[row]
            if yielded.any():
                gaps[k] = self._conflict_gap(row, agents, np.flatnonzero(yielded), horizon)
            # past its stop line with nothing to give way to, a vehicle is committed: it clears the box
            self.committed[row] |= bool(front[k] > self.conflict[row, 0] + 3.0 and np.isinf(gaps[k]))
        return np.maximum(gaps, 0.05)

    def _conflict_gap(self, row: int, agents: _Agents, chosen: IntArray, horizon: float) -> float:
        """Gap [m] from vehicle `row` to the nearest disc of the `chosen` agents on its path inside
        its conflict zone within `horizon` [s] (inf: none)."""
        times = np.arange(0.0, horizon + 1e-9, 0.5)
        cars = chosen[agents.row[chosen] >= 0]
        subset = _Agents(*(getattr(agents, name)[cars] for name in _Agents.__dataclass_fields__))
        x, y, radius, _ = subset.discs(times)
        for walker in agents.walker[chosen[agents.row[chosen] < 0]].tolist():  # along their own path
            wx, wy = self._walker_future(walker, times)
            x, y = np.concatenate([x, wx]), np.concatenate([y, wy])
            radius = np.concatenate([radius, np.full(len(times), self.walkers[walker].radius)])
        ahead, lateral, _ = self._project(np.array([row]), x, y)
        hit = (ahead[0] > 0) & (lateral[0] < self.width[row] / 2 + radius + CORRIDOR_MARGIN)
        station = self.s[row] + ahead[0]
        hit &= (station > self.conflict[row, 0]) & (station < self.conflict[row, 1])
        return float((ahead[0][hit] - self.length[row] / 2 - radius[hit]).min()) if hit.any() else np.inf

    def _stop_gap(self, rows: IntArray, t: int) -> FloatArray:
        """Gap (m,) [m] to the stop line where the light tells the vehicle to stop (inf otherwise):
        red and red-yellow always; yellow when IDM can stop there braking at most
        YELLOW_DECELERATION, else the vehicle goes and keeps going."""
        gaps = np.full(len(rows), np.inf)
        for k, row in enumerate(rows.tolist()):
            light = int(self.stop_light[row])
            gap = self.stop_at[row] - self.s[row] - self.length[row] / 2
            if light < 0 or gap < -1.0 or self.going[row]:
                continue
            gap = max(gap, 0.05)
            color = self.colors[light][t]
            if color is LightColor.YELLOW:
                desired = self.paths.desired[row, int(self.s[row] / SPACING)]
                stop = idm_acceleration(
                    self.v[row : row + 1], desired, np.array([gap]), np.zeros(1), DRIVERS
                )[0]
                self.going[row] = stop < -YELLOW_DECELERATION
            if color in _STOP_COLORS or (color is LightColor.YELLOW and not self.going[row]):
                gaps[k] = gap
        return gaps

    def _curve_braking(self, rows: IntArray) -> FloatArray:
        """Acceleration (m,) [m/s2] a coming slower stretch of the path asks for (inf: none)."""
        base = np.floor(self.s[rows] / SPACING).astype(np.int64)
        index = np.minimum(base[:, None] + np.arange(_WINDOW)[None, :], self.paths.count[rows][:, None] - 1)
        desired = self.paths.desired[rows[:, None], index]
        distance = np.maximum(index * SPACING - self.s[rows][:, None], 1.0)
        v = self.v[rows][:, None]
        needed = ((v**2 - desired**2) / (2 * distance)).max(axis=1)
        return np.where(needed > CURVE_BRAKING, -np.minimum(1.2 * needed, DRIVERS.max_braking or 8.0), np.inf)

    def _lane_changes(self, agents: _Agents) -> None:
        """Start the lane changes whose window holds the vehicle and whose target gaps are safe:
        MOBIL's safety test with IDM, neither the changer behind its new leader nor its new follower
        behind it would brake harder than LANE_CHANGE_BRAKING (MERGE_BRAKING where its lane ends)."""
        ready = np.flatnonzero((self.status == _ACTIVE) & self.changes & ~self.changed)
        for row in ready.tolist():
            vehicle = self.vehicles[row]
            if (
                vehicle.change_to is None
                or not vehicle.change_window[0] <= self.s[row] <= vehicle.change_window[1]
            ):
                continue
            target = vehicle.change_to.path
            mine = agents.row == row
            squared = (agents.x[:, None] - target[None, :, 0]) ** 2 + (
                agents.y[:, None] - target[None, :, 1]
            ) ** 2
            nearest = squared.argmin(axis=1)
            on_target = (np.sqrt(squared[np.arange(len(nearest)), nearest]) < 2.0) & ~mine & (agents.row >= 0)
            own = int(nearest[mine][0])
            ds = (nearest - own) * SPACING
            gap = np.abs(ds) - self.length[row] / 2 - agents.half_length
            braking = MERGE_BRAKING if self.lane_ends[row] else LANE_CHANGE_BRAKING
            lead, lag = on_target & (ds > 0), on_target & (ds <= 0)
            me = np.full(len(ds), self.v[row])
            ahead_ok = (
                idm_acceleration(me[lead], me[lead], gap[lead], agents.speed[lead], DRIVERS) >= -braking
            )
            behind_ok = (
                idm_acceleration(agents.speed[lag], agents.speed[lag], gap[lag], me[lag], DRIVERS) >= -braking
            )
            if ahead_ok.all() and behind_ok.all():
                self._change(row, own * SPACING)

    def _change(self, row: int, target_station: float) -> None:
        """Replace the vehicle's path by a blend from its position into its target lane."""
        vehicle = self.vehicles[row]
        assert vehicle.change_to is not None
        length = float(np.clip(self.v[row] * LANE_CHANGE_TIME, 25.0, 80.0))
        n = self.paths.count[row]
        own = Polyline(self.paths.points[row, :n])
        target = Polyline(vehicle.change_to.path)
        keep = int(np.floor(self.s[row] / SPACING))
        u = np.arange(1, round(length / SPACING) + 1) * SPACING
        x = u / length
        weight = (6 * x**5 - 15 * x**4 + 10 * x**3)[:, None]
        blend = (1 - weight) * own.interpolate(self.s[row] + u) + weight * target.interpolate(
            target_station + u
        )
        rest_from = round((target_station + length) / SPACING) + 1
        path = np.concatenate([self.paths.points[row, : keep + 1], blend, vehicle.change_to.path[rest_from:]])
        line = Polyline(path).resample(SPACING)
        points = np.asarray(line.points)
        target_limits = vehicle.change_to.limits
        along = round(target_station / SPACING) + np.arange(1, len(points) - keep)
        limits = np.concatenate(
            [self.paths.limits[row][: keep + 1], target_limits[np.minimum(along, len(target_limits) - 1)]]
        )
        self.paths.store(row, points, self._desired(vehicle, points, limits), limits)
        self.changed[row] = True

    # --- stepping -------------------------------------------------------------------------------------

    def _spawn(self, t: int) -> None:
        """Enter the vehicles due at step t: the first waiting one of each route when its entry is
        free (a vehicle that `clears` always), at the highest speed at which IDM would brake at most
        `decel_max` for what is ahead."""
        heads: dict[int, int] = {}
        for row in np.flatnonzero((self.status == _WAITING) & (self.spawn_step <= t)).tolist():
            heads.setdefault(row if self.vehicles[row].clears else id(self.vehicles[row].route), row)
        for row in heads.values():
            vehicle = self.vehicles[row]
            agents = self._agents(t)
            self.s[row] = vehicle.start
            desired = self.paths.desired[row, int(vehicle.start / SPACING)]
            x, y, radius, owner = agents.discs()
            vehicles = agents.row[owner] >= 0
            ahead, lateral, _ = self._project(np.array([row]), x, y)
            near = (lateral[0] < self.width[row] / 2 + radius + CORRIDOR_MARGIN) & vehicles
            behind = self._behind(row, x, y, 40.0 if vehicle.clears else 12.0) & vehicles
            if vehicle.clears:
                doomed = (near & (ahead[0] > 0) & (ahead[0] < 25.0 + desired)) | behind
                self.status[agents.row[owner[doomed]]] = _GONE
            elif (near & (ahead[0] > 0) & (ahead[0] < 10.0 + 1.2 * desired)).any() or behind.any():
                continue
            self.status[row] = _ACTIVE
            gaps, speeds = self._obstacles(np.array([row]), self._agents(t), t)
            # no faster than it can brake down (at decel_max) to the desired speed of the path ahead
            ahead_desired = self.paths.desired[
                row, int(vehicle.start / SPACING) : int(vehicle.start / SPACING) + _WINDOW
            ]
            reachable = np.sqrt(
                ahead_desired**2 + 2 * DRIVERS.decel_max * SPACING * np.arange(len(ahead_desired))
            )
            top = min(desired if vehicle.speed is None else vehicle.speed, float(reachable.min()))
            candidates = np.linspace(0.0, top, 41)
            accel = idm_acceleration(candidates[:, None], desired, gaps, speeds, DRIVERS).min(axis=1)
            fine = np.flatnonzero(accel >= -DRIVERS.decel_max)
            self.v[row] = float(candidates[fine[-1]]) if len(fine) else 0.0

    def _behind(self, row: int, x: FloatArray, y: FloatArray, reach: float) -> BoolArray:
        """Which points (N,) [m] lie within 2.5 m of the `reach` [m] of path behind vehicle `row`'s
        entry (vehicles there would run into it)."""
        start = int(self.s[row] / SPACING)
        back = self.paths.points[row, max(0, start - round(reach / SPACING)) : start + 1]
        squared = (back[None, :, 0] - x[:, None]) ** 2 + (back[None, :, 1] - y[:, None]) ** 2
        return np.sqrt(squared.min(axis=1)) < 2.5

    def _walk(self, t: int, agents: _Agents) -> None:
        """Advance the pedestrians one step: walking at up to their speed (changing it by at most
        WALK_ACCELERATION), at least WALK_SPACING behind the one ahead on the same crossing, and
        stopping at the kerb until they commit to crossing."""
        x, y, radius, owner = agents.discs()
        vehicles = agents.row[owner] >= 0
        for i, walker in enumerate(self.walkers):
            if self.walk_status[i] == _WAITING and walker.spawn <= t:
                self.walk_status[i], self.walk_v[i] = _ACTIVE, walker.speed
            if self.walk_status[i] != _ACTIVE:
                continue
            crossing = walker.crossing
            s, v = self.walk_s[i], self.walk_v[i]
            if not self.crossing[i] and crossing.kerb - s < 2.0:
                needed = (crossing.length / walker.speed + 1.5) / self.dt
                line = crossing.path[
                    round(crossing.kerb / SPACING) : round((crossing.kerb + crossing.length) / SPACING) + 1
                ]
                gaps = np.hypot(line[None, :, 0] - x[vehicles, None], line[None, :, 1] - y[vehicles, None])
                gap = gaps.min(axis=1, initial=np.inf) - radius[vehicles]
                # nothing on the crosswalk, nothing coming within three seconds
                occupied = bool((gap < 1.0 + 3.0 * agents.speed[owner[vehicles]]).any())
                green = max(int(self.green_left[light, t]) for light in crossing.lights)
                self.crossing[i] = green >= needed and not occupied
            stop = np.inf if self.crossing[i] else crossing.kerb
            ahead = [
                self.walk_s[j] - WALK_SPACING
                for j, other in enumerate(self.walkers)
                if j != i
                and other.crossing is crossing
                and self.walk_status[j] == _ACTIVE
                and self.walk_s[j] > s
            ]
            stop = min([stop, *ahead])
            v_next = min(
                v + WALK_ACCELERATION * self.dt,
                walker.speed,
                np.sqrt(2 * WALK_ACCELERATION * max(stop - s, 0.0)),
            )
            s_next = min(s + v_next * self.dt, max(stop, s))
            v_next = (s_next - s) / self.dt
            self.walk_s[i], self.walk_v[i] = s_next, v_next
            self.out["acceleration"][len(self.vehicles) + i, t] = (v_next - v) / self.dt
            if s_next >= SPACING * (len(crossing.path) - 1):
                self.walk_status[i] = _GONE

    def run(self, finish: Finish | None = None) -> TrafficRun:
        """Simulate every step (or until `finish` says so) and return the states."""
        reached: int | None = None
        for t in range(self.steps):
            if finish is not None and reached is None and self.valid[finish.row, t - 1]:
                inside = points_in_polygon(
                    np.array([[self.out["x"][finish.row, t - 1], self.out["y"][finish.row, t - 1]]]),
                    finish.region,
                )
                reached = t - 1 if inside[0] else None
            if reached is not None and finish is not None and t > reached + finish.after:
                break
            self._spawn(t)
            agents = self._agents(t)
            self._record(t)
            rows = np.flatnonzero(self.status == _ACTIVE)
            if len(rows):
                self._lane_changes(agents)
                gaps, speeds = self._obstacles(rows, agents, t)
                desired = self.paths.desired[rows, np.floor(self.s[rows] / SPACING).astype(np.int64)]
                accel = idm_acceleration(self.v[rows][:, None], desired[:, None], gaps, speeds, DRIVERS).min(
                    axis=1
                )
                accel = np.minimum(accel, self._curve_braking(rows))
                self.s[rows], self.v[rows], realised = longitudinal_step(
                    self.s[rows], self.v[rows], accel, self.dt
                )
                self.out["acceleration"][rows, t] = realised
                done = self.s[rows] >= (self.paths.count[rows] - 2) * SPACING
                self.status[rows[done]] = _GONE
            self._walk(t, agents)
        return TrafficRun(**self.out, valid=self.valid)

    def _record(self, t: int) -> None:
        """Store every present road user's pose and speed at step t (accelerations follow the step)."""
        rows = np.flatnonzero(self.status == _ACTIVE)
        x, y, yaw, curvature = self._pose(rows, self.s[rows])
        out = self.out
        out["x"][rows, t], out["y"][rows, t], out["yaw"][rows, t] = x, y, yaw
        out["speed"][rows, t] = self.v[rows]
        out["curvature"][rows, t] = curvature
        out["yaw_rate"][rows, t] = self.v[rows] * curvature
        self.valid[rows, t] = True
        walking = np.flatnonzero(self.walk_status == _ACTIVE)
        wx, wy, wyaw = self._walker_pose(walking)
        cells = len(self.vehicles) + walking
        out["x"][cells, t], out["y"][cells, t], out["yaw"][cells, t] = wx, wy, wyaw
        out["speed"][cells, t] = self.walk_v[walking]
        out["yaw_rate"][cells, t] = 0.0
        out["curvature"][cells, t] = 0.0
        self.valid[cells, t] = True


@dataclass(frozen=True, eq=False)
class Finish:
    """Stop a simulation `after` steps once vehicle `row`'s centre is inside `region` (K, 2) [m]."""

    row: int
    region: FloatArray
    after: int


def simulate(
    vehicles: Sequence[Vehicle],
    walkers: Sequence[Walker],
    lights: Sequence[TrafficLight],
    steps: int,
    dt: float,
    finish: Finish | None = None,
) -> TrafficRun:
    """Simulate `vehicles` and `walkers` under `lights` for `steps` steps of `dt` [s] (see the module
    docstring), or until `finish`; the recorded states start with each road user's entry (states
    after an early finish are absent)."""
    return _Simulation(vehicles, walkers, lights, steps, dt).run(finish)
