"""A drivestack planner with extra proposal sources that keeps every step's proposals and scores,
for tests of the proposal seam."""

from __future__ import annotations

import dataclasses
from typing import Any

from drivestack.core.planner import PlannerInit
from drivestack.plan.drivestack.decide import Scene
from drivestack.plan.drivestack.planner import DrivestackPlanner
from drivestack.plan.drivestack.scoring import Scores
from drivestack.plan.drivestack.stages import Proposals, ProposalSource


class Watched(DrivestackPlanner):
    """drivestack with `sources` beside its rule-based one; `seen` holds each step's (proposals, scores)."""

    def __init__(self, *sources: ProposalSource) -> None:
        super().__init__(extra_sources=list(sources))
        self.seen: list[tuple[Proposals, Scores]] = []

    def initialize(self, init: PlannerInit) -> None:
        super().initialize(init)
        assert self._run is not None
        scorer, seen = self._run.scorer, self.seen

        class Watching:
            def score(self, scene: Scene, options: Any, proposals: Proposals, memory: Any) -> Scores:
                scores = scorer.score(scene, options, proposals, memory)
                seen.append((proposals, scores))
                return scores

        self._run = dataclasses.replace(self._run, scorer=Watching())
