"""Ingest recorded scenario units of any registered format into a store: parallel (processes or a
Ray cluster), idempotent, resumable, never overwriting.

Pipeline: discover units (`sources.discover`: files and folders claimed by a format reader, CommonRoad
scenarios with their solution files), survey them (hash their bytes once per unit, list the
scenarios, i.e. members, each holds), skip content already stored, read and convert the rest in
workers in batches of one dataset each. A worker writes its batch's Parquet files (temporary name,
then rename) and returns; only then does the driver commit the batch (plus any new maps and
rejections) to the manifest in one atomic replace. A kill at any moment therefore leaves committed
batches intact and uncommitted files invisible; the next ingest deletes those orphans and redoes the
missing batches, giving exactly the uninterrupted result. Surveys and batches run on the executor of
`backend` (`parallel.backends.make_executor`: this process, local processes, or Ray at `address`); the
workers need the files and the store at the same paths as the driver.

Keys (`store.source_key`): "<benchmark id>@<format version>" for CommonRoad, read from the file's root
element before dispatch; "<scenario id>@<format>" for other formats, known once a worker has read
the scenario. Content hash: sha256 over a CommonRoad file and its solution files; for other formats
over the unit's bytes (a folder: its `registry.unit_files`, by relative path), once per unit, combined with
the member token. A member whose content hash is stored is skipped; a different member or file
claiming a stored key is rejected (never overwritten), as is the second of two within one run (for
CommonRoad the first in path order is kept; for keys known only after reading, the first committed).
A member identical to one read earlier in the same run shares that one's fate: skipped when it was
stored, rejected as unreadable when it was (two empty files are both unreadable). A solution file
without a scenario is read all the same, so one that cannot be read (a DOCTYPE, say) is rejected as
unreadable with its reason rather than as an orphan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drivestack.core.errors import ConfigError, DrivestackError, InputWarning
from drivestack.core.map import LaneGraph
from drivestack.core.names import display_text
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_solution
from drivestack.data.formats.registry import (
    COMMONROAD,
    commonroad_root,
    read_unit,
    unit_files,
    unit_label,
    unit_members,
    unknown_format_reason,
)
from drivestack.data.sources import SourceFiles, discover
from drivestack.data.store.layout import FileEntry, write_parquet
from drivestack.data.store.store import Store, scenario_key, source_key
from drivestack.data.store.tables import (
    MAP_TABLES,
    SCENARIO_TABLES,
    SCHEMAS,
    Provenance,
    map_key,
    map_tables,
    scenario_tables,
    set_string_column,
    table_digest,
)

if TYPE_CHECKING:
    from drivestack.parallel.executors import Executor

DEFAULT_BATCH_SIZE = 32
"""Scenarios per ingest batch: one Parquet file per table and batch, and the unit of commit."""

SURVEY_CHUNK = 16
"""Units surveyed (hashed, members listed) per executor item."""

_CONTAINER_FOLDERS = frozenset(
    {"scenarios", "solutions", "scenario", "solution", "xml", "uncompressed", "tf_example", "splits"}
    | {"training", "validation", "testing", "train", "val", "test", "mini", "trainval"}
)
_VERSION_FOLDER = re.compile(r"^\d{4}[a-z]?$|^v\d+(\.\d+)*$")
_BENCHMARK_ID = re.compile(r"^(?:C-)?(?P<country>[A-Z]{2,3})_(?P<scene>[A-Za-z0-9]+)-(?P<map>\d+)_")
_MAPS_PART = "maps"
_REJECTED_PART = "rejected"


class RejectionKind(StrEnum):
    """Why a file was not stored: it cannot be read, its key is taken by other content, it is a
    solution file without a scenario, or no reader claims it."""

    UNREADABLE = "unreadable"
    CONFLICT = "conflict"
    ORPHAN = "orphan_solution"
    UNKNOWN = "unknown_format"


@dataclass(frozen=True)
class Rejection:
    """A file (or "<unit>#<member>", one scenario of a multi-scenario unit) the store did not take,
    and why (`file` as `display_text`: any file name stores safely)."""

    file: str
    kind: RejectionKind
    reason: str
    content_hash: str | None = None
    scenario_key: str | None = None


@dataclass(frozen=True)
class Skip:
    """A file not read because its content is stored already (`stored`: as this key) or came earlier
    in the same run (`stored` None: `same_as` is that file)."""

    file: str
    stored: str | None = None
    same_as: str | None = None


@dataclass
class IngestReport:
    """What one ingest did: keys added, files skipped (with why) and files rejected (with why)."""

    added: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    track_rows: int = 0
    seconds: float = 0.0
    warnings: list[InputWarning] = field(default_factory=list)
    """What the reader dropped or guessed in the files added (they were stored all the same)."""


def dataset_name(path: Path) -> str:
    """The dataset a scenario unit (file or folder) belongs to: its nearest enclosing folder that is
    not a container (`scenarios`, `solutions`), a split (`training`, `val`, ...) or a version
    (`2018b`, `v1.2`), lower-cased; e.g. `.../highd/scenarios/x.xml.gz` -> "highd",
    `.../argoverse2/sensor_logs/<log>/` -> "sensor_logs", `.../womd/training/x.tfrecord` -> "womd"."""
    for folder in reversed(path.resolve().parent.parts):
        name = folder.lower()
        if name not in _CONTAINER_FOLDERS and not _VERSION_FOLDER.match(name) and name != "/":
            return re.sub(r"[^a-z0-9_.\-]", "_", name)
    return "unknown"


def recording_group(scenario: Scenario, source_format: str = COMMONROAD) -> str:
    """The recording a scenario was cut from, for leak-free splits: for CommonRoad "<country>_<scene>-
    <map>" of its benchmark id (e.g. "DEU_LocationALower26-1"), "map:<map id>" when the id does not
    parse; for other formats "<format>_<map id>" (their readers name the map after the log or the
    location it was recorded at, so scenarios cut from one drive stay together)."""
    if source_format != COMMONROAD:
        return f"{source_format}_{scenario.lane_graph.map_id}"
    match = _BENCHMARK_ID.match(scenario.scenario_id)
    if match is None:
        return f"map:{scenario.lane_graph.map_id}"
    return f"{match['country']}_{match['scene']}-{match['map']}"


@dataclass(frozen=True)
class _Source:
    """One scenario to read: `member` of the unit `scenario` (a path; member None for CommonRoad) of
    `format`; with `conflict` it is only checked (a readable one is rejected for that reason). `key`
    is known before reading for CommonRoad only; `size` is its share of the unit's bytes. `copies`:
    labels of later members of this run with the same content, skipped or rejected as this one fares."""

    scenario: str
    solutions: tuple[str, ...]
    content_hash: str
    key: str | None
    conflict: str | None = None
    member: str | None = None
    format: str = COMMONROAD
    size: int = 0
    copies: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The unit's path, with "#<member>" for a member token."""
        return unit_label(self.scenario, self.member)


