"""Where a benchmark's scenarios come from: recorded units on disk (of any registered format), or a
scenario store.

A `Source` names one scenario (a CommonRoad file with its solution files, one member of a unit of
another format, or a key in a store) and loads it on the time step its motion shows (`retimed`), the
form every run uses. `find_sources` turns a command-line argument (a file, a folder, or the name of
a stored scenario set) into sources: one per member of each unit (a WOMD file holding 100 scenarios
gives 100 sources, each of which reads only its own member).

Re-timing: a closed loop needs the step at which the recorded traffic really moves, since the ego
advances speed x dt per step while the agents advance whatever the file says. Two datasets declare
the wrong step: every highD file says 0.1 s but its agents move 2 x (velocity x 0.1 s) per step and
their velocities change by 2 x (acceleration x 0.1 s), i.e. its states are 0.2 s apart; SinD says
0.1 s and moves 5 x, i.e. 0.5 s (exiD, inD, MONA and NGSIM move at their declared step; checked
on all 1,062 dev scenarios). At the declared step the ego would crawl at half (a fifth of) the
traffic's pace and every speed-based metric would be off by that factor. `retimed` takes the step
the motion implies (`core.facts.retime_factor`) and, when it is an integer multiple
k >= 2 of the declared one (frames dropped by the converter), sets `dt` (and the recorded egos')
to k x dt. Step indices and goal time intervals, counted in steps, stay as they are.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from drivestack.core.errors import ConfigError, InputError
from drivestack.core.facts import retime_factor
from drivestack.core.names import display_text
from drivestack.core.scenario import Scenario
from drivestack.data.formats.registry import (
    COMMONROAD,
    COMMONROAD_SUFFIXES,
    identify,
    read_unit,
    split_label,
    unit_label,
    unit_members,
    unknown_format_reason,
)
from drivestack.data.sources import SourceFiles, discover
from drivestack.data.store import ScenarioFilter, Store, source_key

_SUFFIX = re.compile(r"(\.cr)?\.xml(\.gz)?$", re.IGNORECASE)


def retimed(scenario: Scenario) -> Scenario:
    """`scenario` on the time step its motion shows when that is k >= 2 times the declared one (see
    the module docstring); the same object otherwise."""
    factor = retime_factor(scenario)
    if factor == 1:
        return scenario
    dt = scenario.dt * factor
    egos = tuple(
        dataclasses.replace(ego, trajectory=dataclasses.replace(ego.trajectory, dt=dt))
        for ego in scenario.recorded_egos
    )
    return dataclasses.replace(scenario, dt=dt, recorded_egos=egos)


UNKNOWN_FORMAT = ""
"""The `Source.format` of a file no reader claims: loading it raises the "unknown format" error."""


@dataclass(frozen=True)
class Source:
    """One scenario to run: `member` of the unit at `path` (a file or folder of `format`; a CommonRoad
    file with its `solutions`, member None), or `key` in the store at `store`. `name` identifies it in
    results (the path with "#<member>" for a member token, as `display_text`, or "store:<key>")."""

    path: str | None = None
    solutions: tuple[str, ...] = ()
    store: str | None = None
    key: str | None = None
    member: str | None = None
    format: str = COMMONROAD

    @property
    def name(self) -> str:
        """The source's identity in result rows."""
        if self.path is None:
            return f"store:{self.key}"
        return display_text(unit_label(self.path, self.member))

    @property
    def scenario_id(self) -> str:
        """The scenario id as far as it is known without reading it (member, file name or store key)."""
        if self.path is not None:
            return display_text(self.member or _SUFFIX.sub("", Path(self.path).name))
        return str(self.key).split("@")[0]

    def scenario_key(self, scenario: Scenario) -> str:
        """The store key of the scenario this source loaded (`store.source_key` for files)."""
        return str(self.key) if self.path is None else source_key(scenario, self.format)

    def load(self) -> Scenario:
        """The scenario, re-timed to its measured step (InputError / StoreError when unreadable)."""
        if self.path is not None:
            if self.format == UNKNOWN_FORMAT:
                raise InputError(self.path, None, unknown_format_reason())
            return retimed(read_unit(Path(self.path), self.format, self.member, self.solutions))
        return retimed(_store(str(self.store)).load_scenario(str(self.key)))


