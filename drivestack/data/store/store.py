"""The scenario store: open it, list and filter scenarios, load them back, query them, keep tags.

Scenario keys: the store keys every scenario by `scenario_key` = "<benchmark id>@<format version>"
(e.g. "USA_US101-22_1_T-1@2018b"), because the same benchmark id can arrive in two format versions
(NGSIM ships some drives as 2018b and 2020a). `scenarios.scenario_id` keeps the file's own id. Every
"scenario id" argument of this API is a key; a bare benchmark id is accepted where it names exactly
one stored scenario.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drivestack.core.errors import ConfigError, StoreError
from drivestack.core.map import LaneGraph
from drivestack.core.names import display_text, is_utf8
from drivestack.core.scenario import Scenario
from drivestack.data.formats.registry import COMMONROAD
from drivestack.data.query_limits import QueryLimits
from drivestack.data.store.layout import (
    Damage,
    FileEntry,
    Manifest,
    check_files,
    create_store,
    read_manifest,
    read_parquet,
    remove_orphans,
    sync_files,
    verify_files,
    write_manifest,
    write_parquet,
    writer_lock,
)
from drivestack.data.store.sql import ReadOnlySQL
from drivestack.data.store.tables import (
    MAP_TABLES,
    SCENARIO_TABLES,
    SCHEMAS,
    lane_graph_from_tables,
    scenario_from_tables,
)
from drivestack.data.tags import Tag

ENV_VAR = "DRIVESTACK_STORE"
DEFAULT_ROOT = "drivestack-store"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
"""Set and detector names: a letter or digit, then up to 63 letters, digits, '_', '.' or '-'."""
_BATCH_CACHE = 4


def scenario_key(scenario_id: str, format_version: str) -> str:
    """The store's unique key of a scenario: its benchmark id and format version, "<id>@<version>"."""
    return f"{scenario_id}@{format_version or 'unversioned'}"


def source_key(scenario: Scenario, source_format: str) -> str:
    """The key of a scenario read from `source_format`: "<id>@<CommonRoad version>" for CommonRoad
    (and scenarios built in memory, `source_format` "commonroad"), "<id>@<format>" for the others
    (e.g. "<WOMD scenario id>@womd"), whose ids are unique within their format."""
    if source_format == COMMONROAD:
        return scenario_key(scenario.scenario_id, scenario.format_version)
    return scenario_key(scenario.scenario_id, source_format)


