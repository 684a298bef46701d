"""Wall time of one benchmark on local worker processes and on a local Ray, and whether they agree.

Run: `.venv/bin/python benchmarks/backends.py [DATA_ROOT] [--count 20] [--workers 2]` (default
../shared/data/commonroad; needs the ray extra). Scenarios: the first COUNT // len(DATASETS) of each
dataset's index.csv (with their solution files), copied nowhere, run as `drivestack bench` runs them
(planners idm, constant-velocity, log-replay; log agents) into two scratch folders, once with
`ProcessExecutor(workers)` and once with `RayExecutor(workers=workers)`; each wall time includes
starting the pool (and Ray). Prints both wall times, their ratio, and whether the result rows are
identical apart from the run-time columns (NaN equal to NaN).
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from drivestack.bench import BenchConfig, ProcessExecutor, ResultStore, Source, run_bench
from drivestack.parallel.backends import RayExecutor
from drivestack.parallel.executors import Executor

DATASETS = ("highd", "sind", "exid", "ngsim", "mona")
CONFIG = BenchConfig(("idm", "constant-velocity", "log-replay"), ("log",))
TIMING = ["plan_ms_p50", "plan_ms_p99", "plan_ms_max", "sim_s", "metrics_s"]


def sources(root: Path, count: int) -> list[Source]:
    """`count` scenarios spread over the datasets, with their solution files."""
    per = max(1, count // len(DATASETS))
    chosen = []
    for dataset in DATASETS:
        with (root / dataset / "index.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))[:per]
        for row in rows:
            solution = (root / dataset / row["ego_solution_file"],) if row["ego_solution_file"] else ()
            chosen.append(Source(path=str(root / dataset / row["file"]), solutions=tuple(map(str, solution))))
    return chosen[:count]


def timed(chosen: list[Source], executor: Executor, out: Path) -> tuple[float, list[dict[str, object]]]:
    started = time.perf_counter()
    run_bench(chosen, CONFIG, ResultStore(out, {"benchmark": "backends"}), executor)
    wall = time.perf_counter() - started
    rows = pq.read_table(out / "results.parquet").drop_columns(TIMING).to_pylist()
    return wall, [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "root",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad",
    )
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    chosen = sources(args.root, args.count)
    with tempfile.TemporaryDirectory() as scratch:
        processes_s, processes = timed(chosen, ProcessExecutor(args.workers), Path(scratch) / "processes")
        ray_s, ray_rows = timed(chosen, RayExecutor(workers=args.workers), Path(scratch) / "ray")
    print(
        f"{len(chosen)} scenarios x {len(CONFIG.combinations)} planner / agents combinations, "
        f"{args.workers} workers"
    )
    print(f"processes: {processes_s:7.1f} s wall")
    print(f"ray:       {ray_s:7.1f} s wall   (ray / processes = {ray_s / processes_s:.2f})")
    print(f"rows identical apart from run times: {processes == ray_rows} ({len(processes)} rows)")


if __name__ == "__main__":
    main()
