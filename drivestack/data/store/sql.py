"""Read-only SQL over a store: an in-memory DuckDB connection with one view per table.

Views read exactly the files the manifest commits (orphans are invisible). After the views exist the
connection is bounded (`QueryLimits`: memory, threads, no spilling to disk) and sealed: file access
is limited to those files, extension installs are off and the configuration is locked; every
statement must be one read-only query (a SELECT, or a PIVOT/EXPLAIN naming no write verb) and runs in
a transaction that is rolled back. Together these make `COPY ... TO`, `ATTACH`, `INSTALL`, `CREATE`,
`SET` and friends fail before they touch anything. A timer thread interrupts a statement that runs
longer than the wall-time limit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from drivestack.core.errors import StoreError
from drivestack.data.query_limits import QueryLimits
from drivestack.data.store.layout import Manifest
from drivestack.data.store.tables import SCENARIO_TABLES, SCHEMAS

# fmt: off
_WRITE_WORDS = frozenset(
    {
        "ABORT", "ALTER", "ATTACH", "BEGIN", "CALL", "CHECKPOINT", "COMMIT", "COPY", "CREATE", "DELETE",
        "DETACH", "DROP", "EXECUTE", "EXPORT", "IMPORT", "INSERT", "INSTALL", "LOAD", "MERGE", "PRAGMA",
        "PREPARE", "RESET", "ROLLBACK", "SET", "TRANSACTION", "TRUNCATE", "UPDATE", "USE", "VACUUM",
    }
)
# fmt: on
"""Keywords of statements that write, configure or run other statements: never in a read-only query."""
_RESULT_BATCH_ROWS = 1 << 16


class ReadOnlySQL:
    """A sealed, bounded DuckDB connection over the committed files of one manifest generation."""

    def __init__(self, root: Path, manifest: Manifest, limits: QueryLimits | None = None) -> None:
        self.connection = duckdb.connect(":memory:")
        self.limits = limits or QueryLimits()
        self.paths: list[str] = []
        for table, schema in SCHEMAS.items():
            self.paths += self._create_view(root, manifest, table, schema)
        for statement in (  # limits first: `lock_configuration` freezes every setting
            f"SET memory_limit = '{int(self.limits.memory_mib)}MiB'",
            f"SET threads = {int(self.limits.threads)}",
            "SET temp_directory = ''",
            "SET enable_progress_bar = false",
            f"SET allowed_paths = {_sql_list(self.paths)}",
            "SET autoinstall_known_extensions = false",
            "SET autoload_known_extensions = false",
            "SET enable_external_access = false",
            "SET lock_configuration = true",
        ):
            self.connection.execute(statement)

    def _create_view(self, root: Path, manifest: Manifest, table: str, schema: pa.Schema) -> list[str]:
        """Create the view `table` over its committed files (adding `dataset` to partitioned tables)."""
        files = manifest.table_files(table)
        empty = f"_empty_{table}"
        self.connection.register(empty, schema.empty_table())
        partitioned = table in SCENARIO_TABLES
        first = schema.names[0]

        def select(source: str, dataset: str | None) -> str:
            if not partitioned:
                return f"SELECT * FROM {source}"
            label = "NULL::VARCHAR" if dataset is None else _sql_string(dataset)
            return f'SELECT "{first}", {label} AS dataset, * EXCLUDE ("{first}") FROM {source}'

        parts = [select(empty, None)]
        datasets = sorted({entry.dataset or "" for entry in files})
        for dataset in datasets:
            paths = [str(root / entry.path) for entry in files if (entry.dataset or "") == dataset]
            parts.append(
                select(f"read_parquet({_sql_list(paths)}, hive_partitioning = false)", dataset or None)
            )
        paths = [str(root / entry.path) for entry in files]
        try:
            self.connection.execute(f"CREATE VIEW {table} AS " + " UNION ALL ".join(parts))
        except duckdb.Error as error:  # binding the view reads the files' footers
            raise _read_error(error, paths) from None
        return paths

    def run(self, sql: str, params: Sequence[object] = ()) -> pa.Table:
        """Result of one read-only query as an Arrow table; StoreError for anything else, any failure or
        any limit exceeded. The statement runs in a transaction that is always rolled back."""
        try:
            statements = self.connection.extract_statements(sql)
        except duckdb.Error as error:
            raise StoreError(f"invalid SQL: {_first_line(error)}") from None
        if len(statements) != 1:
            raise StoreError(f"expected exactly one SQL statement, got {len(statements)}")
        refusal = _refusal(statements[0])
        if refusal:
            raise StoreError(f"the store is read-only: {refusal}")
        watchdog = _Watchdog(self.connection, self.limits.timeout_s)
        self.connection.begin()
        try:
            with watchdog:
                return self._fetch(sql, params)
        except (duckdb.Error, OSError) as error:
            raise self._failure(error, watchdog.fired) from None
        finally:
            self.connection.rollback()

    def _fetch(self, sql: str, params: Sequence[object]) -> pa.Table:
        """Stream the result in batches, refusing it once it outgrows the memory limit."""
        reader = self.connection.sql(sql, params=list(params) or None).to_arrow_reader(_RESULT_BATCH_ROWS)
        budget = self.limits.memory_mib << 20
        batches = []
        with reader:  # closed before the rollback, which DuckDB refuses while a result is open
            for batch in reader:
                budget -= batch.nbytes
                if budget < 0:
                    raise StoreError(
                        f"query result is larger than the memory limit of {self.limits.memory_mib} MiB "
                        "(--memory-mib): select fewer rows or columns"
                    )
                batches.append(batch)
        return pa.Table.from_batches(batches, schema=reader.schema)

    def _failure(self, error: duckdb.Error | OSError, interrupted: bool) -> StoreError:
        """The StoreError for a failed query: a limit it hit, a damaged data file, or the SQL's own error.

        Errors raised while the result streams arrive as OSError carrying DuckDB's message.
        """
        if interrupted:
            return StoreError(
                f"query stopped: it ran longer than the time limit of {self.limits.timeout_s:g} s (--timeout)"
            )
        if isinstance(error, duckdb.OutOfMemoryException) or "Out of Memory Error" in str(error):
            return StoreError(
                f"query stopped: it needs more than the memory limit of {self.limits.memory_mib} MiB "
                "(--memory-mib)"
            )
        if isinstance(error, OSError | duckdb.IOException | duckdb.InvalidInputException) or (
            type(error) is duckdb.Error
        ):
            return _read_error(error, self.paths)
        return StoreError(f"query failed: {_first_line(error)}")

    def close(self) -> None:
        """Release the connection."""
        self.connection.close()


class _Watchdog:
    """Interrupts the connection's running statement once `seconds` [s] have passed (a timer thread).

    A lock makes the interrupt and the end of the statement exclusive: no interrupt lands afterwards.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self.connection = connection
        self.fired = False
        self._running = True
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._interrupt)
        self._timer.daemon = True

    def _interrupt(self) -> None:
        with self._lock:
            if self._running:
                self.fired = True
                self.connection.interrupt()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._running = False
        self._timer.cancel()
        # joined, so no thread outlives the query holding the connection (a daemon thread alive at exit
        # keeps DuckDB objects referenced, and their bindings then report them as leaked on stderr)
        self._timer.join()