@dataclass(frozen=True)
class _Surveyed:
    """A unit after its survey: its members with their content hashes, the CommonRoad header key, its
    size [bytes]; or the error that kept its members from being listed."""

    unit: SourceFiles
    members: tuple[tuple[str | None, str], ...]
    key: str | None
    size: int
    error: str | None = None


@dataclass(frozen=True)
class _Task:
    root: str
    batch: str
    dataset: str
    sources: tuple[_Source, ...]
    known_maps: frozenset[str]


@dataclass
class _Result:
    batch: str
    files: list[FileEntry]
    added: list[str]
    attempted: list[str]
    rejected: list[Rejection]
    maps: dict[str, dict[str, pa.Table]]
    track_rows: int
    read_keys: dict[str, _Source] = field(default_factory=dict)
    """Keys known only after reading (not from a header), with the source each came from."""
    skipped: list[Skip] = field(default_factory=list)
    """Copies of a stored source (same content, later in the run)."""
    warnings: list[InputWarning] = field(default_factory=list)
    """What the reader dropped or guessed in the scenarios it read."""


def _file_digest(path: Path) -> bytes:
    """sha256 of a file's bytes, read in 1 MiB blocks (memory stays bounded for big files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.digest()


def _unit_digest(path: Path, format_name: str) -> tuple[bytes, int]:
    """(sha256 over a file's bytes, or over a folder's `registry.unit_files` with their relative
    paths; bytes read)."""
    if not path.is_dir():
        return _file_digest(path), path.stat().st_size
    digest = hashlib.sha256()
    size = 0
    for file in unit_files(path, format_name):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" + _file_digest(file))
        size += file.stat().st_size
    return digest.digest(), size


def _content_hash(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of the scenario file and its solution files (in the given order)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(_file_digest(path))
    return digest.hexdigest()


def _member_hash(unit_digest: bytes, member: str) -> str:
    """The content hash of one member of a unit: sha256 over the unit's digest and the member token."""
    return hashlib.sha256(unit_digest + b"\0" + member.encode()).hexdigest()


