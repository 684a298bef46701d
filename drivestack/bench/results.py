"""A benchmark's output folder: `manifest.json` and `results.parquet`, both written atomically.

The manifest holds the first run's configuration and, per invocation, the time, the software
versions and the git commit. `results.parquet` holds one row per scenario x planning problem x
planner x agents (columns in `RESULT_SCHEMA`); rows arrive in batches and the whole file is
replaced each time (temporary file, fsync, rename), so a kill leaves the last complete batch.
A re-run reads the file and skips the (source, planner, agents) combinations it already holds
as "ok" or "skipped"; failed ("error") ones run again and their new rows replace the old.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drivestack.core.errors import InputError
from drivestack.core.names import is_utf8
from drivestack.metrics import ScenarioMetrics
from drivestack.metrics.events import FailureEvents
from drivestack.metrics.realism import RealismMetrics

MANIFEST = "manifest.json"
RESULTS = "results.parquet"
_TYPES = {"float": pa.float64(), "bool": pa.bool_(), "int": pa.int64(), "str": pa.string()}
_TYPES.update({f"{name} | None": kind for name, kind in _TYPES.items()})
_RUN_COLUMNS = [
    pa.field("scenario_id", pa.string()),
    pa.field("scenario_key", pa.string()),
    pa.field("planning_problem_id", pa.int64()),
    pa.field("planner", pa.string()),
    pa.field("agents", pa.string()),
    pa.field("source", pa.string()),
    pa.field("status", pa.string()),
    pa.field("error", pa.string()),
    pa.field("dt", pa.float64()),
    pa.field("termination", pa.string()),
    pa.field("plan_failures", pa.int64()),
    pa.field("first_failure", pa.string()),
    pa.field("plan_ms_p50", pa.float64()),
    pa.field("plan_ms_p99", pa.float64()),
    pa.field("plan_ms_max", pa.float64()),
    pa.field("sim_s", pa.float64()),
    pa.field("metrics_s", pa.float64()),
]
_EVENT_COLUMNS = [pa.field(f.name, _TYPES[str(f.type)]) for f in dataclasses.fields(FailureEvents)]
_REALISM_COLUMNS = [pa.field(f.name, _TYPES[str(f.type)]) for f in dataclasses.fields(RealismMetrics)]
_LATER_COLUMNS = _EVENT_COLUMNS + _REALISM_COLUMNS
"""Columns added after the first results files: older files read with them null."""
RESULT_SCHEMA = pa.schema(
    _RUN_COLUMNS
    + [
        pa.field(f.name, _TYPES[str(f.type)])
        for f in dataclasses.fields(ScenarioMetrics)
        if f.name != "events"
    ]
    + _LATER_COLUMNS
)
"""Run columns, then every `ScenarioMetrics` field (`steps` among them), then the failure events'
(`FailureEvents`: collision_step, collision_time, collision_agent_id, collision_agent_type,
collision_kind, collision_at_fault, collision_fault, drivable_violation_step,
direction_violation_step, min_ttc_step; null when there is no such event, and in files written
before they existed), then the agents' realism (`metrics.realism.RealismMetrics`: realism_agents,
realism_moving, realism_vehicle_steps, realism_ade_m, realism_fde_m, realism_collisions,
realism_collision_rate, realism_offroad_rate(_log), realism_red_lights(_log), realism_speed_w1_mps,
realism_accel_w1_mps2, realism_jerk_w1_mps3, realism_headway_w1_s; null in files written before
them: a resumed benchmark keeps its old rows without realism). `scenario_key` is the store's
unique "<id>@<format version>" (null when the file could not be read). `status` is "ok", "error"
(the run or its scoring raised; `error` holds the reason) or "skipped" (not applicable, e.g.
log-replay without a recorded human); metric columns are null unless "ok". A missing value is null,
never NaN (metrics say "missing" with NaN, e.g. `ade` without a recorded human; stored as null so
SQL averages skip it instead of turning NaN)."""
KEY = ("source", "planner", "agents")

_PACKAGES = ("drivestack", "numpy", "scipy", "numba", "shapely", "pyarrow", "duckdb")


def _replace(target: Path, content: bytes | pa.Table) -> None:
    """Write `content` (bytes, or a table as Parquet) to `target` through a temporary file in its
    folder, fsync it, then rename it into place."""
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    if isinstance(content, pa.Table):
        pq.write_table(content, temp, compression="zstd")
    else:
        temp.write_bytes(content)
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def read_results(path: Path) -> pa.Table:
    """The rows of a results.parquet (missing values null); InputError naming the file when it is
    damaged or not a drivestack results file."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise InputError(path, None, f"unreadable results file ({error})") from None
    for column in _LATER_COLUMNS:  # files written before these columns existed: null
        if column.name not in table.column_names:
            table = table.append_column(column, pa.nulls(table.num_rows, column.type))
    missing = [name for name in RESULT_SCHEMA.names if name not in table.column_names]
    if missing:
        raise InputError(path, None, f"not a drivestack results file (missing columns {missing})")
    try:
        return _nan_as_null(table.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA))
    except (pa.ArrowException, ValueError) as error:
        raise InputError(path, None, f"not a drivestack results file ({error})") from None


