"""Benchmark backends: the Ray backend gives the same rows as local processes; executor choice."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from drivestack.bench import (
    BenchConfig,
    ProcessExecutor,
    ResultStore,
    SequentialExecutor,
    find_sources,
    run_bench,
)
from drivestack.core.errors import ConfigError, InputError
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario
from drivestack.parallel.backends import RayExecutor, make_executor

pytestmark = pytest.mark.xdist_group("ray")
"""One local Ray at a time: its tests run on one worker of `make pytest`."""

CONFIG = BenchConfig(("idm", "constant-velocity", "log-replay"), ("log", "idm"))
TIMING = ["plan_ms_p50", "plan_ms_p99", "plan_ms_max", "sim_s", "metrics_s"]


def _rows(data: Path, out: Path, executor: object) -> list[dict[str, object]]:
    run_bench(find_sources(str(data)), CONFIG, ResultStore(out, {"test": True}), executor)  # type: ignore[arg-type]
    rows = pq.read_table(out / "results.parquet").drop_columns(TIMING).to_pylist()
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows
    ]


def test_ray_rows_equal_process_rows(generated_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray not installed: pip install 'drivestack[ray]'")
    processes = _rows(generated_data, tmp_path / "processes", ProcessExecutor(2))
    ray_rows = _rows(generated_data, tmp_path / "ray", RayExecutor(workers=2))
    assert len(processes) == 2 * len(CONFIG.combinations)
    assert all(row["status"] == "ok" for row in processes)
    assert ray_rows == processes


def test_ray_reports_an_item_error_as_its_result(generated_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray not installed: pip install 'drivestack[ray]'")
    good = str(next((generated_data / "scenarios").iterdir()))
    missing = str(tmp_path / "missing.xml")
    results = dict(RayExecutor(workers=1).map(read_scenario, [good, missing]))
    assert isinstance(results[good], Scenario) and results[good].tracks.num_agents > 0
    assert isinstance(results[missing], InputError) and "no such file" in str(results[missing]).lower()


def test_make_executor_picks_the_backend() -> None:
    assert isinstance(make_executor(None, 1), SequentialExecutor)
    assert isinstance(make_executor(None, 2), ProcessExecutor)
    assert isinstance(make_executor("ray", 2), RayExecutor)
    with pytest.raises(ConfigError, match="expected one of"):
        make_executor("spark", 2)
    with pytest.raises(ConfigError, match="address"):
        make_executor("processes", 2, "ray://head:10001")
