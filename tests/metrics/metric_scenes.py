"""Metric-test scenes on top of the shared `scenes` builders: ego runs, goals, records, evaluation.

Roads come from `scenes.straight_road` (lanes along +x from x = 0, lane k centred at y = 3.5 k);
other agents are `scenes.Agent`s. Steps are `scenes.DT` = 0.1 s apart and start at step 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray
from scenes import DT, LANE_WIDTH, Agent, lane_between, lane_id, straight_road, tracks

from drivestack.core.map import LaneGraph, Neighbour
from drivestack.core.record import EgoStates, RunRecord
from drivestack.core.scenario import (
    EgoState,
    Goal,
    GoalState,
    Interval,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Shape,
    ShapeKind,
    StaticObstacle,
    Trajectory,
)
from drivestack.metrics import MetricContext, ScenarioMetrics, evaluate

FloatArray = NDArray[np.float64]
ONCOMING = 900
"""Id of the oncoming lane `road(oncoming=True)` adds right of lane 0, driven along -x."""


def road(lanes: int = 1, speed_limit: float | None = None, oncoming: bool = False) -> LaneGraph:
    """A 400 m straight road of `lanes` lanes along +x, an optional speed limit [m/s] on every lane,
    and optionally an oncoming lane (id ONCOMING) at y = -3.5 m."""
    graph = straight_road(num_lanes=lanes, length=400.0)
    built = {key: dataclasses.replace(lane, speed_limit=speed_limit) for key, lane in graph.lanes.items()}
    if oncoming:
        built[lane_id(0)] = dataclasses.replace(built[lane_id(0)], right_neighbour=Neighbour(ONCOMING, False))
        built[ONCOMING] = lane_between(
            ONCOMING,
            (400.0, -LANE_WIDTH),
            (0.0, -LANE_WIDTH),
            left_neighbour=Neighbour(lane_id(0), False),
            speed_limit=speed_limit,
        )
    return LaneGraph(map_id=f"metric-road-{lanes}-{speed_limit}-{oncoming}", lanes=built)


def motion(
    x0: float, speed: float, steps: int, accel: float = 0.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Positions [m], speeds [m/s], accelerations [m/s2] (steps,) of a straight drive from x0 at
    constant acceleration that stops (not reverses) at speed 0."""
    t = np.arange(steps) * DT
    stop = np.inf if accel >= 0.0 else speed / -accel
    moving = np.minimum(t, stop)
    return (
        speed * moving + 0.5 * accel * moving**2 + x0,
        speed + accel * moving,
        np.where(t < stop, accel, 0.0),
    )


def ego(
    x: FloatArray,
    y: FloatArray | float = 0.0,
    yaw: FloatArray | float = 0.0,
    speed: FloatArray | None = None,
    acceleration: FloatArray | None = None,
) -> EgoStates:
    """Ego states along x (T,) [m] with y [m] and yaw [rad] (arrays or constants); speed defaults to
    the finite-difference speed, acceleration to its derivative, yaw rate to the heading's."""
    steps = len(x)
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), (steps,)).copy()
    yaw = np.broadcast_to(np.asarray(yaw, dtype=np.float64), (steps,)).copy()
    speed = np.hypot(np.gradient(x, DT), np.gradient(y, DT)) if speed is None else speed
    acceleration = np.gradient(speed, DT) if acceleration is None else acceleration
    return EgoStates(
        x=np.asarray(x, dtype=np.float64),
        y=y,
        yaw=yaw,
        speed=np.asarray(speed, dtype=np.float64),
        acceleration=np.asarray(acceleration, dtype=np.float64),
        yaw_rate=np.gradient(np.unwrap(yaw), DT),
        steering_angle=np.zeros(steps),
    )


def cruise(
    x0: float = 10.0, speed: float = 10.0, steps: int = 60, accel: float = 0.0, y: float = 0.0
) -> EgoStates:
    """The ego driving straight along +x at y from x0 [m] at `speed` [m/s] with constant `accel` [m/s2]."""
    x, v, a = motion(x0, speed, steps, accel)
    return ego(x, y, 0.0, v, a)


def goal_state(
    time: tuple[float, float] = (0, 10_000),
    region: tuple[float, float, float, float] | None = None,
    lanelets: tuple[int, ...] = (),
    velocity: tuple[float, float] | None = None,
    orientation: tuple[float, float] | None = None,
) -> GoalState:
    """A goal state: time interval [steps], axis-aligned region (x_min, y_min, x_max, y_max) [m],
    goal lanelets, velocity [m/s] and orientation [rad] intervals."""
    regions: tuple[Shape, ...] = ()
    if region is not None:
        x0, y0, x1, y1 = region
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        regions = (Shape(ShapeKind.RECTANGLE, length=x1 - x0, width=y1 - y0, center=centre),)
    return GoalState(
        time=Interval(*time),
        regions=regions,
        lanelet_ids=lanelets,
        velocity=None if velocity is None else Interval(*velocity),
        orientation=None if orientation is None else Interval(*orientation),
    )


def problem(states: EgoStates, *goals: GoalState) -> PlanningProblem:
    """Planning problem 1 starting where `states` start; goal states default to 'any time, anywhere'."""
    initial = EgoState(
        0, float(states.x[0]), float(states.y[0]), float(states.yaw[0]), float(states.speed[0])
    )
    return PlanningProblem(id=1, initial=initial, goal=Goal(goals or (goal_state(),)))


def recorded(states: EgoStates) -> RecordedEgo:
    """A recorded human ego that drove `states` from step 0."""
    steps = np.arange(len(states.x), dtype=np.int64)
    trajectory = Trajectory(steps, states.x, states.y, states.yaw, states.speed, DT)
    return RecordedEgo(1, trajectory, "KS", 2, "TR2", "test")


def context(
    states: EgoStates,
    *agents: Agent,
    graph: LaneGraph | None = None,
    goals: tuple[GoalState, ...] = (),
    statics: tuple[StaticObstacle, ...] = (),
    human: EgoStates | None = None,
) -> MetricContext:
    """The metric context of the ego driving `states` among `agents` on `graph` (default `road()`)."""
    steps = len(states.x)
    plan = problem(states, *goals)
    world = Scenario(
        scenario_id="TEST_Scene-1_1_T-1",
        dt=DT,
        num_steps=steps,
        lane_graph=road() if graph is None else graph,
        tracks=tracks(list(agents), steps),
        static_obstacles=statics,
        planning_problems=(plan,),
    )
    run = RunRecord(
        scenario_id=world.scenario_id,
        planning_problem_id=plan.id,
        planner="test",
        agents_mode="log",
        dt=DT,
        steps=np.arange(steps, dtype=np.int64),
        ego=states,
        agents=world.tracks,
    )
    return MetricContext(world, plan, run, None if human is None else recorded(human))


def run(states: EgoStates, *agents: Agent, **options: object) -> ScenarioMetrics:
    """Evaluate the ego driving `states` among `agents` (options as `context`)."""
    ctx = context(states, *agents, **options)  # type: ignore[arg-type]
    return evaluate(ctx.scenario, ctx.problem, ctx.record, ctx.recorded_ego)
