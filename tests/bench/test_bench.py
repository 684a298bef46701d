"""The benchmark runner: rows per combination, resuming after a kill, failures as rows, executors."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from drivestack.bench import (
    BenchConfig,
    ProcessExecutor,
    ResultStore,
    SequentialExecutor,
    WorkerDied,
    aggregate,
    find_sources,
    run_bench,
)
from drivestack.bench.results import RESULT_SCHEMA
from drivestack.core.errors import ConfigError

CONFIG = BenchConfig(("constant-velocity", "log-replay"), ("log",))
TIMING = {"plan_ms_p50", "plan_ms_p99", "plan_ms_max", "sim_s", "metrics_s"}


def _copy_scenarios(root: Path, target: Path, count: int) -> Path:
    """The first `count` exiD scenarios with their solutions, copied to `target` (a scratch folder)."""
    for name in ("scenarios", "solutions"):
        (target / name).mkdir(parents=True)
    for scenario in sorted((root / "exid" / "scenarios").iterdir())[:count]:
        shutil.copy(scenario, target / "scenarios")
        solution = root / "exid" / "solutions" / scenario.name.replace(".cr.xml", ".solution.xml")
        shutil.copy(solution, target / "solutions")
    return target


def _comparable(table: pa.Table) -> list[dict[str, object]]:
    """Rows without wall-time columns (everything else is deterministic)."""
    return table.drop_columns(sorted(TIMING)).to_pylist()


def _run(folder: Path, out: Path) -> tuple[pa.Table, int]:
    sources = find_sources(str(folder))
    summary = run_bench(
        sources, CONFIG, ResultStore(out, {"test": True}), SequentialExecutor(), flush_every=1
    )
    return pq.read_table(out / "results.parquet"), summary.scenarios_run


def test_rows_for_every_combination_and_rerun_skips_them(commonroad_root: Path, tmp_path: Path) -> None:
    folder = _copy_scenarios(commonroad_root, tmp_path / "data", 2)
    table, ran = _run(folder, tmp_path / "out")
    assert ran == 2 and table.num_rows == 2 * 2  # one problem each x two planners
    assert table.schema.names == RESULT_SCHEMA.names
    rows = table.to_pylist()
    assert {row["status"] for row in rows} == {"ok"}
    assert {(row["planner"], row["agents"]) for row in rows} == {
        ("constant-velocity", "log"),
        ("log-replay", "log"),
    }
    assert all(row["dt"] == 0.2 and row["steps"] >= 2 and row["plan_ms_p50"] > 0.0 for row in rows)
    again, ran = _run(folder, tmp_path / "out")
    assert ran == 0 and _comparable(again) == _comparable(table)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["runs"]) == 2 and manifest["config"] == {"test": True}
    assert manifest["runs"][0]["versions"]["numpy"] and "commit" in manifest["runs"][0]["git"]


_KILLED_RUN = """
import os, signal, sys
from drivestack.bench import BenchConfig, ResultStore, SequentialExecutor, find_sources, run_bench
config = BenchConfig(("constant-velocity", "log-replay"), ("log",))
def progress(done, total):
    if done == 2:
        os.kill(os.getpid(), signal.SIGKILL)
run_bench(find_sources(sys.argv[1]), config, ResultStore(sys.argv[2], {"test": True}), SequentialExecutor(),
          progress=progress, flush_every=1)
