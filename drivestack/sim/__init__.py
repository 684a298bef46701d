"""Closed-loop simulation on recorded traffic: the world state, agent policies and the step loop.

`simulate(scenario, problem_id, planner, agents="log" | "idm", config=SimConfig())` runs one
planning problem and returns a `RunRecord` (`record.py`, the contract with metrics and viz).
"""

from drivestack.core.record import EgoStates, RunRecord
from drivestack.sim.runner import simulate
from drivestack.sim.world import SimConfig

__all__ = ["EgoStates", "RunRecord", "SimConfig", "simulate"]
