"""Finding scenario units on disk: files and folders of every registered format, and CommonRoad's
solution files with the scenario each belongs to.

A unit is whatever a format reader claims (`formats.registry.identify`, from content, not the name):
a file (a CommonRoad XML, a WOMD TFRecord, a ScenarioNet pickle) or a folder (an Argoverse 2
scenario or sensor log), which is then not walked further. In a walked folder, a file no reader
claims is reported as of unknown format, except documentation and index files beside the data
(`IGNORED_SUFFIXES`, hidden files), which are skipped; a file named explicitly is always judged.

Whether a CommonRoad file is a scenario or a solution is read from its root element
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
from typing import NamedTuple

from drivestack.core.errors import InputError
from drivestack.data.formats.registry import COMMONROAD, commonroad_root, identify

IGNORED_SUFFIXES = (".csv", ".txt", ".md", ".rst", ".html", ".pdf", ".png", ".jpg", ".jpeg", ".yaml", ".yml")
"""Files met in a walked folder that are never scenario data (indexes, notes, pictures): skipped."""


@dataclass(frozen=True)
class SourceFiles:
    """One scenario unit (a file or a folder) of format `format`, and for CommonRoad the solution
    files (recorded egos) that belong to it."""

    scenario: Path
    solutions: tuple[Path, ...] = ()
    format: str = COMMONROAD


class Discovery(NamedTuple):
    """What `discover` found: units in path order, solution files matching no scenario, and files
    or folders no reader claims."""

    sources: list[SourceFiles]
    orphans: list[Path]
    unknown: list[Path]


@dataclass(frozen=True)
class _Identified:
    path: Path
    is_solution: bool
    scenario_id: str | None  # the scenario's own id, or the one a solution names
    version: str | None


def discover(paths: Iterable[str | Path]) -> Discovery:
    """Scenario units under `paths` (files or folders, walked recursively), CommonRoad scenarios with
    their solution files. Raises `InputError` for a path that does not exist.
    """
    units, unknown = _walk(paths)
    files = [_identify(path) for path, format_name in units if format_name == COMMONROAD]
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
    solutions = {file.path for file in files if file.is_solution}
    sources = [
        SourceFiles(path, tuple(attached[path]), format_name)
        for path, format_name in units
        if path not in solutions
    ]
    return Discovery(sources, orphans, unknown)


def _closeness(scenario: _Identified, solution: _Identified) -> tuple[bool, int]:
    """How well a candidate scenario fits a solution: same format version, then folders shared.

    `max` keeps the first of equally close candidates, i.e. the first in path order.
    """
    scenario_folder, solution_folder = scenario.path.resolve().parent, solution.path.resolve().parent
    return scenario.version == solution.version, len(os.path.commonpath([scenario_folder, solution_folder]))


def _ignored(name: str) -> bool:
    """True for a file met in a walked folder that is never data (hidden, index, notes, pictures)."""
    return name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES)


def _walk(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(every unit under `paths` with its format, once each, in walk order with sorted names;
    files and folders given or met that no reader claims)."""
    units: list[tuple[Path, str]] = []
    unknown: list[Path] = []
    seen: set[Path] = set()

    def visit(path: Path, explicit: bool) -> bool:
        """Record `path` as a unit or as unknown; True when it is a unit."""
        key = path.resolve()
        if key in seen:
            return True
        reader = identify(path)
        if reader is not None:
            seen.add(key)
            units.append((path, reader.FORMAT))
            return True
        if explicit or (path.is_file() and not _ignored(path.name)):
            seen.add(key)
            unknown.append(path)
        return False

    for given in map(Path, paths):
        if not given.exists():
            raise InputError(given, None, "no such file or folder")
        if not given.is_dir():
            visit(given, explicit=True)
            continue
        if identify(given) is not None:
            visit(given, explicit=True)
            continue
        for folder, subfolders, names in os.walk(given):
            subfolders.sort()
            # a folder a reader claims is a unit: it is not walked
            subfolders[:] = [
                name
                for name in subfolders
                if not name.startswith(".") and not visit(Path(folder) / name, explicit=False)
            ]
            for name in sorted(names):
                visit(Path(folder) / name, explicit=False)
    return units, unknown


def _identify(path: Path) -> _Identified:
    """Classify a CommonRoad file from its root element (or its name when the root cannot be read)."""
    root = commonroad_root(path)
    if root is not None and root[0] == "commonRoad":
        return _Identified(path, False, root[1].get("benchmarkID"), root[1].get("commonRoadVersion"))
    if root is not None and root[0] == "CommonRoadSolution":
        parts = root[1].get("benchmark_id", "").replace(" ", "").split(":")
        scenario_id, version = (parts[2], parts[3]) if len(parts) == 4 else (None, None)
        return _Identified(path, True, scenario_id, version)
    return _Identified(path, "solution" in path.name.lower(), None, None)
