"""Ingest recorded scenario files into a store: parallel, idempotent, resumable, never overwriting.

Pipeline: discover scenario files (and their solution files), hash their bytes, skip content already
stored, read and convert the rest in worker processes in batches of one dataset each. A worker writes
its batch's Parquet files (temporary name, then rename) and returns; only then does the parent commit
the batch (plus any new maps and rejections) to the manifest in one atomic replace. A kill at any
moment therefore leaves committed batches intact and uncommitted files invisible; the next ingest
deletes those orphans and redoes the missing batches, giving exactly the uninterrupted result.

Keys: `scenario_key` = "<benchmark id>@<format version>", read from the file's root element before
dispatch. A file whose content hash is stored is skipped; a different file claiming a stored key is
rejected (never overwritten), as is the second of two such files within one run.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from drivestack.core.errors import ConfigError, DrivestackError, InputWarning
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import Scenario
from drivestack.data.formats._xml import peek_root
from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.sources import SourceFiles, discover
from drivestack.data.store.layout import FileEntry, write_parquet
from drivestack.data.store.store import Store, scenario_key
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

DEFAULT_BATCH_SIZE = 32
"""Scenarios per ingest batch: one Parquet file per table and batch, and the unit of commit."""

_CONTAINER_FOLDERS = frozenset({"scenarios", "solutions", "scenario", "solution", "xml"})
_VERSION_FOLDER = re.compile(r"^\d{4}[a-z]?$")
_BENCHMARK_ID = re.compile(r"^(?:C-)?(?P<country>[A-Z]{2,3})_(?P<scene>[A-Za-z0-9]+)-(?P<map>\d+)_")
_MAPS_PART = "maps"
_REJECTED_PART = "rejected"


class RejectionKind(StrEnum):
    """Why a file was not stored: it cannot be read, its key is taken by other content, or it is a
    solution file without a scenario."""

    UNREADABLE = "unreadable"
    CONFLICT = "conflict"
    ORPHAN = "orphan_solution"


@dataclass(frozen=True)
class Rejection:
    """A file the store did not take, and why."""

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
    """The dataset a scenario file belongs to: its nearest folder that is not `scenarios`/`solutions`
    or a format version (`2018b`), lower-cased; e.g. `.../highd/scenarios/x.xml.gz` -> "highd"."""
    for folder in reversed(path.resolve().parent.parts):
        name = folder.lower()
        if name not in _CONTAINER_FOLDERS and not _VERSION_FOLDER.match(name) and name != "/":
            return re.sub(r"[^a-z0-9_.\-]", "_", name)
    return "unknown"


def recording_group(scenario: Scenario) -> str:
    """The recording a scenario was cut from, for leak-free splits: "<country>_<scene>-<map>" of its
    CommonRoad benchmark id (e.g. "DEU_LocationALower26-1"); the map's id when the id does not parse."""
    match = _BENCHMARK_ID.match(scenario.scenario_id)
    if match is None:
        return f"map:{scenario.lane_graph.map_id}"
    return f"{match['country']}_{match['scene']}-{match['map']}"


@dataclass(frozen=True)
class _Source:
    """A file to read; with `conflict` it is only checked (a readable file is rejected for that reason)."""

    scenario: str
    solutions: tuple[str, ...]
    content_hash: str
    key: str | None
    conflict: str | None = None


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
    warnings: list[InputWarning] = field(default_factory=list)


