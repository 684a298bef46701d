"""Reactive agents anchored to their recordings (agent mode "reactive").

Every recorded road user that moves (vehicles that are not parked, pedestrians, bicycles; >= 2
states, >= 1 m of recorded path) drives along its own recorded path, which lies on the lanes it
actually drove, so it turns and changes lanes where the human did. Its route on the lane graph
(`match_routes`: the lanes `MapIndex.assign` finds along the recorded poses) gives the stops on
its way for traffic lights and stop signs (`maps.stops.lane_stop`), placed on the path; where
vehicles' recorded paths cross or merge (`Crossings`) they may have to give way.

Model, all movers at once, per step:
1. Leader: the nearest box ahead on the path within `lookahead_distance` + `lookahead_time` of
   travel (`core.dynamics.find_leaders`: the ego, the agents, static obstacles; pedestrians and
   bicycles see only the ego and vehicles), or, as a standing leader, the stop of a red light
   (red-yellow too, and a yellow one it can stop for within `yellow_deceleration`), of a stop sign
   it has not yet stood still at, or a crossing where it gives way, whichever is nearest.
2. Reaction: IDM's interaction term a (1 - (s*/gap)^2), s* = s0 + max(0, v T + v dv / (2 sqrt(a b))),
   with per-agent parameters, measured against the same term in the recording at this step (the
   agent and everything around it where they were, the recorded human included):
   a_react = a + (a_int(now) - a_int(recorded)). A situation as recorded never makes it leave its
   recording; a leader closer or slower than recorded, or a red light it reaches later than
   recorded, does, by the difference. An emergency floor acts when the deceleration needed to stop
   short of the leader exceeds the comfortable one and the recorded one by `emergency_margin`.
3. Anchoring: an agent on its recording takes its next recorded state when nothing presses it
   more than recorded (a_react = a) or when that state is reachable under a_react; otherwise it
   brakes with min(a_track, a_react), where a_track tracks its time-indexed recorded progress
   (P on speed and position, within [-b, a]), and rejoins its recording once within
   `snap_distance` and `snap_speed` of it while the reaction does not bind.
4. Lane changes (MOBIL, see `ReactiveParams`): a vehicle held up by something the recording did not
   have moves to a neighbour lane, and back. Its lateral reference is a quintic blend of the offset
   from its recorded path over progress (`_lateral_step`), and while it is off its path the
   kinematic bicycle and tracker of `core.dynamics` (the ego's) drive it along that reference, so
   its heading, yaw rate and steering come from the vehicle model.

Parameters per agent are drawn once per run from `ReactiveParams.seed` (multiplicative log-normal
spread around the defaults), so the traffic is not a fleet of clones and a seed reproduces a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from numba import njit
from numpy.typing import NDArray

from drivestack.core.dynamics import (
    BicycleState,
    Obstacles,
    Reference,
    Tracker,
    VehicleParams,
    bicycle_step,
    find_leaders,
    longitudinal_step,
)
from drivestack.core.geometry import wrap_angle
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import AgentType, LightColor, RecordedEgo, Tracks, TrafficLight, TrafficSign
from drivestack.maps.index import MapIndex
from drivestack.maps.stops import lane_stop
from drivestack.sim.agents import AgentStates, RecordedPaths

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_MIN_PATH_LENGTH = 1.0  # [m] a road user that moves less than this in the recording stays as recorded
_LOOKAHEAD_SAMPLES = 24
_SAMPLES = np.linspace(0.0, 1.0, _LOOKAHEAD_SAMPLES)  # fractions of the reach searched for leaders
_VRU_TYPES = (AgentType.PEDESTRIAN, AgentType.BICYCLE)
_STOP_NEAR_PATH = 3.0  # [m] a lane's stop counts for an agent whose path passes this close to it
_MERGE_LOOKBACK = 60.0  # [m] two paths merge where, this far back along each (or from its start, ...
_MERGE_MIN_LOOKBACK = 10.0  # [m] ... if that is at least this far back), ...
_MERGE_APART = 2.0  # [m] ... each was at least this far from the other
_MAX_YIELD_REACH = 30.0  # [m] a yielding vehicle stops at most this far before a meeting point
_RESTING = 0.1  # [m/s] an agent slower than this stands still
_SAME_PRESSURE = 1e-6  # [m/s2] reactions that differ less than this from the recorded ones are equal
_NO_STOP, _STOP_ON_YELLOW, _STOP, _FULL_STOP = 0, 1, 2, 3  # what a stop asks of the traffic behind it
_STOP_SIGNS = frozenset({"206", "R1-1"})  # CommonRoad traffic sign ids of stop signs (Germany, USA)
_YIELD_SIGNS = frozenset({"205", "R1-2"})  # ... and of yield signs
_SIGN_REACH = 40.0  # [m] a stop or yield sign gives way at crossings this far beyond its stop
_QUINTIC_PEAK_ACCEL = 10.0 / np.sqrt(3.0)  # a quintic blend's peak second derivative: this x rise / span^2
_QUINTIC_PEAK_RATE = 15.0 / 8.0  # ... and its peak first derivative: this x rise / span
_SETTLED_DISTANCE = 0.02  # [m] a vehicle within this of its lateral reference ...
_SETTLED_HEADING = 0.005  # [rad] ... and heading within this of it leaves the bicycle for its path
_LATERAL_FIELDS = ("lateral", "lateral_slope", "lateral_bend", "lateral_left")


@dataclass(frozen=True)
class ReactiveParams:
    """Defaults of the reactive agents' model (see the module docstring); SI units.

    Vehicles: IDM `headway_time` T [s], `min_gap` s0 [m], `accel_max` a and `decel_comfort` b
    [m/s2]; pedestrians and bicycles: `vru_headway_time`, `vru_min_gap`, `vru_accel_max`,
    `vru_decel_comfort`. Each agent's four values are the defaults times exp(N(0, `spread`)) clipped
    to +-2 `spread`, drawn from `seed`. `max_braking` [m/s2] bounds any braking; `stop_margin` [m]
    before a stop line (a stop sign releases an agent that has stood still with its front within
    `stop_margin` + `stop_settle` [m] of the line); a yellow light stops agents that need at most
    `yellow_deceleration` [m/s2], a red one those that need at most `red_deceleration`. Tracking of
    the recorded progress: `speed_gain` [1/s], `position_gain` [1/s2]; rejoining within
    `snap_distance` [m] and `snap_speed` [m/s] while its reaction does not bind, never faster than
    `catch_up_factor` times its fastest recorded speed.
    Leaders are searched within `lookahead_distance` [m] + `lookahead_time` [s] of travel ahead.
    Recorded paths crossing at more than `crossing_angle` [rad], or merging, are conflicts (see
    `ReactiveAgents._crossing_gap`): arrival order within `crossing_horizon` [s], the later one
    stopping `crossing_margin` [m] short of the other's side unless it can clear the crossing
    `crossing_gap` [s] before the first arrives.
    Lane changes (MOBIL): a vehicle held up (not as recorded) by something standing within
    `lane_change_trigger` [m] moves to a same-direction neighbour lane when its acceleration there
    beats the present one by `lane_change_threshold` [m/s2] plus `politeness` times the braking it
    imposes on the new follower, who must not need more than `safe_deceleration` [m/s2]; it moves
    back to its recorded lane once that is free and safe, and aborts a change whose gap closes.
    The lateral reference moves from its offset to the goal on a quintic of progress (zero slope
    and bend at the goal) over max(speed x D, the length whose peak bend is `max_lateral_bend`
    [1/m]), D [s] the shortest time that keeps the peak lateral acceleration within
    `max_lateral_accel` [m/s2] and the peak lateral speed within `max_lateral_speed` [m/s]; a
    change of goal (an abort) starts a new quintic from where the reference is.
    """

    seed: int = 0
    spread: float = 0.1
    headway_time: float = 1.0
    min_gap: float = 2.0
    accel_max: float = 1.5
    decel_comfort: float = 2.0
    vru_headway_time: float = 0.5
    vru_min_gap: float = 0.5
    vru_accel_max: float = 1.0
    vru_decel_comfort: float = 1.5
    max_braking: float = 8.0
    emergency_margin: float = 1.0
    stop_margin: float = 0.5
    stop_settle: float = 1.5
    yellow_deceleration: float = 3.0
    red_deceleration: float = 6.0
    speed_gain: float = 1.2
    position_gain: float = 0.36
    snap_distance: float = 0.1
    snap_speed: float = 0.2
    catch_up_factor: float = 1.2
    lookahead_distance: float = 20.0
    lookahead_time: float = 3.0
    crossing_angle: float = np.deg2rad(20.0)
    crossing_horizon: float = 6.0
    crossing_margin: float = 1.0
    crossing_gap: float = 1.0
    lane_change_trigger: float = 25.0
    politeness: float = 0.3
    lane_change_threshold: float = 0.2
    safe_deceleration: float = 3.0
    max_lateral_accel: float = 1.5
    max_lateral_speed: float = 1.5
    max_lateral_bend: float = 0.2


@dataclass(frozen=True, eq=False)
class DriverParams:
    """Per-agent IDM values, each (R,): headway [s], standstill gap [m], acceleration and comfortable
    deceleration [m/s2]."""

    headway: FloatArray
    min_gap: FloatArray
    accel: FloatArray
    decel: FloatArray

    @staticmethod
    def draw(vru: BoolArray, params: ReactiveParams) -> DriverParams:
        """Values for R agents (`vru` (R,) marks pedestrians and bicycles), drawn from `params.seed`."""
        rng = np.random.default_rng(params.seed)
        spread = params.spread
        factors = np.exp(np.clip(rng.normal(0.0, spread, (4, len(vru))), -2.0 * spread, 2.0 * spread))
        defaults = np.where(
            vru[None, :],
            np.array(
                [
                    params.vru_headway_time,
                    params.vru_min_gap,
                    params.vru_accel_max,
                    params.vru_decel_comfort,
                ]
            )[:, None],
            np.array([params.headway_time, params.min_gap, params.accel_max, params.decel_comfort])[:, None],
        )
        values = defaults * factors
        return DriverParams(values[0], values[1], values[2], values[3])

    def at(self, rows: IntArray) -> DriverParams:
        """The values of `rows`."""
        return DriverParams(self.headway[rows], self.min_gap[rows], self.accel[rows], self.decel[rows])


def interaction(
    speed: FloatArray, gap: FloatArray, lead_speed: FloatArray, driver: DriverParams, max_braking: float
) -> FloatArray:
    """IDM's interaction term [m/s2] (R,): a (1 - (s*/gap)^2) behind a leader `gap` [m] ahead (inf:
    none, giving a) at `lead_speed` [m/s], clipped below at -`max_braking`."""
    closing = speed * (speed - lead_speed) / (2.0 * np.sqrt(driver.accel * driver.decel))
    desired = driver.min_gap + np.maximum(speed * driver.headway + closing, 0.0)
    ratio = desired / np.maximum(gap, 0.05)
    term = np.where(np.isfinite(gap), driver.accel * (1.0 - ratio * ratio), driver.accel)
    return np.maximum(term, -max_braking)


def needed_deceleration(speed: FloatArray, gap: FloatArray, lead_speed: FloatArray) -> FloatArray:
    """Constant deceleration [m/s2] (R,) that stops closing in on a leader `gap` [m] ahead driving at
    `lead_speed` [m/s] before touching it (0 when not closing in or no leader)."""
    closing = np.maximum(speed - lead_speed, 0.0)
    with np.errstate(invalid="ignore"):
        needed = closing * closing / (2.0 * np.maximum(gap, 0.05))
    return np.where(np.isfinite(gap), needed, 0.0)


def match_routes(index: MapIndex, paths: RecordedPaths, skip: BoolArray) -> tuple[tuple[int, ...], ...]:
    """The lanes each recorded path (R rows) drives through, in order: `MapIndex.assign` at every
    recorded pose (one query for all rows), off-lane poses and consecutive repeats dropped; () for
    the rows `skip` (R,) marks."""
    count = paths.count
    used = (np.arange(paths.x.shape[1])[None, :] < count[:, None]) & ~skip[:, None]
    lanes = np.full(paths.x.shape, -1, dtype=np.int64)
    lanes[used] = index.assign(
        np.column_stack([paths.x[used], paths.y[used]]), np.asarray(wrap_angle(paths.yaw[used]))
    )
    routes = []
    for row in lanes:  # once per run: compacting each row's lanes
        on = row[row >= 0]
        keep = np.concatenate([[True], on[1:] != on[:-1]]) if len(on) else np.zeros(0, dtype=bool)
        routes.append(tuple(int(lane) for lane in on[keep]))
    return tuple(routes)


def _light_codes(lights: tuple[TrafficLight, ...], num_steps: int) -> NDArray[np.int8]:
    """(lights, steps) what each light asks at each step: _STOP (red, red-yellow), _STOP_ON_YELLOW
    or _NO_STOP."""
    codes = np.zeros((len(lights), num_steps), dtype=np.int8)
    steps = np.arange(num_steps)
    for k, light in enumerate(lights):  # once per run
        colors = light.colors_at(steps)
        codes[k] = [
            _STOP
            if color in (LightColor.RED, LightColor.RED_YELLOW)
            else _STOP_ON_YELLOW
            if color is LightColor.YELLOW
            else _NO_STOP
            for color in colors
        ]
    return codes


@dataclass(frozen=True, eq=False)
class LightStops:
    """The stops on the movers' paths for traffic lights and stop signs, each (L,): the mover (row
    into the movers), the stop's progress along its path [m], the row of `codes` that says what it
    asks; `codes` (lights + 2, steps): each light's, then _FULL_STOP throughout for stop signs,
    then _NO_STOP for yield signs (which only give way at crossings)."""

    mover: IntArray
    s: FloatArray
    light: IntArray
    codes: NDArray[np.int8]

    @staticmethod
    def build(
        routes: tuple[tuple[int, ...], ...],
        paths: RecordedPaths,
        graph: LaneGraph,
        index: MapIndex,
        lights: tuple[TrafficLight, ...],
        stop_signs: frozenset[int],
        yield_signs: frozenset[int],
        num_steps: int,
    ) -> LightStops:
        """The stops of every mover's route lanes that serve a light of `lights` or a sign of
        `stop_signs` or `yield_signs` (sign ids), placed on its path (skipped where the path passes
        farther than `_STOP_NEAR_PATH` from the stop)."""
        light_row = {light.id: k for k, light in enumerate(lights)}
        mover, lane, at, light = [], [], [], []
        for r, route in enumerate(routes):  # once per run, a few lanes per mover
            stops = [stop for stop in (lane_stop(graph.lanes[lane], index) for lane in route) if stop]
            served = [
                (stop, light_row[i]) for stop in stops for i in stop.traffic_light_ids if i in light_row
            ]
            served += [(stop, len(lights)) for stop in stops if stop_signs & set(stop.traffic_sign_ids)]
            served += [(stop, len(lights) + 1) for stop in stops if yield_signs & set(stop.traffic_sign_ids)]
            for stop, k in served:
                mover.append(r)
                lane.append(stop.lane_id)
                at.append(stop.s)
                light.append(k)
        rows = np.array(mover, dtype=np.int64)
        where = np.zeros(0)
        if len(rows):  # one shapely call each for all the (mover, stop) pairs
            served_rows = np.unique(rows)
            lines = np.empty(len(paths.count), dtype=object)
            lines[served_rows] = [
                shapely.LineString(
                    np.column_stack([paths.x[r, : paths.count[r]], paths.y[r, : paths.count[r]]])
                )
                for r in served_rows.tolist()
            ]
            points = shapely.line_interpolate_point(
                index.centerlines[index.rows(np.array(lane, dtype=np.int64))], np.array(at, dtype=np.float64)
            )
            near = shapely.distance(lines[rows], points) <= _STOP_NEAR_PATH
            rows, light = rows[near], list(np.array(light, dtype=np.int64)[near])
            where = paths.s[rows, 0] + shapely.line_locate_point(lines[rows], points[near])
        return LightStops(
            rows,
            np.asarray(where, dtype=np.float64),
            np.array(light, dtype=np.int64),
            np.concatenate(
                [
                    _light_codes(lights, num_steps),
                    np.full((1, num_steps), _FULL_STOP, np.int8),
                    np.full((1, num_steps), _NO_STOP, np.int8),
                ]
            ),
        )


@dataclass(frozen=True, eq=False)
class Crossings:
    """Where the movers' recorded paths cross or merge, each (C,): the two movers `first`, `second`
    (rows into the movers, first < second) and the meeting point's progress along each path
    `s_first`, `s_second` [m], and the sine of the angle between the paths there `sine`."""

    first: IntArray
    second: IntArray
    s_first: FloatArray
    s_second: FloatArray
    sine: FloatArray

    @staticmethod
    def build(paths: RecordedPaths, skip: BoolArray, min_angle: float) -> Crossings:
        """The first meeting point (along `first`'s path) of every pair of paths that cross there at
        an angle within [`min_angle`, pi - `min_angle`] [rad], or merge there: both paths come from
        at least `_MERGE_APART` [m] away from the other (`_MERGE_LOOKBACK` [m] back, or from their
        start if that is at least `_MERGE_MIN_LOOKBACK` back; a follower's path meets its leader's
        where the leader's begins: no merge). Rows `skip` (R,) take no part."""
        rows = np.flatnonzero(~skip)
        lines = np.array(
            [shapely.LineString(np.column_stack([paths.x[r, : paths.count[r]], paths.y[r, : paths.count[r]]]))
             for r in rows],
            dtype=object,
        )  # fmt: skip
        empty = np.zeros(0, dtype=np.int64)
        if len(lines) < 2:
            return Crossings(empty, empty, np.zeros(0), np.zeros(0), np.zeros(0))
        a, b = shapely.STRtree(lines).query(lines, predicate="intersects")
        pairs = a < b
        a, b = a[pairs], b[pairs]
        coords, which = shapely.get_coordinates(shapely.intersection(lines[a], lines[b]), return_index=True)
        points = shapely.points(coords)
        a, b = a[which], b[which]
        s_a, s_b = shapely.line_locate_point(lines[a], points), shapely.line_locate_point(lines[b], points)
        order = np.lexsort((s_a, b, a))
        pair = np.column_stack([a[order], b[order]])
        pick = order[np.unique(pair, axis=0, return_index=True)[1]] if len(pair) else empty
        a, b, s_a, s_b = a[pick], b[pick], s_a[pick], s_b[pick]
        yaw_a, yaw_b = paths.at(rows[a], s_a)[2], paths.at(rows[b], s_b)[2]
        angle = np.abs(np.asarray(wrap_angle(yaw_a - yaw_b)))
        crossing = (angle >= min_angle) & (angle <= np.pi - min_angle)
        merging = (s_a >= _MERGE_MIN_LOOKBACK) & (s_b >= _MERGE_MIN_LOOKBACK)
        for mine, other, at in ((a, b, s_a), (b, a, s_b)):
            x, y, _ = paths.at(rows[mine], np.maximum(at - _MERGE_LOOKBACK, 0.0))
            merging &= shapely.distance(lines[other], shapely.points(np.column_stack([x, y]))) >= _MERGE_APART
        kept = crossing | merging
        return Crossings(rows[a[kept]], rows[b[kept]], s_a[kept], s_b[kept], np.sin(angle[kept]))


@dataclass(frozen=True, eq=False)
class ReactiveAgents:
    """Agent policy "reactive" (see the module docstring). Build with `ReactiveAgents.build`.

    `movers` (R,) rows of `tracks` driven by the model; `vru` (R,) marks pedestrians and bicycles;
    `paths`, `recorded_progress` (R, steps) [m] their recorded paths and progress, `recorded_rest`
    (R, steps) [m] where they last stood still in the recording (NaN: not yet); `top_speed` (R,)
    [m/s] the fastest they catch up with their recordings; `drivers` their parameters; `human` the
    recorded ego's box per step (present (T,), fields (T,)), absent without one; `vehicle_rows` (A,)
    marks the vehicles among all agents; `graph`, `index` the map, `lights` the scenario's lights,
    `stop_signs`, `yield_signs` the ids of its stop and yield signs.
    `routes` (the vehicles' matched lanes), `stops` (the light stops on their paths) and
    `crossings` (where the vehicles' paths cross) are computed when first asked for (the routes
    take a map query over every recorded pose: runs without lights skip it).
    """

    tracks: Tracks
    dt: float
    params: ReactiveParams
    movers: IntArray
    vru: BoolArray
    paths: RecordedPaths
    recorded_progress: FloatArray
    recorded_rest: FloatArray
    top_speed: FloatArray
    drivers: DriverParams
    statics: Obstacles
    human: Obstacles
    vehicle_rows: BoolArray
    graph: LaneGraph
    index: MapIndex
    lights: tuple[TrafficLight, ...]
    stop_signs: frozenset[int]
    yield_signs: frozenset[int]
    mode: str = "reactive"

    @staticmethod
    def build(
        tracks: Tracks,
        dt: float,
        statics: Obstacles,
        graph: LaneGraph,
        index: MapIndex,
        lights: tuple[TrafficLight, ...],
        signs: tuple[TrafficSign, ...],
        human: RecordedEgo | None,
        human_size: tuple[float, float],
        params: ReactiveParams = ReactiveParams(),
    ) -> ReactiveAgents:
        """Reactive agents over `tracks` at step `dt` [s] on the map `graph` (`index` its MapIndex),
        with the scenario's `lights` and traffic `signs`, the recorded `human` (None: none) of size
        `human_size` (length, width) [m]."""
        types = tracks.agent_type
        vehicle = np.array([kind.is_vehicle and kind is not AgentType.PARKED_VEHICLE for kind in types], bool)
        vulnerable = np.array([kind in _VRU_TYPES for kind in types], dtype=bool)
        candidates = np.flatnonzero((vehicle | vulnerable) & (tracks.valid.sum(axis=1) >= 2))
        paths, progress = RecordedPaths.from_tracks(tracks, candidates)
        moving = paths.s[:, -1] >= _MIN_PATH_LENGTH
        movers = candidates[moving]
        paths = paths.subset(moving)
        progress = progress[moving]
        vru = vulnerable[movers]
        return ReactiveAgents(
            tracks,
            dt,
            params,
            movers,
            vru,
            paths,
            progress,
            _last_rest(progress, tracks.speed[movers], tracks.valid[movers]),
            params.catch_up_factor * _fastest(progress, dt),
            DriverParams.draw(vru, params),
            statics,
            _human_boxes(human, human_size, tracks.num_steps),
            np.array([kind.is_vehicle for kind in types], dtype=bool),
            graph,
            index,
            lights,
            _signs_of(signs, _STOP_SIGNS),
            _signs_of(signs, _YIELD_SIGNS),
        )

    @cached_property
    def routes(self) -> tuple[tuple[int, ...], ...]:
        """Each mover's matched lanes (`match_routes`; () for pedestrians and bicycles)."""
        return match_routes(self.index, self.paths, self.vru)

    @cached_property
    def stops(self) -> LightStops:
        """The light and stop-sign stops on the vehicles' paths (none without lights or stop signs:
        the routes stay unmatched)."""
        controlled = self.lights or self.stop_signs or self.yield_signs
        routes = self.routes if controlled else tuple(() for _ in self.movers)
        return LightStops.build(
            routes,
            self.paths,
            self.graph,
            self.index,
            self.lights,
            self.stop_signs,
            self.yield_signs,
            self.tracks.num_steps,
        )

    @cached_property
    def crossings(self) -> Crossings:
        """Where the vehicles' recorded paths cross."""
        return Crossings.build(self.paths, self.vru, self.params.crossing_angle)

    def initial(self, step: int) -> AgentStates:
        """The recorded states at `step`, movers placed at their recorded progress."""
        states = AgentStates.from_log(self.tracks, step)
        states.progress[self.movers] = self.recorded_progress[:, step]
        return states

    def step(self, states: AgentStates, step: int, ego: Obstacles) -> AgentStates:
        """Every mover present at `step` and `step + 1` moves by the model; those that appear at
        `step + 1` start from their recording; the rest replay the log."""
        following = AgentStates.from_log(self.tracks, step + 1)
        rows = self.movers
        driving = states.valid[rows] & following.valid[rows]
        appearing = following.valid[rows] & ~states.valid[rows]
        following.progress[rows[appearing]] = self.recorded_progress[appearing, step + 1]
        if not driving.any():
            return following
        index = np.flatnonzero(driving)
        agents = rows[index]
        tracks, params = self.tracks, self.params
        driver = self.drivers.at(index)
        speed, progress = states.speed[agents], states.progress[agents]
        lateral = (
            states.lateral[agents],
            states.lateral_slope[agents],
            states.lateral_bend[agents],
            states.lateral_left[agents],
        )
        offset, goal = lateral[0], states.lateral_goal[agents]
        logged, logged_speed = self.recorded_progress[index, step], tracks.speed[agents, step]
        now = Obstacles.concat(ego, states.obstacles(tracks), self.statics)
        recorded = Obstacles.concat(self._human_at(step), Obstacles.from_tracks(tracks, step), self.statics)
        movers = (states.progress[rows], states.speed[rows], states.valid[rows], states.rested_at[rows])
        as_recorded = (
            self.recorded_progress[:, step],
            tracks.speed[rows, step],
            tracks.valid[rows, step],
            self.recorded_rest[:, step],
        )
        gap, lead = self._leader(index, now, movers, step, offset)
        # with no leader now nothing presses more than recorded: the recording is needed where one is
        gap_log, lead_log = np.full(len(index), np.inf), np.zeros(len(index))
        led = np.isfinite(gap)
        if led.any():
            gap_log[led], lead_log[led] = self._leader(
                index[led], recorded, as_recorded, step, np.zeros(int(led.sum()))
            )
        # a vehicle that may pull out around what holds it up keeps the room the bicycle needs for it
        room = self._pull_out_room(index, (progress, offset, goal), (gap, lead, gap_log), movers, step)
        react = driver.accel + (
            interaction(speed, gap - room, lead, driver, params.max_braking)
            - interaction(logged_speed, gap_log, lead_log, driver, params.max_braking)
        )
        needed = needed_deceleration(speed, gap, lead)
        urgent = (needed > driver.decel) & (
            needed > needed_deceleration(logged_speed, gap_log, lead_log) + params.emergency_margin
        )
        react = np.where(urgent, np.minimum(react, -np.minimum(needed, params.max_braking)), react)
        target = self.recorded_progress[index, step + 1]
        reachable, _, _ = longitudinal_step(progress, speed, react, self.dt)
        was_aside = (offset != 0.0) | (lateral[3] > 0.0) | (goal != 0.0)
        on_log = (np.abs(progress - logged) <= 1e-9) & ~was_aside
        unchanged = react >= driver.accel - _SAME_PRESSURE  # nothing ahead presses more than recorded
        keep = on_log & (unchanged | (target <= reachable))
        pace = (target - logged) / self.dt
        track = np.minimum(  # within [-b, a] (np.clip costs ten times more on these small arrays)
            np.maximum(
                np.minimum(
                    params.speed_gain * (pace - speed) + params.position_gain * (logged - progress),
                    params.speed_gain * (self.top_speed[index] - speed),
                ),
                -driver.decel,
            ),
            driver.accel,
        )
        new_progress, new_speed, realised = longitudinal_step(
            progress, speed, np.minimum(track, react), self.dt
        )
        new_goal = self._lane_changes(
            index, (progress, speed, offset, goal), now, (gap - room, lead, gap_log, keep), movers, step
        )
        reference = self._lateral_step(lateral, goal, new_goal, speed, new_progress - progress)
        goal = new_goal
        aside = (reference[0] != 0.0) | (reference[3] > 0.0) | (goal != 0.0)
        for name, values in zip(_LATERAL_FIELDS, reference, strict=True):
            getattr(following, name)[agents] = values
        following.lateral_goal[agents] = goal
        keep &= ~aside
        rejoin = (
            ~aside
            & (track <= react)
            & (np.abs(new_progress - target) <= params.snap_distance)
            & (np.abs(new_speed - tracks.speed[agents, step + 1]) <= params.snap_speed)
        )
        logged_next = keep | rejoin
        following.progress[agents[logged_next]] = target[logged_next]
        resting = np.where(logged_next, tracks.speed[agents, step + 1], new_speed) < _RESTING
        following.rested_at[agents] = np.where(
            resting, np.where(logged_next, target, new_progress), states.rested_at[agents]
        )
        moved = ~logged_next
        driven = moved & (was_aside | aside)  # off its path: the bicycle drives it
        placed = moved & ~driven
        if placed.any():
            self._place(
                following, states, agents[placed], index[placed], new_progress[placed], new_speed[placed]
            )
            following.acceleration[agents[placed]] = realised[placed]
        if driven.any():
            self._drive(
                following,
                states,
                (agents[driven], index[driven], was_aside[driven]),
                (progress[driven], speed[driven], lateral[0][driven], lateral[1][driven]),
                (new_progress[driven], new_speed[driven], reference[0][driven], reference[1][driven]),
            )
        return following

    def _place(
        self,
        following: AgentStates,
        states: AgentStates,
        agents: IntArray,
        index: IntArray,
        progress: FloatArray,
        speed: FloatArray,
    ) -> None:
        """Write the pose at `progress` [m] on the paths of movers `index`, and `speed` [m/s], for
        `agents`."""
        x, y, yaw = self.paths.at(index, progress)
        following.x[agents], following.y[agents], following.yaw[agents] = x, y, yaw
        following.speed[agents] = speed
        following.vx[agents], following.vy[agents] = speed * np.cos(yaw), speed * np.sin(yaw)
        following.yaw_rate[agents] = np.asarray(wrap_angle(yaw - states.yaw[agents])) / self.dt
        following.progress[agents] = progress

    def _leader(
        self,
        index: IntArray,
        obstacles: Obstacles,
        movers: tuple[FloatArray, FloatArray, BoolArray, FloatArray],
        step: int,
        offset: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """(gap [m], leader speed [m/s]) (D,) of movers `index` (D,) on their paths shifted `offset`
        (D,) [m] left among `obstacles` (the ego first, then every agent, then statics), their light
        stops at `step` and their crossings, whichever is nearest; `movers` = every mover's progress
        [m], speed [m/s], presence and where it last stood still [m] (R,)."""
        params = self.params
        agents = self.movers[index]
        progress, speed = movers[0][index], movers[1][index]
        length = self.tracks.length[agents]
        gap, lead = np.full(len(index), np.inf), np.zeros(len(index))
        vru = self.vru[index]
        for group, vehicles_only in ((~vru, False), (vru, True)):
            if group.any():
                boxes = self._vehicles_only(obstacles) if vehicles_only else obstacles
                ahead = params.lookahead_distance + params.lookahead_time * speed[group]
                gap[group], lead[group] = self._probe(
                    index[group], progress[group] + 0.5 * length[group], ahead, offset[group], boxes, 1.0
                )
        standing = np.minimum(
            self._stop_gap(index, progress + 0.5 * length, speed, movers[3][index] + 0.5 * length, step),
            self._crossing_gap(index, movers),
        )
        nearer = standing < gap
        return np.where(nearer, standing, gap), np.where(nearer, 0.0, lead)

    def _probe(
        self,
        index: IntArray,
        start: FloatArray,
        reach: FloatArray,
        offset: FloatArray,
        obstacles: Obstacles,
        direction: float,
    ) -> tuple[FloatArray, FloatArray]:
        """(gap [m], speed along the search [m/s]) (D,) of the nearest of `obstacles` on the paths of
        movers `index` (D,) shifted `offset` [m] left, searched from progress `start` [m] over
        `reach` [m] forward (`direction` 1) or backward (-1, speeds then count toward the mover)."""
        agents = self.movers[index]
        distance = _SAMPLES[None, :] * reach[:, None]
        px, py, pyaw = self.paths.at(index, start[:, None] + direction * distance)
        px, py = px - offset[:, None] * np.sin(pyaw), py + offset[:, None] * np.cos(pyaw)
        heading = pyaw if direction > 0 else pyaw + np.pi
        return find_leaders(
            px, py, heading, distance, 0.5 * self.tracks.width[agents], obstacles, exclude=agents + 1
        )

    def _neighbour_offsets(self, index: IntArray, progress: FloatArray) -> FloatArray:
        """(2, D) offsets [m] left of the recorded paths of movers `index` at `progress` to the
        centre of their lane's left and right same-direction driving neighbour (NaN: none)."""
        x, y, yaw = self.paths.at(index, progress)
        xy = np.column_stack([x, y])
        lanes = self.index.assign(xy, yaw)
        found = np.full((2, len(index)), np.nan)
        for k, lane_id in enumerate(lanes.tolist()):  # the few held-up agents only
            if lane_id < 0:
                continue
            lane = self.graph.lanes[lane_id]
            for side, neighbour in enumerate((lane.left_neighbour, lane.right_neighbour)):
                if neighbour is None or not neighbour.same_direction:
                    continue
                if neighbour.lane_id not in self.index.driving_lanes:
                    continue
                _, d, _ = self.index.project(np.array([neighbour.lane_id]), xy[k : k + 1])
                found[side, k] = -d[0]
        return found

    def _lane_changes(
        self,
        index: IntArray,
        state: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
        now: Obstacles,
        situation: tuple[FloatArray, FloatArray, FloatArray, BoolArray],
        movers: tuple[FloatArray, FloatArray, BoolArray, FloatArray],
        step: int,
    ) -> FloatArray:
        """The lateral goals [m] (D,) of movers `index` after this step's MOBIL decisions (see
        `ReactiveParams`); `state` = their progress [m], speed [m/s], lateral offset and goal [m];
        `situation` = their gap and leader speed now, gap in the recording and whether they keep
        their recording; `movers` as `_leader`'s. A stop or crossing that holds a vehicle is no
        reason to change lanes (a queue at a light)."""
        progress, speed, offset, goal = state
        gap, lead, gap_log, keep = situation
        params = self.params
        goal = goal.copy()
        driver = self.drivers.at(index)
        changing = goal != 0.0
        rows = np.flatnonzero(self._held_up(index, offset, goal, (gap, lead, gap_log)) & ~keep)
        rows = rows[~self._held_by_rules(index[rows], movers, step)]
        if len(rows):
            options = self._neighbour_offsets(index[rows], progress[rows])
            here = interaction(speed[rows], gap[rows], lead[rows], driver.at(rows), params.max_braking)
            best, best_gain = np.zeros(len(rows)), np.full(len(rows), -np.inf)
            for target in options:
                usable = np.isfinite(target)
                if not usable.any():
                    continue
                shift = np.where(usable, target, 0.0)
                there, safe = self._mobil_probe(index[rows], progress[rows], speed[rows], shift, now)
                gain = there[0] - here - params.politeness * np.maximum(-there[1], 0.0)
                better = usable & safe & (gain > params.lane_change_threshold) & (gain > best_gain)
                best, best_gain = np.where(better, shift, best), np.where(better, gain, best_gain)
            goal[rows] = best
        rows = np.flatnonzero(changing)
        if len(rows):
            done = np.abs(offset[rows] - goal[rows]) < 0.2
            # a change still mostly in the recorded lane aborts when its gap closes
            early = ~done & (np.abs(offset[rows]) < 0.5 * np.abs(goal[rows]))
            _, safe_there = self._mobil_probe(index[rows], progress[rows], speed[rows], goal[rows], now)
            # a finished one goes back to the recorded lane once that is free ahead and safe behind
            (ahead_back, _), safe_back = self._mobil_probe(
                index[rows], progress[rows], speed[rows], np.zeros(len(rows)), now
            )
            free = ahead_back >= driver.at(rows).accel - _SAME_PRESSURE
            back = (early & ~safe_there) | (done & free & safe_back)
            goal[rows] = np.where(back, 0.0, goal[rows])
        return goal

    def _held_up(
        self,
        index: IntArray,
        offset: FloatArray,
        goal: FloatArray,
        situation: tuple[FloatArray, FloatArray, FloatArray],
    ) -> BoolArray:
        """Whether vehicles `index` (D,) in their recorded lane (`offset`, `goal` 0) are held up by
        something standing within `lane_change_trigger` that was not there in the recording;
        `situation` = their gap [m] and leader speed [m/s] now, and their gap in the recording."""
        gap, lead, gap_log = situation
        return (
            ~self.vru[index]
            & (goal == 0.0)
            & (offset == 0.0)
            & (lead < 1.0)
            & (gap < self.params.lane_change_trigger)
            & (gap_log > gap + 5.0)
        )

    def _pull_out_room(
        self,
        index: IntArray,
        state: tuple[FloatArray, FloatArray, FloatArray],
        situation: tuple[FloatArray, FloatArray, FloatArray],
        movers: tuple[FloatArray, FloatArray, BoolArray, FloatArray],
        step: int,
    ) -> FloatArray:
        """The room [m] (D,) that vehicles `index` held up (`_held_up`, not by a stop or crossing)
        with a neighbour lane keep before what holds them, so that the bicycle can pull out from
        standstill within `max_lateral_bend` (0 for the others); `state` = their progress [m],
        offset and goal [m], `situation` as `_held_up`'s, `movers` as `_leader`'s."""
        progress, offset, goal = state
        room = np.zeros(len(index))
        rows = np.flatnonzero(self._held_up(index, offset, goal, situation))
        rows = rows[~self._held_by_rules(index[rows], movers, step)]
        if len(rows):
            options = np.abs(self._neighbour_offsets(index[rows], progress[rows]))
            widest = np.nanmin(np.where(np.isfinite(options), options, np.inf), axis=0)
            reachable = np.isfinite(widest)
            room[rows[reachable]] = np.sqrt(
                _QUINTIC_PEAK_ACCEL * widest[reachable] / self.params.max_lateral_bend
            )
        return room

    def _held_by_rules(
        self, index: IntArray, movers: tuple[FloatArray, FloatArray, BoolArray, FloatArray], step: int
    ) -> BoolArray:
        """Whether a stop or crossing within `lane_change_trigger` holds movers `index` (D,) at `step`."""
        if len(index) == 0:
            return np.zeros(0, dtype=bool)
        length = self.tracks.length[self.movers[index]]
        progress, speed, rested = movers[0][index], movers[1][index], movers[3][index]
        standing = np.minimum(
            self._stop_gap(index, progress + 0.5 * length, speed, rested + 0.5 * length, step),
            self._crossing_gap(index, movers),
        )
        return standing < self.params.lane_change_trigger

    def _mobil_probe(
        self, index: IntArray, progress: FloatArray, speed: FloatArray, shift: FloatArray, now: Obstacles
    ) -> tuple[tuple[FloatArray, FloatArray], BoolArray]:
        """((the IDM interaction [m/s2] movers `index` would have on their paths shifted `shift` [m]
        left, the one they would impose on the follower there), whether that follower would need no
        more than `safe_deceleration`), each (D,)."""
        params = self.params
        length = self.tracks.length[self.movers[index]]
        driver = self.drivers.at(index)
        reach = params.lookahead_distance + params.lookahead_time * speed
        # searched from the rear bumper forward, so that a vehicle alongside counts (gap below 0)
        from_rear, lead = self._probe(index, progress - 0.5 * length, reach + length, shift, now, 1.0)
        gap = from_rear - length
        gap_back, lead_back = self._probe(index, progress - 0.5 * length, reach, shift, now, -1.0)
        there = interaction(speed, gap, lead, driver, params.max_braking)
        follower = np.maximum(-lead_back, 0.0)  # the follower's speed toward the mover
        imposed = interaction(follower, gap_back, speed, driver, params.max_braking)
        return (there, imposed), (imposed >= -params.safe_deceleration) & (gap > 0.0)

    def _lateral_step(
        self,
        lateral: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
        goal: FloatArray,
        new_goal: FloatArray,
        speed: FloatArray,
        advance: FloatArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The lateral reference (offset [m], slope [-], bend [1/m], time left [s]) (D,) after
        `advance` [m] of progress from `lateral`, moving to `new_goal` [m] (see `ReactiveParams`); a
        goal other than the previous `goal` starts a new blend. The blend's remaining span [m] is
        the time left at `speed` [m/s], at least the one that keeps its bend within bounds."""
        offset, slope, bend, left = lateral
        params = self.params
        change = np.abs(new_goal - offset)
        restart = new_goal != goal
        if restart.any():
            duration = np.maximum(
                np.sqrt(_QUINTIC_PEAK_ACCEL * change / params.max_lateral_accel),
                _QUINTIC_PEAK_RATE * change / params.max_lateral_speed,
            )
            left = np.where(restart, duration, left)
        blending = (left > 0.0) | (offset != new_goal)
        if not blending.any():
            return offset, slope, bend, left
        shortest = np.sqrt(_QUINTIC_PEAK_ACCEL * change / params.max_lateral_bend)
        span = np.maximum(speed * left, shortest)
        arrived = blending & (advance >= span)
        moving = blending & ~arrived  # rows that arrived take the goal: no blend (their span may be 0)
        along = np.where(moving, advance, 0.0)
        blend = quintic_blend(offset, slope, bend, new_goal, np.where(moving, span, 1.0), along)
        return (
            np.where(arrived, new_goal, np.where(blending, blend[0], offset)),
            np.where(arrived, 0.0, np.where(blending, blend[1], slope)),
            np.where(arrived, 0.0, np.where(blending, blend[2], bend)),
            np.where(moving, np.maximum(left - self.dt, 0.0), 0.0),
        )

    @cached_property
    def _tracker(self) -> Tracker:
        """The tracker and bicycle (the ego's defaults) that drive vehicles changing lanes."""
        return Tracker(self.dt, VehicleParams())

    def _drive(
        self,
        following: AgentStates,
        states: AgentStates,
        who: tuple[IntArray, IntArray, BoolArray],
        before: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
        after: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    ) -> None:
        """Step `who` = (agents, mover rows, whether the bicycle drove them last step) (D,) with the
        kinematic bicycle tracking their lateral reference from `before` to `after`, each (progress
        [m], speed [m/s], offset [m] and slope [-] of the reference); one that the bicycle did not
        drive last step starts with the steering of its yaw rate."""
        agents, index, driven = who
        tracker = self._tracker
        vehicle = tracker.params
        speed = states.speed[agents]
        turning = np.nan_to_num(states.yaw_rate[agents]) / np.maximum(speed, 1.0)
        steering = np.where(
            driven,
            states.steering[agents],
            np.arctan(np.clip(turning, -vehicle.max_curvature, vehicle.max_curvature) * vehicle.wheelbase),
        )
        state = BicycleState(
            states.x[agents],
            states.y[agents],
            states.yaw[agents],
            speed,
            np.nan_to_num(states.acceleration[agents]),
            np.nan_to_num(states.yaw_rate[agents]),
            steering,
        )
        now = self._reference_pose(index, before)
        later = self._reference_pose(index, after)
        reference = Reference(*now, before[1], *later, after[1])
        moved = bicycle_step(state, *tracker.control(state, reference), vehicle, self.dt)
        following.x[agents], following.y[agents], following.yaw[agents] = moved.x, moved.y, moved.yaw
        following.speed[agents], following.acceleration[agents] = moved.speed, moved.acceleration
        following.vx[agents] = moved.speed * np.cos(moved.yaw)
        following.vy[agents] = moved.speed * np.sin(moved.yaw)
        following.yaw_rate[agents], following.steering[agents] = moved.yaw_rate, moved.steering
        following.progress[agents] = after[0]
        # it stays with the bicycle until it has settled on its reference
        apart = np.hypot(moved.x - later[0], moved.y - later[1]) > _SETTLED_DISTANCE
        apart |= np.abs(np.asarray(wrap_angle(moved.yaw - later[2]))) > _SETTLED_HEADING
        following.lateral_left[agents] = np.where(
            apart, np.maximum(following.lateral_left[agents], self.dt), following.lateral_left[agents]
        )

    def _reference_pose(
        self, index: IntArray, reference: tuple[FloatArray, FloatArray, FloatArray, FloatArray]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(x, y [m], yaw [rad]) (D,) of the lateral `reference` (progress [m], speed, offset [m] left
        and slope [-]) on the paths of movers `index`."""
        progress, _, offset, slope = reference
        x, y, yaw = self.paths.at(index, progress)
        return (
            x - offset * np.sin(yaw),
            y + offset * np.cos(yaw),
            np.asarray(wrap_angle(yaw + np.arctan(slope))),
        )

    def _crossing_gap(
        self, index: IntArray, movers: tuple[FloatArray, FloatArray, BoolArray, FloatArray]
    ) -> FloatArray:
        """Distance [m] (D,) to the nearest crossing where movers `index` (D,) yield (less how far
        along their path the other's side plus `crossing_margin` reaches, at most `_MAX_YIELD_REACH`,
        plus their standstill gap, as a standing leader); inf where they yield nowhere. At a crossing
        or merge of two present vehicles, neither past it and one within `crossing_horizon` of it,
        the one on the major road goes (the other comes from a stop or yield sign), else the one
        arriving first at its current speed (ties: the lower row; a standing vehicle arrives last);
        the other yields unless, going now at full acceleration, it would clear the
        crossing `crossing_gap` before the first arrives (gap acceptance), or can no longer stop
        short of it.
        `movers` as `_leader`'s."""
        crossings, params = self.crossings, self.params
        if len(crossings.first) == 0:
            return np.full(len(index), np.inf)
        progress, speed, present, _ = movers
        gap = _crossing_kernel(
            crossings.first,
            crossings.second,
            crossings.s_first,
            crossings.s_second,
            self._crossing_reach,
            self._crossing_minor,
            np.ascontiguousarray(progress),
            np.ascontiguousarray(speed),
            np.ascontiguousarray(present),
            self.tracks.length[self.movers],
            self.drivers.accel,
            self.drivers.min_gap,
            np.array([params.crossing_horizon, params.crossing_gap, params.red_deceleration]),
        )
        return gap[index]

    @cached_property
    def _crossing_minor(self) -> BoolArray:
        """(2, C) whether the first and the second mover of each crossing come to it from a stop or
        yield sign within `_SIGN_REACH` before it (the minor road: they give way)."""
        crossings, stops = self.crossings, self.stops
        minor = np.zeros((2, len(crossings.first)), dtype=bool)
        signed = stops.light >= len(self.lights)
        for side, (mover, at) in enumerate(
            ((crossings.first, crossings.s_first), (crossings.second, crossings.s_second))
        ):
            for row, s in zip(stops.mover[signed].tolist(), stops.s[signed].tolist(), strict=True):
                minor[side] |= (mover == row) & (at >= s) & (at <= s + _SIGN_REACH)
        return minor

    @cached_property
    def _crossing_reach(self) -> FloatArray:
        """(2, C) how far along the first's and the second's path [m] from each meeting point the
        other's side plus `crossing_margin` reaches (at most `_MAX_YIELD_REACH`)."""
        crossings = self.crossings
        side = 0.5 * self.tracks.width[self.movers] + self.params.crossing_margin
        sine = np.maximum(crossings.sine, 1e-3)
        return np.minimum(np.stack([side[crossings.second], side[crossings.first]]) / sine, _MAX_YIELD_REACH)

    def _stop_gap(
        self, index: IntArray, front: FloatArray, speed: FloatArray, rested: FloatArray, step: int
    ) -> FloatArray:
        """Distance [m] (D,) from the front bumpers at progress `front` to the nearest stop that
        holds movers `index` (D,) at `step` (less `stop_margin`, plus their standstill gap, as a
        standing leader); inf where none does. A stop sign no longer holds a mover whose front last
        stood still (at progress `rested` [m], NaN: never) within `stop_settle` of its stop."""
        stops, params = self.stops, self.params
        gap = np.full(len(index), np.inf)
        if len(stops.mover) == 0:
            return gap
        position = np.full(len(self.movers), -1, dtype=np.int64)
        position[index] = np.arange(len(index))
        where = position[stops.mover]
        mine = where >= 0
        code = stops.codes[stops.light[mine], step]
        slot = where[mine]
        ahead = stops.s[mine] - front[slot]
        needed = speed[slot] ** 2 / (2.0 * np.maximum(ahead, 0.1))
        holds = (ahead > -params.stop_margin) & (
            (((code == _STOP) | (code == _FULL_STOP)) & (needed <= params.red_deceleration))
            | ((code == _STOP_ON_YELLOW) & (needed <= params.yellow_deceleration))
        )
        waited = stops.s[mine] - rested[slot]
        released = (waited >= 0.0) & (waited <= params.stop_margin + params.stop_settle)  # NaN: False
        holds &= (code != _FULL_STOP) | ~released
        standstill = self.drivers.min_gap[index][slot]
        np.minimum.at(gap, slot[holds], (ahead - params.stop_margin + standstill)[holds])
        return gap

    def _vehicles_only(self, obstacles: Obstacles) -> Obstacles:
        """`obstacles` (ego, agents, statics) with only the ego and vehicle agents present."""
        keep = np.zeros(len(obstacles.present), dtype=bool)
        keep[0] = True
        keep[1 : 1 + self.tracks.num_agents] = self.vehicle_rows
        return Obstacles(
            obstacles.x,
            obstacles.y,
            obstacles.yaw,
            obstacles.speed,
            obstacles.length,
            obstacles.width,
            obstacles.present & keep,
        )

    def _human_at(self, step: int) -> Obstacles:
        """The recorded human at `step` as one box (absent where it is not recorded)."""
        human = self.human
        pick = slice(step, step + 1)
        return Obstacles(
            human.x[pick],
            human.y[pick],
            human.yaw[pick],
            human.speed[pick],
            human.length[pick],
            human.width[pick],
            human.present[pick],
        )


def quintic_blend(
    start: FloatArray,
    slope: FloatArray,
    bend: FloatArray,
    goal: FloatArray,
    length: FloatArray,
    at: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(value, slope, bend) (D,) at `at` along the quintic that goes from `start` with `slope` and
    `bend` to `goal` with slope and bend 0 over `length` (> 0), all (D,)."""
    rise, span = goal - start, length
    c3 = (20.0 * rise - 12.0 * slope * span - 3.0 * bend * span**2) / (2.0 * span**3)
    c4 = (-30.0 * rise + 16.0 * slope * span + 3.0 * bend * span**2) / (2.0 * span**4)
    c5 = (12.0 * rise - 6.0 * slope * span - bend * span**2) / (2.0 * span**5)
    t = at
    value = start + t * (slope + t * (0.5 * bend + t * (c3 + t * (c4 + t * c5))))
    rate = slope + t * (bend + t * (3.0 * c3 + t * (4.0 * c4 + t * 5.0 * c5)))
    curve = bend + t * (6.0 * c3 + t * (12.0 * c4 + t * 20.0 * c5))
    return value, rate, curve


def _signs_of(signs: tuple[TrafficSign, ...], kinds: frozenset[str]) -> frozenset[int]:
    """The ids of the `signs` with an element of `kinds` (CommonRoad traffic sign ids)."""
    return frozenset(sign.id for sign in signs if any(kind in kinds for kind, _ in sign.elements))


def _last_rest(progress: FloatArray, speed: FloatArray, valid: BoolArray) -> FloatArray:
    """(R, steps) the recorded progress [m] where each row last stood still (recorded speed below
    `_RESTING`) up to each step; NaN before its first rest."""
    resting = valid & (speed < _RESTING)
    steps = np.arange(progress.shape[1])
    last = np.maximum.accumulate(np.where(resting, steps[None, :], -1), axis=1)
    rest = np.take_along_axis(progress, np.maximum(last, 0), axis=1)
    return np.where(last >= 0, rest, np.nan)


def _fastest(progress: FloatArray, dt: float) -> FloatArray:
    """The fastest recorded speed [m/s] (R,) of each row of recorded `progress` (R, steps) [m] over
    steps of `dt` [s] (0 for rows recorded at fewer than two consecutive steps)."""
    with np.errstate(invalid="ignore"):
        pace = np.diff(progress, axis=1) / dt
    return np.nanmax(np.where(np.isfinite(pace), pace, 0.0), axis=1, initial=0.0)


def _human_boxes(human: RecordedEgo | None, size: tuple[float, float], num_steps: int) -> Obstacles:
    """The recorded human's box at every step (T,) of the scenario grid (absent outside its recording)."""
    x, y, yaw, speed = (np.zeros(num_steps) for _ in range(4))
    present = np.zeros(num_steps, dtype=bool)
    if human is not None:
        trajectory = human.trajectory
        steps = trajectory.steps
        inside = (steps >= 0) & (steps < num_steps)
        for values, name in zip((x, y, yaw, speed), ("x", "y", "yaw", "speed"), strict=True):
            values[steps[inside]] = np.asarray(getattr(trajectory, name))[inside]
        present[steps[inside]] = True
    return Obstacles(x, y, yaw, speed, np.full(num_steps, size[0]), np.full(num_steps, size[1]), present)


@njit(cache=True)
def _crossing_kernel(
    first: IntArray,
    second: IntArray,
    s_first: FloatArray,
    s_second: FloatArray,
    reach: FloatArray,
    minor: BoolArray,
    progress: FloatArray,
    speed: FloatArray,
    present: BoolArray,
    length: FloatArray,
    accel: FloatArray,
    min_gap: FloatArray,
    limits: FloatArray,
) -> FloatArray:
    """`ReactiveAgents._crossing_gap` for every mover (R,): crossings (C,) as `Crossings` with
    `reach` and `minor` (2, C); movers' `progress`, `speed`, `present`, `length`, `accel`, `min_gap` (R,);
    `limits` = (crossing_horizon, crossing_gap, red_deceleration)."""
    horizon, gap_time, red = limits
    gap = np.full(progress.shape[0], np.inf)
    for c in range(first.shape[0]):
        i, j = first[c], second[c]
        if not (present[i] and present[j]):
            continue
        to_i = s_first[c] - (progress[i] + 0.5 * length[i])
        to_j = s_second[c] - (progress[j] + 0.5 * length[j])
        if to_i + length[i] < -reach[0, c] or to_j + length[j] < -reach[1, c]:
            continue  # one has passed
        t_i = max(to_i, 0.0) / max(speed[i], 0.1)
        t_j = max(to_j, 0.0) / max(speed[j], 0.1)
        if min(t_i, t_j) > horizon:
            continue
        j_later = minor[1, c] if minor[0, c] != minor[1, c] else t_j >= t_i  # ties: the lower row first
        if j_later:
            later, to, arrival, along = j, to_j, t_i, reach[1, c]
        else:
            later, to, arrival, along = i, to_i, t_j, reach[0, c]
        room = to - along
        v = speed[later]
        if room <= 0.0 or v * v > 2.0 * red * room:
            continue  # in it already, or too close to stop: it goes
        through = max(to + length[later] + 2.0 * along, 0.0)
        clear = (np.sqrt(v * v + 2.0 * accel[later] * through) - v) / accel[later]  # going now, full accel
        if clear + gap_time < arrival:
            continue  # the gap is long enough
        gap[later] = min(gap[later], room + min_gap[later])
    return gap