def _header_key(path: Path) -> str | None:
    """The scenario key from the file's root element (benchmarkID, commonRoadVersion), or None."""
    root = commonroad_root(path)
    if root is None or "benchmarkID" not in root[1]:
        return None
    return scenario_key(root[1]["benchmarkID"], root[1].get("commonRoadVersion", ""))


def _survey(units: Sequence[SourceFiles]) -> list[_Surveyed]:
    """Hash and list the members of each unit (runs in a worker); an unreadable unit keeps its error."""
    surveyed = []
    for unit in units:
        path = unit.scenario.resolve()
        if unit.format == COMMONROAD:
            content_hash = _content_hash([path, *unit.solutions])
            size = path.stat().st_size
            surveyed.append(_Surveyed(unit, ((None, content_hash),), _header_key(path), size))
            continue
        digest, size = _unit_digest(path, unit.format)
        try:
            tokens = unit_members(path, unit.format)
        except Exception as error:  # an unlistable unit is rejected as a whole, never a crash
            surveyed.append(_Surveyed(unit, (), None, size, _error_text(error)))
            continue
        members = tuple((token, _member_hash(digest, token or "")) for token in tokens)
        surveyed.append(_Surveyed(unit, members, None, size))
    return surveyed


def _error_text(error: BaseException) -> str:
    """An error in one line: drivestack's own message, else its type and message."""
    return str(error) if isinstance(error, DrivestackError) else f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class _Converted:
    key: str
    content_hash: str
    tables: dict[str, pa.Table]
    map_key: str
    lane_graph: LaneGraph


def _convert(
    scenario: Scenario,
    content_hash: str | None,
    solutions: tuple[str, ...] = (),
    source_format: str = COMMONROAD,
) -> _Converted:
    """All rows of `scenario` (batch column left empty); `content_hash` None: a hash of those rows."""
    key = source_key(scenario, source_format)
    map_storage_key = map_key(scenario.lane_graph)
    group = recording_group(scenario, source_format)
    solution_files = tuple(map(display_text, solutions))
    provenance = Provenance(key, group, content_hash or "", solution_files, "", source_format)
    tables = scenario_tables(scenario, provenance, map_storage_key)
    if content_hash is None:
        content_hash = table_digest(tables[name] for name in SCENARIO_TABLES)
        tables["scenarios"] = set_string_column(tables["scenarios"], "content_hash", content_hash)
    return _Converted(key, content_hash, tables, map_storage_key, scenario.lane_graph)