def _content_hash(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of the scenario file and its solution files (in the given order)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _header_key(path: Path) -> str | None:
    """The scenario key from the file's root element (benchmarkID, commonRoadVersion), or None."""
    root = peek_root(path)
    if root is None or "benchmarkID" not in root[1]:
        return None
    return scenario_key(root[1]["benchmarkID"], root[1].get("commonRoadVersion", ""))


@dataclass(frozen=True)
class _Converted:
    key: str
    content_hash: str
    tables: dict[str, pa.Table]
    map_key: str
    lane_graph: LaneGraph


def _convert(scenario: Scenario, content_hash: str | None, solutions: tuple[str, ...] = ()) -> _Converted:
    """All rows of `scenario` (batch column left empty); `content_hash` None: a hash of those rows."""
    key = scenario_key(scenario.scenario_id, scenario.format_version)
    map_storage_key = map_key(scenario.lane_graph)
    provenance = Provenance(key, recording_group(scenario), content_hash or "", solutions, "")
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
    warnings: list[InputWarning] = []
    for source in task.sources:
        try:
            scenario = read_scenario(source.scenario, source.solutions)
            item = _convert(scenario, source.content_hash, source.solutions)
            if item.key != source.key:
                raise ValueError(f"the file's root element announces {source.key}, its content is {item.key}")
            if source.conflict is not None:
                conflict = Rejection(
                    source.scenario, RejectionKind.CONFLICT, source.conflict, source.content_hash, source.key
                )
                rejected.append(conflict)
            else:
                converted.append(item)
                warnings += scenario.warnings
        except Exception as error:  # a bad file must never stop the run: it becomes a rejection
            reason = str(error) if isinstance(error, DrivestackError) else f"{type(error).__name__}: {error}"
            unreadable = RejectionKind.UNREADABLE
            rejected.append(Rejection(source.scenario, unreadable, reason, source.content_hash, source.key))
    result = _write_batch(Path(task.root), task.batch, task.dataset, converted, task.known_maps)
    result.attempted = [source.scenario for source in task.sources]
    result.rejected = rejected
    result.warnings = warnings
    return result


def ingest_scenarios(
    store: Store,
    scenarios: Sequence[Scenario],
    dataset: str = "constructed",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> IngestReport:
    """Store scenarios built in memory (tests, converters) exactly as `ingest` stores files.

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
            item = _convert(scenario, None)
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
) -> IngestReport:
    """Ingest every scenario under `paths` into `store` with `workers` processes (1: in this process).

    `progress(done, total)` is called as scenarios are processed. Rejected files never stop the run:
    they are reported and kept in the `rejected` table with their reasons.
    """
    if workers < 1 or batch_size < 1:
        raise ConfigError(f"workers and batch size must be >= 1, got {workers} and {batch_size}")
    started = time.perf_counter()
    report = IngestReport()
    sources, orphan_solutions = discover([Path(p) for p in paths])
    with store.writing():
        pending = _plan(store, sources, report)
        for solution in orphan_solutions:
            reason = "solution file without a matching scenario file"
            report.rejected.append(Rejection(str(solution), RejectionKind.ORPHAN, reason))
        _commit_rejections(store, [], report.rejected, [r.file for r in report.rejected])
        tasks = _tasks(store, pending, batch_size)
        total = sum(len(task.sources) for task in tasks)
        done = 0
        if progress is not None:
            progress(done, total)
        for result in _run(tasks, workers):
            _commit(store, result)
            report.added += result.added
            report.rejected += result.rejected
            report.warnings += result.warnings
            report.track_rows += result.track_rows
            done += len(result.attempted)
            if progress is not None:
                progress(done, total)
    report.seconds = time.perf_counter() - started
    return report


def _plan(store: Store, sources: Sequence[SourceFiles], report: IngestReport) -> dict[str, list[_Source]]:
    """Hash and key every source; record skips in `report`; return the rest by dataset (conflicting
    keys marked, to be rejected with the read error if unreadable, else for the conflict)."""
    index = store.index()
    stored_hashes = {str(row["content_hash"]): key for key, row in index.items()}
    stored_keys = {key: str(row["file"]) for key, row in index.items()}
    rejected = store.read_table("rejected")
    unreadable = pc.equal(rejected.column("kind"), RejectionKind.UNREADABLE.value)
    known_bad = set(rejected.filter(unreadable).column("content_hash").to_pylist())
    hashed = [(found, _content_hash([found.scenario, *found.solutions])) for found in sources]
    # files known to be unreadable go last, so they cannot claim a key a readable file also has
    hashed.sort(key=lambda item: item[1] in known_bad)
    seen_hashes: dict[str, str] = {}
    seen_keys: dict[str, str] = {}
    pending: dict[str, list[_Source]] = {}
    for found, content_hash in hashed:
        solutions = tuple(str(p.resolve()) for p in found.solutions)
        path = found.scenario.resolve()
        key = _header_key(path)
        file = str(path)
        if content_hash in stored_hashes:
            report.skipped.append(Skip(file, stored=stored_hashes[content_hash]))
        elif content_hash in seen_hashes:
            report.skipped.append(Skip(file, same_as=seen_hashes[content_hash]))
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
            source = _Source(file, solutions, content_hash, key, conflict)
            pending.setdefault(dataset_name(path), []).append(source)
    return pending


def _tasks(store: Store, pending: dict[str, list[_Source]], batch_size: int) -> list[_Task]:
    """Batches of one dataset each, in key order, biggest files first (so no worker ends the run alone
    on a big batch)."""
    known_maps = _stored_maps(store)
    tasks = []
    for dataset, sources in sorted(pending.items()):
        ordered = sorted(sources, key=lambda s: (s.key or "", s.scenario))
        for start in range(0, len(ordered), batch_size):
            batch = uuid.uuid4().hex[:16]
            chunk = tuple(ordered[start : start + batch_size])
            tasks.append(_Task(str(store.root), batch, dataset, chunk, known_maps))
    return sorted(tasks, key=lambda task: -sum(Path(s.scenario).stat().st_size for s in task.sources))


def _run(tasks: Sequence[_Task], workers: int) -> Iterable[_Result]:
    """Results of the tasks as they finish: in this process for one worker, else in spawned processes
    (spawned, not forked, so no worker inherits the parent's store lock)."""
    if workers == 1 or len(tasks) <= 1:
        yield from map(_ingest_batch, tasks)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context)
    try:
        futures: list[Future[_Result]] = [pool.submit(_ingest_batch, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool as error:
        raise DrivestackError(
            f"an ingest worker died ({error}); committed batches are kept, re-run to resume"
        ) from error
    finally:  # on an error or Ctrl-C, do not start the batches still queued
        pool.shutdown(wait=True, cancel_futures=True)


def _commit(store: Store, result: _Result) -> None:
    """Commit one finished batch: its files, the maps no earlier commit stored, and its rejections."""
    files = list(result.files)
    stored = _stored_maps(store)
    new = {key: tables for key, tables in result.maps.items() if key not in stored}
    if new:
        for name in MAP_TABLES:
            table = pa.concat_tables([tables[name] for tables in new.values()])
            if table.num_rows:
                files.append(write_parquet(store.root, name, table, _MAPS_PART))
    _commit_rejections(store, files, result.rejected, result.attempted)


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
