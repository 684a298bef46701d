"""Read-only SQL over a store: an in-memory DuckDB connection with one view per table.

Views read exactly the files the manifest commits (orphans are invisible). After the views exist the
connection is sealed: file access is limited to those files, extension installs are off and the
configuration is locked; every statement must parse as a single SELECT. Together these make
`COPY ... TO`, `ATTACH`, `INSTALL`, `CREATE`, `SET` and friends fail before they touch anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from drivestack.core.errors import StoreError
from drivestack.data.store.layout import Manifest
from drivestack.data.store.tables import SCENARIO_TABLES, SCHEMAS


class ReadOnlySQL:
    """A sealed DuckDB connection over the committed files of one manifest generation."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.connection = duckdb.connect(":memory:")
        self.paths: list[str] = []
        for table, schema in SCHEMAS.items():
            self.paths += self._create_view(root, manifest, table, schema)
        for statement in (
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
        """Result of one read-only SELECT as an Arrow table; StoreError for anything else or any failure."""
        try:
            statements = self.connection.extract_statements(sql)
        except duckdb.Error as error:
            raise StoreError(f"invalid SQL: {_first_line(error)}") from None
        if len(statements) != 1:
            raise StoreError(f"expected exactly one SQL statement, got {len(statements)}")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise StoreError(f"the store is read-only: only SELECT queries are allowed, not {kind.name}")
        try:
            return self.connection.sql(sql, params=list(params) or None).to_arrow_table()
        except duckdb.Error as error:
            if (
                isinstance(error, duckdb.IOException | duckdb.InvalidInputException)
                or type(error) is duckdb.Error
            ):
                raise _read_error(error, self.paths) from None
            raise StoreError(f"query failed: {_first_line(error)}") from None

    def close(self) -> None:
        """Release the connection."""
        self.connection.close()


def _read_error(error: duckdb.Error, paths: Sequence[str]) -> StoreError:
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
