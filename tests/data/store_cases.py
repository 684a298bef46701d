"""Helpers for the store tests: a field-by-field comparison of core objects and a scenario that uses
every part of the schema (shape kinds, lights, signs, stop lines, intersections, goals, recorded egos).

Importable as `store_cases` from the tests in this folder (pytest puts the test's folder on sys.path).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from drivestack.core.map import Intersection, IntersectionIncoming, Lane, LaneGraph, Neighbour, StopLine
from drivestack.core.scenario import (
    AgentType,
    EgoState,
    Goal,
    GoalState,
    Interval,
    LightColor,
    Location,
    Occupancy,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Shape,
    ShapeKind,
    StaticObstacle,
    Tracks,
    TrafficLight,
    TrafficSign,
    Trajectory,
)


def assert_same(a: Any, b: Any, path: str = "scenario") -> None:
    """Assert `a` and `b` are equal field by field: same types, arrays of equal dtype, shape and values
    (NaN equal to NaN), dict keys in the same order."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
        for item in dataclasses.fields(a):
            assert_same(getattr(a, item.name), getattr(b, item.name), f"{path}.{item.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), f"{path}: array vs {type(b).__name__}"
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"{path}: values differ"
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{path}: keys differ"
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{path}: nan vs {b!r}"
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} vs {b!r}"


def _lane(lane_id: int, y: float, **fields: Any) -> Lane:
    xs = np.linspace(0.0, 100.0, 6)
    return Lane(
        id=lane_id,
        left=np.column_stack([xs, np.full(6, y + 1.75)]),
        right=np.column_stack([xs, np.full(6, y - 1.75)]),
        center=np.column_stack([xs, np.full(6, y)]),
        **fields,
    )


def rich_map(map_id: str = "map-rich") -> LaneGraph:
    """Two lanes with neighbours, a speed limit, a stop line, sign and light references, one intersection."""
    lanes = {
        7: _lane(
            7,
            0.0,
            successors=(8,),
            left_neighbour=Neighbour(8, False),
            lane_types=("urban",),
            users_one_way=("vehicle",),
            speed_limit=13.9,
            left_marking="dashed",
            right_marking="solid",
            stop_line=StopLine((100.0, -1.75), (100.0, 1.75), "solid", (500,), (600,)),
            traffic_sign_ids=(500,),
            traffic_light_ids=(600,),
        ),
        8: _lane(
            8,
            3.5,
            predecessors=(7,),
            right_neighbour=Neighbour(7, False),
            users_bidirectional=("bicycle", "pedestrian"),
            stop_line=StopLine(None, None),
        ),
    }
    incoming = IntersectionIncoming(1, (7,), successors_left=(8,), is_left_of=None)
    return LaneGraph(map_id=map_id, lanes=lanes, intersections=(Intersection(40, (incoming,)),))


