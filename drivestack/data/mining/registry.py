"""The detector registry: each detector is a pure function registered under a name and a version.

A detector maps `(scene, ego, config) -> list[Tag]`. The version is part of the stored result: bump
it whenever a change alters what the detector finds, so the runner re-mines old results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from drivestack.core.errors import ConfigError
from drivestack.data.mining.scene import EgoPath, Scene
from drivestack.data.tags import Tag

C = TypeVar("C")
DetectorFunction = Callable[[Scene, EgoPath, C], list[Tag]]


@dataclass(frozen=True)
class Detector(Generic[C]):
    """A registered detector: `name` (also the tag it writes), `version`, its function and default config."""

    name: str
    version: int
    function: DetectorFunction[C]
    config: C

    def __call__(self, scene: Scene, ego: EgoPath, config: C | None = None) -> list[Tag]:
        """Findings for one ego, with `config` or the default one."""
        return self.function(scene, ego, self.config if config is None else config)

    def detect(self, scene: Scene, config: C | None = None) -> list[Tag]:
        """Findings for every ego of the scene, without duplicates (findings that do not depend on
        the ego appear once), sorted by (agent, start step, planning problem)."""
        found = {tag for ego in scene.egos for tag in self(scene, ego, config)}
        return sorted(
            found,
            key=lambda tag: (tag.agent_id, tag.step_start, tag.planning_problem_id, tag.step_end, tag.value),
        )


REGISTRY: dict[str, Detector[Any]] = {}


def register(name: str, version: int, config: C) -> Callable[[DetectorFunction[C]], DetectorFunction[C]]:
    """Decorator adding a detector function to `REGISTRY` under `name` with its default `config`."""

    def add(function: DetectorFunction[C]) -> DetectorFunction[C]:
        REGISTRY[name] = Detector(name, version, function, config)
        return function

    return add


def select(names: Iterable[str] | None = None) -> list[Detector[Any]]:
    """The registered detectors called `names` (all, in registration order, for None or empty)."""
    wanted = list(names or [])
    unknown = [name for name in wanted if name not in REGISTRY]
    if unknown:
        known = ", ".join(REGISTRY)
        raise ConfigError(f"unknown detector(s) {', '.join(unknown)}; expected one of: {known}")
    return [REGISTRY[name] for name in wanted] if wanted else list(REGISTRY.values())
