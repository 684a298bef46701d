"""Baseline planners every other planner is compared with.

- `log-replay`: the recorded human driver (an oracle: handed the human trajectory at initialize,
  executed exactly; the reference, not a driver);
- `constant-velocity`: straight ahead at the current speed and heading;
- `idm`: follows the route's centerline with IDM, stopping behind whatever stands on it (agents
  and static obstacles, through `core.dynamics.find_leaders`, the same search IDM agents use); the
  plan is the simulator's own tracker and bicycle rolled out along that reference from the ego's
  state, so it is feasible by construction and the simulator executes it as predicted. It ignores
  traffic lights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivestack.core.dynamics import (
    BicycleState,
    IdmParams,
    Obstacles,
    Tracker,
    VehicleParams,
    find_leaders,
    idm_profile,
    rollout,
)
from drivestack.core.errors import ConfigError
from drivestack.core.geometry import FrenetFrame
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.scenario import Trajectory

_HORIZON = 8.0  # [s] of every baseline's plan


def _grid(observation: Observation, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Steps (H + 1,) from now over `horizon` [s] and their times from now (H + 1,) [s]."""
    count = max(1, round(horizon / observation.dt))
    offsets = np.arange(count + 1)
    return observation.step + offsets, offsets * observation.dt


class LogReplayPlanner:
    """The recorded human ego, replayed: an oracle planner (`core.planner` explains oracles).

    `initialize` raises ConfigError when the problem has no recorded human (no solution file).
    """

    name = "log-replay"
    oracle = True

    def __init__(self) -> None:
        self._human: Trajectory | None = None

    def initialize(self, init: PlannerInit) -> None:
        """Keep the human trajectory."""
        if init.human_reference is None:
            raise ConfigError(
                f"{init.scenario_id} problem {init.planning_problem_id}: no recorded human ego to replay"
            )
        self._human = init.human_reference

    def plan(self, observation: Observation) -> Trajectory:
        """The human's states from now on."""
        human = self._human
        if human is None:
            raise ConfigError("log-replay: plan called before initialize")
        keep = human.steps >= observation.step
        return Trajectory(
            steps=human.steps[keep],
            x=human.x[keep],
            y=human.y[keep],
            yaw=human.yaw[keep],
            speed=human.speed[keep],
            dt=human.dt,
        )


class ConstantVelocityPlanner:
    """Drives straight on at the current speed and heading."""

    name = "constant-velocity"

    def initialize(self, init: PlannerInit) -> None:
        """Nothing to prepare."""

    def plan(self, observation: Observation) -> Trajectory:
        """A straight line along the heading at constant speed over the horizon."""
        ego = observation.ego
        steps, t = _grid(observation, _HORIZON)
        return Trajectory(
            steps=steps,
            x=ego.x + ego.speed * t * np.cos(ego.yaw),
            y=ego.y + ego.speed * t * np.sin(ego.yaw),
            yaw=np.full(len(t), ego.yaw),
            speed=np.full(len(t), ego.speed),
            dt=observation.dt,
        )


@dataclass(frozen=True)
class IdmPlannerConfig:
    """The `idm` baseline's parameters.

    `idm`: nuPlan's IDM planner (accel 1.0, comfortable braking 3.0 m/s2, headway 1.5 s, gap 1 m)
    but braking up to `VehicleParams().max_deceleration` when a comfortable stop is not enough;
    `default_speed` [m/s] desired where the route gives no speed limit (at least the start speed);
    `horizon` [s] of the plan; leaders are searched over
    `lookahead_distance` [m] + `lookahead_time` [s] of travel in `lookahead_samples` points.
    """

    idm: IdmParams = field(
        default_factory=lambda: IdmParams(decel_max=3.0, max_braking=VehicleParams().max_deceleration)
    )
    default_speed: float = 10.0
    horizon: float = _HORIZON
    lookahead_distance: float = 30.0
    lookahead_time: float = 4.0
    lookahead_samples: int = 48


