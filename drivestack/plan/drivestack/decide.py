"""The decision layer: what the scene asks of the ego before any trajectory is proposed.

For each lane option (the ego's lane, and the adjacent lanes a lane change may enter) it decides,
explicitly and with a stated reason:
- whether the option is open: the current lane always; an adjacent lane when a lane change pays
  (the route needs it, the leader is slow or stopped, or a change is under way) and its gaps are
  acceptable (`gap_check`), never inside an intersection;
- the desired speed along it (`envelope`): speed limit or traffic flow, curves, the goal's velocity;
- the leader (nearest obstacle on it, `core.dynamics.find_leaders`);
- the stops ("walls": where the ego's front must stay behind): red and yellow lights when the
  ego can still stop comfortably, the end of a lane that drops, a goal that asks for a standstill,
  and yields to agents whose forecast crosses the lane while the ego would pass (`conflicts`).
The planner turns options into proposals; the chosen proposal names the decision taken.
Arc lengths s [m] are along each option's corridor; times [s] from now.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.dynamics import Obstacles, Tracker, VehicleParams, find_leaders
from drivestack.core.geometry import angle_diff
from drivestack.core.rules import TrafficRules
from drivestack.core.scenario import EgoState, Goal, Interval, LightColor
from drivestack.maps.routing import Corridor, GoalSpan
from drivestack.plan.drivestack.config import DecisionConfig
from drivestack.plan.drivestack.scoring import PastMotion
from drivestack.predict import AgentStates, Forecast

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

STOP_COLORS = frozenset({LightColor.RED, LightColor.YELLOW, LightColor.RED_YELLOW})
_PARALLEL = np.deg2rad(35.0)  # [rad] agents heading within this of the lane move along it
_BAND_MARGIN = 0.4  # [m] added to the ego's half width for the band a crossing agent enters
_LOOKAHEAD_SAMPLES = 64
_CREEP = 0.5  # [m/s] the slowest desired speed a goal's time window imposes
_GOAL_ENTRY = 2.0  # [m] into a goal span the ego aims to be by the window's close
_GOAL_EXIT = 10.0  # [m] before a goal span's end the ego may be by the window's opening
_TURN = np.deg2rad(35.0)  # [rad] a heading change through an intersection that counts as a turn


@dataclass(frozen=True)
class Wall:
    """A stop: the ego's front bumper stays behind arc length `s` [m]; `kind` (red_light,
    yellow_light, lane_end, route_end, goal, yield), a human-readable `reason`, the `agent` id it
    yields to (-1: none) and, for a red light the ego may turn right through once it has stopped,
    the lane of that stop `line` (-1: none)."""

    s: float
    kind: str
    reason: str
    agent: int = -1
    line: int = -1


@dataclass(frozen=True, eq=False)
class LaneOption:
    """One lane the ego may drive in next, as the decision layer sees it.

    `side` 0 (the ego's lane), +1 (left), -1 (right); the ego at (`s0`, `d0`) [m] on `corridor`,
    heading across it with lateral `slope` [m/m];
    `allowed` with `why`; `route_gain` [m] how much closer to the goal this lane is than the ego's;
    `envelope` (K,) desired speed per corridor station [m/s]; the leaders ahead (see `leaders`),
    nearest first: bumper gaps `lead_gaps` (L,) [m] (inf: none), speeds along the lane
    `lead_speeds` [m/s] and rows `lead_rows` (-1: none or a static obstacle); mandatory `walls`;
    `change_left` [m] the path length left of the lane change under way into it (inf: none).
    """

    side: int
    corridor: Corridor
    s0: float
    d0: float
    slope: float
    allowed: bool
    why: str
    route_gain: float
    envelope: FloatArray
    lead_gaps: FloatArray
    lead_speeds: FloatArray
    lead_rows: IntArray
    walls: tuple[Wall, ...]
    change_left: float = np.inf

    @property
    def lead_gap(self) -> float:
        """The nearest leader's bumper gap [m] (inf: none)."""
        return float(self.lead_gaps[0])

    @property
    def lead_speed(self) -> float:
        """The nearest leader's speed along the lane [m/s]."""
        return float(self.lead_speeds[0])

    @property
    def lead_row(self) -> int:
        """The nearest leader's agent row (-1: none or a static obstacle)."""
        return int(self.lead_rows[0])

    @property
    def name(self) -> str:
        """keep_lane, lane_change_left or lane_change_right."""
        return {0: "keep_lane", 1: "lane_change_left", -1: "lane_change_right"}[self.side]

    @property
    def first_wall(self) -> Wall | None:
        """The nearest mandatory stop, if any."""
        return min(self.walls, key=lambda wall: wall.s, default=None)


@dataclass(frozen=True, eq=False)
class Scene:
    """What the stages read at one step: the ego and its vehicle, the agents now and forecast over
    the horizon (same rows), obstacle boxes for leader search (agents, then static obstacles), the
    lights' colours, the desired free speed [m/s], the goal, the horizon's `times` (T,) [s] from
    now, the `tracker` proposals are rolled out with, whether the ego has `arrived` (a goal state
    holds now) and is `off_road` (off the drivable area now), the run's `last_step` (None:
    unknown) and the ego's executed motion before now."""

    step: int
    dt: float
    ego: EgoState
    vehicle: VehicleParams
    agents: AgentStates
    forecast: Forecast
    obstacles: Obstacles
    lights: dict[int, LightColor]
    free_speed: float
    goal: Goal
    times: FloatArray
    tracker: Tracker
    arrived: bool = False
    off_road: bool = False
    last_step: int | None = None
    past: PastMotion = field(default_factory=PastMotion.none)


@njit(cache=True)
def _project_kernel(
    points: FloatArray, headings: FloatArray, low: int, high: int, x: FloatArray, y: FloatArray
) -> FloatArray:
    """(3, N): nearest station index in [low, high), signed offset along and left of it [m] for
    points (N,); NaN points give index -1."""
    out = np.full((3, x.shape[0]), np.nan)
    for n in range(x.shape[0]):
        if not (np.isfinite(x[n]) and np.isfinite(y[n])):
            out[0, n] = -1.0
            continue
        best, index = np.inf, low
        for i in range(low, high):
            distance = (points[i, 0] - x[n]) ** 2 + (points[i, 1] - y[n]) ** 2
            if distance < best:
                best, index = distance, i
        dx, dy = x[n] - points[index, 0], y[n] - points[index, 1]
        cos, sin = np.cos(headings[index]), np.sin(headings[index])
        out[0, n], out[1, n], out[2, n] = index, dx * cos + dy * sin, -dx * sin + dy * cos
    return out


def project(corridor: Corridor, x: FloatArray, y: FloatArray, s_from: float, s_to: float) -> FloatArray:
    """Arc length s (N,) [m] and left offset d (N,) [m] of points (N,) on `corridor`, searched among
    its stations between `s_from` and `s_to` [m] (nearest station, then square to it), as (2, N);
    NaN for NaN points."""
    low = int(corridor.station(s_from))
    high = max(int(corridor.station(s_to)) + 1, low + 1)
    out = _project_kernel(
        corridor.points, corridor.headings, low, high, np.ascontiguousarray(x), np.ascontiguousarray(y)
    )
    s = np.where(out[0] >= 0, out[0] * corridor.spacing + out[1], np.nan)
    return np.stack([s, out[2]])


def envelope(
    corridor: Corridor,
    free_speed: float,
    goal: Goal,
    s_ego: float,
    config: DecisionConfig,
    now: float = 0.0,
    dt: float = 1.0,
    deadline: float | None = None,
) -> FloatArray:
    """Desired speed (K,) [m/s] per station: the lane's limit (else `free_speed`), capped in curves
    (lateral acceleration and yaw rate), timed toward a goal lying on the corridor (see
    `_goal_timing`), within its velocity interval (raised before it at `anticipation_acceleration`
    where the goal asks for more), and lowered ahead of each cap at `anticipation_deceleration`
    (limits behind the ego's station at `s_ego` [m] are not anticipated; a goal's velocity stays the
    floor: the run ends there). `now` [s] is the time, `dt` [s] the step of the goal's time
    intervals, `deadline` [s] the time the run ends (None: unknown)."""
    base = np.where(np.isfinite(corridor.speed_limit), corridor.speed_limit, free_speed)
    curvature = np.maximum(np.abs(corridor.curvature), 1e-6)
    curve = np.minimum(
        np.sqrt(config.curve_lateral_acceleration / curvature), config.curve_yaw_rate / curvature
    )
    speed = np.minimum(base, curve)
    stations = np.arange(len(speed), dtype=np.float64) * corridor.spacing
    # from the ego's own station on (the nearest one, maybe just behind it: its speed is read there)
    ahead = np.arange(len(speed)) >= int(corridor.station(s_ego))
    floor = np.zeros(len(speed))  # the least speed a goal's velocity interval asks for
    for span in corridor.goal:
        if span.s_out > s_ego:
            _goal_timing(
                speed,
                stations,
                curve,
                span,
                goal.states[span.state].time,
                s_ego,
                ahead,
                now,
                dt,
                deadline,
                config,
            )
        velocity = goal.states[span.state].velocity
        if velocity is None:
            continue
        inside = (stations >= span.s_in) & (stations <= span.s_out)
        low, high = max(velocity.start, 0.0), max(velocity.end, 0.0)
        margin = min(0.5, 0.25 * (high - low))
        speed[inside] = np.minimum(speed[inside], max(high - margin, low + margin))
        floor[inside] = np.maximum(floor[inside], low + margin)
        # reach the goal's lowest speed by its start: v(s)^2 >= low^2 - 2 a (s_in - s)
        before = (stations < span.s_in) & ahead
        rising = (low + margin) ** 2 - 2.0 * config.anticipation_acceleration * (span.s_in - stations[before])
        bound = np.sqrt(config.goal_lateral_acceleration / curvature[before])  # the goal may ask for more
        floor[before] = np.maximum(floor[before], np.minimum(np.sqrt(np.maximum(rising, 0.0)), bound))
    speed = np.maximum(speed, floor)
    # anticipate: v(s)^2 <= v(s')^2 + 2 b (s' - s) for every s' ahead (one reverse running minimum)
    budget = speed**2 + 2.0 * config.anticipation_deceleration * stations
    budget[~ahead] = np.inf
    reachable = np.minimum.accumulate(budget[::-1])[::-1] - 2.0 * config.anticipation_deceleration * stations
    # what lies beyond a goal never slows the ego below the goal's velocity: the run ends there
    return np.maximum(np.minimum(speed, np.sqrt(np.maximum(reachable, 0.0))), floor)


def _goal_timing(
    speed: FloatArray,
    stations: FloatArray,
    curve: FloatArray,
    span: GoalSpan,
    window: Interval,
    s_ego: float,
    ahead: BoolArray,
    now: float,
    dt: float,
    deadline: float | None,
    config: DecisionConfig,
) -> None:
    """Time the approach to a goal span ahead (in place on `speed` (K,) [m/s], at the stations
    `ahead` of the ego at `s_ego` [m]): never so fast that
    the ego passes the span before the goal's time window opens, and fast enough to enter it before
    the window closes or the run ends at `deadline` [s] (`deadline_margin` early), up to
    `goal_overspeed` [m/s] above the desired speed, never beyond the curve cap; not at all where
    even that could not get there in time (speeding would buy nothing)."""
    start, end = window.start * dt, window.end * dt
    middle = 0.5 * (span.s_in + span.s_out)
    before = ahead & (stations <= span.s_out)
    if start > now + 1e-6:
        # be inside by the opening: at its middle, or `_GOAL_EXIT` before its end on a long span (a
        # goal lanelet), so the ego keeps driving along it rather than crawling toward its middle
        target = max(middle, span.s_out - _GOAL_EXIT)
        cap = max(target - s_ego, 0.0) / (start - now)
        speed[before] = np.minimum(speed[before], max(cap, _CREEP))
    final = end if deadline is None else min(end, deadline)
    if config.goal_overspeed <= 0.0 or not np.isfinite(final):
        return
    entry = min(span.s_in + _GOAL_ENTRY, middle)
    distance = max(entry - s_ego, 0.0)
    here = speed[int(np.argmax(ahead))] if ahead.any() else 0.0
    if distance > (here + config.goal_overspeed) * max(final - now, dt):
        return
    # aim `deadline_margin` early; in the run's last moments the pace set toward the goal holds
    needed = distance / max(final - config.deadline_margin - now, 0.5)
    raised = np.minimum(np.minimum(needed, speed[before] + config.goal_overspeed), curve[before])
    speed[before] = np.maximum(speed[before], raised)


def free_speed(
    ego: EgoState, initial_speed: float, goal: Goal, agents: AgentStates, config: DecisionConfig
) -> float:
    """Desired speed [m/s] where the map gives no limit: the largest of the ego's initial speed, the
    goal's velocity (the centre of its interval) and the median speed of moving traffic heading the
    ego's way within `traffic_radius`, within [`default_speed`, `max_speed`]."""
    near = np.hypot(agents.x - ego.x, agents.y - ego.y) <= config.traffic_radius
    same_way = np.abs(np.angle(np.exp(1j * (agents.yaw - ego.yaw)))) <= _PARALLEL
    moving = near & same_way & (agents.speed > 1.0) & ~agents.vulnerable
    flow = float(np.median(agents.speed[moving])) if moving.any() else 0.0
    velocities = [
        0.5 * (state.velocity.start + state.velocity.end)
        for state in goal.states
        if state.velocity is not None
    ]
    wanted = max([initial_speed, flow, *velocities])
    return float(np.clip(wanted, config.default_speed, config.max_speed))


def leaders(
    scene: Scene, corridor: Corridor, s0: float, config: DecisionConfig, count: int = 2
) -> tuple[FloatArray, FloatArray, IntArray]:
    """The `count` nearest obstacles on the corridor's centerline ahead of the ego's front within
    `perception_range`, nearest first: bumper gaps [m] (count,) (inf: none), speeds along the lane
    [m/s] and agent rows (-1: none or a static obstacle). The second is the leader's own leader,
    whose braking a driver anticipates before the leader reacts to it."""
    front = s0 + 0.5 * scene.vehicle.length
    distance = np.linspace(0.0, config.perception_range, _LOOKAHEAD_SAMPLES)
    along = front + distance
    points = corridor.frame.reference.interpolate(along)
    headings = corridor.frame.reference.heading_at(along)
    gaps, speeds = np.full(count, np.inf), np.zeros(count)
    rows = np.full(count, -1, dtype=np.int64)
    obstacles = scene.obstacles
    present = obstacles.present.copy()
    for k in range(count):
        gap, speed = find_leaders(
            points[None, :, 0],
            points[None, :, 1],
            headings[None],
            distance[None],
            np.array([0.5 * scene.vehicle.width]),
            dataclasses.replace(obstacles, present=present),
        )
        if not np.isfinite(gap[0]):
            break
        # which obstacle: the present one nearest to the gap's point on the lane
        spot = corridor.frame.reference.interpolate(front + max(float(gap[0]), 0.0))
        away = np.hypot(obstacles.x - spot[0], obstacles.y - spot[1])
        away[~present] = np.inf
        row = int(np.argmin(away))
        gaps[k], speeds[k] = float(gap[0]), float(speed[0])
        rows[k] = row if row < scene.agents.count else -1
        present[row] = False
    return gaps, speeds, rows


class Gaps(NamedTuple):
    """A lane change's gap verdict: `accepted` and why; the agent row whose gap fails (`blocker`,
    -1 when accepted) and whether it is `ahead` of the ego in the target lane (else behind)."""

    accepted: bool
    reason: str
    blocker: int = -1
    ahead: bool = False


def gap_check(
    scene: Scene,
    corridor: Corridor,
    s0: float,
    config: DecisionConfig,
    mandatory: bool = False,
    continuing: bool = False,
) -> Gaps:
    """Whether a lane change into `corridor` (the ego at arc length `s0` [m] on it) finds acceptable
    gaps: ahead at least gap_min + gap_front_time x ego speed, and closing on the leader needing no
    more than `gap_deceleration` from the ego; behind at least gap_min + gap_rear_time x follower
    speed, and the follower closing in needing no more than `gap_deceleration` to keep off. A
    `mandatory` change (the route needs it) accepts the shorter gaps drivers take when they must:
    headways scaled by `mandatory_headway_scale`, decelerations up to `mandatory_gap_deceleration`;
    one `continuing` (under way) keeps going on headways scaled by `continuing_headway_scale` more."""
    agents, ego, vehicle = scene.agents, scene.ego, scene.vehicle
    if agents.count == 0:
        return Gaps(True, "target lane empty")
    scale = config.mandatory_headway_scale if mandatory else 1.0
    scale *= config.continuing_headway_scale if continuing else 1.0
    deceleration = config.mandatory_gap_deceleration if mandatory else config.gap_deceleration
    s, d = project(corridor, agents.x, agents.y, s0 - 80.0, s0 + 120.0)
    in_lane = np.abs(d) <= config.lane_half_width + 0.5 * agents.width - 0.5
    half = 0.5 * (vehicle.length + agents.length)
    speed = ego.speed
    ahead = in_lane & (s >= s0)
    behind = in_lane & (s < s0)
    if ahead.any():
        j = int(np.flatnonzero(ahead)[np.argmin(s[ahead])])
        gap = float(s[j] - s0 - half[j])
        closing = speed - float(agents.speed[j])
        reason = _gap_rejected(gap, speed, closing, scale * config.gap_front_time, deceleration, config)
        if reason:
            return Gaps(False, f"front {reason} (agent {int(agents.ids[j])})", j, True)
    if behind.any():
        j = int(np.flatnonzero(behind)[np.argmax(s[behind])])
        gap = float(s0 - s[j] - half[j])
        follower = float(agents.speed[j])
        closing = follower - speed
        reason = _gap_rejected(gap, follower, closing, scale * config.gap_rear_time, deceleration, config)
        if reason:
            return Gaps(False, f"rear {reason} (agent {int(agents.ids[j])})", j, False)
    return Gaps(True, "gaps accepted")


def making_room(scene: Scene, gaps: Gaps, config: DecisionConfig) -> tuple[float, str]:
    """The speed [m/s] (inf: none) the ego keeps below in its lane to open a rejected gap that a lane
    change the route needs waits for: `make_room_speed` slower than the agent ahead in the target
    lane whose gap is too short, when that agent is at least as fast as the ego (falling back
    behind it; a slower one the ego passes anyway, and a follower too close behind is left to
    pass or fall back by itself: slowing would only keep the two side by side longer); queues
    (slower than `make_room_min_speed`) are not made room in. Returns (speed, reason)."""
    if gaps.accepted or not gaps.ahead:
        return np.inf, ""
    speed = float(scene.agents.speed[gaps.blocker])
    if speed < max(config.make_room_min_speed, scene.ego.speed):
        return np.inf, ""
    agent = int(scene.agents.ids[gaps.blocker])
    return speed - config.make_room_speed, f"making room to change lanes behind agent {agent}"


def _gap_rejected(
    gap: float, speed: float, closing: float, headway: float, deceleration: float, config: DecisionConfig
) -> str:
    """Why a gap [m] in front of a vehicle at `speed` [m/s] closing at `closing` [m/s] is too small
    for `headway` [s] and at most `deceleration` [m/s2] to keep `gap_min` (empty when acceptable)."""
    need = config.gap_min + headway * speed
    if gap < need:
        return f"gap {gap:.1f} m < {need:.1f} m"
    braking = closing * closing / (2.0 * (gap - config.gap_min)) if closing > 0.0 else 0.0
    if braking > deceleration:
        return f"gap {gap:.1f} m closing at {closing:.1f} m/s"
    return ""


@njit(cache=True)
def _band_kernel(
    points: FloatArray,
    headings: FloatArray,
    low: int,
    high: int,
    spacing: float,
    band: float,
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    half_length: FloatArray,
    half_width: FloatArray,
    check: BoolArray,
) -> FloatArray:
    """(3, A): for agents' forecasts (A, T), the first and last step of their first stay in the band
    of half width `band` [m] around stations [low, high) (NaN: never) and the smallest arc length
    [m] their box reaches along the stations meanwhile."""
    agents, steps = x.shape
    out = np.full((3, agents), np.nan)
    for a in range(agents):
        if not check[a]:
            continue
        entered = False
        for k in range(steps):
            if not (np.isfinite(x[a, k]) and np.isfinite(y[a, k])):
                continue
            best, index = np.inf, low
            for i in range(low, high):
                distance = (points[i, 0] - x[a, k]) ** 2 + (points[i, 1] - y[a, k]) ** 2
                if distance < best:
                    best, index = distance, i
            dx, dy = x[a, k] - points[index, 0], y[a, k] - points[index, 1]
            cos, sin = np.cos(headings[index]), np.sin(headings[index])
            along, lateral = dx * cos + dy * sin, -dx * sin + dy * cos
            relative = yaw[a, k] - headings[index]
            along_extent = abs(half_length[a] * np.cos(relative)) + abs(half_width[a] * np.sin(relative))
            lateral_extent = abs(half_length[a] * np.sin(relative)) + abs(half_width[a] * np.cos(relative))
            beyond = (index == low and along < -along_extent) or (index == high - 1 and along > along_extent)
            inside = not beyond and abs(lateral) <= band + lateral_extent
            if inside:
                s = index * spacing + along - along_extent
                if not entered:
                    entered = True
                    out[0, a], out[2, a] = k, s
                out[1, a] = k
                out[2, a] = min(out[2, a], s)
            elif entered:
                break
    return out


def conflicts(
    scene: Scene,
    corridor: Corridor,
    s0: float,
    envelope_speed: float,
    config: DecisionConfig,
    yielding: frozenset[int] = frozenset(),
) -> list[Wall]:
    """Yields to agents whose forecast enters the band the ego sweeps along `corridor` (ahead of its
    front) while the ego would pass there: agents heading across the lane, and pedestrians. A new
    yield is only taken where the ego can still stop comfortably before the agent's entry (else
    braking is left to the proposals' collision check); one to an agent among `yielding` (ids the
    ego yielded to at the previous step) is kept while the conflict lasts."""
    agents, forecast, vehicle, ego = scene.agents, scene.forecast, scene.vehicle, scene.ego
    if agents.count == 0:
        return []
    front = s0 + 0.5 * vehicle.length
    reach = front + max(ego.speed, envelope_speed) * forecast.times[-1] + 20.0
    relative = np.abs(np.angle(np.exp(1j * (agents.yaw - corridor.frame.reference.heading_at(s0)))))
    ahead_of_rear = (np.cos(ego.yaw) * (agents.x - ego.x) + np.sin(ego.yaw) * (agents.y - ego.y)) > -0.5 * (
        vehicle.length + agents.length
    )
    source = forecast.source
    rows = np.maximum(source, 0)
    check = (source >= 0) & (ahead_of_rear & ((relative > _PARALLEL) | agents.pedestrian))[rows]
    if not check.any():
        return []
    low, high = int(corridor.station(front)), int(corridor.station(reach)) + 1
    if high - low < 2:
        return []
    out = _band_kernel(
        corridor.points,
        corridor.headings,
        low,
        high,
        corridor.spacing,
        0.5 * vehicle.width + _BAND_MARGIN,
        forecast.x,
        forecast.y,
        forecast.yaw,
        0.5 * forecast.length,
        0.5 * forecast.width,
        check,
    )
    walls = []
    for row in np.flatnonzero(np.isfinite(out[0])).tolist():  # the few forecasts that cross the lane
        a = int(source[row])
        entry = float(out[2, row])
        distance = entry - front
        if distance < -1.0:
            continue
        t_in, t_out = out[0, row] * scene.dt, out[1, row] * scene.dt
        margin = config.vru_margin if agents.vulnerable[a] else 0.0
        arrive = _travel_time(max(distance, 0.0), ego.speed, envelope_speed)
        clear = _travel_time(
            max(distance, 0.0) + vehicle.length + float(agents.length[a]), ego.speed, envelope_speed
        )
        if clear < t_in - config.yield_before - margin or arrive > t_out + config.yield_after + margin:
            continue  # the ego passes well before, or the agent is gone before the ego arrives
        stop = entry - config.stop_margin
        room = stop - front
        held = int(agents.ids[a]) in yielding
        if room > 0.0 and ego.speed**2 / (2.0 * room) > config.yield_deceleration and not held:
            continue
        kind = "pedestrian" if agents.pedestrian[a] else ("cyclist" if agents.vulnerable[a] else "vehicle")
        walls.append(
            Wall(
                max(stop, front) if room > 0.0 else front,
                "yield",
                f"yield to {kind} {int(agents.ids[a])} crossing {distance:.1f} m ahead "
                f"in {t_in:.1f}-{t_out:.1f} s",
                int(agents.ids[a]),
            )
        )
    return walls


def _travel_time(distance: float, speed: float, cruise: float, acceleration: float = 1.5) -> float:
    """Time [s] to cover `distance` [m] from `speed` [m/s], accelerating at `acceleration` [m/s2] up
    to `cruise` [m/s] (never below the current speed)."""
    cruise = max(cruise, speed, 0.5)
    ramp = (cruise - speed) / acceleration
    ramp_distance = speed * ramp + 0.5 * acceleration * ramp * ramp
    if distance <= ramp_distance:
        return float((-speed + np.sqrt(speed * speed + 2.0 * acceleration * distance)) / acceleration)
    return float(ramp + (distance - ramp_distance) / cruise)


def light_walls(
    scene: Scene,
    corridor: Corridor,
    s0: float,
    config: DecisionConfig,
    rules: TrafficRules,
    stopped_at: frozenset[int],
) -> list[Wall]:
    """Stops at stop lines ahead whose lights show red, yellow or red-yellow, where the ego can still
    stop before the line at most `light_deceleration` hard (otherwise it is too late: the ego goes
    on); the stop aims `stop_margin` short of the line, or where the ego's front is when closer.
    Where the `rules` let a vehicle turn right on red and the corridor turns right past the line,
    there is no stop (giving way is the yields' and the collision checks' to do), or, where the
    rules ask for a full stop first, none once the ego has stopped there (the lines' lanes in
    `stopped_at`); such a wall names its line's lane (`Wall.line`)."""
    front = s0 + 0.5 * scene.vehicle.length
    walls = []
    for line in corridor.stop_lines:
        colors = [scene.lights.get(light) for light in line.traffic_light_ids]
        stopping = [color for color in colors if color in STOP_COLORS]
        if not stopping or line.s < front - 0.5:
            continue
        turning = rules.turn_on_red and _turn_after(corridor, line.s) < -_TURN
        if turning and (not rules.stop_before_turn_on_red or line.lane_id in stopped_at):
            continue
        stop = line.s - config.stop_margin
        room = stop - front
        needed = scene.ego.speed**2 / (2.0 * max(line.s - front, 0.05))
        if needed > config.light_deceleration and (room < 15.0 or stopping[0] is not LightColor.RED):
            continue
        kind = "red_light" if LightColor.RED in stopping else "yellow_light"
        lights = ",".join(str(light) for light in line.traffic_light_ids)
        turn = ", then turning right on red" if turning else ""
        reason = f"{stopping[0].value} light {lights} at {room:.1f} m{turn}"
        walls.append(Wall(max(stop, front), kind, reason, line=line.lane_id if turning else -1))
    return walls


def _turn_after(corridor: Corridor, s: float, reach: float = 60.0) -> float:
    """The heading change [rad] (left positive) across the first intersection on `corridor` within
    `reach` [m] after arc length `s` [m]; 0 without one."""
    low, high = int(corridor.station(s)), int(corridor.station(s + reach)) + 1
    crossing = np.flatnonzero(corridor.in_intersection[low:high]) + low
    if len(crossing) == 0:
        return 0.0
    entry = int(crossing[0])
    leaving = np.flatnonzero(~corridor.in_intersection[entry:high])
    last = entry + int(leaving[0]) - 1 if len(leaving) else high - 1
    return float(angle_diff(float(corridor.headings[last]), float(corridor.headings[entry])))
