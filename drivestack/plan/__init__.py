"""Planners implementing `core.planner.Planner`, and the registry that names them.

`make_planner(name, options)` builds a fresh planner by name; `PLANNERS` lists the names. Planners
see only observations (the present and the past); `plan` never imports `sim` or `data`.
"drivestack-vocab" is drivestack with a second proposal source, the motions of a vocabulary learned
from recorded drivers (`PlannerOptions.vocabulary`, made by `drivestack train-vocabulary`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from drivestack.core.errors import ConfigError
from drivestack.core.motions import load_vocabulary
from drivestack.core.planner import Planner
from drivestack.plan.baselines import ConstantVelocityPlanner, IdmPlanner, LogReplayPlanner
from drivestack.plan.drivestack import DrivestackPlanner
from drivestack.plan.drivestack.vocabulary import VocabularySource

VOCABULARY_PLANNER = "drivestack-vocab"
_NEEDS_VOCABULARY = f"planner {VOCABULARY_PLANNER} needs a motion vocabulary: --vocabulary FILE"


@dataclass(frozen=True)
class PlannerOptions:
    """What planners are built with beyond their name: `vocabulary`, the motion vocabulary file
    (.npz) drivestack-vocab proposes from (None: none given)."""

    vocabulary: str | None = None

    def check(self, planners: tuple[str, ...]) -> None:
        """ConfigError (or the file's InputError) now, before any run, when `planners` need an option
        that is missing or unreadable."""
        if VOCABULARY_PLANNER in planners:
            if self.vocabulary is None:
                raise ConfigError(_NEEDS_VOCABULARY)
            load_vocabulary(self.vocabulary)


def _with_vocabulary(options: PlannerOptions) -> Planner:
    """drivestack proposing the vocabulary's motions too."""
    if options.vocabulary is None:
        raise ConfigError(_NEEDS_VOCABULARY)
    planner = DrivestackPlanner(extra_sources=(VocabularySource(load_vocabulary(options.vocabulary)),))
    planner.name = VOCABULARY_PLANNER
    return planner


PLANNERS: Mapping[str, Callable[[PlannerOptions], Planner]] = MappingProxyType(
    {
        LogReplayPlanner.name: lambda _: LogReplayPlanner(),
        ConstantVelocityPlanner.name: lambda _: ConstantVelocityPlanner(),
        IdmPlanner.name: lambda _: IdmPlanner(),
        DrivestackPlanner.name: lambda _: DrivestackPlanner(),
        VOCABULARY_PLANNER: _with_vocabulary,
    }
)


def make_planner(name: str, options: PlannerOptions | None = None) -> Planner:
    """A new planner registered as `name`, built with `options`; ConfigError naming the known ones
    otherwise."""
    factory = PLANNERS.get(name)
    if factory is None:
        raise ConfigError(f"unknown planner {name!r}; expected one of {', '.join(PLANNERS)}")
    return factory(options or PlannerOptions())


__all__ = ["PLANNERS", "VOCABULARY_PLANNER", "PlannerOptions", "make_planner"]
