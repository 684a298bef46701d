"""Where a benchmark's scenarios come from: recorded files on disk, or a scenario store.

A `Source` names one scenario (a file with its solution files, or a key in a store) and loads it
on the time step its motion shows (`retimed`), the form every run uses. `find_sources` turns a
command-line argument (a file, a folder, or the name of a stored scenario set) into sources.

Re-timing: a closed loop needs the step at which the recorded traffic really moves, since the ego
advances speed x dt per step while the agents advance whatever the file says. Two datasets declare
the wrong step: every highD file says 0.1 s but its agents move 2 x (velocity x 0.1 s) per step and
their velocities change by 2 x (acceleration x 0.1 s), i.e. its states are 0.2 s apart; SinD says
0.1 s and moves 5 x, i.e. 0.5 s (exiD, inD, MONA and NGSIM move at their declared step; checked
on all 1,062 dev scenarios). At the declared step the ego would crawl at half (a fifth of) the
traffic's pace and every speed-based metric would be off by that factor. `retimed` takes the step
the motion implies (`data.mining.scene.motion_time_step`) and, when it is an integer multiple
k >= 2 of the declared one (frames dropped by the converter), sets `dt` (and the recorded egos')
to k x dt. Step indices and goal time intervals, counted in steps, stay as they are.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from drivestack.core.errors import ConfigError
from drivestack.core.names import display_text
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.mining.scene import motion_time_step
from drivestack.data.sources import SUFFIXES, discover
from drivestack.data.store import ScenarioFilter, Store

_SUFFIX = re.compile(r"(\.cr)?\.xml(\.gz)?$", re.IGNORECASE)
RETIME_TOLERANCE = 0.1
"""Largest distance of the measured step ratio to an integer k (relative to k) for a re-time."""


def retimed(scenario: Scenario) -> Scenario:
    """`scenario` on the time step its motion shows when that is k >= 2 times the declared one (see
    the module docstring); the same object otherwise."""
    ratio = motion_time_step(scenario) / scenario.dt
    factor = round(ratio)
    if factor < 2 or abs(ratio - factor) > RETIME_TOLERANCE * factor:
        return scenario
    dt = scenario.dt * factor
    egos = tuple(
        dataclasses.replace(ego, trajectory=dataclasses.replace(ego.trajectory, dt=dt))
        for ego in scenario.recorded_egos
    )
    return dataclasses.replace(scenario, dt=dt, recorded_egos=egos)


@dataclass(frozen=True)
class Source:
    """One scenario to run: `path` (a scenario file, with its `solutions`) or `key` in the store at
    `store`. `name` identifies it in results (the file path as `display_text`, or "store:<key>")."""

    path: str | None = None
    solutions: tuple[str, ...] = ()
    store: str | None = None
    key: str | None = None

    @property
    def name(self) -> str:
        """The source's identity in result rows."""
        return display_text(self.path) if self.path is not None else f"store:{self.key}"

    @property
    def scenario_id(self) -> str:
        """The scenario id as far as it is known without reading the file (file name or store key)."""
        if self.path is not None:
            return display_text(_SUFFIX.sub("", Path(self.path).name))
        return str(self.key).split("@")[0]

    def load(self) -> Scenario:
        """The scenario, re-timed to its measured step (InputError / StoreError when unreadable)."""
        if self.path is not None:
            return retimed(read_scenario(self.path, self.solutions))
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
        if path.name.lower().endswith(SUFFIXES) and "solution" in path.name.lower() and path.is_file()
    ]


@functools.lru_cache(maxsize=4)
def _store(root: str) -> Store:
    """One open store per root and process (bench workers load many scenarios from it)."""
    return Store.open(root)


def find_sources(target: str, store: str | None = None, limit: int | None = None) -> list[Source]:
    """Sources for `target`: a scenario file or a folder (walked, solutions attached), else the name
    of a scenario set in the store at `store` (else $DRIVESTACK_STORE / ./drivestack-store). Sorted
    by name; the first `limit` when given. ConfigError when nothing matches."""
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    if Path(target).exists():
        found, _ = discover([target])
        sources = [Source(path=str(f.scenario), solutions=tuple(str(s) for s in f.solutions)) for f in found]
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
    """One scenario: a scenario file (with its solutions from `solution_candidates`) or a scenario
    id / key in the store."""
    path = Path(target)
    if path.is_file():
        found, _ = discover([path, *solution_candidates(path)])
        for files in found:
            if files.scenario.resolve() == path.resolve():
                return Source(path=str(path), solutions=tuple(str(s) for s in files.solutions))
        return Source(path=str(path))
    opened = Store.open(store)
    return Source(store=str(opened.root), key=opened.resolve(target))
