"""Scenario vocabulary shared by every package: agents' tracks, the ego, goals, lights, signs.

Units are SI (m, s, m/s, rad); yaw is counter-clockwise and wrapped to [-pi, pi); time is an integer
step index on the scenario's fixed `dt` [s]. Agent arrays are struct-of-arrays of shape (agents, steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from drivestack.core.errors import InputWarning
from drivestack.core.geometry import enclosing_box
from drivestack.core.map import LaneGraph

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class AgentType(StrEnum):
    """Kind of road user, as CommonRoad names obstacle types (lower-case, underscores)."""

    CAR = "car"
    TRUCK = "truck"
    BUS = "bus"
    MOTORCYCLE = "motorcycle"
    BICYCLE = "bicycle"
    PEDESTRIAN = "pedestrian"
    PRIORITY_VEHICLE = "priorityVehicle"
    PARKED_VEHICLE = "parkedVehicle"
    TRAIN = "train"
    TAXI = "taxi"
    CONSTRUCTION_ZONE = "constructionZone"
    ROAD_BOUNDARY = "roadBoundary"
    BUILDING = "building"
    PILLAR = "pillar"
    MEDIAN_STRIP = "median_strip"
    UNKNOWN = "unknown"

    @property
    def is_vulnerable(self) -> bool:
        """True for pedestrians, bicycles and motorcycles (vulnerable road users)."""
        return self in (AgentType.PEDESTRIAN, AgentType.BICYCLE, AgentType.MOTORCYCLE)

    @property
    def is_vehicle(self) -> bool:
        """True for motorised vehicles that drive in lanes."""
        return self in (
            AgentType.CAR,
            AgentType.TRUCK,
            AgentType.BUS,
            AgentType.MOTORCYCLE,
            AgentType.PRIORITY_VEHICLE,
            AgentType.PARKED_VEHICLE,
            AgentType.TAXI,
        )


class ShapeKind(StrEnum):
    """Geometric primitive of an obstacle or a goal region."""

    RECTANGLE = "rectangle"
    CIRCLE = "circle"
    POLYGON = "polygon"
    GROUP = "group"


@dataclass(frozen=True, eq=False)
class Shape:
    """A shape in its owner's local frame (or in world frame for goal regions).

    rectangle: `length` x `width` [m] centred at `center` (2,) [m], rotated by `orientation` [rad];
    circle: `radius` [m] at `center`; polygon: `vertices` (K, 2) [m]; group: the union of `parts`.
    """

    kind: ShapeKind
    length: float = 0.0
    width: float = 0.0
    radius: float = 0.0
    center: tuple[float, float] = (0.0, 0.0)
    orientation: float = 0.0
    vertices: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))
    parts: tuple[Shape, ...] = ()

    def outline(self) -> FloatArray:
        """Closed-ring vertices (K, 2) [m] of the shape (circles as 16-gons); groups concatenate."""
        if self.kind is ShapeKind.RECTANGLE:
            hl, hw = self.length / 2.0, self.width / 2.0
            local = np.array([[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]])
            c, s = np.cos(self.orientation), np.sin(self.orientation)
            return local @ np.array([[c, s], [-s, c]]) + np.asarray(self.center)
        if self.kind is ShapeKind.CIRCLE:
            angles = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
            ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
            return self.radius * ring + np.asarray(self.center)
        if self.kind is ShapeKind.POLYGON:
            return self.vertices
        return np.concatenate([part.outline() for part in self.parts]) if self.parts else np.zeros((0, 2))

    def extent(self) -> tuple[float, float]:
        """(length, width) [m] of the axis-aligned bounding box in the owner's frame."""
        if self.kind is ShapeKind.RECTANGLE and self.orientation == 0.0 and self.center == (0.0, 0.0):
            return self.length, self.width
        ring = self.outline()
        if len(ring) == 0:
            return 0.0, 0.0
        span = ring.max(axis=0) - ring.min(axis=0)
        return float(span[0]), float(span[1])


@dataclass(frozen=True, eq=False)
class Tracks:
    """All dynamic agents of a scenario on its time grid: struct of arrays, shape (agents, steps).

    `valid[i, t]` is True where agent i exists at step t; other entries hold NaN (float arrays).
    `speed` [m/s] is along the heading; `vx`, `vy` [m/s] world-frame velocity; `acceleration` [m/s2]
    and `yaw_rate` [rad/s] come from the file where given, otherwise derived by finite differences.
    `length`, `width` (agents,) [m] bound each agent's `shapes` (its exact geometry, local frame).
    """

    ids: IntArray
    agent_type: tuple[AgentType, ...]
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    vx: FloatArray
    vy: FloatArray
    acceleration: FloatArray
    yaw_rate: FloatArray
    valid: BoolArray
    length: FloatArray
    width: FloatArray
    shapes: tuple[Shape, ...]

    @property
    def num_agents(self) -> int:
        """Number of agents (rows)."""
        return int(self.x.shape[0])

    @property
    def num_steps(self) -> int:
        """Number of time steps (columns)."""
        return int(self.x.shape[1])

    def index_of(self, agent_id: int) -> int:
        """Row of the agent with this id; raises KeyError when absent."""
        rows = np.flatnonzero(self.ids == agent_id)
        if len(rows) == 0:
            raise KeyError(agent_id)
        return int(rows[0])

    @staticmethod
    def empty(num_steps: int) -> Tracks:
        """Tracks with no agents on a grid of `num_steps` steps."""
        grid = np.zeros((0, num_steps))
        return Tracks(
            ids=np.zeros(0, dtype=np.int64),
            agent_type=(),
            x=grid,
            y=grid,
            yaw=grid,
            speed=grid,
            vx=grid,
            vy=grid,
            acceleration=grid,
            yaw_rate=grid,
            valid=np.zeros((0, num_steps), dtype=bool),
            length=np.zeros(0),
            width=np.zeros(0),
            shapes=(),
        )


