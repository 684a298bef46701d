"""The drivestack planner: route -> decide -> propose -> forecast -> roll out -> score -> choose.

Every step (`DrivestackPlanner.plan`):
1. Route: the ego's lane corridor (rebuilt when the ego leaves it or nears its end) and the
   corridors of the adjacent lanes, from the problem's `Router` (`maps.routing`).
2. Forecast: the agents present now, along their lanes or at constant velocity (`predict`).
3. Decide (`decide`): per lane option, whether it is open and why, its desired speed, leader and
   mandatory stops (lights, yields, lane ends, goal).
4. Propose (`proposals`): paths (centerline, lateral offsets, lane changes into open lanes) x
   speed profiles (IDM at several target speeds and headways, a comfortable stop, an emergency
   brake), all in one batch.
5. Roll out the batch with the simulator's own tracker and bicycle (`core.dynamics.rollout`), so
   what is scored is what the simulator will execute.
6. Score (`scoring`) like the metrics: at-fault collisions and drivable area gate; progress along
   the route, time to collision, speed limit, comfort weigh; reaching a goal state counts extra.
7. Choose the best; when every proposal collides, the one colliding latest (preferring brakes).
The chosen rollout is the returned trajectory (feasible by construction, never NaN), and
`decision` states what was decided and why, with the best score of each alternative.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.dynamics import BicycleState, Obstacles, Tracker, VehicleParams, rollout
from drivestack.core.errors import ConfigError
from drivestack.core.geometry import TWO_PI, FrenetFrame, Polyline, angle_diff
from drivestack.core.map import LaneGraph
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.rules import TrafficRules, traffic_rules
from drivestack.core.scenario import Goal, StaticObstacle, Trajectory, occupancy_boxes
from drivestack.maps.index import MapIndex
from drivestack.maps.raster import DRIVABLE, MapRaster
from drivestack.maps.routing import Corridor, Router, shape_polygon
from drivestack.plan.drivestack.config import DrivestackConfig, ProposalConfig
from drivestack.plan.drivestack.decide import (
    LaneOption,
    Scene,
    Wall,
    conflicts,
    envelope,
    free_speed,
    gap_check,
    leaders,
    light_walls,
    making_room,
)
from drivestack.plan.drivestack.proposals import (
    BRAKE,
    FIRM,
    IDM,
    LEADER,
    SLOW,
    STOP,
    WALL,
    Profiles,
    References,
    lateral_offsets,
    references,
    speed_profiles,
)
from drivestack.plan.drivestack.scoring import (
    Checks,
    PastMotion,
    Scores,
    check_proposals,
    comfortable,
    score_proposals,
)
from drivestack.predict import (
    AgentStates,
    Forecast,
    ForecastConfig,
    LanePaths,
    constant_velocity,
    lane_following,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_LEAVE_MARGIN = 1.0  # [m] beyond the lane's half width at which the ego has left its corridor
_MAX_RELATIVE_HEADING = 0.5  # [rad] of the ego's heading to its lane that paths start along
_ARRIVAL_DECELERATION = 2.0  # [m/s2] with which the ego comes to rest once the goal holds
_END_MARGIN = 3.0  # [m] before a lane's or the map's end where the ego stops (ends may be slanted)
_LANE_TOLERANCE = 0.1  # [m] a corner may stick out of its lane before the ego counts as between lanes
_GOAL_REACH = 0.3  # [m] beyond its lane's half width a path may aim at a goal region's centre
_HEADING_MARGIN = 0.05  # [rad] inside a goal's orientation interval a path aims its heading
_MIN_HEADING_RUN = 1.0  # [m] of travel before a goal region's middle a heading path needs
_MAX_HEADING_TURN = 0.5  # [rad] the most a path turns off its lane to meet a goal's orientation
_STRAIGHT_LENGTH = 1000.0  # [m] of the straight corridor used off every lane
_STOPPED = 0.1  # [m/s] the speed below which the ego has come to a full stop
_AT_LINE = 3.0  # [m] from a stop line within which the ego's front has stopped at it


@dataclass(frozen=True, eq=False)
class MapContext:
    """What the planner derives from a map once: lane index, drivable raster, lanes' paths."""

    index: MapIndex
    raster: MapRaster
    paths: LanePaths


_maps: weakref.WeakKeyDictionary[LaneGraph, MapContext] = weakref.WeakKeyDictionary()


def map_context(graph: LaneGraph) -> MapContext:
    """The `MapContext` of a lane graph, built once per graph object."""
    found = _maps.get(graph)
    if found is None:
        index = MapIndex(graph)
        found = _maps[graph] = MapContext(index, MapRaster(index), LanePaths(graph, index))
    return found


@dataclass(frozen=True)
class Decision:
    """What the planner decided at one step and why: `action` (follow_lane, follow_lead, stop,
    yield, lane_change_left/right, abort_lane_change, emergency_brake), `reason`, the chosen
    proposal's `score`, the best score of each alternative action (or why it was not open), and the
    number of proposals evaluated."""

    step: int
    action: str
    reason: str
    score: float
    alternatives: tuple[tuple[str, str], ...]
    proposals: int

    def __str__(self) -> str:
        others = "; ".join(f"{name} {value}" for name, value in self.alternatives)
        return f"{self.action}: {self.reason} (score {self.score:.3f}; {self.proposals} proposals) | {others}"


