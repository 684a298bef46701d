"""The drivestack planner: route -> forecast -> decide -> propose -> roll out -> score -> choose.

Every step (`DrivestackPlanner.plan`):
1. Route: the ego's lane corridor (rebuilt when the ego leaves it or nears its end) and the
   corridors of the adjacent lanes, from the problem's `Router` (`maps.routing`).
2. Forecast: the agents present now, along their lanes or at constant velocity (`predict`).
3. Decide (`decide`): per lane option, whether it is open and why, its desired speed, leader and
   mandatory stops (lights, yields, lane ends, goal).
4. Propose: every `ProposalSource` (`stages`) proposes; the rule-based one (`proposals`) gives
   paths (centerline, lateral offsets, lane changes into open lanes) x speed profiles (IDM at
   several target speeds and headways, a comfortable stop, an emergency brake), all in one
   batch; extra sources (`extra_sources`) add theirs.
5. Roll out each source's batch with the simulator's own tracker and bicycle
   (`core.dynamics.rollout`), so what is scored is what the simulator will execute.
6. Score (`scoring.DrivestackScorer`, every source's proposals alike) like the metrics: at-fault
   collisions and drivable area gate; progress along the route, time to collision, speed limit,
   comfort weigh; reaching a goal state counts extra.
7. Choose the best (`scoring.choose`); when every proposal collides, the one colliding latest
   (preferring brakes).
The chosen rollout is the returned trajectory (feasible by construction, never NaN), and
`decision` (`explain`) states what was decided and why, with the best score of each alternative.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivestack.core.dynamics import Obstacles, Tracker
from drivestack.core.errors import ConfigError
from drivestack.core.geometry import FrenetFrame, Polyline, angle_diff
from drivestack.core.goal import GoalCheck
from drivestack.core.map import LaneGraph
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.record import Decision
from drivestack.core.rules import TrafficRules, traffic_rules
from drivestack.core.scenario import StaticObstacle, Trajectory, occupancy_boxes
from drivestack.maps.goal import goal_check
from drivestack.maps.index import MapIndex
from drivestack.maps.raster import DRIVABLE, MapRaster
from drivestack.maps.routing import Corridor, Router
from drivestack.plan.drivestack.config import DrivestackConfig
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
from drivestack.plan.drivestack.explain import explain
from drivestack.plan.drivestack.proposals import RuleBasedSource
from drivestack.plan.drivestack.scoring import DrivestackScorer, PastMotion, choose
from drivestack.plan.drivestack.stages import Memory, Proposals, ProposalSource, Scorer
from drivestack.predict import AgentStates, Forecast, LanePaths

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


@dataclass(frozen=True, eq=False)
class _Run:
    """What the planner builds once per run: what it was told, the map context, the router toward
    the goal, the tracker proposals are rolled out with, the goal check and the scorer."""

    init: PlannerInit
    context: MapContext
    router: Router
    tracker: Tracker
    goal: GoalCheck
    scorer: Scorer


class DrivestackPlanner:
    """drivestack's decision planner (see the module docstring); `config` defaults to the tuned one."""

    name = "drivestack"

    def __init__(
        self, config: DrivestackConfig | None = None, extra_sources: Sequence[ProposalSource] = ()
    ) -> None:
        """`extra_sources` propose next to the rule-based source; the same scorer scores them all."""
        self.config = config or DrivestackConfig()
        self.sources: tuple[ProposalSource, ...] = (RuleBasedSource(self.config), *extra_sources)
        self.decision: Decision | None = None
        self._memory = Memory()
        self._run: _Run | None = None
        self._statics: tuple[tuple[StaticObstacle, ...], Obstacles] | None = None
        self._rules = TrafficRules()

    @property
    def decisions(self) -> list[Decision]:
        """Every decision of the current run, in step order."""
        return self._memory.decisions

    def initialize(self, init: PlannerInit) -> None:
        """Build the map context, the router toward the goal, the tracker and the scorer."""
        self._rules = traffic_rules(init.scenario_id)
        context = map_context(init.lane_graph)
        goal = goal_check(init.goal, context.index)
        self._run = _Run(
            init,
            context,
            Router(init.lane_graph, context.index, init.goal, self.config.routing),
            Tracker(init.dt, init.vehicle),
            goal,
            DrivestackScorer(self.config.scoring, context.raster, goal),
        )
        self._memory = Memory()
        self._statics = None
        self.decision = None

    # --- step ------------------------------------------------------------------------------

    def plan(self, observation: Observation) -> Trajectory:
        """The trajectory to follow from `observation.step` on (see the module docstring)."""
        run = self._run
        if run is None:
            raise ConfigError("drivestack: plan called before initialize")
        scene = self._scene(observation, run)  # forecast, and the facts of this step
        options = self._options(scene, run.router, run.context)  # route and decide
        proposals = Proposals.concat([source.propose(scene, options) for source in self.sources])
        scores = run.scorer.score(scene, options, proposals, self._memory)
        best = choose(scores, proposals, scene.off_road)
        decision = explain(scene, options, proposals, scores, best, self._memory)
        self._remember(options, proposals, best, decision)
        states, steps = proposals.states, observation.step + np.arange(len(scene.times), dtype=np.int64)
        return Trajectory(
            steps=steps,
            x=states.x[best].copy(),
            y=states.y[best].copy(),
            yaw=states.yaw[best].copy(),
            speed=states.speed[best].copy(),
            dt=observation.dt,
            acceleration=states.acceleration[best].copy(),
            steering_angle=states.steering[best].copy(),
        )

    def _scene(self, observation: Observation, run: _Run) -> Scene:
        """Agents in range now, their forecast (static obstacles and occupancies appended as
        standing agents), the obstacle boxes for leader search, the desired free speed, and whether
        the ego has arrived or is off the drivable area now."""
        config, init = self.config, run.init
        dt = observation.dt
        times = np.arange(max(1, round(config.proposals.horizon / dt)) + 1, dtype=np.float64) * dt
        ego = observation.ego
        agents = AgentStates.from_tracks(observation.agents, dt=observation.dt)
        near = np.hypot(agents.x - ego.x, agents.y - ego.y) <= config.decisions.perception_range
        agents = agents.take(near)
        forecast = config.forecast_model.forecast(agents, run.context.paths, times, config.forecast)
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
        now = [np.array([[value]]) for value in (ego.x, ego.y, ego.yaw, ego.speed)]
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
            times=times,
            tracker=run.tracker,
            arrived=bool(run.goal.mask(np.array([observation.step]), *now)[0, 0]),
            off_road=not bool(run.context.raster.bits(np.array([[ego.x, ego.y]]))[0] & DRIVABLE),
            last_step=init.last_step,
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
        options = [self._noted(scene, self._option(scene, current, 0, True, "current lane", 0.0))]
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
            probe = self._option(scene, corridor, side, False, "", 0.0)
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
            options.append(self._noted(scene, self._option(scene, corridor, side, True, reason, gain)))
        return options

    def _noted(self, scene: Scene, option: LaneOption) -> LaneOption:
        """`option`, with the red-light stop lines the ego has come to a full stop at noted in memory
        (a full stop at the line lets a right turn on red go on, from the next option on)."""
        front = option.s0 + 0.5 * scene.vehicle.length
        memory = self._memory
        for wall in option.walls:
            if wall.line >= 0 and scene.ego.speed < _STOPPED and wall.s - front < _AT_LINE:
                memory.stopped_at = memory.stopped_at | {wall.line}
        return option

    def _option(
        self,
        scene: Scene,
        corridor: Corridor,
        side: int,
        allowed: bool,
        why: str,
        gain: float,
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
            None if scene.last_step is None else scene.last_step * scene.dt,
        )
        if not allowed:
            none = np.full(1, np.inf), np.zeros(1), np.full(1, -1, dtype=np.int64)
            return LaneOption(side, corridor, s0, d0, slope, False, why, gain, speeds, *none, ())
        gaps, lead_speeds, rows = leaders(scene, corridor, s0, config)
        memory = self._memory
        walls = light_walls(scene, corridor, s0, config, self._rules, memory.stopped_at)
        walls += conflicts(scene, corridor, s0, float(speeds[corridor.station(s0)]), config, memory.yielding)
        walls += _route_walls(corridor, s0, scene)
        under_way = side != 0 and memory.changing and corridor.holds(memory.target_lane)
        return LaneOption(
            side, corridor, s0, d0, slope, True, why, gain, speeds, gaps, lead_speeds, rows, tuple(walls),
            memory.change_left if under_way else np.inf,
        )  # fmt: skip

    def _remember(
        self, options: list[LaneOption], proposals: Proposals, best: int, decision: Decision
    ) -> None:
        """Keep the chosen lane target and offset (and what is left of a lane change after this
        step's travel) for the next step; publish the decision."""
        option = options[proposals.option[best]]
        memory = self._memory
        travel = float(proposals.s[best, 1] - proposals.s[best, 0])
        memory.target_lane = option.corridor.lane_at(option.s0)
        memory.changing = option.side != 0
        memory.change_left = float(proposals.transition[best]) - travel if memory.changing else np.inf
        memory.offset = float(proposals.target[best]) if option.side == 0 else 0.0
        memory.yielding = frozenset(
            wall.agent for other in options for wall in other.walls if wall.agent >= 0
        )
        memory.decisions.append(decision)
        self.decision = decision


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


def _route_walls(corridor: Corridor, s0: float, scene: Scene) -> list[Wall]:
    """Stops the route asks for: at the goal once it holds (the ego has arrived), off every lane
    and off the drivable area (beyond the map nothing is known), where the goal's
    velocity interval asks for a standstill, at the end of a lane that drops (the route goes on
    beside it), and at the end of the map unless a goal region still lies ahead on the corridor
    (the road beyond the map is unknown; a run ends at the goal; once in a goal region whose other
    conditions do not hold yet, the ego stops before the map ends rather than leave the road)."""
    walls = []
    front = s0 + 0.5 * scene.vehicle.length
    braking = scene.ego.speed**2 / (2.0 * _ARRIVAL_DECELERATION)
    if scene.arrived:
        walls.append(Wall(front + braking, "goal", "goal reached: stop"))
    if scene.off_road and corridor.lane_ids == (-1,):
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