@dataclass(frozen=True)
class StaticObstacle:
    """An obstacle that never moves: pose (x, y [m], yaw [rad]) and shape in its local frame."""

    id: int
    agent_type: AgentType
    x: float
    y: float
    yaw: float
    shape: Shape


@dataclass(frozen=True, eq=False)
class Occupancy:
    """A set-based obstacle: the region it may occupy at each of `steps` (K,), as world-frame `shapes`.

    CommonRoad's set-based predictions (`occupancySet` of a dynamic obstacle, whose initial state is
    its track's) and phantom obstacles (`phantom`: hypothetical, e.g. hidden behind an occlusion)
    give a shape per time step or interval; an interval is spread over its steps, and several
    shapes at one step form a group. Everything downstream (planner, simulator, metrics, viz)
    treats the occupancy at a step as the oriented box enclosing it (`boxes`).
    """

    id: int
    agent_type: AgentType
    steps: IntArray
    shapes: tuple[Shape, ...]
    phantom: bool = False

    @cached_property
    def boxes(self) -> FloatArray:
        """(K, 5) enclosing oriented boxes: x, y [m], yaw [rad], length, width [m] at each step."""
        out = np.zeros((len(self.shapes), 5))
        for k, shape in enumerate(self.shapes):  # once per scenario; K is small
            if shape.kind is ShapeKind.CIRCLE:
                out[k] = (*shape.center, 0.0, 2.0 * shape.radius, 2.0 * shape.radius)
            else:
                out[k] = enclosing_box(shape.outline())
        return out


def occupancy_boxes(
    occupancies: tuple[Occupancy, ...], first: int, count: int
) -> tuple[FloatArray, BoolArray]:
    """The occupancies' boxes at steps first .. first + count - 1: (N, count, 5) boxes (x, y, yaw,
    length, width; NaN where absent) and (N, count) presence."""
    boxes = np.full((len(occupancies), count, 5), np.nan)
    for row, occupancy in enumerate(occupancies):
        columns = occupancy.steps - first
        inside = (columns >= 0) & (columns < count)
        if inside.any():
            boxes[row, columns[inside]] = occupancy.boxes[inside]
    return boxes, ~np.isnan(boxes[..., 0])


@dataclass(frozen=True)
class EgoState:
    """The ego vehicle's state at one step: position [m], yaw [rad], speed [m/s] and its derivatives."""

    step: int
    x: float
    y: float
    yaw: float
    speed: float
    acceleration: float = 0.0
    yaw_rate: float = 0.0
    slip_angle: float = 0.0
    steering_angle: float = 0.0


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A timed path: struct of arrays of shape (T,), at `steps` (T,) of a grid with spacing `dt` [s].

    Used for the recorded human ego (solution files), planner outputs and simulated runs.
    """

    steps: IntArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    dt: float
    acceleration: FloatArray | None = None
    steering_angle: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def state(self, i: int) -> EgoState:
        """The i-th state as an `EgoState`."""
        acc = 0.0 if self.acceleration is None else float(self.acceleration[i])
        steer = 0.0 if self.steering_angle is None else float(self.steering_angle[i])
        return EgoState(
            step=int(self.steps[i]),
            x=float(self.x[i]),
            y=float(self.y[i]),
            yaw=float(self.yaw[i]),
            speed=float(self.speed[i]),
            acceleration=acc,
            steering_angle=steer,
        )


@dataclass(frozen=True)
class Interval:
    """Closed interval [start, end]; for orientation in rad, for velocity in m/s, for time in steps."""

    start: float
    end: float

    def contains(self, value: float) -> bool:
        """True when start <= value <= end."""
        return self.start <= value <= self.end


@dataclass(frozen=True, eq=False)
class GoalState:
    """One alternative goal (CommonRoad semantics): every given field must hold at the same step.

    `regions` are world-frame shapes (reach any one), `lanelet_ids` goal lanelets (be on any one);
    both empty means no position constraint. `time` is in steps; `velocity` [m/s]; `orientation` [rad].
    """

    time: Interval
    regions: tuple[Shape, ...] = ()
    lanelet_ids: tuple[int, ...] = ()
    velocity: Interval | None = None
    orientation: Interval | None = None

    @property
    def has_position(self) -> bool:
        """True when this goal constrains the position."""
        return bool(self.regions or self.lanelet_ids)


@dataclass(frozen=True, eq=False)
class Goal:
    """A planning problem's goal: reached when any one of `states` is satisfied."""

    states: tuple[GoalState, ...]


