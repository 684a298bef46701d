"""Tiny hand-built scenes with known answers, shared by the map, mining and viz tests.

Importable as `scenes` from any test: pytest puts `tests/` on sys.path for `tests/conftest.py`.
Roads run along +x; lane k (0 = rightmost) of segment j has id 100 * (k + 1) + j and its centre at
y = k * LANE_WIDTH. Agents are given as position arrays over the steps; NaN marks "not present".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drivestack.core.map import Lane, LaneGraph, Neighbour
from drivestack.core.scenario import (
    AgentType,
    EgoState,
    Goal,
    GoalState,
    Interval,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Shape,
    ShapeKind,
    Tracks,
    TrafficLight,
    Trajectory,
)

LANE_WIDTH = 3.5
DT = 0.1
EGO_ID = 1


def lane_id(lane: int, segment: int = 0) -> int:
    """Id of lane `lane` (0 = rightmost) in segment `segment`."""
    return 100 * (lane + 1) + segment


def straight_road(
    num_lanes: int = 2, length: float = 200.0, segments: int = 1, lane_types: tuple[str, ...] = ()
) -> LaneGraph:
    """A straight road along +x from x = 0, `num_lanes` same-direction lanes, cut into `segments`
    equal lane segments joined by successor links."""
    lanes = {}
    edges = np.linspace(0.0, length, segments + 1)
    for k in range(num_lanes):
        for j in range(segments):
            xs = np.linspace(edges[j], edges[j + 1], 5)
            y = k * LANE_WIDTH
            left = Neighbour(lane_id(k + 1, j), True) if k + 1 < num_lanes else None
            right = Neighbour(lane_id(k - 1, j), True) if k > 0 else None
            lanes[lane_id(k, j)] = Lane(
                id=lane_id(k, j),
                left=np.stack([xs, np.full(5, y + LANE_WIDTH / 2)], axis=1),
                right=np.stack([xs, np.full(5, y - LANE_WIDTH / 2)], axis=1),
                center=np.stack([xs, np.full(5, y)], axis=1),
                predecessors=(lane_id(k, j - 1),) if j > 0 else (),
                successors=(lane_id(k, j + 1),) if j + 1 < segments else (),
                left_neighbour=left,
                right_neighbour=right,
                lane_types=lane_types,
            )
    return LaneGraph(map_id="straight", lanes=lanes)


def lane_between(lane: int, start: tuple[float, float], end: tuple[float, float], **links: object) -> Lane:
    """A straight lane `lane` of width LANE_WIDTH from `start` to `end` [m]; `links` are Lane fields."""
    a, b = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    direction = (b - a) / np.linalg.norm(b - a)
    normal = np.array([-direction[1], direction[0]]) * LANE_WIDTH / 2
    center = np.linspace(a, b, 5)
    return Lane(id=lane, left=center + normal, right=center - normal, center=center, **links)  # type: ignore[arg-type]


@dataclass
class Agent:
    """One agent's positions (steps,) [m]; yaw and speed are derived from the motion when not given."""

    id: int
    x: np.ndarray
    y: np.ndarray
    kind: AgentType = AgentType.CAR
    length: float = 4.5
    width: float = 1.8
    yaw: np.ndarray | None = None
    speed: np.ndarray | None = None


def moving(
    agent_id: int, x0: float, y0: float, vx: float, vy: float = 0.0, num_steps: int = 50, **fields: object
) -> Agent:
    """An agent at (x0, y0) [m] moving with constant velocity (vx, vy) [m/s] for `num_steps` steps."""
    t = np.arange(num_steps) * DT
    yaw = np.full(num_steps, np.arctan2(vy, vx) if (vx or vy) else 0.0)
    speed = np.full(num_steps, np.hypot(vx, vy))
    return Agent(agent_id, x0 + vx * t, y0 + vy * t, yaw=yaw, speed=speed, **fields)  # type: ignore[arg-type]


def braking(
    agent_id: int, x0: float, y0: float, v0: float, deceleration: float, num_steps: int = 50
) -> Agent:
    """An agent along +x starting at v0 [m/s] and braking at `deceleration` [m/s2] until it stops."""
    t = np.arange(num_steps) * DT
    stop = v0 / deceleration
    tc = np.minimum(t, stop)
    return Agent(agent_id, x0 + v0 * tc - 0.5 * deceleration * tc**2, np.full(num_steps, y0))


def changing_lanes(
    agent_id: int, x0: float, speed: float, y_from: float, y_to: float, start: int, num_steps: int = 50
) -> Agent:
    """An agent along +x at `speed` [m/s] moving from y = `y_from` to `y_to` [m] in 2 s from step `start`."""
    t = np.arange(num_steps) * DT
    progress = np.clip((t - start * DT) / 2.0, 0.0, 1.0)
    lateral = y_from + (y_to - y_from) * (3 * progress**2 - 2 * progress**3)
    return Agent(agent_id, x0 + speed * t, lateral)