def check_name(kind: str, name: str) -> str:
    """`name` if the whole of it matches NAME_PATTERN (no control characters, no trailing newline), else
    ConfigError."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(
            f"{kind} name {name!r}: use 1 to 64 letters, digits, '_', '.' and '-', starting with a letter "
            "or digit"
        )
    return name


@dataclass(frozen=True)
class ScenarioFilter:
    """Which scenarios to select: an SQL condition on `scenarios` columns, tags, a set and a count.

    `where`: boolean SQL over the `scenarios` view (sub-queries over other views allowed);
    `tags`: every tag must be present, as a file tag (`scenarios.tags`) or a mined tag (`tags` view);
    `set_name`: members of that set; `limit`: at most this many, in scenario-key order.
    """

    where: str | None = None
    tags: tuple[str, ...] = ()
    set_name: str | None = None
    limit: int | None = None

    def to_sql(self) -> tuple[str, list[object]]:
        """(SELECT of the matching `scenario_key`s in key order, its positional parameters)."""
        clauses: list[str] = []
        params: list[object] = []
        if self.where and self.where.strip():
            clauses.append(f"(\n{self.where}\n)")
        for tag in self.tags:
            params.append(tag)
            n = len(params)
            mined = f"SELECT scenario_key FROM tags WHERE tag = ${n}"
            clauses.append(f"(list_contains(s.tags, ${n}) OR s.scenario_key IN ({mined}))")
        if self.set_name is not None:
            params.append(self.set_name)
            clauses.append(
                f"s.scenario_key IN (SELECT scenario_key FROM sets WHERE set_name = ${len(params)})"
            )
        sql = "SELECT s.scenario_key FROM scenarios AS s"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY s.scenario_key"
        if self.limit is not None:
            if self.limit < 0:
                raise ConfigError(f"limit must be >= 0, got {self.limit}")
            sql += f" LIMIT {int(self.limit)}"
        return sql, params


class Store:
    """A scenario store directory: Parquet tables, a `store.json` manifest and a DuckDB catalogue.

    Readers need no lock and see one committed generation at a time (re-checked at each call);
    writers (`ingest`, `replace_tags`, sets) serialise on the store's writer lock.
    """

    def __init__(self, root: Path, limits: QueryLimits | None = None) -> None:
        """Use `Store.open`; this binds to a root whose manifest has been validated."""
        self.root = root
        self.limits = limits or QueryLimits()
        self._signature: tuple[int, int, int] | None = None
        self._manifest = Manifest()
        self._sql: ReadOnlySQL | None = None
        self._index: dict[str, dict[str, object]] | None = None
        self._batches: OrderedDict[str, dict[str, tuple[pa.Table, dict[str, tuple[int, int]]]]] = (
            OrderedDict()
        )
        self._maps: dict[str, LaneGraph] = {}
        self._map_tables: dict[str, pa.Table] | None = None

    @classmethod
    def open(
        cls,
        root: str | Path | None = None,
        create: bool = False,
        limits: QueryLimits | None = None,
        check: bool = True,
    ) -> Store:
        """Open the store at `root` (default: $DRIVESTACK_STORE, else ./drivestack-store).

        With `create`, an absent store is created empty; `limits` bound each query (default
        `QueryLimits()`). StoreError when the store is missing, its manifest is unreadable or names a
        file outside the store, it has a newer schema version, or (with `check`) a committed file is
        missing or damaged by size or Parquet footer (cheap; `Store.check` reads every byte).
        """
        path = Path(root if root is not None else os.environ.get(ENV_VAR) or DEFAULT_ROOT).resolve()
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path}: is a file, not a store folder")
        if not is_utf8(path):
            raise StoreError(f"{display_text(path)}: a store's path must be UTF-8 text")
        if create:
            create_store(path)
        store = cls(path, limits)
        manifest = store.manifest
        if not check:
            return store
        try:
            check_files(path, manifest)
        except StoreError:
            if store.manifest is manifest:  # not a writer retiring files right now: really damaged
                raise
            check_files(path, store.manifest)
        return store

    # ------------------------------------------------------------------ committed state

    @property
    def manifest(self) -> Manifest:
        """The committed manifest, re-read whenever another writer has replaced `store.json`."""
        try:
            stat = (self.root / "store.json").stat()
        except FileNotFoundError:
            raise StoreError(
                f"no drivestack store at {self.root} (create one with `drivestack ingest`)"
            ) from None
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if signature != self._signature:
            previous, self._manifest = self._manifest, read_manifest(self.root)
            self._signature = signature
            self._reset_caches(_scenario_files(previous) != _scenario_files(self._manifest))
        return self._manifest

    def _reset_caches(self, scenarios_changed: bool) -> None:
        """Drop the SQL views; drop the loaded scenario and map rows too if those files changed."""
        if self._sql is not None:
            self._sql.close()
        self._sql = None
        if scenarios_changed:
            self._index = None
            self._batches.clear()
            self._maps.clear()
            self._map_tables = None

    def read_table(self, table: str, part: str | None = None) -> pa.Table:
        """All committed rows of `table` (only those of logical unit `part` if given), as one Arrow table."""
        entries = [e for e in self.manifest.table_files(table) if part is None or e.part == part]
        tables = [self._read_file(entry) for entry in entries]
        return pa.concat_tables([SCHEMAS[table].empty_table(), *tables])

    def _read_file(self, entry: FileEntry) -> pa.Table:
        """One committed file's rows in its table's schema, its checksum verified on the way."""
        table = read_parquet(self.root, entry)
        try:
            return table.cast(SCHEMAS[entry.table])
        except (ValueError, pa.ArrowException) as error:
            path = self.root / entry.path
            raise StoreError(f"{path}: corrupted data file of table {entry.table} ({error})") from None

    def check(self) -> list[Damage]:
        """Every committed file whose bytes differ from the manifest (size, SHA-256), or cannot be verified.

        Reads the whole store (about 1 GB/s); an empty list means every file is exactly as committed.
        """
        return verify_files(self.root, self.manifest)

    # ------------------------------------------------------------------ queries

    def query(self, sql: str, params: Sequence[object] = ()) -> pa.Table:
        """Run one read-only SELECT over the store's views; any write attempt or failure -> StoreError.

        Views: scenarios, agents, tracks, static_obstacles, occupancies, traffic_lights, traffic_signs,
        planning_problems, goals, recorded_egos, maps, lanes, intersections, tags, mined, sets,
        set_definitions, rejected. Positional parameters are `$1`, `$2`, ...
        """
        manifest = self.manifest
        if self._sql is None:
            self._sql = ReadOnlySQL(self.root, manifest, self.limits)
        return self._sql.run(sql, params)

    def select_sql(self, where: ScenarioFilter | None = None) -> tuple[str, list[object]]:
        """`where` as a SELECT of matching keys with its parameters; StoreError for an unknown set."""
        flt = where or ScenarioFilter()
        if flt.set_name is not None and flt.set_name not in self.set_names():
            raise StoreError(f"no set named {flt.set_name!r} in {self.root}")
        return flt.to_sql()

    def scenario_ids(self, where: ScenarioFilter | None = None) -> list[str]:
        """Keys of the scenarios matching `where` (all when None), sorted."""
        sql, params = self.select_sql(where)
        return [str(key) for key in self.query(sql, params).column(0).to_pylist()]

    def set_names(self) -> list[str]:
        """Names of the stored scenario sets, sorted."""
        return sorted(set(self.read_table("set_definitions").column("set_name").to_pylist()))

    # ------------------------------------------------------------------ scenarios

    def index(self) -> dict[str, dict[str, object]]:
        """The `scenarios` index as {scenario_key: row}, each row with its `dataset` (the partition it is
        stored in, as the `scenarios` view has it); cached per committed generation."""
        self.manifest  # noqa: B018 - refreshes the caches when another writer committed
        if self._index is None:
            self._index = {
                str(row["scenario_key"]): {**row, "dataset": entry.dataset}
                for entry in self.manifest.table_files("scenarios")
                for row in self._read_file(entry).to_pylist()
            }
        return self._index

    def resolve(self, scenario_id: str) -> str:
        """The key of `scenario_id` (a key, or a benchmark id naming exactly one stored scenario)."""
        index = self.index()
        if scenario_id in index:
            return scenario_id
        matches = sorted(key for key, row in index.items() if row["scenario_id"] == scenario_id)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise StoreError(f"scenario id {scenario_id!r} is ambiguous: use one of {', '.join(matches)}")
        raise StoreError(f"no scenario {scenario_id!r} in the store at {self.root}")

    def load_scenario(self, scenario_id: str) -> Scenario:
        """Rebuild the full `Scenario` (map, tracks, shapes, lights, signs, problems, recorded egos).

        Equal, field by field, to what the reader returned at ingest.
        """
        key = self.resolve(scenario_id)
        row = self.index()[key]
        batch = self._batch(str(row["batch"]))
        tables = {}
        for name in SCENARIO_TABLES:
            table, offsets = batch[name]
            start, length = offsets.get(key, (0, 0))
            tables[name] = table.slice(start, length)
        return scenario_from_tables(tables, self._lane_graph(str(row["map_key"])))

    def _batch(self, batch: str) -> dict[str, tuple[pa.Table, dict[str, tuple[int, int]]]]:
        """The per-scenario tables of one ingest batch with each key's row range (small LRU cache)."""
        if batch in self._batches:
            self._batches.move_to_end(batch)
            return self._batches[batch]
        entries = {entry.table: entry for entry in self.manifest.part_files(batch)}
        loaded = {}
        for name in SCENARIO_TABLES:
            table = self._read_file(entries[name]) if name in entries else SCHEMAS[name].empty_table()
            loaded[name] = (table, _key_ranges(table.column("scenario_key")))
        self._batches[batch] = loaded
        if len(self._batches) > _BATCH_CACHE:
            self._batches.popitem(last=False)
        return loaded

    def _lane_graph(self, map_key: str) -> LaneGraph:
        if map_key not in self._maps:
            if self._map_tables is None:
                self._map_tables = {name: self.read_table(name) for name in MAP_TABLES}
            tables = {
                name: table.filter(pc.equal(table.column("map_key"), map_key))
                for name, table in self._map_tables.items()
            }
            if tables["maps"].num_rows != 1:
                raise StoreError(f"{self.root}: map {map_key!r} is missing from the store")
            self._maps[map_key] = lane_graph_from_tables(
                tables["maps"].to_pylist()[0], tables["lanes"], tables["intersections"]
            )
        return self._maps[map_key]

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def writing(self, timeout: float = 30.0) -> Iterator[Store]:
        """Hold the writer lock; inside, `commit`/`replace_part` see and extend the latest generation.

        Taking the lock first deletes the files a killed writer left uncommitted (`remove_orphans`).
        """
        with writer_lock(self.root, timeout):
            self._signature = None  # re-read: another writer may have committed before we got the lock
            remove_orphans(self.root, self.manifest, list(SCHEMAS))
            yield self

    def commit(self, add: Sequence[FileEntry], drop: Sequence[FileEntry] = ()) -> None:
        """fsync the written files, then commit them atomically, retiring `drop`. Hold `writing()`."""
        manifest = self.manifest.updated(add, drop)
        sync_files(self.root, add)
        write_manifest(self.root, manifest)
        for entry in drop:
            (self.root / entry.path).unlink(missing_ok=True)

    def replace_part(self, part: str, tables: Mapping[str, pa.Table]) -> None:
        """Replace the files of logical unit `part` for these tables with the given contents (empty: none).

        Writes the new files first and commits them together with the retirement of the old ones,
        so readers see the old or the new content, never a mix. Hold `writing()`.
        """
        add = [
            write_parquet(self.root, name, table.cast(SCHEMAS[name]), part)
            for name, table in tables.items()
            if table.num_rows
        ]
        drop = [entry for entry in self.manifest.part_files(part) if entry.table in tables]
        self.commit(add, drop)

    # ------------------------------------------------------------------ tags

    def mined(self, detector: str, version: int) -> set[str]:
        """Keys of the scenarios whose tags for this detector and version are stored (tags or none)."""
        table = self.read_table("mined", _detector_part(detector))
        keep = pc.equal(table.column("version"), version)
        return {str(key) for key in table.filter(keep).column("scenario_key").to_pylist()}

    def replace_tags(
        self, detector: str, version: int, scenario_ids: Sequence[str], tags: Sequence[Tag]
    ) -> None:
        """Atomically replace `detector`'s tags (any version) for exactly these scenarios with `tags`.

        Every tag's `scenario_id` must be one of `scenario_ids` (keys, or unambiguous benchmark ids);
        the scenarios are then recorded as mined by `version`, even those without tags.
        """
        part = _detector_part(detector)
        keys = {given: self.resolve(given) for given in scenario_ids}
        stray = sorted({tag.scenario_id for tag in tags} - set(keys))
        if stray:
            raise StoreError(
                f"tags of detector {detector!r} name scenarios not being replaced: {', '.join(stray)}"
            )
        replaced = pa.array(sorted(set(keys.values())), pa.string())
        new_tags = pa.table(
            {
                "scenario_key": [keys[tag.scenario_id] for tag in tags],
                "tag": [tag.tag for tag in tags],
                "agent_id": [tag.agent_id for tag in tags],
                "step_start": [tag.step_start for tag in tags],
                "step_end": [tag.step_end for tag in tags],
                "value": [tag.value for tag in tags],
                "planning_problem_id": [tag.planning_problem_id for tag in tags],
                "detector": [detector] * len(tags),
                "version": [version] * len(tags),
            },
            schema=SCHEMAS["tags"],
        )
        new_mined = pa.table(
            {
                "scenario_key": replaced,
                "detector": [detector] * len(replaced),
                "version": [version] * len(replaced),
            },
            schema=SCHEMAS["mined"],
        )
        with self.writing():
            merged = {}
            for name, new in (("tags", new_tags), ("mined", new_mined)):
                old = self.read_table(name, part)
                old = old.filter(pc.invert(pc.is_in(old.column("scenario_key"), value_set=replaced)))
                merged[name] = pa.concat_tables([old, new]).sort_by(
                    [("scenario_key", "ascending")] + ([("tag", "ascending")] if name == "tags" else [])
                )
            self.replace_part(part, merged)


def _scenario_files(manifest: Manifest) -> set[str]:
    """Paths of the committed scenario and map files (what `load_scenario` reads)."""
    return {
        entry.path for entry in manifest.files if entry.table in SCENARIO_TABLES or entry.table in MAP_TABLES
    }


def _detector_part(detector: str) -> str:
    return "detector:" + check_name("detector", detector)


def _key_ranges(keys: pa.ChunkedArray) -> dict[str, tuple[int, int]]:
    """{key: (first row, row count)} for a column whose equal keys are contiguous."""
    if len(keys) == 0:
        return {}
    encoded = pc.dictionary_encode(keys.combine_chunks())
    codes = encoded.indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    names = encoded.dictionary.to_pylist()
    return {names[codes[s]]: (int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)}
