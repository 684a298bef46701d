"""Catalogue queries for people: a scenario listing, and Arrow results rendered as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any, TextIO

import pyarrow as pa
from rich.table import Table

from drivestack.core.errors import ConfigError
from drivestack.core.names import display_text
from drivestack.data.store import ScenarioFilter, Store

SUMMARY_SQL = """
SELECT s.scenario_key, s.dataset, s.recording_group, s.duration, s.num_agents,
       s.has_traffic_lights, s.has_recorded_ego,
       list_sort(list_distinct(list_concat(s.tags, coalesce(m.tags, [])))) AS tags
FROM scenarios AS s
LEFT JOIN (SELECT scenario_key, list(DISTINCT tag) AS tags FROM tags GROUP BY scenario_key) AS m
  USING (scenario_key)
WHERE s.scenario_key IN ({selected})
ORDER BY s.scenario_key
"""
"""One line per scenario: identity, size, lights/ego flags and its file and mined tags together."""
_ROWS_PER_CHUNK = 4096


class OutputFormat(StrEnum):
    """How `drivestack query` and `drivestack scenarios` print a result."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


KNOWN_TAGS_SQL = """
SELECT DISTINCT tag FROM (SELECT unnest(tags) AS tag FROM scenarios UNION ALL SELECT tag FROM tags)
ORDER BY tag
"""


def check_tags(store: Store, tags: Sequence[str]) -> None:
    """ConfigError naming the known tags when one of `tags` is neither a file tag, a mined tag nor
    a detector's name (a detector that found nothing still names a valid, empty tag)."""
    from drivestack.data.mining.registry import select

    if not tags:
        return
    known = {row["tag"] for row in store.query(KNOWN_TAGS_SQL).to_pylist()}
    known |= {detector.name for detector in select(None)}
    unknown = [display_text(tag) for tag in tags if tag not in known]
    if unknown:
        raise ConfigError(
            f"unknown tag {', '.join(unknown)}; known tags: {', '.join(sorted(known)) or 'none'}"
        )


def scenario_summary(store: Store, where: ScenarioFilter | None = None) -> pa.Table:
    """The scenarios matching `where`, one summary row each (SUMMARY_SQL), in key order."""
    selected, params = store.select_sql(where)
    return store.query(SUMMARY_SQL.format(selected=selected), params)


def _cell(value: Any) -> Any:
    """A JSON-safe value: NaN/inf floats become None, nested lists and dicts are converted inside."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_cell(item) for item in value]
    if isinstance(value, dict):
        return {key: _cell(item) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    """A cell as text: lists and structs as compact JSON, floats with up to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(_cell(value), default=str, separators=(",", ":"))
    return str(value)


def is_key_column(name: str) -> bool:
    """Whether a column holds identifiers a person copies (scenario keys and ids): never wrapped."""
    return name in ("scenario_id", "set_name") or name.endswith("_key")


def to_rich(result: pa.Table, title: str | None = None, max_rows: int | None = None) -> Table:
    """`result` as a rich table (its first `max_rows` rows, all when None; lists of plain values
    comma-separated, else compact JSON); key columns (`is_key_column`) stay on one line, the other
    columns fold to fit."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for name in result.column_names:
        if is_key_column(name):
            table.add_column(name, no_wrap=True, overflow="ignore")
        else:
            table.add_column(name, overflow="fold")
    shown = result if max_rows is None else result.slice(0, max_rows)
    for row in shown.to_pylist():
        table.add_row(*(_display(row[name]) for name in result.column_names))
    return table


def _display(value: Any) -> str:
    if isinstance(value, list) and not any(isinstance(item, list | dict) for item in value):
        return ", ".join(_text(item) for item in value)
    return _text(value)


def _rows(result: pa.Table) -> Iterator[dict[str, Any]]:
    """`result`'s rows as dicts, converted a chunk at a time (Python objects of one chunk in memory)."""
    for batch in result.to_batches(max_chunksize=_ROWS_PER_CHUNK):
        yield from batch.to_pylist()


def write_csv(result: pa.Table, out: TextIO) -> None:
    """Write `result` as CSV with a header line to `out`, streaming (lists and structs as compact JSON)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in _rows(result):
        writer.writerow([_text(row[name]) for name in result.column_names])


def write_json(result: pa.Table, out: TextIO) -> None:
    """Write `result` as a JSON array of row objects, one per line, to `out`, streaming (NaN as null;
    dates and decimals as strings)."""
    out.write("[")
    for number, row in enumerate(_rows(result)):
        out.write(("\n " if number == 0 else ",\n ") + json.dumps(_cell(row), default=str))
    out.write("\n]\n")


def to_csv(result: pa.Table) -> str:
    """`result` as CSV text (`write_csv`)."""
    buffer = io.StringIO()
    write_csv(result, buffer)
    return buffer.getvalue()


def output_format(value: str) -> OutputFormat:
    """`--format` as an OutputFormat; ConfigError naming the choices otherwise."""
    if value not in set(OutputFormat):
        raise ConfigError(f"--format must be one of {', '.join(OutputFormat)}, got {display_text(value)}")
    return OutputFormat(value)
