"""Which reader takes a file or folder: the ordered list of format readers and content-based dispatch.

A reader is a module (or any object) with `FORMAT: str`, `sniff(path) -> bool` (from content, cheap:
a few bytes or one small file), `members(path) -> list[str]` (opaque tokens, one per scenario the
unit holds: a WOMD TFRecord holds many) and `read(path, member) -> Scenario`. A *unit* is what a
reader claims: a file, or a folder (an Argoverse 2 scenario or sensor-log folder), which is then not
walked further. `identify` asks each reader in `reader_modules()` order and returns the first that
claims the path; nothing claiming it means "unknown format".

CommonRoad comes last and is wrapped here (`CommonRoad`): it claims files whose root element is
`<commonRoad>` or `<CommonRoadSolution>`, and `.xml`/`.xml.gz` files whose root cannot be read (so
its reader names what is wrong with them); its single member is None and its solution files are
paired by `data.sources`, then handed to `read_unit`.

Readers are named by module path (`BUILTIN_READERS`) and imported on first use, so a format whose
module is absent from this installation is skipped (`missing_readers` names it) instead of breaking
every other format. `$DRIVESTACK_EXTRA_READERS` (comma-separated module paths) puts further
readers first: the way to add a format without editing drivestack, and the tests' hook for a fake
format (an environment variable, so spawned and Ray workers see the same readers).

A folder reader may also define `unit_files(path) -> list[Path]`: the files `read` takes its
scenarios from, which are all ingest hashes to decide whether a unit changed (default: every file
in the folder, which for a sensor log with raw camera and lidar data means gigabytes). A reader may
define `source_map(path, member)` too: the source's own map before conversion (an object whose
`polylines()` lists (kind, points)), which `drivestack show` draws beside the converted lane graph
(`source_polylines`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

import numpy as np
from numpy.typing import NDArray

from drivestack.core.errors import ConfigError, InputError
from drivestack.core.scenario import Scenario
from drivestack.data.formats._xml import peek_root
from drivestack.data.formats.commonroad import read_scenario

COMMONROAD = "commonroad"
"""The format name of CommonRoad XML (scenario and solution files)."""
BUILTIN_READERS = (
    "drivestack.data.formats.womd",
    "drivestack.data.formats.scenarionet",
    "drivestack.data.formats.av2",
    "drivestack.data.formats.registry:CommonRoad",
)
"""Reader modules in the order they are asked (`module` or `module:attribute`); CommonRoad last, as
its name fallback would otherwise claim a mis-named file of another format."""
EXTRA_READERS_VARIABLE = "DRIVESTACK_EXTRA_READERS"
_COMMONROAD_ROOTS = frozenset({"commonRoad", "CommonRoadSolution"})
COMMONROAD_SUFFIXES = (".xml", ".xml.gz")


class Reader(Protocol):
    """What a format reader provides (a module satisfies it with module-level names)."""

    FORMAT: str

    def sniff(self, path: Path) -> bool:
        """True when `path` (a file or folder) is a unit of this format, judged from its content."""
        ...

    def members(self, path: Path) -> list[str]:
        """Tokens of the scenarios the unit at `path` holds, in file order (InputError when unreadable)."""
        ...

    def read(self, path: Path, member: str | None = None) -> Scenario:
        """One scenario of the unit (`member`: one of `members(path)`), without decoding the others."""
        ...


class CommonRoad:
    """CommonRoad XML as a registry reader: one scenario per file, no member tokens."""

    FORMAT = COMMONROAD

    @staticmethod
    def sniff(path: Path) -> bool:
        """A file whose root element is CommonRoad's, or a `.xml`/`.xml.gz` file whose root is unreadable."""
        if not path.is_file():
            return False
        root = commonroad_root(path)
        if root is not None and root[0] in _COMMONROAD_ROOTS:
            return True
        return path.name.lower().endswith(COMMONROAD_SUFFIXES)

    @staticmethod
    def members(path: Path) -> list[str]:
        """A CommonRoad file holds one scenario: no tokens (`unit_members` gives [None])."""
        return []

    @staticmethod
    def read(path: Path, member: str | None = None) -> Scenario:
        """The scenario of a CommonRoad file, without solution files (see `read_unit`)."""
        return read_scenario(path)


def commonroad_root(path: Path) -> tuple[str, dict[str, str]] | None:
    """`_xml.peek_root` of a file, remembered while the file is unchanged (dispatch and solution
    pairing both need it: one read instead of two)."""
    stat = path.stat()
    return _cached_root(path.absolute(), stat.st_mtime_ns, stat.st_size)  # absolute: resolve() is slow


@functools.lru_cache(maxsize=8192)
def _cached_root(path: Path, mtime_ns: int, size: int) -> tuple[str, dict[str, str]] | None:
    """`peek_root(path)` for one version (modification time, size) of the file."""
    return peek_root(path)


def reader_modules() -> tuple[str, ...]:
    """Reader module paths in dispatch order: `$DRIVESTACK_EXTRA_READERS`, then the built-in ones."""
    extra = os.environ.get(EXTRA_READERS_VARIABLE, "")
    return (*(name.strip() for name in extra.split(",") if name.strip()), *BUILTIN_READERS)


