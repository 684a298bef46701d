"""Proposals: lateral paths on lane corridors x longitudinal speed profiles, as tracker references.

A path lives in one corridor's Frenet frame: from the ego's offset `d0`, leaving along the ego's
heading, it moves to a target offset `target` over `transition` metres of travel along a quintic
(zero curvature at both ends, parallel to the lane at the end), then keeps it. On the ego's own
lane the targets are the centerline and small offsets; on an adjacent lane's corridor the target
0 is a lane change.

A speed profile is the arc length s(t) along the path, from a compiled kernel stepping every
proposal at once: IDM toward a fraction of the corridor's desired-speed envelope (its free-road
term capped by a proportional speed controller, so the target is reached rather than approached
ever more slowly) with a given time headway, behind the leader (assumed to keep its speed, or to
keep braking until it stops; as in
the ACC model of Kesting, Treiber and Helbing, IDM's braking is blended toward the constant-
acceleration heuristic, so a close but faster or slightly slower leader, e.g. one cutting in, is not
met with IDM's panic braking) and
stopping at the stop points ("walls": where the ego's front bumper must stay behind; IDM treats
them as standing leaders, the comfortable-stop profile brakes just in time at the constant
deceleration that ends at the wall), a comfortable slowing down, or an emergency brake;
the acceleration changes by at most a jerk bound per step and eases to zero as the ego comes to
rest, so stops are smooth. Arrays are
(B,) per proposal and (B, H + 1) over the horizon's steps; SI units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.dynamics import BicycleState, IdmParams, rollout
from drivestack.core.dynamics.idm import advance, idm_law
from drivestack.core.geometry import TWO_PI, angle_diff
from drivestack.core.scenario import Goal
from drivestack.maps.routing import Corridor
from drivestack.plan.drivestack.config import DrivestackConfig, ProposalConfig
from drivestack.plan.drivestack.decide import LaneOption, Scene
from drivestack.plan.drivestack.stages import BRAKE, FIRM, IDM, LEADER, SLOW, STOP, WALL, Proposals

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_IDM_TARGET_MARGIN = 1.2  # IDM aims this much above the target speed, a speed controller caps it
_STOP_TRIGGER = 0.3  # [m/s2] a just-in-time stop brakes once it needs more than this
_STANDSTILL = 0.5  # [m] the least bumper gap a stop behind a standing leader may end with


@dataclass(frozen=True, eq=False)
class Profiles:
    """Speed profiles of B proposals over H + 1 steps: arc length `s` [m] along each proposal's
    corridor, speed `v` [m/s], acceleration `a` [m/s2], each (B, H + 1); `binding` (B,) what
    limited the first step (FREE, LEADER or WALL)."""

    s: FloatArray
    v: FloatArray
    a: FloatArray
    binding: NDArray[np.int8]


@njit(cache=True)
def _acc(
    idm: float, speed: float, gap: float, lead_speed: float, lead_accel: float, params: FloatArray
) -> float:
    """The ACC model's acceleration [m/s2] from IDM's `idm` behind a leader `gap` [m] ahead at
    `lead_speed` [m/s] and `lead_accel` [m/s2]: where the constant-acceleration heuristic (the
    largest acceleration that avoids a collision if the leader keeps its acceleration) asks less,
    IDM's braking is blended toward it, at most about the comfortable deceleration below it
    (coolness 0.99); `params` as `IdmParams.array`."""
    accel = min(lead_accel, params[2])
    space = max(gap, 0.1)
    if lead_speed * (speed - lead_speed) <= -2.0 * space * accel:  # the leader stops first
        heuristic = speed * speed * accel / (lead_speed * lead_speed - 2.0 * space * accel + 1e-9)
    else:
        closing = max(speed - lead_speed, 0.0)
        heuristic = accel - closing * closing / (2.0 * space)
    if idm >= heuristic:
        return idm
    comfortable = params[3]
    return 0.01 * idm + 0.99 * (heuristic + comfortable * np.tanh((idm - heuristic) / comfortable))


@njit(cache=True)
def _profiles_kernel(
    s0: FloatArray,
    v0: float,
    a0: float,
    corridor: IntArray,
    envelope: FloatArray,
    spacing: float,
    kind: IntArray,
    fraction: FloatArray,
    headway: FloatArray,
    lead_gap: FloatArray,
    lead_speed: FloatArray,
    lead_accel: FloatArray,
    wall: FloatArray,
    idm: FloatArray,
    limits: FloatArray,
    dt: float,
    steps: int,
) -> tuple[FloatArray, NDArray[np.int8]]:
    """Profiles (3, B, steps + 1) and first-step binding (B,); `idm` as `IdmParams.array`, `limits`
    as `ProfileLimits.array`."""
    front, jerk, brake, brake_jerk, max_accel, gain, slow, firm, firm_jerk = limits
    count = s0.shape[0]
    out = np.empty((3, count, steps + 1))
    binding = np.zeros(count, dtype=np.int8)
    params = idm.copy()
    last = envelope.shape[1] - 1
    for b in range(count):
        s, v, a = s0[b], v0, a0
        out[0, b, 0], out[1, b, 0], out[2, b, 0] = s, v, a
        params[1] = headway[b]
        limit = brake_jerk if kind[b] == BRAKE else firm_jerk if kind[b] == FIRM else jerk
        for h in range(steps):
            clearance = np.inf  # [m] to the nearest thing the ego must stop behind
            if kind[b] == BRAKE:
                command = -brake
            elif kind[b] == SLOW:
                command = -slow
            elif kind[b] == FIRM:
                command = -firm
            else:
                station = min(max(int(s / spacing + 0.5), 0), last)
                target = max(fraction[b] * envelope[corridor[b], station], 0.0)
                cruise = target * _IDM_TARGET_MARGIN  # IDM's free term fades early: aim higher, ...
                free = min(idm_law(v, cruise, np.inf, 0.0, params), gain * (target - v))  # ... cap at target
                free = max(free, -params[3])
                command = free
                # each leader keeps its speed, or keeps braking until it stops
                for n in range(lead_gap.shape[1]):
                    braking = min(lead_accel[b, n], 0.0)
                    moving = min(h * dt, lead_speed[b, n] / -braking) if braking < 0.0 else h * dt
                    ahead_speed = lead_speed[b, n] + braking * moving
                    travelled = lead_speed[b, n] * moving + 0.5 * braking * moving * moving
                    gap = lead_gap[b, n] + travelled - (s - s0[b])
                    if not np.isfinite(gap):
                        continue
                    if ahead_speed < 0.5:
                        clearance = min(clearance, gap - _STANDSTILL)
                    following = idm_law(v, cruise, gap, ahead_speed, params)
                    following = _acc(
                        following, v, gap, ahead_speed, braking if ahead_speed > 0.0 else 0.0, params
                    )
                    if gap < params[0] and v > ahead_speed:  # IDM clamps the gap at min_gap: brake inside it
                        following = min(following, -params[5] * (1.0 - max(gap, 0.0) / params[0]))
                    if following < command:
                        command = following
                        if h == 0 and following < free - 0.05:
                            binding[b] = LEADER
                if np.isfinite(wall[b]):
                    room = wall[b] - (s + front)
                    clearance = min(clearance, room)
                    aim = room - _STANDSTILL  # aim a little short: the last metres ease out
                    if kind[b] == STOP:  # just in time: the constant deceleration that stops at the wall
                        aim -= _STANDSTILL  # it brakes harder: leave more room to ease out
                        needed = v * v / (2.0 * max(aim, 0.1)) if aim > 0.0 else brake
                        stopping = -needed if needed > _STOP_TRIGGER else command
                    else:
                        stopping = idm_law(v, cruise, aim + params[0], 0.0, params)
                        if room < 0.0 and v > 0.0:
                            stopping = -brake
                    if stopping < command:
                        command = stopping
                        if h == 0 and stopping < free - 0.05:
                            binding[b] = WALL
            # a stop ends with a -> 0 (jerk-limited) when there is room for the longer last metres
            easing = v * (-2.0 * a / (3.0 * limit) + dt)  # [m] the ease-out takes at most
            if command < 0.0 and a < 0.0 and v <= a * a / (2.0 * limit) - 0.5 * a * dt and clearance > easing:
                command = max(command, -np.sqrt(2.0 * limit * v))
            a = min(max(command, a - limit * dt), a + limit * dt)
            a = min(max(a, -brake), max_accel)
            s, v, a = advance(s, v, a, dt)
            out[0, b, h + 1], out[1, b, h + 1], out[2, b, h + 1] = s, v, a
    return out, binding


@dataclass(frozen=True)
class ProfileLimits:
    """The bounds every profile keeps: the ego's `front` overhang [m] from its centre, the
    `comfort_jerk` [m/s3], the emergency brake's `brake_deceleration` [m/s2] and `brake_jerk`
    [m/s3], the `max_acceleration` [m/s2], the `speed_gain` [1/s] of the controller that holds the
    target speed, the SLOW profiles' `slow_deceleration` [m/s2], the FIRM ones'
    `firm_deceleration` [m/s2] and `firm_jerk` [m/s3]."""

    front: float
    comfort_jerk: float
    brake_deceleration: float
    brake_jerk: float
    max_acceleration: float
    speed_gain: float
    slow_deceleration: float
    firm_deceleration: float
    firm_jerk: float

    @staticmethod
    def of(config: ProposalConfig, length: float) -> ProfileLimits:
        """The limits `config` sets for an ego `length` [m] long."""
        return ProfileLimits(
            front=0.5 * length,
            comfort_jerk=config.comfort_jerk,
            brake_deceleration=config.emergency_deceleration,
            brake_jerk=config.emergency_jerk,
            max_acceleration=config.idm.accel_max,
            speed_gain=config.speed_gain,
            slow_deceleration=config.slow_deceleration,
            firm_deceleration=config.firm_deceleration,
            firm_jerk=config.firm_jerk,
        )

    @property
    def array(self) -> FloatArray:
        """The limits in field order, the form the compiled kernel takes."""
        return np.array([getattr(self, name.name) for name in dataclasses.fields(self)], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class ProfileRows:
    """What each of B profiles asks, (B,) each: start arc length `s0` [m] on corridor `corridor`,
    profile `kind` (IDM, STOP, BRAKE, SLOW, FIRM), target `fraction` of the desired speed, IDM time
    `headway` [s], its L leaders' bumper gaps `lead_gap` [m] (inf: none), speeds `lead_speed`
    [m/s] and accelerations `lead_accel` [m/s2] (B, L) or (B,) (braking is kept until a leader
    stops; the profile follows the most demanding of them) and the front bumper's stop `wall` [m]
    (inf: none)."""

    s0: FloatArray
    corridor: IntArray
    kind: IntArray
    fraction: FloatArray
    headway: FloatArray
    lead_gap: FloatArray
    lead_speed: FloatArray
    lead_accel: FloatArray
    wall: FloatArray


def speed_profiles(
    rows: ProfileRows,
    v0: float,
    a0: float,
    envelope: FloatArray,
    spacing: float,
    idm: IdmParams,
    limits: ProfileLimits,
    dt: float,
    steps: int,
) -> Profiles:
    """Profiles of B proposals (see the module docstring) for an ego at speed `v0` [m/s] and
    acceleration `a0` [m/s2] now, over `steps` steps of `dt` [s]: `rows` on corridors whose desired
    speed per station is `envelope` (C, K) [m/s], `spacing` [m] apart, following `idm`.

    Paths beside each other on one corridor share their profiles: rows whose inputs are all equal
    are computed once."""
    count = len(rows.s0)
    leaders = [_per_proposal(values, count) for values in (rows.lead_gap, rows.lead_speed, rows.lead_accel)]
    inputs = np.column_stack(
        [rows.s0, rows.corridor, rows.kind, rows.fraction, rows.headway, rows.wall, *leaders]
    )
    first, shared = _distinct_rows(inputs)
    out, binding = _profiles_kernel(
        np.asarray(rows.s0, dtype=np.float64)[first],
        float(v0),
        float(a0),
        np.asarray(rows.corridor, dtype=np.int64)[first],
        np.ascontiguousarray(envelope, dtype=np.float64),
        float(spacing),
        np.asarray(rows.kind, dtype=np.int64)[first],
        np.asarray(rows.fraction, dtype=np.float64)[first],
        np.asarray(rows.headway, dtype=np.float64)[first],
        leaders[0][first],
        leaders[1][first],
        leaders[2][first],
        np.asarray(rows.wall, dtype=np.float64)[first],
        np.ascontiguousarray(idm.array, dtype=np.float64),
        limits.array,
        float(dt),
        int(steps),
    )
    return Profiles(out[0][shared], out[1][shared], out[2][shared], binding[shared])


def _distinct_rows(values: FloatArray) -> tuple[IntArray, IntArray]:
    """The rows of `values` (B, F) that differ, as `np.unique(values, axis=0)` finds them (sorted,
    the first of equal rows, compared as floats) but without its structured-array sort: the index
    of each distinct row (U,) and each row's distinct row number (B,)."""
    order = np.lexsort(values.T[::-1])  # stable, column 0 first
    ordered = values[order]
    starts = np.concatenate([[True], (ordered[1:] != ordered[:-1]).any(axis=1)])
    shared = np.empty(len(values), dtype=np.int64)
    shared[order] = np.cumsum(starts) - 1
    return order[starts], shared