def _write_batch(
    root: Path, batch: str, dataset: str, converted: Sequence[_Converted], known_maps: frozenset[str]
) -> _Result:
    """Write the per-scenario tables of a batch (one file per non-empty table); convert its new maps."""
    result = _Result(batch, [], [item.key for item in converted], [], [], {}, 0)
    for name in SCENARIO_TABLES:
        table = pa.concat_tables([SCHEMAS[name].empty_table(), *(item.tables[name] for item in converted)])
        if name == "scenarios":
            table = set_string_column(table, "batch", batch)
        if table.num_rows:
            result.files.append(write_parquet(root, name, table, batch, dataset))
    for item in converted:
        if item.map_key not in known_maps and item.map_key not in result.maps:
            result.maps[item.map_key] = map_tables(item.lane_graph, item.map_key)
        result.track_rows += item.tables["tracks"].num_rows
    return result


def _ingest_batch(task: _Task) -> _Result:
    """Read, convert and write one batch of files (runs in a worker); rejections are collected, not raised."""
    converted: list[_Converted] = []
    rejected: list[Rejection] = []
    skipped: list[Skip] = []
    warnings: list[InputWarning] = []
    read_keys: dict[str, _Source] = {}
    for source in task.sources:
        try:
            scenario = read_unit(Path(source.scenario), source.format, source.member, source.solutions)
            item = _convert(scenario, source.content_hash, source.solutions, source.format)
            if source.key is not None and item.key != source.key:
                raise ValueError(f"the file's root element announces {source.key}, its content is {item.key}")
            conflict = source.conflict
            if source.key is None and item.key in read_keys:
                first = read_keys[item.key].label
                conflict = f"{item.key} also comes from {display_text(first)} in this run; the first is kept"
            if conflict is not None:
                kind = RejectionKind.CONFLICT
                file = display_text(source.label)
                rejected.append(Rejection(file, kind, conflict, source.content_hash, item.key))
            else:
                converted.append(item)
                skipped += [Skip(copy, same_as=display_text(source.label)) for copy in source.copies]
                if source.key is None:
                    read_keys[item.key] = source
                warnings += scenario.warnings
        except Exception as error:  # a bad file must never stop the run: it becomes a rejection
            unreadable = RejectionKind.UNREADABLE
            reason = display_text(_error_text(error))
            file = display_text(source.label)
            rejected.append(Rejection(file, unreadable, reason, source.content_hash, source.key))
            rejected += [
                Rejection(copy, unreadable, f"identical to {file}: {reason}", source.content_hash)
                for copy in source.copies
            ]
    result = _write_batch(Path(task.root), task.batch, task.dataset, converted, task.known_maps)
    result.attempted = [file for s in task.sources for file in (display_text(s.label), *s.copies)]
    result.rejected = rejected
    result.skipped = skipped
    result.read_keys = read_keys
    result.warnings = warnings
    return result


def ingest_scenarios(
    store: Store,
    scenarios: Sequence[Scenario],
    dataset: str = "constructed",
    batch_size: int = DEFAULT_BATCH_SIZE,
    source_format: str = COMMONROAD,
) -> IngestReport:
    """Store scenarios built in memory (tests, converters) exactly as `ingest` stores files, keyed as
    scenarios of `source_format` (`store.source_key`).

    The content hash is taken over the scenario's rows: the same scenario again is skipped, another
    scenario under a stored key is rejected (never overwritten).
    """
    started = time.perf_counter()
    report = IngestReport()
    with store.writing():
        index = store.index()
        hashes = {str(row["content_hash"]): key for key, row in index.items()}
        keys = set(index)
        accepted: list[_Converted] = []
        for scenario in scenarios:
            item = _convert(scenario, None, source_format=source_format)
            if item.content_hash in hashes:
                report.skipped.append(Skip(scenario.scenario_id, stored=hashes[item.content_hash]))
            elif item.key in keys:
                reason = f"{item.key} is already stored with other content; not overwritten"
                kind = RejectionKind.CONFLICT
                report.rejected.append(
                    Rejection(scenario.scenario_id, kind, reason, item.content_hash, item.key)
                )
            else:
                hashes[item.content_hash] = item.key
                keys.add(item.key)
                accepted.append(item)
        known_maps = _stored_maps(store)
        for start in range(0, len(accepted), batch_size):
            chunk = accepted[start : start + batch_size]
            result = _write_batch(store.root, uuid.uuid4().hex[:16], dataset, chunk, known_maps)
            _commit(store, result)
            report.added += result.added
            report.track_rows += result.track_rows
    report.seconds = time.perf_counter() - started
    return report


