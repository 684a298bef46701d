"""Vehicle dynamics shared by planners and the simulator, vectorized over a batch of vehicles.

One model, used twice: the simulator executes the ego with it, and planners roll candidate
trajectories out with it, so a planner predicts exactly what the simulator will do. By concern:
- `bicycle`: vehicle parameters, batched states and the kinematic bicycle step;
- `tracker`: the LQR/PI tracker of a timed reference, and `rollout` of B vehicles tracking references;
- `feasibility`: whether a planned trajectory can be driven (`check_trajectory`);
- `idm`: the Intelligent Driver Model (law, integrator, batched accelerations and profiles);
- `obstacles`: other road users as boxes now and the leader search along a path.

Arrays are (B,) for B vehicles unless stated; SI units; yaw in rad, counter-clockwise.
"""

from drivestack.core.dynamics.bicycle import BicycleState, VehicleParams, bicycle_step, brake_step, wrap
from drivestack.core.dynamics.feasibility import FeasibilityBounds, check_trajectory
from drivestack.core.dynamics.idm import IdmParams, idm_acceleration, idm_profile, longitudinal_step
from drivestack.core.dynamics.obstacles import Obstacles, find_leaders
from drivestack.core.dynamics.tracker import (
    Reference,
    Tracker,
    TrackerConfig,
    perfect_step,
    rollout,
    sample_trajectory,
    trajectory_reference,
)

__all__ = [
    "BicycleState",
    "FeasibilityBounds",
    "IdmParams",
    "Obstacles",
    "Reference",
    "Tracker",
    "TrackerConfig",
    "VehicleParams",
    "bicycle_step",
    "brake_step",
    "check_trajectory",
    "find_leaders",
    "idm_acceleration",
    "idm_profile",
    "longitudinal_step",
    "perfect_step",
    "rollout",
    "sample_trajectory",
    "trajectory_reference",
    "wrap",
]
