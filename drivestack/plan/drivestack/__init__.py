"""drivestack's own planner: route, explicit decisions, batched proposals scored against forecast
traffic, and a safe fallback (see `planner`). Registered as planner "drivestack"."""

from drivestack.core.record import Decision
from drivestack.plan.drivestack.config import (
    DecisionConfig,
    DrivestackConfig,
    ProposalConfig,
    ScoringConfig,
)
from drivestack.plan.drivestack.planner import DrivestackPlanner
from drivestack.plan.drivestack.stages import Proposals, ProposalSource, Scorer

__all__ = [
    "Decision",
    "DecisionConfig",
    "DrivestackConfig",
    "DrivestackPlanner",
    "ProposalConfig",
    "ProposalSource",
    "Proposals",
    "Scorer",
    "ScoringConfig",
]