@functools.cache
def _load(spec: str) -> Reader | None:
    """The reader named `spec` ("module" or "module:attribute"), or None when its module is absent
    (remembered per process: a failed import is not cached by Python and would search sys.path again
    for every file)."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name or module_name.startswith(f"{error.name}."):
            return None  # the reader itself (or its package) is not installed, not a dependency of it
        raise
    found = getattr(module, attribute) if attribute else module
    for name in ("FORMAT", "sniff", "members", "read"):
        if not hasattr(found, name):
            raise ConfigError(f"reader {spec} has no {name}: a reader defines FORMAT, sniff, members, read")
    return cast(Reader, found)


def readers() -> tuple[Reader, ...]:
    """The installed readers in dispatch order."""
    loaded = (_load(spec) for spec in reader_modules())
    return tuple(reader for reader in loaded if reader is not None)


def missing_readers() -> tuple[str, ...]:
    """Reader modules named in `reader_modules()` that this installation does not have."""
    return tuple(spec for spec in reader_modules() if _load(spec) is None)


def formats() -> tuple[str, ...]:
    """The format names the installed readers read, in dispatch order."""
    return tuple(reader.FORMAT for reader in readers())


def identify(path: Path) -> Reader | None:
    """The first reader claiming `path` (a file or folder), None when none does. A reader whose
    sniff fails on an unreadable path does not claim it."""
    for reader in readers():
        try:
            if reader.sniff(path):
                return reader
        except OSError:
            continue
    return None


def unknown_format_reason() -> str:
    """The one-line reason a unit nobody claims is rejected with."""
    reason = f"unknown format: no reader claims it (formats read: {', '.join(formats())})"
    missing = [spec.partition(":")[0].rpartition(".")[2] for spec in missing_readers()]
    return f"{reason}; readers not installed: {', '.join(missing)}" if missing else reason


def reader_for(format_name: str) -> Reader:
    """The installed reader of `format_name`; ConfigError when there is none."""
    for reader in readers():
        if format_name == reader.FORMAT:
            return reader
    raise ConfigError(f"no reader for format {format_name!r} (formats read: {', '.join(formats())})")


def unit_members(path: Path, format_name: str) -> list[str | None]:
    """The members of the unit at `path`: [None] for a CommonRoad file, else the reader's tokens.

    InputError when the unit holds no scenario (or the reader cannot list them)."""
    if format_name == COMMONROAD:
        return [None]
    found: list[str | None] = list(reader_for(format_name).members(path))
    if not found:
        raise InputError(path, None, f"{format_name} unit holds no scenario")
    return found


def unit_files(path: Path, format_name: str) -> list[Path]:
    """The files whose bytes make the content of the unit at `path` (what ingest hashes): the file
    itself; for a folder, the reader's optional `unit_files(path)` (the files `read` reads, so a
    sensor log's camera and lidar data is not hashed), else every file under it; sorted."""
    if not path.is_dir():
        return [path]
    listed = getattr(reader_for(format_name), "unit_files", None)
    if listed is not None:
        return sorted(Path(file) for file in listed(path))
    return sorted(Path(folder) / name for folder, _, names in os.walk(path) for name in names)


def read_unit(
    path: Path, format_name: str, member: str | None = None, solutions: Sequence[str | Path] = ()
) -> Scenario:
    """Scenario `member` of the unit at `path` (CommonRoad: with its `solutions` attached); its
    `source_file` names the unit, with "#<member>" for a member token."""
    if format_name == COMMONROAD:
        return read_scenario(path, solutions)
    if solutions:
        raise ConfigError(f"{path}: solution files belong to CommonRoad scenarios, not {format_name}")
    scenario = reader_for(format_name).read(path, member)
    return dataclasses.replace(scenario, source_file=unit_label(path, member))


def source_polylines(label: str) -> list[tuple[str, NDArray[np.float64]]] | None:
    """The source's own map of the scenario named `label` (a `unit_label`) as (kind, (P, 2) [m])
    polylines, for a picture beside the converted lane graph: the `source_map(path, member)` of
    readers that define one (WOMD, ScenarioNet, AV2); None for a format without one (CommonRoad's
    lanelets are its lane graph). InputError when the unit is gone or unreadable."""
    path, member = split_label(label)
    if not path.exists():
        raise InputError(path, None, "not found (the source file moved or was deleted)")
    reader = identify(path)
    if reader is None:
        raise InputError(path, None, unknown_format_reason())
    source_map = getattr(reader, "source_map", None)
    if source_map is None:
        return None
    polylines: list[tuple[str, NDArray[np.float64]]] = source_map(path, member).polylines()
    return polylines


def unit_label(path: str | Path, member: str | None) -> str:
    """How a scenario of a unit is named in reports and result rows: the path, "#<member>" appended
    for a non-empty member token (`split_label` reverses it)."""
    return f"{path}#{member}" if member else str(path)


def split_label(label: str) -> tuple[Path, str | None]:
    """(unit path, member) of a `unit_label`: the whole label when it names an existing path, else
    split at the first "#" whose left part exists (paths and members may hold "#" themselves)."""
    if Path(label).exists():
        return Path(label), None
    cut = label.find("#")
    while cut >= 0:
        if Path(label[:cut]).exists():
            return Path(label[:cut]), label[cut + 1 :]
        cut = label.find("#", cut + 1)
    return Path(label), None
