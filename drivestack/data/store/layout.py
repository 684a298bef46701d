"""The store directory on disk: the `store.json` manifest, the writer lock and atomic Parquet files.

The manifest is the catalogue's single source of truth: it lists every committed data file (table,
relative path, size, SHA-256, logical part, dataset). Data files are immutable; a writer writes new
files under temporary names, renames them into place, and only then commits them by atomically
replacing `store.json`. A file on disk that the manifest does not list (left by a killed writer) is
ignored by every reader and deleted by the next writer (`remove_orphans`).

Every manifest path must name a file of the store's own layout inside the store (`read_manifest`
refuses anything else), so a crafted `store.json` can neither read nor delete files elsewhere.
Integrity: `check_files` (every open) compares sizes and Parquet footers; `verify_files` (on demand,
`drivestack store check`) and `read_parquet` (every whole-file read) compare SHA-256 checksums.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from drivestack.core.errors import StoreError

SCHEMA_VERSION = 4
"""Layout version this drivestack writes and reads; a store with another number is refused."""
SCHEMA_CHANGES = {
    2: "tags gained planning_problem_id",
    3: "scenarios gained source_format (the format each scenario was read from: commonroad, womd, ...)",
    4: "occupancies table (set-based and phantom obstacles)",
}
"""What each schema version changed, named when an older store is refused."""

MANIFEST_VERSION = 2
"""Manifest format this drivestack writes: 2 records each file's `sha256`; 1 (no `manifest_version`
key) did not. Version-1 stores open and query as before; their files count as unverifiable."""

MANIFEST = "store.json"
LOCK = ".lock"
STORE_FORMAT = "drivestack-store"
PARQUET_MAGIC = b"PAR1"
TEMP_PREFIX = "_tmp-"
"""Temporary files start with `_`, which Spark, Arrow datasets and Polars skip when reading a folder."""
_DATA_PATH = re.compile(
    r"(?P<table>[a-z][a-z0-9_]*)(?:/dataset=(?P<dataset>[^/\0]+))?/part-[0-9a-f]{32}\.parquet"
)
"""The only paths a manifest may name: `<table>/[dataset=<name>/]part-<32 hex>.parquet`."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileEntry:
    """One committed Parquet file: its table, path relative to the store root and size [bytes].

    `part` names the logical unit the file belongs to and is replaced with (an ingest batch id, a
    detector name, "all"); `dataset` is the hive partition value (`<table>/dataset=<name>/`) or None;
    `sha256` is the file's checksum (hex), None for files committed under manifest version 1.
    """

    table: str
    path: str
    bytes: int
    part: str
    dataset: str | None = None
    sha256: str | None = None


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
    manifest_version = payload.get("manifest_version", 1)
    if not isinstance(manifest_version, int) or manifest_version > MANIFEST_VERSION:
        raise StoreError(
            f"{root}: store manifest version {manifest_version!r} is not one this drivestack reads "
            f"(1 to {MANIFEST_VERSION}); upgrade drivestack"
        )
    try:
        files = tuple(FileEntry(**entry) for entry in payload["files"])
        generation = int(payload["generation"])
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(f"{path}: malformed manifest entry ({error})") from None
    linked: dict[str, bool] = {}  # one lstat per folder of the layout, not per file

    def is_link(folder: str) -> bool:
        if folder not in linked:
            linked[folder] = os.path.islink(os.path.join(root, folder))
        return linked[folder]

    for number, entry in enumerate(files):
        problem = _entry_problem(entry)
        if problem is None:
            folder = entry.path.rpartition("/")[0]
            table_folder = folder.partition("/")[0]
            if is_link(table_folder) or (folder != table_folder and is_link(folder)):
                problem = "lies in a folder that is a symbolic link (it could lead outside the store)"
        if problem:
            raise StoreError(f"{path}: file entry {number} ({entry.path!r}) {problem}")
    return Manifest(schema_version=version, generation=generation, files=files)


def _entry_problem(entry: FileEntry) -> str | None:
    """Why `entry` is not a sound manifest entry, or None: fields of the right types, and a path that is
    exactly what `write_parquet` names for its table and dataset (relative, no `..`: `_DATA_PATH`).

    `read_manifest` checks the folders' symbolic links on top; `check_files` refuses a linked file.
    """
    fields_ok = (
        isinstance(entry.table, str)
        and isinstance(entry.path, str)
        and isinstance(entry.bytes, int)
        and isinstance(entry.part, str)
        and (entry.dataset is None or isinstance(entry.dataset, str))
        and (entry.sha256 is None or (isinstance(entry.sha256, str) and _SHA256.fullmatch(entry.sha256)))
    )
    if not fields_ok:
        return "has a field of the wrong type (table, path, part, dataset: text; bytes: integer; sha256: hex)"
    match = _DATA_PATH.fullmatch(entry.path)
    if match is None or match["table"] != entry.table or match["dataset"] != entry.dataset:
        return f"is not a data file of table {entry.table!r} in the store's layout"
    return None


