"""The agents' realism in results.parquet: stored for every agent mode, `log` the zero reference;
results written before the realism columns still load and resume; the per-mode tables."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from drivestack.bench import BenchConfig, ResultStore, SequentialExecutor, find_sources, run_bench
from drivestack.bench.modes import mode_order, planners_by_mode, realism_by_mode
from drivestack.bench.results import RESULT_SCHEMA
from drivestack.core.errors import ConfigError
from drivestack.metrics.realism import RealismMetrics

CONFIG = BenchConfig(("log-replay", "constant-velocity"), ("log", "idm"))
REALISM = [f.name for f in dataclasses.fields(RealismMetrics)]


@pytest.fixture(scope="module")
def highd(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one highD window (53 agents) and its recorded human."""
    folder = tmp_path_factory.mktemp("highd")
    scenario_id = "DEU_LocationALower26-1_260_T-75"
    for kind, suffix in (("scenarios", ".cr.xml.gz"), ("solutions", ".solution.xml.gz")):
        (folder / kind).mkdir()
        shutil.copy(commonroad_root / "highd" / kind / f"{scenario_id}{suffix}", folder / kind)
    return folder


@pytest.fixture(scope="module")
def benched(highd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    run_bench(find_sources(str(highd)), CONFIG, ResultStore(out, {"test": True}), SequentialExecutor())
    return out


def test_bench_stores_realism_per_agent_mode(benched: Path) -> None:
    table = pq.read_table(benched / "results.parquet")
    assert table.schema.names == RESULT_SCHEMA.names and set(REALISM) <= set(table.schema.names)
    rows = {(row["planner"], row["agents"]): row for row in table.to_pylist()}
    assert len(rows) == 4 and {row["status"] for row in rows.values()} == {"ok"}
    for planner in CONFIG.planners:
        log, idm = rows[(planner, "log")], rows[(planner, "idm")]
        assert log["realism_moving"] > 10 and log["realism_agents"] >= log["realism_moving"]
        assert log["realism_ade_m"] == 0.0 and log["realism_collisions"] == 0
        assert log["realism_speed_w1_mps"] == 0.0 and log["realism_headway_w1_s"] == 0.0
        assert log["realism_offroad_rate"] == log["realism_offroad_rate_log"]
        assert idm["realism_ade_m"] > 0.1 and idm["realism_speed_w1_mps"] > 0.0


def test_results_without_realism_columns_load_and_resume(highd: Path, benched: Path, tmp_path: Path) -> None:
    """An older bench of log agents only: it loads, resumes, and a new agent mode adds rows with realism."""
    older = tmp_path / "older"
    older.mkdir()
    shutil.copy(benched / "manifest.json", older)
    table = pq.read_table(benched / "results.parquet")
    logged = table.filter(pc.equal(table.column("agents"), "log")).drop_columns(REALISM)
    pq.write_table(logged, older / "results.parquet")
    store = ResultStore(older, {"test": True})
    assert store.table.schema.names == RESULT_SCHEMA.names
    assert all(store.table.column(name).null_count == 2 for name in REALISM)
    summary = run_bench(find_sources(str(highd)), CONFIG, store, SequentialExecutor())
    assert summary.scenarios_run == 1 and summary.rows_added == 2  # the idm runs only
    rows = store.table.to_pylist()
    assert all((row["realism_ade_m"] is None) == (row["agents"] == "log") for row in rows)
    realism = realism_by_mode(store.table).to_pylist()
    assert [row["agents"] for row in realism] == ["idm"]  # rows without realism are left out, not zeros


def test_tables_per_agent_mode(benched: Path) -> None:
    table = pq.read_table(benched / "results.parquet")
    realism = {row["agents"]: row for row in realism_by_mode(table).to_pylist()}
    assert realism.keys() == {"log", "idm"}
    assert realism["log"]["runs"] == 1 and realism["log"]["measured_on"] == "log-replay"
    assert realism["log"]["ade_m"] == 0.0 and realism["idm"]["ade_m"] > 0.1
    assert realism["log"]["offroad_rate"] == realism["log"]["offroad_rate_log"]
    planners = {(row["planner"], row["agents"]): row for row in planners_by_mode(table).to_pylist()}
    assert planners[("log-replay", "log")]["score_vs_log"] == 0.0
    for planner in CONFIG.planners:
        idm = planners[(planner, "idm")]
        assert idm["paired_with_log"] == 1
        assert idm["score_vs_log"] == pytest.approx(
            idm["mean_score"] - planners[(planner, "log")]["mean_score"]
        )
    # without a recorded human (MONA, inD) the realism comes from every planner's runs
    others = table.filter(pc.not_equal(table.column("planner"), "log-replay"))
    fallback = {row["agents"]: row for row in realism_by_mode(others).to_pylist()}
    assert fallback["idm"]["measured_on"] == "every planner" and fallback["idm"]["runs"] == 1
    assert fallback["idm"]["ade_m"] > 0.1 and fallback["log"]["ade_m"] == 0.0
    with pytest.raises(ConfigError, match="group by"):
        realism_by_mode(table, ("scenario_id; DROP TABLE results",))
    assert mode_order({"reactive", "idm", "log", "zeta"})[:2] == ["log", "idm"]
    # grouped by planner too, the constant-velocity runs are not read: the log-replay runs of the
    # same scenario and agent mode stand for them
    per_planner = realism_by_mode(table, ("planner", "agents")).to_pylist()
    assert [(row["planner"], row["measured_on"]) for row in per_planner] == [("log-replay", "log-replay")] * 2


def test_agents_table_script(benched: Path) -> None:
    """benchmarks/agents_table.py prints the closing-note tables (dataset = the file's folder)."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "agents_table.py"
    done = subprocess.run(
        [sys.executable, str(script), str(benched)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    header, log, idm = lines[0], lines[1], lines[2]
    assert header[:4] == ["| dataset", "agents", "realism of", "runs"]
    assert log[1:8] == ["log", "log-replay", "1", "0.0", "100.0", "+0.0", "0.00"]
    assert idm[:3] == [log[0], "idm", "log-replay"] and float(idm[7]) > 0.1
    others = [line for line in lines if "constant-velocity" in line]
    assert [line[2] for line in others] == ["log", "idm"]
    missing = subprocess.run(
        [sys.executable, str(script), str(benched / "absent")], capture_output=True, text=True
    )
    assert (
        missing.returncode == 1 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    )