@dataclass
class _Memory:
    """What the planner keeps between steps: the corridor it follows, the lane it aims for and
    whether it is changing lanes toward it (and the path length [m] its chosen lane change has left:
    a lane change under way keeps its end rather than starting afresh every step), the lateral
    offset it chose, the agents it yields to, the lanes whose red-light stop line it has stopped at
    (where the rules then let it turn right on red)."""

    corridor: Corridor | None = None
    target_lane: int = -1
    changing: bool = False
    change_left: float = np.inf
    offset: float = 0.0
    yielding: frozenset[int] = frozenset()
    stopped_at: frozenset[int] = frozenset()
    decisions: list[Decision] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class _Batch:
    """The proposals of one step, (B,) each: option index, path target offset [m] and transition
    length [m], profile kind, IDM target fraction and headway [s], stop wall [m]."""

    option: IntArray
    target: FloatArray
    transition: FloatArray
    kind: IntArray
    fraction: FloatArray
    headway: FloatArray
    wall: FloatArray


class DrivestackPlanner:
    """drivestack's decision planner (see the module docstring); `config` defaults to the tuned one."""

    name = "drivestack"

    def __init__(self, config: DrivestackConfig | None = None) -> None:
        self.config = config or DrivestackConfig()
        if self.config.forecast_model not in ("lane", "cv"):
            raise ConfigError(f"forecast_model {self.config.forecast_model!r}: expected 'lane' or 'cv'")
        self.decision = ""
        self._memory = _Memory()
        self._init: PlannerInit | None = None
        self._map: MapContext | None = None
        self._router: Router | None = None
        self._tracker: Tracker | None = None
        self._statics: tuple[tuple[StaticObstacle, ...], Obstacles] | None = None
        self._goal: list[tuple[shapely.Geometry, FloatArray]] = []
        self._arrived = False
        self._off_road = False
        self._rules = TrafficRules()

    @property
    def decisions(self) -> list[Decision]:
        """Every decision of the current run, in step order."""
        return self._memory.decisions

    def initialize(self, init: PlannerInit) -> None:
        """Build the map context, the router toward the goal and the tracker."""
        self._init = init
        self._rules = traffic_rules(init.scenario_id)
        self._map = map_context(init.lane_graph)
        self._router = Router(init.lane_graph, self._map.index, init.goal, self.config.routing)
        self._tracker = Tracker(init.dt, init.vehicle)
        self._memory = _Memory()
        self._statics = None
        self.decision = ""
        self._goal = []
        for state in init.goal.states:
            parts = [shape_polygon(region) for region in state.regions]
            rows = self._map.index.rows(np.asarray(state.lanelet_ids, dtype=np.int64))
            parts += list(self._map.index.polygons[rows[rows >= 0]])
            geometry = shapely.union_all(parts) if parts else None
            if geometry is not None:
                shapely.prepare(geometry)
            bounds = np.asarray(shapely.total_bounds(geometry)) if geometry is not None else np.zeros(4)
            self._goal.append((geometry, bounds))

    # --- step ------------------------------------------------------------------------------

    def plan(self, observation: Observation) -> Trajectory:
        """The trajectory to follow from `observation.step` on (see the module docstring)."""
        init, context, router, tracker = self._init, self._map, self._router, self._tracker
        if init is None or context is None or router is None or tracker is None:
            raise ConfigError("drivestack: plan called before initialize")
        config = self.config
        dt = observation.dt
        steps = max(1, round(config.proposals.horizon / dt))
        times = np.arange(steps + 1, dtype=np.float64) * dt
        scene = self._scene(observation, init, context, times)
        ego_now = [
            np.array([[value]]) for value in (scene.ego.x, scene.ego.y, scene.ego.yaw, scene.ego.speed)
        ]
        self._arrived = bool(self._goal_mask(observation.step, *ego_now)[0, 0])
        self._off_road = not bool(context.raster.bits(np.array([[scene.ego.x, scene.ego.y]]))[0] & DRIVABLE)
        options = self._options(scene, router, context)
        batch = self._batch(options, scene.ego.speed)
        envelopes = _stack([option.envelope for option in options])
        corridors = [option.corridor for option in options]
        s0 = np.array([option.s0 for option in options])[batch.option]
        d0 = np.array([option.d0 for option in options])[batch.option]
        slope = np.array([option.slope for option in options])[batch.option]
        proposals = config.proposals
        profiles = speed_profiles(
            s0,
            scene.ego.speed,
            scene.ego.acceleration,
            batch.option,
            envelopes,
            corridors[0].spacing,
            batch.kind,
            batch.fraction,
            batch.headway,
            _stack([option.lead_gaps for option in options])[batch.option],
            _stack([option.lead_speeds for option in options])[batch.option],
            _stack([_lead_braking(scene, option, config.forecast) for option in options])[batch.option],
            batch.wall,
            proposals.idm.array,
            np.array(
                [
                    0.5 * init.vehicle.length,
                    proposals.comfort_jerk,
                    proposals.emergency_deceleration,
                    proposals.emergency_jerk,
                    proposals.idm.accel_max,
                    proposals.speed_gain,
                    proposals.slow_deceleration,
                    proposals.firm_deceleration,
                    proposals.firm_jerk,
                ]
            ),
            dt,
            steps,
        )
        refs = references(corridors, batch.option, s0, d0, slope, batch.target, batch.transition, profiles)
        ego = scene.ego
        start = BicycleState.of(
            ego.x, ego.y, ego.yaw, ego.speed, ego.acceleration, ego.yaw_rate, ego.steering_angle, len(s0)
        )
        states = rollout(start, refs.x, refs.y, refs.yaw, refs.speed, tracker)
        scores, checks = self._score(scene, options, batch, profiles, refs, states, s0)
        best = self._choose(scores, batch, checks)
        decision = self._decide(observation.step, options, batch, profiles, scores, best, scene, checks)
        self._remember(options, batch, best, decision, float(profiles.s[best, 1] - profiles.s[best, 0]))
        return Trajectory(
            steps=observation.step + np.arange(steps + 1, dtype=np.int64),
            x=states.x[best].copy(),
            y=states.y[best].copy(),
            yaw=states.yaw[best].copy(),
            speed=states.speed[best].copy(),
            dt=dt,
            acceleration=states.acceleration[best].copy(),
            steering_angle=states.steering[best].copy(),
        )

    def _scene(
        self, observation: Observation, init: PlannerInit, context: MapContext, times: FloatArray
    ) -> Scene:
        """Agents in range now, their forecast (static obstacles and occupancies appended as
        standing agents), the obstacle boxes for leader search and the desired free speed."""
        config = self.config
        ego = observation.ego
        agents = AgentStates.from_tracks(observation.agents, dt=observation.dt)
        near = np.hypot(agents.x - ego.x, agents.y - ego.y) <= config.decisions.perception_range
        agents = agents.take(near)
        if config.forecast_model == "lane":
            forecast = lane_following(agents, context.paths, times, config.forecast)
        else:
            forecast = constant_velocity(agents, times)
        statics = self._static_obstacles(observation.static_obstacles)
        forecast = _with_statics(forecast, statics)
        forecast, statics = _with_occupancies(forecast, statics, observation, len(times))
        moving = Obstacles(
            agents.x,
            agents.y,
            agents.yaw,
            agents.speed,
            agents.length,
            agents.width,
            np.ones(agents.count, bool),
        )
        return Scene(
            step=observation.step,
            dt=observation.dt,
            ego=ego,
            vehicle=init.vehicle,
            agents=agents,
            forecast=forecast,
            obstacles=Obstacles.concat(moving, statics),
            lights=observation.traffic_lights,
            free_speed=free_speed(ego, init.initial.speed, init.goal, agents, config.decisions),
            goal=init.goal,
            past=_past_motion(observation, init.initial.step),
        )

    def _static_obstacles(self, statics: tuple[StaticObstacle, ...]) -> Obstacles:
        """Static obstacles as boxes, converted once per run."""
        if self._statics is None or self._statics[0] is not statics:
            self._statics = (statics, Obstacles.from_static(statics))
        return self._statics[1]

    # --- route and decisions --------------------------------------------------------------

    def _corridor(self, scene: Scene, router: Router, context: MapContext) -> Corridor:
        """The corridor of the ego's lane: kept while the ego is in one of its lanes, near its
        centerline and with enough road ahead; else rebuilt from the ego's lane (preferring the
        kept corridor's lanes where lanes overlap, e.g. a turn lane leaving a straight one); a
        straight line off every lane."""
        ego, memory = scene.ego, self._memory
        current = memory.corridor
        here = context.index.lanes_at(np.array([[ego.x, ego.y]]))[0]
        held = [lane for lane in here if current is not None and current.holds(lane)]
        if current is not None and held:
            s, d = current.frame.to_frenet(np.array([ego.x, ego.y]))
            needed = ego.speed * self.config.proposals.horizon + self.config.decisions.perception_range
            if abs(float(d)) <= self.config.decisions.lane_half_width + _LEAVE_MARGIN:
                if current.length - float(s) >= needed or current.dead_end:
                    return current
                return router.corridor(current.lane_at(float(s)))
        lane = router.start_lane(ego.x, ego.y, ego.yaw)
        if lane < 0:
            return _straight_corridor(ego.x, ego.y, ego.yaw, router)
        return router.corridor(lane)

    def _options(self, scene: Scene, router: Router, context: MapContext) -> list[LaneOption]:
        """The ego's lane and its adjacent lanes as lane options (see `decide`)."""
        config = self.config.decisions
        current = self._corridor(scene, router, context)
        self._memory.corridor = current
        options = [self._option(scene, current, 0, True, "current lane", 0.0, router)]
        s0 = options[0].s0
        here = current.lane_at(s0)
        if here < 0 or router.index.is_intersection(here):
            return options
        lane = router.graph.lanes.get(here)
        if lane is None:
            return options
        excess_now = float(current.excess[current.station(s0)])
        lead_slow = options[0].lead_gap < config.perception_range and (
            options[0].lead_speed < 0.5
            or options[0].lead_speed
            < float(options[0].envelope[current.station(s0)]) - config.overtake_speed_gap
        )
        for side, neighbour in ((1, lane.left_neighbour), (-1, lane.right_neighbour)):
            if (
                neighbour is None
                or not neighbour.same_direction
                or neighbour.lane_id not in router.graph.lanes
            ):
                continue
            if router.index.is_intersection(neighbour.lane_id):
                continue
            corridor = router.corridor(neighbour.lane_id)
            probe = self._option(scene, corridor, side, False, "", 0.0, router)
            gain = excess_now - float(corridor.excess[corridor.station(probe.s0)])
            continuing = self._memory.changing and corridor.holds(self._memory.target_lane)
            if gain > 0.5:
                reason = f"route: {gain:.0f} m closer to the goal"
            elif continuing:
                reason = "lane change under way"
            elif lead_slow and gain > -1.0:
                reason = f"overtake slow lead ({options[0].lead_speed:.1f} m/s)"
            else:
                options.append(_closed(probe, "no reason to change lanes", gain))
                continue
            gaps = gap_check(scene, corridor, probe.s0, config, mandatory=gain > 0.5, continuing=continuing)
            if not gaps.accepted:
                options.append(_closed(probe, f"{reason}; rejected: {gaps.reason}", gain))
                if gain > 0.5:
                    options[0] = _room_made(options[0], *making_room(scene, gaps, config))
                continue
            options.append(self._option(scene, corridor, side, True, reason, gain, router))
        return options

    def _option(
        self,
        scene: Scene,
        corridor: Corridor,
        side: int,
        allowed: bool,
        why: str,
        gain: float,
        router: Router,
    ) -> LaneOption:
        """One lane option: the ego on the corridor, its envelope, leader and mandatory stops."""
        config = self.config.decisions
        ego = scene.ego
        s, d = corridor.frame.to_frenet(np.array([ego.x, ego.y]))
        s0, d0 = float(s), float(d)
        relative = float(angle_diff(ego.yaw, float(corridor.frame.reference.heading_at(s0))))
        slope = float(np.tan(np.clip(relative, -_MAX_RELATIVE_HEADING, _MAX_RELATIVE_HEADING)))
        speeds = envelope(
            corridor,
            scene.free_speed,
            scene.goal,
            s0,
            config,
            scene.step * scene.dt,
            scene.dt,
            self._deadline(scene.dt),
        )
        if not allowed:
            none = np.full(1, np.inf), np.zeros(1), np.full(1, -1, dtype=np.int64)
            return LaneOption(side, corridor, s0, d0, slope, False, why, gain, speeds, *none, ())
        gaps, lead_speeds, rows = leaders(scene, corridor, s0, config)
        memory = self._memory
        walls = light_walls(scene, corridor, s0, config, self._rules, memory.stopped_at)
        front = s0 + 0.5 * scene.vehicle.length
        for wall in walls:  # a full stop at the line lets a right turn on red go on
            if wall.line >= 0 and scene.ego.speed < _STOPPED and wall.s - front < _AT_LINE:
                memory.stopped_at = memory.stopped_at | {wall.line}
        walls += conflicts(scene, corridor, s0, float(speeds[corridor.station(s0)]), config, memory.yielding)
        walls += _route_walls(corridor, s0, scene, self._arrived, self._off_road)
        return LaneOption(
            side, corridor, s0, d0, slope, True, why, gain, speeds, gaps, lead_speeds, rows, tuple(walls)
        )

    # --- proposals ------------------------------------------------------------------------

    def _deadline(self, dt: float) -> float | None:
        """The time [s] the run ends, if the simulator said."""
        last = self._init.last_step if self._init is not None else None
        return None if last is None else last * dt

    def _batch(self, options: list[LaneOption], speed: float) -> _Batch:
        """Paths x profiles of the open options (see `ProposalConfig`) for the ego at `speed` [m/s];
        the emergency brake on the ego's own lane, holding its offset, comes last."""
        config = self.config.proposals
        length = self._init.vehicle.length if self._init is not None else VehicleParams().length
        goal = self._init.goal if self._init is not None else None
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
                if self._memory.changing and option.corridor.holds(self._memory.target_lane):
                    floor = max(config.min_transition, speed * min(config.lane_change_times) / 3.0)
                    lengths = [max(floor, self._memory.change_left)]  # the change under way goes on
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
        return _Batch(
            option=table[:, 0].astype(np.int64),
            target=table[:, 1],
            transition=table[:, 2],
            kind=table[:, 3].astype(np.int64),
            fraction=table[:, 4],
            headway=table[:, 5],
            wall=table[:, 6],
        )

    # --- scoring and choice ---------------------------------------------------------------

    def _score(
        self,
        scene: Scene,
        options: list[LaneOption],
        batch: _Batch,
        profiles: Profiles,
        refs: References,
        states: BicycleState,
        s0: FloatArray,
    ) -> tuple[Scores, Checks]:
        """Checks and scores of the rolled-out batch (see `scoring`)."""
        config = self.config.scoring
        assert self._map is not None
        margin = 2.0 * np.where(scene.forecast.vulnerable, config.vulnerable_margin, config.vehicle_margin)
        margin[scene.forecast.source < 0] = 0.0  # static obstacles are where they are
        vehicle, forecast, raster = scene.vehicle, scene.forecast, self._map.raster
        steps = profiles.s.shape[1]
        last = self._init.last_step if self._init is not None else None
        run_end = steps if last is None else max(last - scene.step, 1)  # column the run ends at
        judged = min(run_end, steps - 1)  # the last column the run lives to see
        corridors = [option.corridor for option in options]
        station = np.empty(profiles.s.shape, dtype=np.int64)
        excess_end = np.empty(len(s0))
        lane_limit = np.empty(profiles.s.shape)
        wanted = np.empty(profiles.s.shape)
        crossing = np.empty(profiles.s.shape, dtype=bool)
        lane_left = np.empty(profiles.s.shape)
        lane_right = np.empty(profiles.s.shape)
        for number, corridor in enumerate(corridors):  # at most three corridors
            rows = batch.option == number
            station[rows] = corridor.station(profiles.s[rows])
            excess_end[rows] = corridor.excess[station[rows, judged]]
            lane_limit[rows] = corridor.speed_limit[station[rows]]
            wanted[rows] = options[number].envelope[station[rows]]
            crossing[rows] = corridor.in_intersection[station[rows]]
            lane_left[rows] = corridor.half_left[station[rows]]
            lane_right[rows] = corridor.half_right[station[rows]]
        first = options[0]
        excess_now = float(first.corridor.excess[first.corridor.station(first.s0)])
        progress = (profiles.s[:, judged] - s0) - (excess_end - excess_now)
        sides = np.array([option.side for option in options])[batch.option]
        shifting = np.abs(refs.d - refs.d[:, -1:]) > 0.3
        # off its lane's middle by more than the lane allows, the ego is "changing lanes" for the metric
        half = 0.5 * vehicle.width - _LANE_TOLERANCE
        straddling = (refs.d + half > lane_left) | (half - refs.d > lane_right)
        changing = (shifting & (sides != 0)[:, None]) | straddling
        wide = crossing | changing
        # a run ends where a goal state holds: what a proposal would do after reaching it never happens
        reached = self._goal_mask(scene.step, states.x, states.y, states.yaw, states.speed)
        reached[:, 0] = False
        reached[:, run_end + 1 :] = False  # an arrival after the run ends never happens
        arrives = reached.any(axis=1)
        arrival = np.where(arrives, reached.argmax(axis=1), steps - 1)
        # the drivable area and the limit are judged while the run lasts; collisions over the horizon
        until = np.arange(steps)[None, :] <= np.minimum(arrival, run_end)[:, None]
        checks = check_proposals(
            states.x,
            states.y,
            states.yaw,
            states.speed,
            wide,
            changing,
            until,
            (vehicle.length, vehicle.width, vehicle.wheelbase),
            forecast.x,
            forecast.y,
            forecast.yaw,
            forecast.speed,
            forecast.length + margin,
            forecast.width + margin,
            np.where(
                forecast.vulnerable[None, :],
                np.array(config.vulnerable_growth)[:, None],
                np.array(config.vehicle_growth)[:, None],
            ),
            raster.grid,
            raster.origin,
            raster.resolution,
            scene.dt,
            config,
        )
        checks = checks.until(arrival, steps)
        # the limit the plan respects: the map's, or the envelope where the goal asks for more, an
        # excuse only the arrival it buys makes (none where the run ends inside the horizon without)
        excused = arrives | (run_end >= steps - 1)
        limit = np.where(excused[:, None], np.maximum(lane_limit, wanted), lane_limit)  # NaN: no limit
        with np.errstate(invalid="ignore"):
            excess = np.where(np.isfinite(limit) & until, np.maximum(states.speed - limit, 0.0), 0.0)
        overspeed = excess[:, 1:].sum(axis=1) * scene.dt
        held = np.minimum(np.arange(steps)[None, :], arrival[:, None])  # states frozen at the goal
        end = np.minimum(np.where(arrives, arrival, steps), run_end)
        comfort = comfortable(
            states.acceleration,
            np.take_along_axis(states.speed, held, axis=1),
            states.yaw,
            np.take_along_axis(states.yaw_rate, held, axis=1),
            scene.past,
            end,
            scene.dt,
            config,
        )
        goal = np.where(arrives, 1.0 - 0.5 * arrival / (steps - 1), 0.0)  # sooner is better
        memory = self._memory
        corridor_holds = np.array([option.corridor.holds(memory.target_lane) for option in options])
        consistent = corridor_holds[batch.option]
        gate = config.collision_gate_reaction + scene.ego.speed / config.collision_gate_deceleration
        gate = min(max(gate, config.collision_gate_min), (steps - 1) * scene.dt)
        scores = score_proposals(
            checks,
            steps,
            round(gate / scene.dt),
            progress,
            overspeed,
            comfort,
            goal,
            (sides != 0).astype(np.int64),
            consistent,
            np.where(sides == 0, np.abs(batch.target) + np.abs(batch.target - memory.offset), 0.0),
            (straddling & (sides == 0)[:, None]).mean(axis=1),
            np.abs(states.acceleration).mean(axis=1),
            self._off_road,
            (steps - 1) * scene.dt,
            config,
        )
        return scores, checks

    def _goal_mask(
        self, step: int, x: FloatArray, y: FloatArray, yaw: FloatArray, speed: FloatArray
    ) -> BoolArray:
        """(B, T) True where states (B, T) at steps `step` + column satisfy a goal state: time,
        position (region or goal lanelet), velocity and orientation (modulo 2 pi)."""
        assert self._init is not None
        found = np.zeros(x.shape, dtype=bool)
        steps = step + np.arange(x.shape[1])
        for state, (geometry, bounds) in zip(self._init.goal.states, self._goal, strict=True):
            mask = np.broadcast_to((steps >= state.time.start) & (steps <= state.time.end), x.shape).copy()
            if state.velocity is not None:
                mask &= (speed >= state.velocity.start) & (speed <= state.velocity.end)
            if state.orientation is not None:
                width = state.orientation.end - state.orientation.start
                offset = np.remainder(yaw - state.orientation.start, 2.0 * np.pi)
                mask &= (offset <= width + 1e-9) | (offset >= 2.0 * np.pi - 1e-9) | (width >= 2.0 * np.pi)
            if geometry is not None:
                mask &= (x >= bounds[0]) & (x <= bounds[2]) & (y >= bounds[1]) & (y <= bounds[3])
                if mask.any():
                    mask[mask] = shapely.intersects_xy(geometry, x[mask], y[mask])
            found |= mask
        return found

    def _choose(self, scores: Scores, batch: _Batch, checks: Checks) -> int:
        """The best safe proposal other than the emergency brake, else the best safe one. Without
        one: when every proposal leaves the drivable area, the emergency brake (stop as soon as
        possible); otherwise, of the proposals on it, the one whose first collision comes latest
        (then comfortable ones: there is time to replan, then braking ones)."""
        calm = scores.safe & (batch.kind != BRAKE)
        if calm.any():
            return int(np.argmax(np.where(calm, scores.total, -np.inf)))
        if scores.safe.any():
            return int(np.argmax(scores.total))
        on_road = checks.offroad == 0
        if not on_road.any() and not self._off_road:
            return int(np.flatnonzero(batch.kind == BRAKE)[-1])
        brake_first = (batch.kind == BRAKE).astype(np.float64) + 0.5 * (batch.kind == STOP)
        order = np.lexsort((brake_first, scores.comfort, checks.collision, on_road | self._off_road))
        return int(order[-1])

    def _decide(
        self,
        step: int,
        options: list[LaneOption],
        batch: _Batch,
        profiles: Profiles,
        scores: Scores,
        best: int,
        scene: Scene,
        checks: Checks,
    ) -> Decision:
        """Name the chosen proposal's action and reason, with the best score of every alternative."""
        option = options[batch.option[best]]
        memory = self._memory
        action, reason = _action(option, batch, profiles, best, scene)
        if not scores.safe[best]:
            steps = profiles.s.shape[1]
            if checks.collision[best] >= steps:
                why = "every proposal leaves the drivable area"
            else:
                culprit = int(checks.culprit[best])
                who = (
                    f"agent {int(scene.forecast.ids[culprit])}"
                    if 0 <= culprit < scene.agents.count
                    else "an obstacle"
                )
                why = (
                    f"every proposal collides; latest with {who} in {checks.collision[best] * scene.dt:.1f} s"
                )
            action = "emergency_brake" if batch.kind[best] == BRAKE else action
            reason = f"no safe proposal: {why}"
        elif option.side == 0 and memory.changing and not option.corridor.holds(memory.target_lane):
            blocked = [
                other for other in options if other.side != 0 and other.corridor.holds(memory.target_lane)
            ]
            why = blocked[0].why if blocked else "target lane gone"
            action, reason = "abort_lane_change", why
        alternatives = []
        codes = batch.option * 8 + batch.kind  # one code per (lane option, profile kind)
        best_by_label: dict[str, float] = {}
        for code in np.unique(codes).tolist():  # a handful of (option, kind) pairs
            label = _label(options[code // 8], code % 8)
            value = float(scores.total[codes == code].max())
            best_by_label[label] = max(best_by_label.get(label, -np.inf), value)
        chosen = _label(option, int(batch.kind[best]))
        for label, value in best_by_label.items():
            if label != chosen:
                alternatives.append((label, f"{value:.3f}" if np.isfinite(value) else "unsafe"))
        for other in options:
            if not other.allowed:
                alternatives.append((other.name, f"closed ({other.why})"))
        return Decision(step, action, reason, float(scores.total[best]), tuple(alternatives), len(batch.kind))

    def _remember(
        self, options: list[LaneOption], batch: _Batch, best: int, decision: Decision, travel: float
    ) -> None:
        """Keep the chosen lane target and offset (and what is left of a lane change after the
        `travel` [m] of this step) for the next step; publish the decision."""
        option = options[batch.option[best]]
        memory = self._memory
        memory.target_lane = option.corridor.lane_at(option.s0)
        memory.changing = option.side != 0
        memory.change_left = float(batch.transition[best]) - travel if memory.changing else np.inf
        memory.offset = float(batch.target[best]) if option.side == 0 else 0.0
        memory.yielding = frozenset(
            wall.agent for other in options for wall in other.walls if wall.agent >= 0
        )
        memory.decisions.append(decision)
        self.decision = str(decision)


def _past_motion(observation: Observation, first_step: int) -> PastMotion:
    """The ego's executed accelerations [m/s2] (zero where not recorded) and headings [rad] before
    now; the run started at `first_step`."""
    history = observation.ego_history
    earlier = history.steps < observation.step
    acceleration = np.zeros(len(history.steps)) if history.acceleration is None else history.acceleration
    return PastMotion(
        np.nan_to_num(np.asarray(acceleration, dtype=np.float64)[earlier]),
        np.asarray(history.yaw, dtype=np.float64)[earlier],
        bool(history.steps[0] <= first_step),
    )


def _lead_braking(scene: Scene, option: LaneOption, forecast: ForecastConfig) -> FloatArray:
    """The decelerations [m/s2] (<= 0) (L,) of the option's leaders that brake (as the forecasts
    count braking: below `braking_threshold`), else 0."""
    rows = option.lead_rows
    accel = np.zeros(len(rows))
    accel[rows >= 0] = scene.agents.acceleration[rows[rows >= 0]]
    return np.where(accel < forecast.braking_threshold, accel, 0.0)


def _label(option: LaneOption, kind: int) -> str:
    """The alternative a proposal stands for: its lane option and profile kind."""
    if kind == BRAKE:
        return "emergency_brake"
    if kind in (SLOW, FIRM):
        return "slow_down"
    return f"{option.name}/stop" if kind == STOP else option.name


def _action(
    option: LaneOption, batch: _Batch, profiles: Profiles, best: int, scene: Scene
) -> tuple[str, str]:
    """The action and reason a chosen (safe) proposal carries out."""
    kind = int(batch.kind[best])
    if kind == BRAKE:
        return "emergency_brake", "braking hard is the best proposal"
    if kind in (SLOW, FIRM):
        return "slow_down", "slowing down" + (" firmly" if kind == FIRM else "") + " is the best proposal"
    if option.side != 0:
        return option.name, option.why
    wall = option.first_wall
    binding = int(profiles.binding[best])
    offset = float(batch.target[best])
    nudge = f", offset {offset:+.1f} m" if abs(offset) > 0.05 else ""
    if wall is not None and (binding == WALL or kind == STOP):
        return ("yield" if wall.kind == "yield" else "stop"), wall.reason + nudge
    lead = option.lead_row
    if binding == LEADER or (kind == STOP and np.isfinite(option.lead_gap)):
        who = f"agent {int(scene.agents.ids[lead])}" if lead >= 0 else "an obstacle"
        verb = "stop" if option.lead_speed < 0.5 else "follow_lead"
        return verb, f"{who} {option.lead_gap:.1f} m ahead at {option.lead_speed:.1f} m/s{nudge}"
    target = float(batch.fraction[best]) * float(option.envelope[option.corridor.station(option.s0)])
    why = "" if option.why == "current lane" else f", {option.why}"
    return "follow_lane", f"toward {target:.1f} m/s{nudge}{why}"


def _closed(option: LaneOption, why: str, gain: float) -> LaneOption:
    """`option` marked closed with its reason and route gain."""
    return dataclasses.replace(option, allowed=False, why=why, route_gain=gain, walls=())


def _room_made(option: LaneOption, speed: float, why: str) -> LaneOption:
    """The ego's lane `option` with its desired speed at most `speed` [m/s] from the ego on, and
    `why` as its reason."""
    if not np.isfinite(speed):
        return option
    ahead = np.arange(len(option.envelope)) >= int(option.corridor.station(option.s0))
    envelope = np.where(ahead, np.minimum(option.envelope, max(speed, 0.0)), option.envelope)
    return dataclasses.replace(option, envelope=envelope, why=why)


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


def _route_walls(corridor: Corridor, s0: float, scene: Scene, arrived: bool, off_road: bool) -> list[Wall]:
    """Stops the route asks for: at the goal once it holds (the ego has arrived), off every lane
    and off the drivable area (`off_road`: beyond the map nothing is known), where the goal's
    velocity interval asks for a standstill, at the end of a lane that drops (the route goes on
    beside it), and at the end of the map unless a goal region still lies ahead on the corridor
    (the road beyond the map is unknown; a run ends at the goal; once in a goal region whose other
    conditions do not hold yet, the ego stops before the map ends rather than leave the road)."""
    walls = []
    front = s0 + 0.5 * scene.vehicle.length
    braking = scene.ego.speed**2 / (2.0 * _ARRIVAL_DECELERATION)
    if arrived:
        walls.append(Wall(front + braking, "goal", "goal reached: stop"))
    if off_road and corridor.lane_ids == (-1,):
        walls.append(Wall(front + braking, "route_end", "off the mapped road: stop"))
    goal_ahead = False
    for span in corridor.goal:
        if span.s_out <= front - scene.vehicle.length:
            continue
        goal_ahead |= span.s_in > front
        velocity = scene.goal.states[span.state].velocity
        if velocity is not None and velocity.end < 1.0:
            middle = 0.5 * (span.s_in + span.s_out) + 0.5 * scene.vehicle.length
            walls.append(
                Wall(max(middle, front), "goal", f"goal asks to stop (velocity <= {velocity.end:.1f} m/s)")
            )
    if corridor.dead_end:
        end = max(corridor.length - _END_MARGIN, front)  # past it already: stop where it is
        if corridor.excess[-1] > 0.5:
            walls.append(Wall(end, "lane_end", f"lane {corridor.lane_ids[-1]} ends"))
        elif not goal_ahead:
            walls.append(Wall(end, "route_end", "end of the mapped road"))
    return walls


def _stack(rows: list[FloatArray]) -> FloatArray:
    """Arrays of different lengths stacked as (N, max length), padded with their last value."""
    width = max(len(row) for row in rows)
    return np.stack([np.pad(row, (0, width - len(row)), mode="edge") for row in rows])


def _with_statics(forecast: Forecast, statics: Obstacles) -> Forecast:
    """`forecast` with static obstacles appended as agents standing still (id -1)."""
    count = len(statics.x)
    if count == 0:
        return forecast
    times = len(forecast.times)
    column = np.ones((count, times))
    return Forecast(
        ids=np.concatenate([forecast.ids, np.full(count, -1, dtype=np.int64)]),
        times=forecast.times,
        x=np.concatenate([forecast.x, statics.x[:, None] * column]),
        y=np.concatenate([forecast.y, statics.y[:, None] * column]),
        yaw=np.concatenate([forecast.yaw, statics.yaw[:, None] * column]),
        speed=np.concatenate([forecast.speed, 0.0 * column]),
        length=np.concatenate([forecast.length, statics.length]),
        width=np.concatenate([forecast.width, statics.width]),
        vulnerable=np.concatenate([forecast.vulnerable, np.zeros(count, dtype=bool)]),
        source=np.concatenate([forecast.source, np.full(count, -1, dtype=np.int64)]),
    )


def _with_occupancies(
    forecast: Forecast, statics: Obstacles, observation: Observation, count: int
) -> tuple[Forecast, Obstacles]:
    """`forecast` with the occupancies present over its `count` steps from now appended (one row
    each: the box enclosing the occupied region at each step, NaN where none is given, standing
    still, sized by the largest box over the horizon), and `statics` with those present now.

    Rows are no agent's (`source` -1): the planner keeps clear of them as of static obstacles.
    """
    boxes, present = occupancy_boxes(observation.occupancies, observation.step, count)
    rows = np.flatnonzero(present.any(axis=1))
    if len(rows) == 0:
        return forecast, statics
    boxes, present = boxes[rows], present[rows]
    ids = np.array([observation.occupancies[row].id for row in rows], dtype=np.int64)
    length, width = np.nanmax(boxes[..., 3], axis=1), np.nanmax(boxes[..., 4], axis=1)
    appended = Forecast(
        ids=np.concatenate([forecast.ids, ids]),
        times=forecast.times,
        x=np.concatenate([forecast.x, boxes[..., 0]]),
        y=np.concatenate([forecast.y, boxes[..., 1]]),
        yaw=np.concatenate([forecast.yaw, boxes[..., 2]]),
        speed=np.concatenate([forecast.speed, np.zeros(present.shape)]),
        length=np.concatenate([forecast.length, length]),
        width=np.concatenate([forecast.width, width]),
        vulnerable=np.concatenate([forecast.vulnerable, np.zeros(len(rows), dtype=bool)]),
        source=np.concatenate([forecast.source, np.full(len(rows), -1, dtype=np.int64)]),
    )
    standing = Obstacles.from_occupancies(observation.occupancies, observation.step)
    return appended, Obstacles.concat(statics, standing)


def _straight_corridor(x: float, y: float, yaw: float, router: Router) -> Corridor:
    """A corridor along the ego's heading for an ego off every lane (or a map without lanes)."""
    along = np.array([-20.0, _STRAIGHT_LENGTH])
    line = Polyline(np.column_stack([x + along * np.cos(yaw), y + along * np.sin(yaw)]))
    spacing = router.config.corridor_spacing
    stations = np.arange(0.0, line.length + spacing, spacing)
    count = len(stations)
    return Corridor(
        lane_ids=(-1,),
        lane_starts=np.zeros(1),
        frame=FrenetFrame(line),
        spacing=spacing,
        points=line.interpolate(stations),
        headings=line.heading_at(stations),
        lane_index=np.zeros(count, dtype=np.int64),
        half_left=np.full(count, np.inf),
        half_right=np.full(count, np.inf),
        speed_limit=np.full(count, np.nan),
        curvature=np.zeros(count),
        excess=np.zeros(count),
        in_intersection=np.zeros(count, dtype=bool),
        dead_end=False,
    )
