"""Finding CommonRoad files on disk: scenario files, solution files, and which solution goes with which.

A file counts when its name ends in `.xml` or `.xml.gz` (any case); everything else (index.csv,
notes) is ignored. Whether a file is a scenario or a solution is read from its root element
(`<commonRoad>` / `<CommonRoadSolution>`, a few kB are decompressed for that); when the root cannot be
read, a name containing "solution" marks a solution. A solution belongs to the scenario whose
`benchmarkID` equals the scenario id inside the solution's `benchmark_id`; among several scenarios
with that id (the same drive in two format versions) the one of the solution's format version, then
the one sharing the longest folder path with it, wins.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from drivestack.core.errors import InputError
from drivestack.data.formats._xml import peek_root

SUFFIXES = (".xml", ".xml.gz")


@dataclass(frozen=True)
class SourceFiles:
    """One scenario file and the solution files (recorded egos) that belong to it."""

    scenario: Path
    solutions: tuple[Path, ...] = ()


@dataclass(frozen=True)
class _Identified:
    path: Path
    is_solution: bool
    scenario_id: str | None  # the scenario's own id, or the one a solution names
    version: str | None


def discover(paths: Iterable[str | Path]) -> tuple[list[SourceFiles], list[Path]]:
    """Scenario files under `paths` (files or folders, walked recursively) with their solution files.

    Returns (scenarios with their solutions, in path order; solution files matching no scenario).
    Raises `InputError` for a path that does not exist.
    """
    files = [_identify(path) for path in _walk(paths)]
    scenarios = [file for file in files if not file.is_solution]
    by_id: dict[str, list[_Identified]] = defaultdict(list)
    for scenario in scenarios:
        if scenario.scenario_id is not None:
            by_id[scenario.scenario_id].append(scenario)
    attached: dict[Path, list[Path]] = defaultdict(list)
    orphans = []
    for solution in (file for file in files if file.is_solution):
        candidates = by_id.get(solution.scenario_id or "", [])
        if not candidates:
            orphans.append(solution.path)
            continue
        owner = max(candidates, key=lambda scenario: _closeness(scenario, solution))
        attached[owner.path].append(solution.path)
    sources = [SourceFiles(scenario.path, tuple(attached[scenario.path])) for scenario in scenarios]
    return sources, orphans


def _closeness(scenario: _Identified, solution: _Identified) -> tuple[bool, int]:
    """How well a candidate scenario fits a solution: same format version, then folders shared.

    `max` keeps the first of equally close candidates, i.e. the first in path order.
    """
    scenario_folder, solution_folder = scenario.path.resolve().parent, solution.path.resolve().parent
    return scenario.version == solution.version, len(os.path.commonpath([scenario_folder, solution_folder]))


def _is_candidate(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(SUFFIXES)


def _walk(paths: Iterable[str | Path]) -> list[Path]:
    """Every candidate file under `paths`, once each, in sorted order per folder."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in map(Path, paths):
        if given.is_dir():
            candidates = []
            for folder, subfolders, names in os.walk(given):
                subfolders.sort()
                candidates += [Path(folder) / name for name in sorted(names)]
        elif given.exists():
            candidates = [given]
        else:
            raise InputError(given, None, "no such file or folder")
        for path in candidates:
            key = path.resolve()
            if _is_candidate(path) and path.is_file() and key not in seen:
                seen.add(key)
                found.append(path)
    return found


def _identify(path: Path) -> _Identified:
    """Classify `path` from its root element (or its name when the root cannot be read)."""
    root = peek_root(path)
    if root is not None and root[0] == "commonRoad":
        return _Identified(path, False, root[1].get("benchmarkID"), root[1].get("commonRoadVersion"))
    if root is not None and root[0] == "CommonRoadSolution":
        parts = root[1].get("benchmark_id", "").replace(" ", "").split(":")
        scenario_id, version = (parts[2], parts[3]) if len(parts) == 4 else (None, None)
        return _Identified(path, True, scenario_id, version)
    return _Identified(path, "solution" in path.name.lower(), None, None)