def _refusal(statement: duckdb.Statement) -> str | None:
    """Why `statement` is not a read-only query, or None when it is.

    DuckDB types a SELECT (also DESCRIBE, SUMMARIZE, SHOW, VALUES, UNPIVOT) as SELECT, a PIVOT whose
    values come from the data as MULTI (it creates a temporary enum type, rolled back with the query)
    and EXPLAIN [ANALYZE] as EXPLAIN; those two also wrap writes (`CREATE TABLE t AS PIVOT`,
    `EXPLAIN ANALYZE COPY`), so they pass only when none of their keywords is a write verb.
    """
    kind = statement.type
    if kind == duckdb.StatementType.SELECT:
        return None
    allowed = "only queries (SELECT, PIVOT, EXPLAIN) are allowed"
    if kind in (duckdb.StatementType.MULTI, duckdb.StatementType.EXPLAIN):
        text = statement.query
        offsets = duckdb.tokenize(text)
        ends = [start for start, _ in offsets[1:]] + [len(text)]
        words = {
            match.group(0).upper()
            for (start, token), end in zip(offsets, ends, strict=True)
            if token == duckdb.token_type.keyword and (match := re.match(r"\w+", text[start:end]))
        }
        verbs = sorted(words & _WRITE_WORDS)
        return f"{allowed}, and this one says {', '.join(verbs)}" if verbs else None
    return f"{allowed}, not {kind.name}"


def _read_error(error: duckdb.Error | OSError, paths: Sequence[str]) -> StoreError:
    """A StoreError for DuckDB failing to read data files, naming the first file that does not decode."""
    for path in paths:
        try:
            pq.ParquetFile(path).read()
        except (OSError, pa.ArrowException) as damage:
            return StoreError(f"corrupted data file {path}: {_first_line(damage)}")
    return StoreError(f"cannot read the store's data: {_first_line(error)}")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_sql_string(value) for value in values) + "]"
