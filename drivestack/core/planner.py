"""The planner interface: what a planner is told once (`PlannerInit`), what it sees at every step
(`Observation`) and what it returns (a `Trajectory`).

The observation holds only the present and the past. The simulator builds it at each step by
copying the recent window of simulated states (never slicing views of the recording, whose
buffers would reach the future), the traffic lights' colours now, and the static map. A planner
that needs more than this is not a planner but an oracle: `log-replay` is the one such, it sets
`oracle = True` and is handed the recorded human trajectory in `PlannerInit.human_reference`
(no other planner receives it), and the simulator executes its output exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from drivestack.core.dynamics import VehicleParams
from drivestack.core.geometry import Polyline
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import (
    EgoState,
    Goal,
    LightColor,
    Occupancy,
    StaticObstacle,
    Tracks,
    Trajectory,
)


@dataclass(frozen=True, eq=False)
class PlannerInit:
    """What a planner learns once before the first step.

    `dt` [s] is the simulation step (plans may use any time grid; steps are on it); `vehicle` the
    ego's size and actuator limits; `route_lane_ids` the lanes from the ego's start toward the goal
    (empty when the ego starts off the map) and `reference_path` their centerline [m] (a straight
    line along the initial heading then; None only outside the simulator); `human_reference` the
    recorded human trajectory, set only for oracle planners; `last_step` the run's last step (the
    recording's end or the goal's time window closing, whichever comes first; None when unknown):
    the goal must be reached by then.
    """

    scenario_id: str
    planning_problem_id: int
    dt: float
    lane_graph: LaneGraph
    goal: Goal
    initial: EgoState
    vehicle: VehicleParams
    route_lane_ids: tuple[int, ...] = ()
    reference_path: Polyline | None = None
    human_reference: Trajectory | None = None
    last_step: int | None = None


@dataclass(frozen=True, eq=False)
class Observation:
    """What a planner sees at simulation step `step`: nothing of the future.

    `ego` is the ego's state now; `ego_history` its simulated states over the last H steps up to
    now (steps (H,), oldest first; the run's start at most). `agents` are the other road users
    present now, with their states over the last W >= H steps, shape (agents, W) (last column =
    now; before the run's start their recorded past; `valid` False where an agent was absent);
    `static_obstacles` never move; `traffic_lights` maps light id -> colour now; `lane_graph` is
    the map; `occupancies` the scenario's set-based and phantom obstacles: their stated occupancy
    at every step, the future included, since the scenario gives them as predictions (like the
    map, not like the log). Every array is a copy owned by this observation.
    """

    step: int
    dt: float
    ego: EgoState
    ego_history: Trajectory
    agents: Tracks
    static_obstacles: tuple[StaticObstacle, ...]
    traffic_lights: dict[int, LightColor]
    lane_graph: LaneGraph
    occupancies: tuple[Occupancy, ...] = ()

    @property
    def time(self) -> float:
        """Time now [s] (step x dt)."""
        return self.step * self.dt


@runtime_checkable
class Planner(Protocol):
    """A planner: `initialize` once per run, then `plan` at every step.

    `plan` returns the ego's intended trajectory (centre poses, speeds) covering at least the
    current and the next simulation step; the simulator tracks it with `core.dynamics.Tracker`.
    A planner may set the class attribute `oracle = True` (see the module docstring), and may
    expose `decision: Decision | None` (`core.record`), its latest stated decision, which the run
    record keeps per step.
    """

    name: str

    def initialize(self, init: PlannerInit) -> None:
        """Prepare for a run (route, caches); called once before the first `plan`."""
        ...

    def plan(self, observation: Observation) -> Trajectory:
        """The trajectory to follow from `observation.step` on."""
        ...


def is_oracle(planner: Planner) -> bool:
    """True for planners that declare `oracle = True` (they replay the recording)."""
    return bool(getattr(planner, "oracle", False))
