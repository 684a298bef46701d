"""Planners implementing `core.planner.Planner`, and the registry that names them.

`make_planner(name)` builds a fresh planner by name; `PLANNERS` lists the names. Planners see only
observations (the present and the past); `plan` never imports `sim` or `data`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from drivestack.core.errors import ConfigError
from drivestack.core.planner import Planner
from drivestack.plan.baselines import ConstantVelocityPlanner, IdmPlanner, LogReplayPlanner
from drivestack.plan.drivestack import DrivestackPlanner

PLANNERS: Mapping[str, Callable[[], Planner]] = MappingProxyType(
    {
        LogReplayPlanner.name: LogReplayPlanner,
        ConstantVelocityPlanner.name: ConstantVelocityPlanner,
        IdmPlanner.name: IdmPlanner,
        DrivestackPlanner.name: DrivestackPlanner,
    }
)


def make_planner(name: str) -> Planner:
    """A new planner registered as `name`; ConfigError naming the known ones otherwise."""
    factory = PLANNERS.get(name)
    if factory is None:
        raise ConfigError(f"unknown planner {name!r}; expected one of {', '.join(PLANNERS)}")
    return factory()


__all__ = ["PLANNERS", "make_planner"]
