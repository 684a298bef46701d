"""What the metrics of one run share, computed once on first use: ego geometry, other objects, lanes.

`MetricContext` wraps a complete `RunRecord` with its scenario and planning problem; each property
is computed on first access and kept, so metrics that need the same intermediate (the driven lane,
the collisions) pay for it once. Arrays are over the run's T simulated steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from drivestack.core.dynamics import Obstacles
from drivestack.core.errors import InputError
from drivestack.core.geometry import box_corners
from drivestack.core.record import EGO_WHEELBASE, RunRecord
from drivestack.core.scenario import (
    AgentType,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    occupancy_boxes,
)
from drivestack.metrics import collisions, lanes, progress
from drivestack.metrics.config import DEFAULT_CONFIG, MetricsConfig
from drivestack.metrics.steps import StepValues

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Objects:
    """Every other road user and static obstacle as oriented boxes over the run, shape (N, T).

    Dynamic agents first (the record's agent rows), then static obstacles (constant pose, speed 0),
    then set-based occupancies (the scenario's, at the run's steps: the box enclosing each step's
    region, speed 0, absent where none is given). `speed` [m/s] is the velocity magnitude (nuPlan
    moves agents at it along their heading); `length`, `width` (N, T) [m]; `corners` (N, T, 4, 2)
    [m] are NaN where `valid` is False; `ids` (N,) and `types` (N,) name them.
    """

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    length: FloatArray
    width: FloatArray
    valid: BoolArray
    category: IntArray
    corners: FloatArray
    ids: IntArray
    types: tuple[AgentType, ...]

    @property
    def count(self) -> int:
        """Number of objects N."""
        return int(self.x.shape[0])


class MetricContext:
    """One complete run with its scenario and problem, plus the intermediates metrics share.

    Raises InputError when the record's arrays disagree in shape (ego (T,), agents (A, T)) or the
    ego's pose or speed is not finite.
    """

    def __init__(
        self,
        scenario: Scenario,
        problem: PlanningProblem,
        record: RunRecord,
        recorded_ego: RecordedEgo | None = None,
        config: MetricsConfig = DEFAULT_CONFIG,
    ) -> None:
        self.scenario = scenario
        self.problem = problem
        self.record = record
        self.recorded_ego = recorded_ego
        self.config = config
        self.num_steps = record.num_steps
        self.dt = float(record.dt)
        self.step_values: dict[str, StepValues] = {}
        """Registered metrics' per-step values computed so far, by name (`registry.compute_metric`)."""
        where = f"run record {record.scenario_id} / problem {record.planning_problem_id}"
        ego = record.ego
        for name in ("x", "y", "yaw", "speed", "acceleration", "yaw_rate"):
            values = getattr(ego, name)
            if np.shape(values) != (self.num_steps,):
                raise InputError(
                    None, where, f"ego.{name} has shape {np.shape(values)}, expected ({self.num_steps},)"
                )
            if name in ("x", "y", "yaw", "speed") and not np.isfinite(values).all():
                step = int(record.steps[np.flatnonzero(~np.isfinite(values))[0]])
                raise InputError(None, where, f"ego.{name} is not finite at step {step}")
        if record.agents.x.shape[1:] != (self.num_steps,) and record.agents.num_agents > 0:
            raise InputError(
                None, where, f"agents have {record.agents.num_steps} steps, expected {self.num_steps}"
            )
        if self.num_steps < 1 or not self.dt > 0.0:
            raise InputError(
                None, where, f"expected at least one step and dt > 0, got {self.num_steps}, {self.dt}"
            )

    # --- ego -------------------------------------------------------------------------------

    @cached_property
    def ego_xy(self) -> FloatArray:
        """Ego centre (T, 2) [m]."""
        return np.column_stack([self.record.ego.x, self.record.ego.y]).astype(np.float64)

    @cached_property
    def ego_corners(self) -> FloatArray:
        """Ego box corners (T, 4, 2) [m]: front-left, rear-left, rear-right, front-right."""
        ego = self.record.ego
        return box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)

    @cached_property
    def rear_axle(self) -> FloatArray:
        """Ego rear-axle centre (T, 2) [m], half a wheelbase behind the box centre (nuPlan's reference)."""
        yaw = self.record.ego.yaw
        return self.ego_xy - 0.5 * EGO_WHEELBASE * np.column_stack([np.cos(yaw), np.sin(yaw)])

    # --- map -------------------------------------------------------------------------------

    @cached_property
    def map(self) -> lanes.MapGeometry:
        """The scenario map's cached geometry."""
        return lanes.map_geometry(self.scenario.lane_graph)

    @cached_property
    def _membership(self) -> BoolArray:
        """(6, T, L) lane membership of centre, four corners and rear axle, in one spatial query."""
        points = np.concatenate(
            [self.ego_xy[None], self.ego_corners.transpose(1, 0, 2), self.rear_axle[None]]
        )
        member = lanes.membership(self.map.index, points.reshape(-1, 2))
        return member.reshape(6, self.num_steps, -1)

    @cached_property
    def driven_lane(self) -> IntArray:
        """Lane row (T,) the ego centre drives in (nuPlan's ego route; -1 off every lane)."""
        centre = self._membership[0]
        overlapped = centre.sum(axis=1) >= 2
        preferred = lanes.preferred_lanes(self.map.index, self.ego_xy, self.record.ego.yaw, overlapped)
        return lanes.driven_lanes(centre, preferred, self.map.successor_rows)

    @cached_property
    def in_lane(self) -> BoolArray:
        """True (T,) where the ego's corners lie in one lane or connected lanes (not changing lanes)."""
        return lanes.in_common_or_connected_lane(self._membership[1:5], self.map.successors)

    @cached_property
    def in_intersection(self) -> BoolArray:
        """True (T,) where the ego's rear axle lies in an intersection lane."""
        index = self.map.index
        rows = index.rows(np.array(sorted(index.intersection_lanes), dtype=np.int64))
        return self._membership[5][:, rows].any(axis=1)

    # --- other objects ---------------------------------------------------------------------

    @cached_property
    def objects(self) -> Objects:
        """The record's agents, the scenario's static obstacles and its occupancies, as boxes over the run."""
        agents, statics, steps = self.record.agents, self.scenario.static_obstacles, self.num_steps
        occupancies = self.scenario.occupancies
        static = Obstacles.from_static(statics)
        ones = np.ones((len(statics), steps))
        occupied, _ = occupancy_boxes(occupancies, int(self.record.steps[0]), steps)
        speed = np.hypot(agents.vx, agents.vy)
        speed = np.where(np.isfinite(speed), speed, np.abs(agents.speed))
        agent_size = np.ones((agents.num_agents, steps))
        x = np.concatenate([agents.x, static.x[:, None] * ones, occupied[..., 0]])
        y = np.concatenate([agents.y, static.y[:, None] * ones, occupied[..., 1]])
        yaw = np.concatenate([agents.yaw, static.yaw[:, None] * ones, occupied[..., 2]])
        valid = (
            np.concatenate([agents.valid, ones.astype(bool), np.isfinite(occupied[..., 0])])
            & np.isfinite(x)
            & np.isfinite(y)
            & np.isfinite(yaw)
        )
        length = np.concatenate(
            [agents.length[:, None] * agent_size, static.length[:, None] * ones, occupied[..., 3]]
        )
        width = np.concatenate(
            [agents.width[:, None] * agent_size, static.width[:, None] * ones, occupied[..., 4]]
        )
        corners = box_corners(x, y, yaw, length, width)
        corners[~valid] = np.nan
        types = (
            *agents.agent_type,
            *(obstacle.agent_type for obstacle in statics),
            *(occupancy.agent_type for occupancy in occupancies),
        )
        ids = [*agents.ids.tolist(), *(o.id for o in statics), *(o.id for o in occupancies)]
        return Objects(
            x=x,
            y=y,
            yaw=yaw,
            speed=np.concatenate([speed, 0.0 * ones, np.zeros((len(occupancies), steps))]),
            length=length,
            width=width,
            valid=valid,
            category=np.array([collisions.category_of(kind) for kind in types], dtype=np.int64),
            corners=corners,
            ids=np.array(ids, dtype=np.int64),
            types=types,
        )

    @cached_property
    def collisions(self) -> collisions.Collisions:
        """The ego's first contact with every object it touched, classified by nuPlan's fault rules."""
        return collisions.find_collisions(self)

    @cached_property
    def progress(self) -> progress.Progress:
        """The ego's progress along the expert's path or toward the goal (see `progress`)."""
        return progress.route_progress(self)
