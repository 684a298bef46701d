"""The closed-loop world: an explicit state and a pure step function.

`WorldState` is everything that changes (the step, the ego's bicycle state, the agents' states);
`World` is everything that does not (dt, the ego's vehicle, its tracker, the agent policy). Its
`step(state, action)` returns the next state without touching the given one, so a run is the fold
of `step` over the planner's actions and the same inputs always give the same run.

The action is the planner's trajectory: the ego follows it through `core.dynamics.Tracker` and
the kinematic bicycle (or exactly, with `perfect` execution, used for log replay); `None` means the
planner failed and the ego brakes at `fallback_deceleration` with the steering held. Agents react to
the ego's state at the start of the step (all movers are updated simultaneously).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivestack.core.dynamics import (
    BicycleState,
    FeasibilityBounds,
    IdmParams,
    Obstacles,
    Tracker,
    TrackerConfig,
    VehicleParams,
    bicycle_step,
    brake_step,
    perfect_step,
    trajectory_reference,
)
from drivestack.core.errors import ConfigError
from drivestack.core.limits import RunLimits
from drivestack.core.scenario import EgoState, RecordedEgo, Scenario, Trajectory
from drivestack.maps.index import MapIndex
from drivestack.sim.agents import (
    AGENT_MODES,
    AgentMode,
    AgentPolicy,
    AgentStates,
    IdmAgents,
    LogAgents,
)
from drivestack.sim.reactive import ReactiveAgents, ReactiveParams


@dataclass(frozen=True, eq=False)
class WorldState:
    """The world at one step: the ego (a batch of one) and every agent of the scenario."""

    step: int
    ego: BicycleState
    agents: AgentStates


@dataclass(frozen=True, eq=False)
class World:
    """The unchanging part of a run; `step` advances a `WorldState` by one step of `dt` [s]."""

    dt: float
    vehicle: VehicleParams
    tracker: Tracker
    agents: AgentPolicy
    perfect: bool = False
    fallback_deceleration: float = 5.0

    def ego_box(self, ego: BicycleState) -> Obstacles:
        """The ego as one obstacle box."""
        size = np.ones(1)
        return Obstacles(
            ego.x, ego.y, ego.yaw, ego.speed, self.vehicle.length * size, self.vehicle.width * size, size > 0
        )

    def step(self, state: WorldState, action: Trajectory | None) -> WorldState:
        """The world one step later, the ego following `action` (None: brake)."""
        if action is None:
            ego = brake_step(state.ego, self.fallback_deceleration, self.vehicle, self.dt)
        else:
            ref = trajectory_reference(action, state.step, self.dt)
            if self.perfect:
                ego = perfect_step(ref, self.vehicle, self.dt)
            else:
                accel, steer = self.tracker.control(state.ego, ref)
                ego = bicycle_step(state.ego, accel, steer, self.vehicle, self.dt)
        agents = self.agents.step(state.agents, state.step, self.ego_box(state.ego))
        return WorldState(state.step + 1, ego, agents)


def initial_ego(initial: EgoState, vehicle: VehicleParams) -> BicycleState:
    """The ego's bicycle state from a planning problem's initial state; the steering angle is the
    one that explains its yaw rate (0 at rest)."""
    curvature = initial.yaw_rate / initial.speed if initial.speed > 0.5 else 0.0
    limit = vehicle.max_steering_angle
    steering = float(np.clip(np.arctan(curvature * vehicle.wheelbase), -limit, limit))
    return BicycleState.of(
        initial.x,
        initial.y,
        initial.yaw,
        max(initial.speed, 0.0),
        initial.acceleration,
        initial.yaw_rate,
        steering,
    )


@dataclass(frozen=True)
class SimConfig:
    """How a run is simulated; the defaults are the benchmark's.

    `controller`: "tracker" (the LQR tracker and the bicycle's actuator limits) or "perfect" (the
    ego lands exactly on its plan; oracle planners always run so); `history` [s] of past states in
    each observation; `fallback_deceleration` [m/s2] braking after a planner failure; `tracker`,
    `idm` (agents' IDM), `reactive` (the reactive agents' model, its seed) and `feasibility` (what
    a plan must satisfy) parameters; `limits` bound a run's length (`RunLimits.max_steps`).
    """

    controller: str = "tracker"
    history: float = 1.0
    fallback_deceleration: float = 5.0
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    idm: IdmParams = field(default_factory=IdmParams)
    reactive: ReactiveParams = field(default_factory=ReactiveParams)
    feasibility: FeasibilityBounds = field(default_factory=FeasibilityBounds)
    limits: RunLimits = field(default_factory=RunLimits)

    def __post_init__(self) -> None:
        if self.controller not in CONTROLLERS:
            raise ConfigError(f"controller {self.controller!r}: expected one of {', '.join(CONTROLLERS)}")
        if self.limits.max_steps < 1:
            raise ConfigError(f"limits.max_steps must be >= 1, got {self.limits.max_steps}")
        if not self.history >= 0.0 or not self.fallback_deceleration > 0.0:
            raise ConfigError(
                f"history must be >= 0 s and fallback_deceleration > 0 m/s2, got {self.history}, "
                f"{self.fallback_deceleration}"
            )


CONTROLLERS = ("tracker", "perfect")
DEFAULT_CONFIG = SimConfig()


def agent_policy(
    scenario: Scenario,
    mode: str,
    index: MapIndex,
    config: SimConfig = DEFAULT_CONFIG,
    human: RecordedEgo | None = None,
) -> AgentPolicy:
    """The agent policy `mode` (one of `AGENT_MODES`) over the scenario's tracks; ConfigError otherwise.

    IDM agents take the speed limit of their starting lane from `index`, the map's index; reactive
    agents their routes, and compare what they meet with the recording, the recorded `human` included.
    """
    try:
        chosen = AgentMode(mode)
    except ValueError:
        raise ConfigError(f"agents {mode!r}: expected one of {', '.join(AGENT_MODES)}") from None
    if chosen is AgentMode.LOG:
        return LogAgents(scenario.tracks)
    statics = Obstacles.from_static(scenario.static_obstacles)
    if chosen is AgentMode.REACTIVE:
        size = VehicleParams.for_vehicle_type(human.vehicle_type if human is not None else None)
        return ReactiveAgents.build(
            scenario.tracks,
            scenario.dt,
            statics,
            scenario.lane_graph,
            index,
            scenario.traffic_lights,
            scenario.traffic_signs,
            human,
            (size.length, size.width),
            config.reactive,
        )
    tracks = scenario.tracks
    first = np.argmax(tracks.valid, axis=1)
    rows = np.arange(tracks.num_agents)
    xy = np.column_stack([tracks.x[rows, first], tracks.y[rows, first]])
    lanes = index.assign(xy, tracks.yaw[rows, first])
    limits = np.array(
        [
            np.nan
            if lane < 0 or scenario.lane_graph.lanes[int(lane)].speed_limit is None
            else scenario.lane_graph.lanes[int(lane)].speed_limit
            for lane in lanes
        ],
        dtype=np.float64,
    )
    return IdmAgents.build(tracks, scenario.dt, statics, limits, config.idm)


def build_world(
    scenario: Scenario,
    initial: EgoState,
    agents: AgentPolicy,
    vehicle: VehicleParams,
    config: SimConfig = DEFAULT_CONFIG,
    perfect: bool = False,
) -> tuple[World, WorldState]:
    """The world of a run and its state at `initial.step` (the ego at `initial`); `perfect`
    execution when asked or when `config.controller` is "perfect"."""
    world = World(
        scenario.dt,
        vehicle,
        Tracker(scenario.dt, vehicle, config.tracker),
        agents,
        perfect or config.controller == "perfect",
        config.fallback_deceleration,
    )
    return world, WorldState(initial.step, initial_ego(initial, vehicle), agents.initial(initial.step))