def _stored_maps(store: Store) -> frozenset[str]:
    """Keys of the maps already committed."""
    return frozenset(str(key) for key in store.read_table("maps").column("map_key").to_pylist())


def ingest(
    paths: Sequence[str | Path],
    store: Store,
    workers: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    backend: str | None = None,
    address: str | None = None,
) -> IngestReport:
    """Ingest every scenario under `paths` into `store` with `workers` workers on `backend`
    ("sequential", "processes", "ray"; None: this process for one worker, else processes; `address`:
    a Ray cluster, else a local Ray with `workers` CPUs).

    `progress(done, total)` is called as scenarios are processed. Rejected files never stop the run:
    they are reported and kept in the `rejected` table with their reasons.
    """
    from drivestack.parallel.backends import make_executor  # imported when used
    from drivestack.parallel.executors import ProcessExecutor, SequentialExecutor

    if workers < 1 or batch_size < 1:
        raise ConfigError(f"workers and batch size must be >= 1, got {workers} and {batch_size}")
    executor = make_executor(backend, workers, address)
    started = time.perf_counter()
    report = IngestReport()
    sources, orphan_solutions, unknown = discover([Path(p) for p in paths])
    # the survey (hashing, listing members) is I/O-bound: on this machine it runs here, since a
    # second pool of spawned processes costs more than it saves (a re-run of 72 stored scenarios:
    # 0.9 s with a pool, 0.1 s here); on a Ray cluster it runs where the workers are
    local = isinstance(executor, ProcessExecutor)
    surveyed = _survey_all(sources, SequentialExecutor() if local else executor)
    with store.writing():
        pending = _plan(store, surveyed, report)
        report.rejected += [_orphan(solution) for solution in orphan_solutions]
        for path in unknown:
            reason = unknown_format_reason()
            report.rejected.append(Rejection(display_text(path.resolve()), RejectionKind.UNKNOWN, reason))
        # a unit rejected as a whole before (unlistable) and listed now loses that row
        listed = [item.unit for item in surveyed if item.error is None and item.unit.format != COMMONROAD]
        units = [display_text(unit.scenario.resolve()) for unit in listed]
        _commit_rejections(store, [], report.rejected, [r.file for r in report.rejected] + units)
        tasks = _tasks(store, pending, batch_size)
        total = sum(len(task.sources) for task in tasks)
        done = 0
        if progress is not None:
            progress(done, total)
        for task, outcome in executor.map(_ingest_batch, tasks):
            result = _commit(store, outcome if isinstance(outcome, _Result) else _failed_batch(task, outcome))
            report.added += result.added
            report.rejected += result.rejected
            report.skipped += result.skipped
            report.warnings += result.warnings
            report.track_rows += result.track_rows
            done += len(result.attempted)
            if progress is not None:
                progress(done, total)
    report.seconds = time.perf_counter() - started
    return report


def _orphan(solution: Path) -> Rejection:
    """The rejection of a solution file no scenario claims: unreadable (with why) when it cannot be
    read, else an orphan."""
    try:
        read_solution(solution)
    except DrivestackError as error:
        return Rejection(display_text(solution), RejectionKind.UNREADABLE, display_text(str(error)))
    reason = "solution file without a matching scenario file"
    return Rejection(display_text(solution), RejectionKind.ORPHAN, reason)


