"""What one closed-loop run leaves behind: the ego's and the agents' states at every simulated step,
and the planner's stated decision at each (`Decision`).

The record is the contract between the simulator (which writes it) and metrics, reports and
renderers (which read it: fields, never parsed text). Arrays are on the simulated steps `steps`
(T,), spaced by `dt` [s].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from drivestack.core.scenario import Tracks, Trajectory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# CommonRoad vehicle type 2 (BMW 320i), the benchmark's default ego: length, width [m], wheelbase [m].
EGO_LENGTH = 4.508
EGO_WIDTH = 1.610
EGO_WHEELBASE = 2.578


@dataclass(frozen=True)
class Decision:
    """What a planner decided at one step and why: `action` (drivestack's: follow_lane,
    follow_lead, stop, yield, slow_down, lane_change_left/right, abort_lane_change,
    emergency_brake), `reason`, the chosen proposal's `score`, the best score of each alternative
    action (or why it was not open), and the number of proposals evaluated."""

    step: int
    action: str
    reason: str
    score: float
    alternatives: tuple[tuple[str, str], ...]
    proposals: int

    @property
    def details(self) -> str:
        """Everything but the action: reason, score, proposals and the alternatives."""
        others = "; ".join(f"{name} {value}" for name, value in self.alternatives)
        return f"{self.reason} (score {self.score:.3f}; {self.proposals} proposals) | {others}"

    def __str__(self) -> str:
        return f"{self.action}: {self.details}"


@dataclass(frozen=True, eq=False)
class EgoStates:
    """The ego's simulated states, shape (T,): pose of the vehicle centre [m, rad], speed [m/s],
    acceleration [m/s2], yaw rate [rad/s], steering angle [rad]."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    acceleration: FloatArray
    yaw_rate: FloatArray
    steering_angle: FloatArray
    length: float = EGO_LENGTH
    width: float = EGO_WIDTH


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One closed-loop run of a planner on a scenario's planning problem.

    `agents` holds the other agents as they were simulated (replayed or reacting), shape (agents, T),
    aligned with `steps`. `planned[i]` is the trajectory the planner returned at step i (None when it
    failed), `plan_ms` (T,) its wall time [ms] (NaN where not called), `decisions[i]` the planner's
    stated decision (None when it states none), `failures` one message per failed call.
    """

    scenario_id: str
    planning_problem_id: int
    planner: str
    agents_mode: str
    dt: float
    steps: IntArray
    ego: EgoStates
    agents: Tracks
    planned: tuple[Trajectory | None, ...] = ()
    plan_ms: FloatArray = field(default_factory=lambda: np.zeros(0))
    decisions: tuple[Decision | None, ...] = ()
    failures: tuple[str, ...] = ()
    termination: str = ""

    @property
    def num_steps(self) -> int:
        """Number of simulated steps T (including the initial one)."""
        return int(self.steps.shape[0])