def _derived(agent: Agent) -> tuple[np.ndarray, np.ndarray]:
    """Yaw [rad] and speed [m/s] (steps,) of an agent: given, or from its motion (held when standing)."""
    if agent.yaw is not None and agent.speed is not None:
        return agent.yaw, agent.speed
    vx = np.gradient(agent.x, DT)
    vy = np.gradient(agent.y, DT)
    speed = np.hypot(vx, vy) if agent.speed is None else agent.speed
    if agent.yaw is not None:
        return agent.yaw, speed
    yaw = np.arctan2(vy, vx)
    moving_steps = np.flatnonzero(np.hypot(vx, vy) > 1e-6)
    if len(moving_steps) == 0:
        return np.zeros_like(agent.x), speed
    held = moving_steps[np.clip(np.searchsorted(moving_steps, np.arange(len(yaw))), 0, len(moving_steps) - 1)]
    return np.where(np.hypot(vx, vy) > 1e-6, yaw, yaw[held]), speed


def tracks(agents: list[Agent], num_steps: int) -> Tracks:
    """Tracks (agents, num_steps) from agent position arrays (shorter arrays are padded as absent)."""
    if not agents:
        return Tracks.empty(num_steps)

    def grid(values: np.ndarray) -> np.ndarray:
        padded = np.full(num_steps, np.nan)
        padded[: len(values)] = values[:num_steps]
        return padded

    x = np.stack([grid(a.x) for a in agents])
    y = np.stack([grid(a.y) for a in agents])
    derived = [_derived(a) for a in agents]
    yaw = np.stack([grid(d[0]) for d in derived])
    speed = np.stack([grid(d[1]) for d in derived])
    valid = np.isfinite(x)
    shapes = tuple(Shape(ShapeKind.RECTANGLE, length=a.length, width=a.width) for a in agents)
    return Tracks(
        ids=np.array([a.id for a in agents], dtype=np.int64),
        agent_type=tuple(a.kind for a in agents),
        x=x,
        y=y,
        yaw=yaw,
        speed=speed,
        vx=speed * np.cos(yaw),
        vy=speed * np.sin(yaw),
        acceleration=np.gradient(speed, DT, axis=1) if num_steps > 1 else np.zeros_like(speed),
        yaw_rate=np.gradient(yaw, DT, axis=1) if num_steps > 1 else np.zeros_like(yaw),
        valid=valid,
        length=np.array([a.length for a in agents]),
        width=np.array([a.width for a in agents]),
        shapes=shapes,
    )


@dataclass
class Ego:
    """The ego: a recorded path (an `Agent` whose positions become the solution trajectory), or with
    `recorded=False` only its initial state (the first step of that path)."""

    path: Agent
    recorded: bool = True
    goal: tuple[float, float] = (190.0, 0.0)


def scenario(
    graph: LaneGraph,
    agents: list[Agent] | None = None,
    ego: Ego | None = None,
    num_steps: int = 50,
    lights: tuple[TrafficLight, ...] = (),
    scenario_id: str = "TEST_Scene-1_1_T-1",
) -> Scenario:
    """A scenario on `graph` with `agents`, one planning problem (id EGO_ID) for `ego`, and `lights`."""
    problems, recorded = (), ()
    if ego is not None:
        yaw, speed = _derived(ego.path)
        initial = EgoState(
            step=0, x=float(ego.path.x[0]), y=float(ego.path.y[0]), yaw=float(yaw[0]), speed=float(speed[0])
        )
        region = Shape(ShapeKind.RECTANGLE, length=10.0, width=3.0, center=ego.goal)
        goal = Goal((GoalState(time=Interval(0.0, float(num_steps - 1)), regions=(region,)),))
        problems = (PlanningProblem(EGO_ID, initial, goal),)
        if ego.recorded:
            steps = np.arange(len(ego.path.x), dtype=np.int64)
            trajectory = Trajectory(steps, ego.path.x, ego.path.y, yaw, speed, DT)
            recorded = (RecordedEgo(EGO_ID, trajectory, "KS", 2, "TR1", "test"),)
    return Scenario(
        scenario_id=scenario_id,
        format_version="2020a",
        dt=DT,
        num_steps=num_steps,
        lane_graph=graph,
        tracks=tracks(agents or [], num_steps),
        traffic_lights=lights,
        planning_problems=problems,
        recorded_egos=recorded,
    )


def solution_files(scenario_file: Path) -> tuple[Path, ...]:
    """The recorded-ego solution file of a dataset scenario file (`solutions/<id>.solution.xml.gz`
    beside its `scenarios/` folder), when there is one."""
    scenario_id = scenario_file.name.removesuffix(".xml.gz").removesuffix(".cr")
    candidate = scenario_file.parent.parent / "solutions" / f"{scenario_id}.solution.xml.gz"
    return (candidate,) if candidate.exists() else ()


def human_starting_late(scenario: Scenario, delay: int, steps: int) -> Scenario:
    """`scenario` whose recorded human drives the first `steps` states of its path `delay` steps
    later (so a run starts at step `delay`, with the traffic's past before it)."""
    human = scenario.recorded_egos[0]
    late = dataclasses.replace(
        human.trajectory,
        **{name: getattr(human.trajectory, name)[:steps] for name in ("x", "y", "yaw", "speed")},
        steps=human.trajectory.steps[:steps] + delay,
    )
    return dataclasses.replace(scenario, recorded_egos=(dataclasses.replace(human, trajectory=late),))