def _survey_all(sources: Sequence[SourceFiles], executor: Executor) -> list[_Surveyed]:
    """Every unit surveyed on `executor` (chunks of `SURVEY_CHUNK` units), in path order."""
    chunks = [tuple(sources[i : i + SURVEY_CHUNK]) for i in range(0, len(sources), SURVEY_CHUNK)]
    found: dict[Path, _Surveyed] = {}
    for chunk, outcome in executor.map(_survey, chunks):
        if isinstance(outcome, BaseException):  # the worker died: each unit is rejected with the reason
            outcome = [_Surveyed(unit, (), None, 0, _error_text(outcome)) for unit in chunk]
        found.update((item.unit.scenario, item) for item in outcome)
    return [found[unit.scenario] for unit in sources]


def _failed_batch(task: _Task, error: BaseException) -> _Result:
    """The result of a batch whose worker failed as a whole (died): every source rejected with why."""
    reason = f"the worker reading this batch failed: {_error_text(error)}"
    files = [(s, file) for s in task.sources for file in (display_text(s.label), *s.copies)]
    rejected = [Rejection(file, RejectionKind.UNREADABLE, reason, s.content_hash, s.key) for s, file in files]
    return _Result(task.batch, [], [], [file for _, file in files], rejected, {}, 0)


def _plan(store: Store, surveyed: Sequence[_Surveyed], report: IngestReport) -> dict[str, list[_Source]]:
    """Key every surveyed member; record skips of stored content in `report` and unlistable units as
    rejections; return the rest by dataset (conflicting header keys marked, to be rejected with the
    read error if unreadable, else for the conflict; members identical to an earlier one of this run
    as its `copies`, which share its fate)."""
    index = store.index()
    stored_hashes = {str(row["content_hash"]): key for key, row in index.items()}
    stored_keys = {key: str(row["file"]) for key, row in index.items()}
    rejected = store.read_table("rejected")
    unreadable = pc.equal(rejected.column("kind"), RejectionKind.UNREADABLE.value)
    known_bad = set(rejected.filter(unreadable).column("content_hash").to_pylist())
    members = [(item, member, content_hash) for item in surveyed for member, content_hash in item.members]
    # members known to be unreadable go last, so they cannot claim a key a readable one also has
    members.sort(key=lambda entry: entry[2] in known_bad)
    seen_hashes: dict[str, str] = {}
    seen_keys: dict[str, str] = {}
    pending: dict[str, list[_Source]] = {}
    copies: dict[str, list[str]] = {}
    for item in surveyed:
        if item.error is not None:
            file = display_text(item.unit.scenario.resolve())
            report.rejected.append(Rejection(file, RejectionKind.UNREADABLE, item.error))
    for item, member, content_hash in members:
        solutions = tuple(str(p.resolve()) for p in item.unit.solutions)
        path = item.unit.scenario.resolve()
        key = item.key
        file = display_text(unit_label(path, member))
        if content_hash in stored_hashes:
            report.skipped.append(Skip(file, stored=stored_hashes[content_hash]))
        elif content_hash in seen_hashes:
            copies.setdefault(seen_hashes[content_hash], []).append(file)
        else:
            conflict = None
            if key is not None and key in stored_keys:
                conflict = (
                    f"{key} is already stored from {stored_keys[key]} with other content; not overwritten"
                )
            elif key is not None and key in seen_keys:
                conflict = (
                    f"{key} also comes from {seen_keys[key]} (other content) in this run; the first is kept"
                )
            else:
                seen_hashes[content_hash] = file
                if key is not None:
                    seen_keys[key] = file
            size = item.size // len(item.members)
            fmt = item.unit.format
            source = _Source(str(path), solutions, content_hash, key, conflict, member, fmt, size)
            pending.setdefault(dataset_name(path), []).append(source)
    return {
        dataset: [
            dataclasses.replace(source, copies=tuple(copies.get(display_text(source.label), ())))
            for source in group
        ]
        for dataset, group in pending.items()
    }