"""


def test_a_killed_run_resumes_where_it_stopped(commonroad_root: Path, tmp_path: Path) -> None:
    folder = _copy_scenarios(commonroad_root, tmp_path / "data", 3)
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(folder), str(out)], capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    assert pq.read_table(out / "results.parquet").num_rows == 2 * 2  # two scenarios flushed before the kill
    resumed, ran = _run(folder, out)
    assert ran == 1
    whole, _ = _run(folder, tmp_path / "whole")
    assert _comparable(resumed) == _comparable(whole)


def test_a_broken_scenario_becomes_an_error_row(commonroad_root: Path, tmp_path: Path) -> None:
    folder = _copy_scenarios(commonroad_root, tmp_path / "data", 1)
    (folder / "scenarios" / "DEU_Broken-1_1_T-1.cr.xml").write_text("<commonRoad timeStepSize='0.1'><lanelet")
    table, ran = _run(folder, tmp_path / "out")
    assert ran == 2
    broken = [row for row in table.to_pylist() if row["scenario_id"] == "DEU_Broken-1_1_T-1"]
    assert len(broken) == 2 and all(row["status"] == "error" for row in broken)
    assert all("DEU_Broken-1_1_T-1" in row["error"] and row["planning_problem_id"] == -1 for row in broken)
    assert all(row["score"] is None for row in broken)
    others = [row for row in table.to_pylist() if row["scenario_id"] != "DEU_Broken-1_1_T-1"]
    assert {row["status"] for row in others} == {"ok"}
    assert aggregate(table).to_pylist()[0]["errors"] == 1


def test_a_rerun_retries_error_rows_and_replaces_them(commonroad_root: Path, tmp_path: Path) -> None:
    folder = _copy_scenarios(commonroad_root, tmp_path / "data", 1)
    broken = folder / "scenarios" / "DEU_Broken-1_1_T-1.cr.xml"
    broken.write_text("<commonRoad timeStepSize='0.1'><lanelet")
    first, _ = _run(folder, tmp_path / "out")
    assert [row["status"] for row in first.to_pylist() if row["source"] == str(broken)] == ["error"] * 2
    real = next(path for path in (folder / "scenarios").iterdir() if path != broken)
    broken.write_bytes(gzip.decompress(real.read_bytes()))  # the file repaired in place
    table, ran = _run(folder, tmp_path / "out")
    rows = [row for row in table.to_pylist() if row["source"] == str(broken)]
    assert ran == 1 and len(rows) == 2 and {row["status"] for row in rows} == {"ok", "skipped"}  # no solution
    assert all(row["scenario_key"].endswith("@2020a") and row["planning_problem_id"] >= 0 for row in rows)
    again, ran = _run(folder, tmp_path / "out")
    assert ran == 0 and again.num_rows == table.num_rows == 4


def test_log_replay_without_a_human_is_skipped(commonroad_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(next(iter(sorted((commonroad_root / "ind" / "scenarios").iterdir()))), folder)
    table, _ = _run(folder, tmp_path / "out")
    replay = [row for row in table.to_pylist() if row["planner"] == "log-replay"]
    assert replay and all(
        row["status"] == "skipped" and "no recorded human" in row["error"] for row in replay
    )
    summary = {row["planner"]: row for row in aggregate(table).to_pylist()}
    assert summary["log-replay"]["runs"] == 0 and summary["log-replay"]["skipped"] == len(replay)


def test_missing_metrics_are_stored_as_null(commonroad_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"  # inD has no recorded human: ade and fde are missing
    folder.mkdir()
    shutil.copy(next(iter(sorted((commonroad_root / "ind" / "scenarios").iterdir()))), folder)
    table, _ = _run(folder, tmp_path / "out")
    ok = table.filter(pc.equal(table.column("status"), "ok"))
    assert ok.num_rows and ok.column("ade").null_count == ok.column("fde").null_count == ok.num_rows
    assert not any(pc.any(pc.is_nan(ok.column(n))).as_py() for n in ("ade", "fde", "score"))
    average = duckdb.sql("SELECT avg(ade), avg(score) FROM ok").fetchall()[0]
    assert average[0] is None and 0.0 <= average[1] <= 1.0

    written_before = ok.set_column(  # a file of an older drivestack, with NaN for missing
        ok.schema.get_field_index("ade"), "ade", pa.array([math.nan] * ok.num_rows, pa.float64())
    )
    pq.write_table(written_before, tmp_path / "out" / "results.parquet")
    assert ResultStore(tmp_path / "out", {"test": True}).table.column("ade").null_count == ok.num_rows


def _ok(score: float, at_fault: bool, goal: bool, failures: int, p50: float) -> dict[str, object]:
    return {
        "status": "ok",
        "score": score,
        "at_fault_collision": at_fault,
        "any_collision": True,
        "goal_reached": goal,
        "plan_failures": failures,
        "plan_ms_p50": p50,
        "plan_ms_p99": 2 * p50,
    }


def test_aggregate_rates() -> None:
    rows = [_ok(1.0, False, True, 0, 1.0), _ok(0.0, True, False, 3, 3.0), {"status": "error", "error": "x"}]
    full = [{n: {"planner": "p", "agents": "log", **row}.get(n) for n in RESULT_SCHEMA.names} for row in rows]
    (result,) = aggregate(pa.Table.from_pylist(full, RESULT_SCHEMA)).to_pylist()
    assert (result["runs"], result["errors"], result["skipped"]) == (2, 1, 0)
    assert (result["mean_score"], result["at_fault_rate"], result["collision_rate"]) == (0.5, 0.5, 1.0)
    assert (result["goal_rate"], result["plan_fail_rate"], result["ms_p50"]) == (0.5, 0.5, 2.0)


def test_executors_report_failures_per_item() -> None:
    for executor in (SequentialExecutor(), ProcessExecutor(2)):
        results = dict(executor.map(math.sqrt, [4.0, -1.0, 9.0]))
        assert results[4.0] == 2.0 and results[9.0] == 3.0
        assert isinstance(results[-1.0], ValueError)


def test_process_executor_survives_a_dying_worker() -> None:
    results = list(ProcessExecutor(1).map(os._exit, [3]))
    assert len(results) == 1 and isinstance(results[0][1], WorkerDied)


def test_bench_config_rejects_unknown_names() -> None:
    with pytest.raises(
        ConfigError, match=r"^unknown planner pdm; expected names among log-replay, "
    ) as error:
        BenchConfig(("idm", "pdm"))
    assert "[" not in str(error.value)  # names, not a Python list
    with pytest.raises(
        ConfigError, match=r"^unknown agents mode crowd; expected modes among log, idm, reactive$"
    ):
        BenchConfig(("idm",), ("crowd",))