def read_run_manifest(path: Path) -> dict[str, Any]:
    """A benchmark's manifest.json as a dict; InputError naming the file when it is damaged."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(path, None, f"unreadable benchmark manifest ({error})") from None
    shape = isinstance(manifest, dict) and isinstance(manifest.get("config", {}), dict)
    if not shape or not isinstance(manifest.get("runs", []), list):
        raise InputError(path, None, "not a benchmark manifest (expected an object: config, runs)")
    return manifest


def _git_commit() -> dict[str, Any]:
    """The git commit of the drivestack checkout (and whether it has local changes); empty outside git."""
    where = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "dirty": bool(changes)}


def _versions() -> dict[str, str]:
    """Python's and the key packages' versions."""
    found = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


class ResultStore:
    """The output folder of a benchmark: records invocations, keeps finished rows, adds new ones."""

    def __init__(self, folder: str | Path, config: Mapping[str, Any]) -> None:
        """Open (or create) `folder` for a run with `config` (JSON-able); logs the invocation."""
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(self.folder, None, "is a file, not a folder for benchmark results")
        if not is_utf8(self.folder):
            raise InputError(self.folder, None, "a results folder's path must be UTF-8 text")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._path = self.folder / RESULTS
        self.table = self._read()
        manifest_path = self.folder / MANIFEST
        manifest: dict[str, Any] = {"config": dict(config)}
        if manifest_path.exists():
            manifest = read_run_manifest(manifest_path)
        runs: list[dict[str, Any]] = manifest.setdefault("runs", [])
        runs.append(
            {
                "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "config": dict(config),
                "versions": _versions(),
                "git": _git_commit(),
            }
        )
        _replace(manifest_path, json.dumps(manifest, indent=2, sort_keys=True).encode())
        self._pending: list[Mapping[str, Any]] = []

    def _read(self) -> pa.Table:
        """The rows written so far (an empty table when none); InputError for a damaged or foreign file."""
        if not self._path.exists():
            return RESULT_SCHEMA.empty_table()
        return read_results(self._path)

    def done(self) -> set[tuple[str, str, str]]:
        """The (source, planner, agents) combinations that have rows, none of them an error."""

        def keys(table: pa.Table) -> set[tuple[str, str, str]]:
            return set(zip(*(table.column(name).to_pylist() for name in KEY), strict=True))

        failed = self.table.filter(pc.equal(self.table.column("status"), "error"))
        return keys(self.table) - keys(failed)

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue rows for the next `flush`."""
        self._pending.extend(rows)

    def flush(self) -> None:
        """Write every row so far to results.parquet (one atomic replace), sorted by scenario; new
        rows replace the older (error) rows of their (source, planner, agents)."""
        if not self._pending:
            return
        fresh = pa.Table.from_pylist([_complete(row) for row in self._pending], schema=RESULT_SCHEMA)
        redone = pa.Table.from_pylist([{name: row[name] for name in KEY} for row in self._pending])
        kept = self.table.join(redone.group_by(list(KEY)).aggregate([]), list(KEY), join_type="left anti")
        table = pa.concat_tables([kept.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA), fresh])
        order = [
            ("source", "ascending"),
            ("planning_problem_id", "ascending"),
            ("planner", "ascending"),
            ("agents", "ascending"),
        ]
        self.table = table.sort_by(order)
        _replace(self._path, self.table)
        self._pending = []


def _complete(row: Mapping[str, Any]) -> dict[str, Any]:
    """`row` with every schema column (absent ones and NaN null)."""
    return {name: _missing_as_none(row.get(name)) for name in RESULT_SCHEMA.names}


def _missing_as_none(value: Any) -> Any:
    """None for NaN (a metric's "missing"), else `value`."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _nan_as_null(table: pa.Table) -> pa.Table:
    """`table` with the NaN of its float columns made null (results written before NaN was stored as null)."""
    for index, column in enumerate(table.columns):
        if pa.types.is_floating(column.type):
            nan = pc.fill_null(pc.is_nan(column), False)
            table = table.set_column(index, table.field(index), pc.if_else(nan, None, column))
    return table


AGGREGATE_SQL = """
SELECT planner, agents,
       count(*) FILTER (WHERE status = 'ok') AS runs,
       count(*) FILTER (WHERE status = 'error') AS errors,
       count(*) FILTER (WHERE status = 'skipped') AS skipped,
       avg(score) FILTER (WHERE status = 'ok') AS mean_score,
       avg(at_fault_collision::DOUBLE) FILTER (WHERE status = 'ok') AS at_fault_rate,
       avg(any_collision::DOUBLE) FILTER (WHERE status = 'ok') AS collision_rate,
       avg(goal_reached::DOUBLE) FILTER (WHERE status = 'ok') AS goal_rate,
       avg((plan_failures > 0)::DOUBLE) FILTER (WHERE status = 'ok') AS plan_fail_rate,
       quantile_cont(plan_ms_p50, 0.5) FILTER (WHERE status = 'ok') AS ms_p50,
       quantile_cont(plan_ms_p99, 0.99) FILTER (WHERE status = 'ok') AS ms_p99
FROM results
GROUP BY planner, agents
ORDER BY planner, agents
"""


def aggregate(table: pa.Table) -> pa.Table:
    """One row per planner x agents: run, error and skip counts, mean score, at-fault and any collision
    rates, goal-reached rate, share of runs with a failed plan, median of the runs' median planning
    time and 99th percentile of their 99th percentiles [ms] (over "ok" rows)."""
    connection = duckdb.connect()
    connection.register("results", table)
    return connection.sql(AGGREGATE_SQL).to_arrow_table()