def _tasks(store: Store, pending: dict[str, list[_Source]], batch_size: int) -> list[_Task]:
    """Batches of one dataset each, in key (then unit and member) order, biggest first (so no worker
    ends the run alone on a big batch)."""
    known_maps = _stored_maps(store)
    tasks = []
    for dataset, sources in sorted(pending.items()):
        ordered = sorted(sources, key=lambda s: (s.key or "", s.scenario, s.member or ""))
        for start in range(0, len(ordered), batch_size):
            batch = uuid.uuid4().hex[:16]
            chunk = tuple(ordered[start : start + batch_size])
            tasks.append(_Task(str(store.root), batch, dataset, chunk, known_maps))
    return sorted(tasks, key=lambda task: -sum(s.size for s in task.sources))


def _commit(store: Store, result: _Result) -> _Result:
    """Commit one finished batch: its files (without scenarios whose key, known only after reading,
    is stored already), the maps no earlier commit stored, and its rejections; return what was
    committed."""
    result = _without_stored_keys(store, result)
    files = list(result.files)
    stored = _stored_maps(store)
    new = {key: tables for key, tables in result.maps.items() if key not in stored}
    if new:
        for name in MAP_TABLES:
            table = pa.concat_tables([tables[name] for tables in new.values()])
            if table.num_rows:
                files.append(write_parquet(store.root, name, table, _MAPS_PART))
    _commit_rejections(store, files, result.rejected, result.attempted)
    return result


def _without_stored_keys(store: Store, result: _Result) -> _Result:
    """`result` with the scenarios whose read key is stored already (by an earlier batch or run) moved
    to its rejections: their rows are filtered out of rewritten batch files (rare: the same scenario
    id in two different units)."""
    index = store.index()
    taken = {key: source for key, source in result.read_keys.items() if key in index}
    if not taken:
        return result
    for key, source in taken.items():
        reason = f"{key} is already stored from {index[key]['file']} with other content; not overwritten"
        file = display_text(source.label)
        conflict = Rejection(file, RejectionKind.CONFLICT, reason, source.content_hash, key)
        result.rejected.append(conflict)
    drop = pa.array(list(taken), pa.string())
    files = []
    kept_maps: set[str] = set()
    track_rows = result.track_rows
    for entry in result.files:
        path = store.root / entry.path
        written = pq.read_table(path, schema=SCHEMAS[entry.table])
        table = written.filter(pc.invert(pc.is_in(written.column("scenario_key"), value_set=drop)))
        path.unlink()  # never committed: nothing refers to it
        if entry.table == "tracks":
            track_rows -= written.num_rows - table.num_rows
        if entry.table == "scenarios":
            kept_maps.update(str(key) for key in table.column("map_key").to_pylist())
        if table.num_rows:
            files.append(write_parquet(store.root, entry.table, table, entry.part, entry.dataset))
    added = [key for key in result.added if key not in taken]
    maps = {key: tables for key, tables in result.maps.items() if key in kept_maps}
    kept = _Result(result.batch, files, added, result.attempted, result.rejected, maps, track_rows)
    return dataclasses.replace(kept, skipped=result.skipped, warnings=result.warnings)


def _commit_rejections(
    store: Store, files: list[FileEntry], rejected: Sequence[Rejection], attempted: Sequence[str]
) -> None:
    """Commit `files` with the `rejected` table updated: rows of `attempted` files replaced by `rejected`."""
    if not attempted and not files:
        return
    old = store.read_table("rejected")
    keep = old.filter(
        pc.invert(pc.is_in(old.column("file"), value_set=pa.array(list(attempted), pa.string())))
    )
    new = pa.table(
        {
            "file": [r.file for r in rejected],
            "kind": [r.kind.value for r in rejected],
            "content_hash": [r.content_hash for r in rejected],
            "scenario_key": [r.scenario_key for r in rejected],
            "reason": [r.reason for r in rejected],
        },
        schema=SCHEMAS["rejected"],
    )
    merged = pa.concat_tables([keep, new]).sort_by("file")
    drop: list[FileEntry] = []
    if not merged.equals(old):
        drop = store.manifest.table_files("rejected")
        if merged.num_rows:
            files = [*files, write_parquet(store.root, "rejected", merged, _REJECTED_PART)]
    store.commit(files, drop)