def rich_scenario(scenario_id: str = "DEU_Rich-1_1_T-1", num_steps: int = 6, shift: float = 0.0) -> Scenario:
    """A small scenario exercising every table; `shift` [m] moves the agents (other content, same key)."""
    rng = np.random.default_rng(7)
    agents, steps = 3, num_steps
    valid = np.ones((agents, steps), dtype=bool)
    valid[1, :2] = False  # appears late
    valid[2, 4:] = False  # leaves early

    def grid(scale: float) -> np.ndarray:
        return np.where(valid, rng.normal(size=(agents, steps)) * scale, np.nan)

    x = grid(10.0) + shift
    polygon = Shape(ShapeKind.POLYGON, vertices=np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.8]]))
    group = Shape(
        ShapeKind.GROUP,
        parts=(Shape(ShapeKind.CIRCLE, radius=0.4, center=(0.1, 0.2)), Shape(ShapeKind.RECTANGLE, 2.0, 1.0)),
    )
    shapes = (
        Shape(ShapeKind.RECTANGLE, length=4.5, width=1.8, orientation=0.1),
        Shape(ShapeKind.CIRCLE, radius=0.3),
        group,
    )
    tracks = Tracks(
        ids=np.array([11, 12, 13], dtype=np.int64),
        agent_type=(AgentType.CAR, AgentType.PEDESTRIAN, AgentType.PRIORITY_VEHICLE),
        x=x,
        y=grid(3.0),
        yaw=grid(1.0),
        speed=grid(5.0),
        vx=grid(5.0),
        vy=grid(5.0),
        acceleration=grid(1.0),
        yaw_rate=grid(0.1),
        valid=valid,
        length=np.array([4.5, 0.6, 2.2]),
        width=np.array([1.8, 0.6, 1.4]),
        shapes=shapes,
    )
    goal_a = GoalState(
        time=Interval(10.0, 40.0),
        regions=(Shape(ShapeKind.RECTANGLE, 10.0, 3.0, center=(90.0, 0.0)), polygon),
        velocity=Interval(0.0, 15.0),
        orientation=Interval(-0.2, 0.2),
    )
    goal_b = GoalState(time=Interval(0.0, float("inf")), lanelet_ids=(8, 7))
    problems = (
        PlanningProblem(1, EgoState(0, 1.0, 0.0, 0.0, 10.0, 0.5, 0.01, 0.0, 0.02), Goal((goal_a, goal_b))),
        PlanningProblem(2, EgoState(1, 5.0, 3.5, np.pi - 0.1, 8.0), Goal(())),
    )
    steps_ego = np.arange(steps, dtype=np.int64)
    egos = (
        RecordedEgo(
            1,
            Trajectory(
                steps_ego,
                np.linspace(1, 20, steps),
                np.zeros(steps),
                np.zeros(steps),
                np.full(steps, 10.0),
                0.1,
                acceleration=np.array([0.0, 0.1, np.nan, 0.3, 0.2, 0.1][:steps]),
            ),
            "KS",
            2,
            "TR2",
            "/data/solutions/rich.solution.xml.gz",
        ),
        RecordedEgo(
            2,
            Trajectory(
                steps_ego[1:],
                np.ones(steps - 1),
                np.ones(steps - 1),
                np.ones(steps - 1),
                np.ones(steps - 1),
                0.1,
                steering_angle=np.full(steps - 1, 0.05),
            ),
            "PM",
            1,
            "TR1",
            "/data/solutions/rich.solution.xml.gz",
        ),
    )
    return Scenario(
        scenario_id=scenario_id,
        dt=0.1,
        num_steps=num_steps,
        lane_graph=rich_map(),
        tracks=tracks,
        static_obstacles=(StaticObstacle(90, AgentType.PARKED_VEHICLE, 50.0, -3.0, 0.5, polygon),),
        occupancies=(
            Occupancy(14, AgentType.CAR, np.array([2, 3], dtype=np.int64), (polygon, shapes[0])),
            Occupancy(
                95, AgentType.UNKNOWN, np.array([1, 4, 5], dtype=np.int64), (group, polygon, group), True
            ),
        ),
        traffic_lights=(
            TrafficLight(
                600, 100.0, 2.0, ((LightColor.RED, 30), (LightColor.GREEN, 25), (LightColor.YELLOW, 5)), 3
            ),
            TrafficLight(601, 0.0, 0.0, (), direction="left", active=False),
        ),
        traffic_signs=(
            TrafficSign(500, 98.0, -2.5, (("274", ("13.9",)), ("1020-30", ()))),
            TrafficSign(501, None, None, (("206", ()),), virtual=True),
        ),
        planning_problems=problems,
        recorded_egos=egos,
        format_version="2020a",
        source="constructed for the store tests",
        author="tests",
        affiliation="drivestack",
        tags=("urban", "intersection"),
        location=Location(2950159, 52.52, 13.4),
        source_file=str(Path("/data/scenarios") / f"{scenario_id}.xml.gz"),
    )
