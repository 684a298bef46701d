"""Property test: whatever the state and the scene, the drivestack planner returns a finite,
kinematically feasible trajectory from the ego's present state (never NaN, never a failure the
simulator would have to catch)."""

from __future__ import annotations

import numpy as np
import scenes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivestack.core.dynamics import VehicleParams, check_trajectory
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.scenario import (
    AgentType,
    EgoState,
    Goal,
    GoalState,
    Interval,
    Shape,
    ShapeKind,
    StaticObstacle,
    Trajectory,
)
from drivestack.plan.drivestack import DrivestackPlanner

_KINDS = (AgentType.CAR, AgentType.TRUCK, AgentType.PEDESTRIAN, AgentType.BICYCLE)

agent_rows = st.lists(
    st.tuples(
        st.floats(-40.0, 60.0),  # along the ego's heading [m]
        st.floats(-8.0, 8.0),  # beside it [m]
        st.floats(-np.pi, np.pi),  # yaw
        st.floats(0.0, 30.0),  # speed
        st.sampled_from(_KINDS),
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lanes=st.integers(1, 3),
    x=st.floats(-20.0, 220.0),
    y=st.floats(-6.0, 12.0),
    yaw=st.floats(-np.pi, np.pi),
    speed=st.floats(0.0, 35.0),
    acceleration=st.floats(-6.0, 3.0),
    steering=st.floats(-0.3, 0.3),
    dt=st.sampled_from([0.04, 0.1, 0.2, 0.5]),
    rows=agent_rows,
    obstacle=st.booleans(),
    goal_x=st.floats(0.0, 250.0),
)
def test_plans_are_finite_and_feasible(
    lanes: int,
    x: float,
    y: float,
    yaw: float,
    speed: float,
    acceleration: float,
    steering: float,
    dt: float,
    rows: list[tuple[float, float, float, float, AgentType]],
    obstacle: bool,
    goal_x: float,
) -> None:
    graph = scenes.straight_road(num_lanes=lanes, length=200.0, segments=2)
    cos, sin = np.cos(yaw), np.sin(yaw)
    agents = [
        scenes.Agent(
            10 + k,
            np.array([x + along * cos - side * sin]),
            np.array([y + along * sin + side * cos]),
            kind=kind,
            yaw=np.array([heading]),
            speed=np.array([v]),
        )
        for k, (along, side, heading, v, kind) in enumerate(rows)
    ]
    tracks = scenes.tracks(agents, 1)
    statics = (
        (
            StaticObstacle(
                99, AgentType.CONSTRUCTION_ZONE, x + 30.0, y, 0.0, Shape(ShapeKind.RECTANGLE, 2.0, 2.0)
            ),
        )
        if obstacle
        else ()
    )
    region = Shape(ShapeKind.RECTANGLE, length=8.0, width=3.0, center=(goal_x, 0.0))
    goal = Goal((GoalState(time=Interval(0, 500), regions=(region,)),))
    ego = EgoState(step=7, x=x, y=y, yaw=yaw, speed=speed, acceleration=acceleration, steering_angle=steering)
    planner = DrivestackPlanner()
    vehicle = VehicleParams()
    planner.initialize(PlannerInit("TEST_Prop-1_1_T-1", 1, dt, graph, goal, ego, vehicle))
    history = Trajectory(np.array([7]), np.array([x]), np.array([y]), np.array([yaw]), np.array([speed]), dt)
    observation = Observation(7, dt, ego, history, tracks, statics, {}, graph)
    plan = planner.plan(observation)
    fields = np.stack([plan.x, plan.y, plan.yaw, plan.speed])
    assert np.isfinite(fields).all()
    assert plan.steps[0] == 7 and len(plan) >= 2
    assert check_trajectory(plan, 7, dt, x, y) is None
    assert planner.decision and planner.decisions[-1].proposals > 0
