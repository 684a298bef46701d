"""The store directory on disk: the `store.json` manifest, the writer lock and atomic Parquet files.

The manifest is the catalogue's single source of truth: it lists every committed data file (table,
relative path, size, logical part, dataset). Data files are immutable; a writer writes new files
under temporary names, renames them into place, and only then commits them by atomically replacing
`store.json`. A file on disk that the manifest does not list (left by a killed writer) is ignored
by every reader and deleted by the next writer (`remove_orphans`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from drivestack.core.errors import StoreError

SCHEMA_VERSION = 3
"""Layout version this drivestack writes and reads; a store with another number is refused."""
SCHEMA_CHANGES = {
    2: "tags gained planning_problem_id",
    3: "occupancies table (set-based and phantom obstacles)",
}
"""What each schema version changed, named when an older store is refused."""

MANIFEST = "store.json"
LOCK = ".lock"
STORE_FORMAT = "drivestack-store"
PARQUET_MAGIC = b"PAR1"
TEMP_PREFIX = "_tmp-"
"""Temporary files start with `_`, which Spark, Arrow datasets and Polars skip when reading a folder."""


@dataclass(frozen=True)
class FileEntry:
    """One committed Parquet file: its table, path relative to the store root and size [bytes].

    `part` names the logical unit the file belongs to and is replaced with (an ingest batch id, a
    detector name, "all"); `dataset` is the hive partition value (`<table>/dataset=<name>/`) or None.
    """

    table: str
    path: str
    bytes: int
    part: str
    dataset: str | None = None


@dataclass(frozen=True)
class Manifest:
    """The committed state of a store: its schema version, a generation counter and its files."""

    schema_version: int = SCHEMA_VERSION
    generation: int = 0
    files: tuple[FileEntry, ...] = field(default_factory=tuple)

    def table_files(self, table: str) -> list[FileEntry]:
        """Committed files of `table`, in commit order."""
        return [entry for entry in self.files if entry.table == table]

    def part_files(self, part: str) -> list[FileEntry]:
        """Committed files of the logical unit `part` (e.g. all tables of one ingest batch)."""
        return [entry for entry in self.files if entry.part == part]

    def updated(self, add: Sequence[FileEntry], drop: Sequence[FileEntry]) -> Manifest:
        """The next generation: these files dropped, those added."""
        dropped = {entry.path for entry in drop}
        kept = tuple(entry for entry in self.files if entry.path not in dropped)
        return replace(self, generation=self.generation + 1, files=kept + tuple(add))


def read_manifest(root: Path) -> Manifest:
    """The manifest of the store at `root`; StoreError when absent, unreadable or of a newer schema."""
    path = root / MANIFEST
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"no drivestack store at {root} (create one with `drivestack ingest`)") from None
    except (OSError, ValueError) as error:
        raise StoreError(f"{path}: unreadable store manifest ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != STORE_FORMAT:
        raise StoreError(f"{path}: not a drivestack store manifest (expected format {STORE_FORMAT!r})")
    version = payload.get("schema_version")
    if not isinstance(version, int):
        raise StoreError(f"{path}: schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{root}: store has schema version {version}, newer than the {SCHEMA_VERSION} this drivestack "
            "reads; upgrade drivestack"
        )
    if version < SCHEMA_VERSION:
        changes = "; ".join(f"{n}: {change}" for n, change in SCHEMA_CHANGES.items() if n > version)
        raise StoreError(
            f"{root}: store has old schema version {version} (this drivestack reads {SCHEMA_VERSION}; "
            f"{changes}); re-ingest into a new store"
        )
    try:
        files = tuple(FileEntry(**entry) for entry in payload["files"])
        return Manifest(schema_version=version, generation=int(payload["generation"]), files=files)
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(f"{path}: malformed manifest entry ({error})") from None


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Atomically replace `store.json` (temp file, fsync, os.replace): readers see old or new, never half."""
    payload: dict[str, Any] = {
        "format": STORE_FORMAT,
        "schema_version": manifest.schema_version,
        "generation": manifest.generation,
        "files": [asdict(entry) for entry in manifest.files],
    }
    _atomic_write_bytes(root / MANIFEST, json.dumps(payload, indent=1).encode())


def _atomic_write_bytes(target: Path, data: bytes) -> None:
    temp = target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{target.name}")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


def create_store(root: Path) -> None:
    """Make `root` an empty store (no-op when it already holds a manifest)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / MANIFEST).exists():
        write_manifest(root, Manifest())


@contextlib.contextmanager
def writer_lock(root: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the store's exclusive writer lock (flock on `.lock`); StoreError after `timeout` [s] of waiting.

    The kernel drops the lock when the holding process dies, so a killed writer never blocks the next.
    """
    handle = open(root / LOCK, "a+")  # noqa: SIM115 - released in finally
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(f"{root}: another process is writing to this store") from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()


def write_parquet(
    root: Path, table_name: str, table: pa.Table, part: str, dataset: str | None = None
) -> FileEntry:
    """Write `table` as a new Parquet file of `table_name` (temp name, rename); not committed nor synced.

    zstd with plain-encoded floats (smaller than dictionary or byte-stream-split on recorded tracks)
    and dictionary-encoded strings; row groups of 256k rows let readers skip by `scenario_key` statistics.
    """
    folder = Path(table_name) if dataset is None else Path(table_name) / f"dataset={dataset}"
    relative = folder / f"part-{uuid.uuid4().hex}.parquet"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(TEMP_PREFIX + target.name)
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    pq.write_table(
        table, temp, compression="zstd", compression_level=3, use_dictionary=strings, row_group_size=1 << 18
    )
    os.replace(temp, target)
    return FileEntry(table_name, relative.as_posix(), target.stat().st_size, part, dataset)


def sync_files(root: Path, entries: Sequence[FileEntry]) -> None:
    """fsync written data files, so a commit never names data a power loss could still take back.

    Done by the committing process, not the writers, so ingest workers keep computing meanwhile.
    """
    for entry in entries:
        descriptor = os.open(root / entry.path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def check_files(root: Path, manifest: Manifest) -> None:
    """StoreError naming the first committed file that is missing, of the wrong size or not Parquet."""
    for entry in manifest.files:
        path = root / entry.path
        try:
            size = path.stat().st_size
            with open(path, "rb") as handle:
                handle.seek(max(size - len(PARQUET_MAGIC), 0))
                tail = handle.read()
        except OSError as error:
            raise StoreError(f"{path}: committed data file is unreadable ({error.strerror})") from None
        if size != entry.bytes or tail != PARQUET_MAGIC:
            raise StoreError(
                f"{path}: corrupted data file (size {size} bytes, manifest says {entry.bytes}; "
                f"Parquet footer {'ok' if tail == PARQUET_MAGIC else 'missing'})"
            )


def remove_orphans(root: Path, manifest: Manifest, tables: Sequence[str]) -> list[Path]:
    """Delete the data and temporary files of `tables` (and temporary manifests) that no commit lists.

    Only files following the store's own naming (`part-*.parquet`, `_tmp-*`) are touched. Call with
    the writer lock held. Returns the removed paths.
    """
    committed = {root / entry.path for entry in manifest.files}
    candidates = [path for path in root.glob(f"{TEMP_PREFIX}*") if path.is_file()]
    for table in tables:
        folder = root / table
        if folder.is_dir():
            candidates += [p for p in folder.rglob("*") if p.is_file() and _own_file(p.name)]
    removed = [path for path in candidates if path not in committed]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _own_file(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) or (name.startswith("part-") and name.endswith(".parquet"))