def solution_candidates(scenario_file: Path) -> list[Path]:
    """The files that may hold a scenario file's solutions: CommonRoad files whose name contains
    "solution", directly in the scenario's own folder or in a `solutions` folder beside that folder
    (the layout `<dataset>/scenarios/`, `<dataset>/solutions/`). Never a subfolder, never higher up:
    a file in a shared folder does not make drivestack read other files of that folder's tree."""
    folder = scenario_file.resolve().parent
    folders = [folder, folder.parent / "solutions"]
    return [
        path
        for where in dict.fromkeys(folders)
        if where.is_dir()
        for path in sorted(where.iterdir())
        if path.name.lower().endswith(COMMONROAD_SUFFIXES)
        and "solution" in path.name.lower()
        and path.is_file()
    ]


def unit_sources(unit: SourceFiles) -> list[Source]:
    """One source per member of `unit`; a unit whose members cannot be listed gives one source
    (member None) whose load raises the reason."""
    solutions = tuple(str(s) for s in unit.solutions)
    try:
        members = unit_members(unit.scenario, unit.format)
    except Exception:  # the error comes back when the source is loaded: an error row, not a crash
        members = [None]
    return [Source(str(unit.scenario), solutions, member=m, format=unit.format) for m in members]


@functools.lru_cache(maxsize=4)
def _store(root: str) -> Store:
    """One open store per root and process (bench workers load many scenarios from it)."""
    return Store.open(root)


def find_sources(target: str, store: str | None = None, limit: int | None = None) -> list[Source]:
    """Sources for `target`: a scenario unit or a folder (walked, one source per member of each unit,
    CommonRoad solutions attached, files of unknown format kept so their error shows), else the name
    of a scenario set in the store at `store` (else $DRIVESTACK_STORE / ./drivestack-store). Sorted
    by name; the first `limit` when given. ConfigError when nothing matches."""
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    if Path(target).exists():
        found, _, unknown = discover([target])
        sources = [source for unit in found for source in unit_sources(unit)]
        sources += [Source(str(path), format=UNKNOWN_FORMAT) for path in unknown]
    else:
        opened = Store.open(store)
        keys = opened.scenario_ids(ScenarioFilter(set_name=target))
        sources = [Source(store=str(opened.root), key=key) for key in keys]
        if not sources and target in _set_names(opened):
            raise ConfigError(f"set {target} is empty: no scenarios to run")
    if not sources:
        raise ConfigError(f"{target}: no scenarios found (expected a scenario file, a folder or a set name)")
    sources.sort(key=lambda source: source.name)
    return sources[:limit] if limit is not None else sources


def _set_names(store: Store) -> set[str]:
    """The names of the store's scenario sets."""
    return {row["set_name"] for row in store.query("SELECT set_name FROM set_definitions").to_pylist()}


def find_scenario(target: str, store: str | None = None) -> Source:
    """One scenario: a scenario unit holding one scenario (a CommonRoad file with its solutions from
    `solution_candidates`), "<unit>#<member>" for one of several, or a scenario id / key in the
    store. ConfigError for a unit holding several scenarios, naming how to choose one."""
    path, member = split_label(target)
    if path.exists():
        reader = identify(path)
        if reader is not None and reader.FORMAT == COMMONROAD:
            found, _, _ = discover([path, *solution_candidates(path)])
            for files in found:
                if files.scenario.resolve() == path.resolve() and files.format == COMMONROAD:
                    return Source(path=str(path), solutions=tuple(str(s) for s in files.solutions))
        units, _, unknown = discover([path])
        if unknown or not units:
            return Source(path=str(path), format=UNKNOWN_FORMAT)
        sources = unit_sources(units[0])
        if member is not None:
            return Source(str(path), member=member, format=units[0].format)
        if len(sources) > 1:
            raise ConfigError(
                f"{path} holds {len(sources)} scenarios: name one as {sources[0].name} (members: "
                f"{', '.join(str(s.member) for s in sources[:5])}{', ...' if len(sources) > 5 else ''})"
            )
        return sources[0]
    opened = Store.open(store)
    return Source(store=str(opened.root), key=opened.resolve(target))