class IdmPlanner:
    """Follows the route's centerline with IDM (see the module docstring)."""

    name = "idm"

    def __init__(self, config: IdmPlannerConfig | None = None) -> None:
        self.config = config or IdmPlannerConfig()
        self._frame: FrenetFrame | None = None
        self._vehicle = VehicleParams()
        self._tracker: Tracker | None = None
        self._target_ends = np.array([np.inf])
        self._targets = np.array([self.config.default_speed])

    def initialize(self, init: PlannerInit) -> None:
        """Build the Frenet frame of the route and the speed limit along it."""
        if init.reference_path is None:
            raise ConfigError(
                f"idm: {init.scenario_id} problem {init.planning_problem_id} has no reference path"
            )
        self._frame = FrenetFrame(init.reference_path)
        self._vehicle = init.vehicle
        self._tracker = Tracker(init.dt, init.vehicle)
        # desired speed along the route: each lane's limit, else the default (at least the start speed)
        lanes = [init.lane_graph.lanes[lane] for lane in init.route_lane_ids]
        lengths = [float(np.hypot(*np.diff(lane.center, axis=0).T).sum()) for lane in lanes]
        default = max(self.config.default_speed, init.initial.speed)
        limits = [
            lane.speed_limit if lane.speed_limit and lane.speed_limit > 0.0 else default for lane in lanes
        ]
        self._target_ends = np.cumsum(lengths) if lanes else np.array([np.inf])
        self._targets = np.array(limits if lanes else [default], dtype=np.float64)

    def _leader(
        self, observation: Observation, frame: FrenetFrame, s: float, speed: float
    ) -> tuple[float, float]:
        """(gap [m], speed along the path [m/s]) of the nearest obstacle on the route ahead."""
        config = self.config
        reference = frame.reference
        reach = config.lookahead_distance + config.lookahead_time * speed
        distance = np.linspace(0.0, reach, config.lookahead_samples)[None, :]
        along = s + 0.5 * self._vehicle.length + distance
        points = reference.interpolate(along)
        agents = observation.agents
        obstacles = Obstacles.concat(
            Obstacles.from_tracks(agents, agents.num_steps - 1),
            Obstacles.from_static(observation.static_obstacles),
            Obstacles.from_occupancies(observation.occupancies, observation.step),
        )
        gap, lead = find_leaders(
            points[..., 0],
            points[..., 1],
            reference.heading_at(along),
            distance,
            np.array([0.5 * self._vehicle.width]),
            obstacles,
        )
        return float(gap[0]), float(lead[0])

    def plan(self, observation: Observation) -> Trajectory:
        """IDM along the centerline behind the leader (assumed to keep its speed), tracked onto it."""
        frame, tracker = self._frame, self._tracker
        if frame is None or tracker is None:
            raise ConfigError("idm: plan called before initialize")
        ego = observation.ego
        s0, _ = frame.to_frenet(np.array([ego.x, ego.y]))
        speed = max(ego.speed, 0.0)
        gap, lead_speed = self._leader(observation, frame, float(s0), speed)
        steps, t = _grid(observation, self.config.horizon)
        s, v = idm_profile(
            s0,
            speed,
            gap,
            lead_speed,
            self._target_ends,
            self._targets,
            self.config.idm,
            observation.dt,
            len(t) - 1,
        )
        points = frame.reference.interpolate(s)
        yaw = frame.reference.heading_at(s)
        start = BicycleState.of(
            ego.x, ego.y, ego.yaw, ego.speed, ego.acceleration, ego.yaw_rate, ego.steering_angle
        )
        plan = rollout(start, points[..., 0], points[..., 1], yaw, v, tracker)
        return Trajectory(
            steps=steps,
            x=plan.x[0],
            y=plan.y[0],
            yaw=plan.yaw[0],
            speed=plan.speed[0],
            dt=observation.dt,
            acceleration=plan.acceleration[0],
            steering_angle=plan.steering[0],
        )