def _folder(table: str, dataset: str | None) -> str:
    """The folder of a table's files, relative to the store root: `<table>` or `<table>/dataset=<name>`."""
    return table if dataset is None else f"{table}/dataset={dataset}"


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Atomically replace `store.json` (temp file, fsync, os.replace): readers see old or new, never half."""
    payload: dict[str, Any] = {
        "format": STORE_FORMAT,
        "manifest_version": MANIFEST_VERSION,
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
    try:
        handle = open(root / LOCK, "a+")  # noqa: SIM115 - released in finally
    except OSError as error:  # a read-only store, or one of another user
        raise StoreError(f"{root}: cannot write to this store ({error.strerror})") from None
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
    The entry carries the file's SHA-256, hashed from the just-written (page-cached) bytes.
    """
    relative = Path(_folder(table_name, dataset)) / f"part-{uuid.uuid4().hex}.parquet"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(TEMP_PREFIX + target.name)
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    pq.write_table(
        table, temp, compression="zstd", compression_level=3, use_dictionary=strings, row_group_size=1 << 18
    )
    with open(temp, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    os.replace(temp, target)
    return FileEntry(table_name, relative.as_posix(), target.stat().st_size, part, dataset, digest)


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
    """StoreError naming the first committed file that is missing, a symbolic link, of the wrong size or
    not Parquet.

    The cheap check of every open: one lstat and a 4-byte read per file, no hashing. A linked file is
    refused because it could lead outside the store (drivestack never writes links).
    """
    for entry in manifest.files:
        path = root / entry.path
        try:
            status = os.lstat(path)
            if stat.S_ISLNK(status.st_mode):
                raise StoreError(f"{path}: committed data file of table {entry.table} is a symbolic link")
            size = status.st_size
            with open(path, "rb") as handle:
                handle.seek(max(size - len(PARQUET_MAGIC), 0))
                tail = handle.read()
        except OSError as error:
            raise StoreError(f"{path}: committed data file is unreadable ({error.strerror})") from None
        if size != entry.bytes or tail != PARQUET_MAGIC:
            raise StoreError(
                f"{path}: corrupted data file of table {entry.table} (size {size} bytes, manifest says "
                f"{entry.bytes}; Parquet footer {'ok' if tail == PARQUET_MAGIC else 'missing'})"
            )


@dataclass(frozen=True)
class Damage:
    """A committed file whose bytes are not the committed ones (or cannot be checked), and why."""

    entry: FileEntry
    problem: str


def verify_files(root: Path, manifest: Manifest) -> list[Damage]:
    """Every committed file that is unreadable, of another size, of another SHA-256 or has no checksum.

    Full verification (reads every byte, about 1 GB/s): `drivestack store check`, not every open.
    """
    damaged = []
    for entry in manifest.files:
        if os.path.islink(root / entry.path):
            damaged.append(Damage(entry, "is a symbolic link (drivestack never writes one)"))
            continue
        try:
            with open(root / entry.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as error:
            damaged.append(Damage(entry, f"unreadable ({error.strerror})"))
            continue
        problem = _content_problem(entry, size, digest)
        if problem is None and entry.sha256 is None:
            problem = "no checksum recorded (committed under manifest version 1): cannot verify"
        if problem:
            damaged.append(Damage(entry, problem))
    return damaged


def read_parquet(root: Path, entry: FileEntry) -> pa.Table:
    """The rows of one committed file, after checking its bytes against the manifest's size and SHA-256.

    Whole-file reads (`Store.read_table`, `Store.load_scenario`) verify at hashing cost (~1 ms per MB);
    StoreError naming the file and its table when it is missing, changed or does not decode.
    """
    path = root / entry.path
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StoreError(f"{path}: committed data file is unreadable ({error.strerror})") from None
    digest = hashlib.sha256(data).hexdigest() if entry.sha256 is not None else None
    problem = _content_problem(entry, len(data), digest)
    if problem:
        raise StoreError(f"{path}: corrupted data file of table {entry.table} ({problem})")
    try:
        return pq.ParquetFile(pa.BufferReader(data)).read()
    except (OSError, pa.ArrowException) as error:
        raise StoreError(f"{path}: corrupted data file of table {entry.table} ({error})") from None


def _content_problem(entry: FileEntry, size: int, digest: str | None) -> str | None:
    """What differs between a file's bytes (`size`, SHA-256 `digest`) and its manifest entry, or None.

    A version-1 entry (no checksum) is compared by size only.
    """
    if size != entry.bytes:
        return f"size {size} bytes, manifest says {entry.bytes}"
    if entry.sha256 is not None and digest != entry.sha256:
        return "SHA-256 differs from the committed checksum: content changed since commit"
    return None


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