@dataclass(frozen=True, eq=False)
class PlanningProblem:
    """Where the ego starts and what it must reach."""

    id: int
    initial: EgoState
    goal: Goal


@dataclass(frozen=True, eq=False)
class RecordedEgo:
    """A recorded (human) ego trajectory for one planning problem, from a CommonRoad solution file.

    `vehicle_model` is CommonRoad's model id (PM, KS, ST, STD, MB), `vehicle_type` its vehicle id
    (1 Ford Escort, 2 BMW 320i, 3 VW Vanagon), `cost_function` e.g. TR2; `source_file` the solution file.
    """

    planning_problem_id: int
    trajectory: Trajectory
    vehicle_model: str
    vehicle_type: int
    cost_function: str
    source_file: str


# CommonRoad's vehicle parameter sets by vehicle type id: (length, width) [m].
VEHICLE_DIMENSIONS: dict[int, tuple[float, float]] = {1: (4.298, 1.674), 2: (4.508, 1.610), 3: (4.569, 1.844)}
DEFAULT_VEHICLE_TYPE = 2
"""CommonRoad's benchmark default vehicle (BMW 320i), used when a planning problem names none."""


def vehicle_dimensions(vehicle_type: int | None) -> tuple[float, float]:
    """(length, width) [m] of CommonRoad vehicle type 1-3; the default type's for None or an unknown id."""
    return VEHICLE_DIMENSIONS.get(
        vehicle_type or DEFAULT_VEHICLE_TYPE, VEHICLE_DIMENSIONS[DEFAULT_VEHICLE_TYPE]
    )


class LightColor(StrEnum):
    """A traffic light's colour in CommonRoad's vocabulary."""

    RED = "red"
    RED_YELLOW = "redYellow"
    GREEN = "green"
    YELLOW = "yellow"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class TrafficLight:
    """A traffic light with a repeating cycle of (colour, duration in steps) shifted by `offset` steps."""

    id: int
    x: float
    y: float
    cycle: tuple[tuple[LightColor, int], ...]
    offset: int = 0
    direction: str = "all"
    active: bool = True

    def colors_at(self, steps: IntArray) -> tuple[LightColor, ...]:
        """Colour at each of `steps` (N,) (INACTIVE when the light is off or has no cycle)."""
        if not self.active or not self.cycle:
            return tuple(LightColor.INACTIVE for _ in range(len(steps)))
        durations = np.array([duration for _, duration in self.cycle], dtype=np.int64)
        ends = np.cumsum(durations)
        phase = (np.asarray(steps, dtype=np.int64) - self.offset) % ends[-1]
        index = np.searchsorted(ends, phase, side="right")
        return tuple(self.cycle[i][0] for i in index)


@dataclass(frozen=True)
class TrafficSign:
    """A traffic sign: position [m] and its elements as (sign id, additional values)."""

    id: int
    x: float | None
    y: float | None
    elements: tuple[tuple[str, tuple[str, ...]], ...]
    virtual: bool = False


@dataclass(frozen=True)
class Location:
    """Where a recording was made: GeoNames id and GPS coordinates [deg] where the file gives them."""

    geo_name_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, eq=False)
class Scenario:
    """A recorded scenario: map, traffic, lights, signs, planning problems and recorded egos.

    `num_steps` steps of `dt` [s] starting at step 0; `tracks` covers every dynamic obstacle on that grid;
    `occupancies` the set-based and phantom obstacles (on the same step numbers); `warnings` what the
    reader dropped or guessed while the file still loaded (e.g. a reference to an absent sign).
    """

    scenario_id: str
    dt: float
    num_steps: int
    lane_graph: LaneGraph
    tracks: Tracks
    static_obstacles: tuple[StaticObstacle, ...] = ()
    traffic_lights: tuple[TrafficLight, ...] = ()
    traffic_signs: tuple[TrafficSign, ...] = ()
    planning_problems: tuple[PlanningProblem, ...] = ()
    recorded_egos: tuple[RecordedEgo, ...] = ()
    format_version: str = ""
    source: str = ""
    author: str = ""
    affiliation: str = ""
    tags: tuple[str, ...] = ()
    location: Location = field(default_factory=Location)
    source_file: str = ""
    occupancies: tuple[Occupancy, ...] = ()
    warnings: tuple[InputWarning, ...] = ()

    @property
    def duration(self) -> float:
        """Recording length [s]."""
        return self.num_steps * self.dt

    def planning_problem(self, problem_id: int) -> PlanningProblem:
        """The planning problem with this id; raises KeyError when absent."""
        for problem in self.planning_problems:
            if problem.id == problem_id:
                return problem
        raise KeyError(problem_id)

    def recorded_ego(self, problem_id: int) -> RecordedEgo | None:
        """The recorded human ego for this planning problem, if a solution file provided one."""
        return next((ego for ego in self.recorded_egos if ego.planning_problem_id == problem_id), None)