def _per_proposal(values: FloatArray, count: int) -> FloatArray:
    """`values` (B,) or (B, L) as a contiguous float64 (B, L) array."""
    return np.ascontiguousarray(values, dtype=np.float64).reshape(count, -1)


def lateral_offsets(
    s: FloatArray,
    s0: FloatArray,
    d0: FloatArray,
    slope: FloatArray,
    target: FloatArray,
    transition: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Offsets d (B, N) [m] and slopes dd/ds (B, N) at arc lengths s (B, N) of paths leaving
    (s0, d0) (B,) with lateral slope `slope` (B,) [m/m] (the ego's heading relative to the corridor)
    and reaching `target` (B,) after `transition` (B,) [m]: a quintic with zero curvature at both
    ends and zero slope at the end."""
    length = np.maximum(transition, 1e-3)[:, None]
    u = np.clip((s - s0[:, None]) / length, 0.0, 1.0)
    u2 = u * u
    u3 = u2 * u
    leave = 1.0 - u3 * (10.0 - 15.0 * u + 6.0 * u2)  # from 1 to 0, flat at both ends
    turn = u - u3 * (6.0 - 8.0 * u + 3.0 * u2)  # unit slope at 0, flat at 1, zero at both ends
    gap = (d0 - target)[:, None]
    d = target[:, None] + gap * leave + (slope[:, None] * length) * turn
    d_leave = -30.0 * u2 * (1.0 - u) ** 2  # the derivatives in u
    d_turn = 1.0 - u2 * (18.0 - 32.0 * u + 15.0 * u2)
    rate = np.where(u < 1.0, gap * d_leave / length + slope[:, None] * d_turn, 0.0)
    return d, np.where(s < s0[:, None], slope[:, None], rate)


@dataclass(frozen=True, eq=False)
class References:
    """Tracker references of B proposals on the step grid: centre x, y [m], yaw [rad], speed [m/s]
    (B, H + 1), and the lateral offsets d (B, H + 1) [m] in each proposal's corridor."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    d: FloatArray


def references(
    corridors: list[Corridor],
    corridor: IntArray,
    s0: FloatArray,
    d0: FloatArray,
    slope: FloatArray,
    target: FloatArray,
    transition: FloatArray,
    profiles: Profiles,
) -> References:
    """The poses of every proposal along its path at its profile's arc lengths (one compiled
    Frenet conversion per corridor, not per proposal)."""
    s = profiles.s
    d, rate = lateral_offsets(s, s0, d0, slope, target, transition)
    x, y, yaw = np.empty_like(s), np.empty_like(s), np.empty_like(s)
    for number, lane in enumerate(corridors):  # at most three corridors
        rows = corridor == number
        if not rows.any():
            continue
        points, yaw[rows] = lane.frame.poses(s[rows], d[rows], rate[rows])
        x[rows], y[rows] = points[..., 0], points[..., 1]
    return References(x, y, yaw, profiles.v, d)


_GOAL_REACH = 0.3  # [m] beyond its lane's half width a path may aim at a goal region's centre
_HEADING_MARGIN = 0.05  # [rad] inside a goal's orientation interval a path aims its heading
_MIN_HEADING_RUN = 1.0  # [m] of travel before a goal region's middle a heading path needs
_MAX_HEADING_TURN = 0.5  # [rad] the most a path turns off its lane to meet a goal's orientation


@dataclass(frozen=True, eq=False)
class _Rows:
    """The rule-based proposals of one step before their profiles, (B,) each: option index, path
    target offset [m] and transition length [m], profile kind, IDM target fraction and headway [s],
    stop wall [m]."""

    option: IntArray
    target: FloatArray
    transition: FloatArray
    kind: IntArray
    fraction: FloatArray
    headway: FloatArray
    wall: FloatArray


class RuleBasedSource:
    """drivestack's own proposals: paths (centerline, lateral offsets, paths toward goal regions,
    lane changes into open lanes) x speed profiles (IDM at several target speeds and headways, a
    comfortable stop, slowing down, an emergency brake last), rolled out with the scene's tracker."""

    def __init__(self, config: DrivestackConfig) -> None:
        self.config = config

    def propose(self, scene: Scene, options: list[LaneOption]) -> Proposals:
        """The rolled-out proposals of the open `options` (see the module docstring)."""
        config = self.config.proposals
        ego = scene.ego
        rows = _rows(options, ego.speed, scene.vehicle.length, scene.goal, config)
        corridors = [option.corridor for option in options]
        s0 = np.array([option.s0 for option in options])[rows.option]
        d0 = np.array([option.d0 for option in options])[rows.option]
        slope = np.array([option.slope for option in options])[rows.option]
        braking_threshold = self.config.forecast.braking_threshold
        lead_accel = [_lead_braking(scene, option, braking_threshold) for option in options]
        asked = ProfileRows(
            s0=s0,
            corridor=rows.option,
            kind=rows.kind,
            fraction=rows.fraction,
            headway=rows.headway,
            lead_gap=_stack([option.lead_gaps for option in options])[rows.option],
            lead_speed=_stack([option.lead_speeds for option in options])[rows.option],
            lead_accel=_stack(lead_accel)[rows.option],
            wall=rows.wall,
        )
        envelopes = _stack([option.envelope for option in options])
        limits = ProfileLimits.of(config, scene.vehicle.length)
        steps = len(scene.times) - 1
        profiles = speed_profiles(
            asked,
            ego.speed,
            ego.acceleration,
            envelopes,
            corridors[0].spacing,
            config.idm,
            limits,
            scene.dt,
            steps,
        )
        refs = references(corridors, rows.option, s0, d0, slope, rows.target, rows.transition, profiles)
        start = BicycleState.of(
            ego.x, ego.y, ego.yaw, ego.speed, ego.acceleration, ego.yaw_rate, ego.steering_angle, len(s0)
        )
        states = rollout(start, refs.x, refs.y, refs.yaw, refs.speed, scene.tracker)
        return Proposals(
            states=states,
            option=rows.option,
            kind=rows.kind,
            s=profiles.s,
            d=refs.d,
            target=rows.target,
            transition=rows.transition,
            fraction=rows.fraction,
            binding=profiles.binding,
        )


def _rows(
    options: list[LaneOption], speed: float, length: float, goal: Goal, config: ProposalConfig
) -> _Rows:
    """Paths x profiles of the open options (see `ProposalConfig`) for the ego of `length` [m] at
    `speed` [m/s]; the emergency brake on the ego's own lane, holding its offset, comes last."""
    fractions, headways = (
        grid.ravel().tolist() for grid in np.meshgrid(config.speed_fractions, config.headways)
    )
    rows: list[tuple[int, float, float, int, float, float, float]] = []
    for number, option in enumerate(options):
        if not option.allowed:
            continue
        wall = option.first_wall
        wall_s = wall.s if wall is not None else np.inf
        if option.side == 0:
            transition = max(config.min_transition, speed * config.offset_time)
            junction = bool(option.corridor.in_intersection[option.corridor.station(option.s0)])
            offsets = () if junction else config.lateral_offsets  # turn lanes are followed as drawn
            targets = sorted({0.0, *offsets, round(option.d0, 2), *_goal_offsets(option, speed, config)})
            paths = [(target, transition) for target in targets] + _goal_headings(option, goal)
        else:
            lengths = [max(config.min_transition, speed * t) for t in config.lane_change_times]
            if np.isfinite(option.change_left):
                floor = max(config.min_transition, speed * min(config.lane_change_times) / 3.0)
                lengths = [max(floor, option.change_left)]  # the change under way goes on
            paths = [(0.0, transition) for transition in lengths]
        stop = _stop_point(option, length, config.idm.min_gap)
        for target, transition in paths:
            rows += [
                (number, target, transition, IDM, fraction, headway, wall_s)
                for fraction, headway in zip(fractions, headways, strict=True)
            ]
            if np.isfinite(stop):
                rows.append((number, target, transition, STOP, 1.0, max(config.headways), stop))
    keep = options[0]
    rows += [
        (0, target, 1.0, kind, 0.0, max(config.headways), np.inf)
        for target in {0.0, round(keep.d0, 2)}
        for kind in (SLOW, FIRM)
    ]
    rows.append((0, keep.d0, 1.0, BRAKE, 0.0, max(config.headways), np.inf))
    table = np.array(rows, dtype=np.float64)
    return _Rows(
        option=table[:, 0].astype(np.int64),
        target=table[:, 1],
        transition=table[:, 2],
        kind=table[:, 3].astype(np.int64),
        fraction=table[:, 4],
        headway=table[:, 5],
        wall=table[:, 6],
    )


def _goal_offsets(option: LaneOption, speed: float, config: ProposalConfig) -> list[float]:
    """Lateral targets [m] toward goal regions ahead on the option's corridor that lie beside its
    centerline or reach into its lanes from beside (within the lane and a little beyond), reachable
    within the horizon."""
    corridor = option.corridor
    reach = option.s0 + max(speed, 5.0) * config.horizon
    found = []
    for span in corridor.goal + corridor.goal_beside:
        if span.s_out < option.s0 or span.s_in > reach or abs(span.offset) < 0.2:
            continue
        k = corridor.station(span.s_in)
        low, high = -float(corridor.half_right[k]) - _GOAL_REACH, float(corridor.half_left[k]) + _GOAL_REACH
        found.append(round(float(np.clip(span.offset, low, high)), 2))
    return found


def _goal_headings(option: LaneOption, goal: Goal | None) -> list[tuple[float, float]]:
    """Paths (target offset [m], transition [m]) that cross a goal region ahead on the option's
    corridor at a heading its orientation interval allows where the lane's own heading there does
    not (a region drawn where the recorded driver was still turning): the path's quintic is at its
    steepest in the region's middle, aiming `_HEADING_MARGIN` inside the interval, within the lane
    and a little beyond."""
    if goal is None:
        return []
    corridor, found = option.corridor, []
    for span in corridor.goal + corridor.goal_beside:
        interval = goal.states[span.state].orientation
        middle = 0.5 * (max(span.s_in, option.s0) + span.s_out)
        if interval is None or middle - option.s0 < _MIN_HEADING_RUN:
            continue
        k = corridor.station(middle)
        heading = float(corridor.headings[k])
        width = interval.end - interval.start
        if np.remainder(heading - interval.start, TWO_PI) <= width or width >= TWO_PI:
            continue  # the lane's heading is allowed
        to_start, to_end = (float(angle_diff(end, heading)) for end in (interval.start, interval.end))
        margin = min(_HEADING_MARGIN, 0.5 * width)
        turn = to_start + margin if abs(to_start) < abs(to_end) else to_end - margin
        transition = 2.0 * (middle - option.s0)
        # the path's slope at the middle is linear in its target: read it off two paths, solve
        _, rate = lateral_offsets(
            np.full((2, 1), middle),
            np.full(2, option.s0),
            np.full(2, option.d0),
            np.full(2, option.slope),
            option.d0 + np.array([0.0, 1.0]),
            np.full(2, transition),
        )
        target = option.d0 + (np.tan(turn) - rate[0, 0]) / (rate[1, 0] - rate[0, 0])
        low, high = -float(corridor.half_right[k]) - _GOAL_REACH, float(corridor.half_left[k]) + _GOAL_REACH
        if abs(turn) < _MAX_HEADING_TURN and low <= target <= high:
            found.append((round(float(target), 2), transition))
    return found


def _stop_point(option: LaneOption, length: float, min_gap: float) -> float:
    """Where the comfortable-stop profile stops the front bumper [m]: the first wall, else behind the
    leader (inf: nowhere to stop for)."""
    wall = option.first_wall
    if wall is not None:
        return wall.s
    if np.isfinite(option.lead_gap):
        return option.s0 + 0.5 * length + option.lead_gap - min_gap
    return float("inf")


def _lead_braking(scene: Scene, option: LaneOption, braking_threshold: float) -> FloatArray:
    """The decelerations [m/s2] (<= 0) (L,) of the option's leaders that brake (as the forecasts
    count braking: below `braking_threshold` [m/s2]), else 0."""
    rows = option.lead_rows
    accel = np.zeros(len(rows))
    accel[rows >= 0] = scene.agents.acceleration[rows[rows >= 0]]
    return np.where(accel < braking_threshold, accel, 0.0)


def _stack(rows: list[FloatArray]) -> FloatArray:
    """Arrays of different lengths stacked as (N, max length), padded with their last value."""
    width = max(len(row) for row in rows)
    stacked = np.empty((len(rows), width))
    for number, row in enumerate(rows):  # a handful of rows: filling beats `np.pad` per row
        stacked[number, : len(row)] = row
        stacked[number, len(row) :] = row[-1]
    return stacked
