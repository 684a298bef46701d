"""`bench.warm_up` compiles every kernel a benchmark runs: after it, benchmarking a scenario of
another kind compiles nothing more (numba's cache gains no file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WARM = "from drivestack.bench import BenchConfig; from drivestack.bench.run import warm_up; " + (
    "warm_up(BenchConfig(('drivestack', 'idm'), ('log', 'idm')))"
)
BENCH = """
import sys
from drivestack.bench import BenchConfig, ResultStore, SequentialExecutor, find_sources, run_bench
from drivestack.data.generate import generate
generate(sys.argv[1] + "/data", "merge", 1, seed=4)
config = BenchConfig(("drivestack", "idm"), ("log", "idm"))
results = ResultStore(sys.argv[1] + "/bench", {})
summary = run_bench(find_sources(sys.argv[1] + "/data"), config, results, SequentialExecutor())
assert summary.rows_added == 4 and summary.errors == 0
"""


def test_warm_up_compiles_what_a_benchmark_runs(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    subprocess.run([sys.executable, "-c", WARM], env=env, check=True, capture_output=True)
    compiled = sorted(p.relative_to(tmp_path) for p in (tmp_path / "numba").rglob("*.nbc"))
    assert any("scoring" in str(p) for p in compiled) and any("dynamics" in str(p) for p in compiled)
    subprocess.run([sys.executable, "-c", BENCH, str(tmp_path)], env=env, check=True, capture_output=True)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "numba").rglob("*.nbc")) == compiled
