"""Cost of `metrics.realism.realism_metrics` per run against `metrics.evaluate` (the scoring every
bench row already pays), on the same runs in the same process; prints times and ratios.

Run: `.venv/bin/python benchmarks/realism.py [DATA_ROOT] [PER_DATASET]` (default
../shared/data/commonroad, 4). Runs: the recorded human replayed (log-replay) among `log` and `idm`
agents on the first PER_DATASET scenarios of highD, exiD and SinD. Each run is measured warm (map
geometry cached, as in a bench), the two functions alternating, best of five repeats each (the
machine may be shared).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from drivestack.bench.sources import retimed
from drivestack.data.formats.commonroad import read_scenario
from drivestack.metrics import evaluate
from drivestack.metrics.realism import realism_metrics
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate

DATASETS = ("highd", "exid", "sind")
REPEATS = 5


def best_ms(call: Callable[[], object], timings: list[float]) -> None:
    """Append the wall time [ms] of one `call` to `timings`."""
    started = time.perf_counter()
    call()
    timings.append(1e3 * (time.perf_counter() - started))


def main(root: Path, per_dataset: int) -> None:
    header = ("dataset", "agents", "runs", "steps", "evaluate ms", "realism ms", "ratio")
    print(
        f"{header[0]:8} {header[1]:6} "
        + " ".join(f"{h:>{w}}" for h, w in zip(header[2:], (4, 6, 12, 11, 6), strict=True))
    )
    for dataset in DATASETS:
        with (root / dataset / "index.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))[:per_dataset]
        for mode in ("log", "idm"):
            scored, measured, steps = [], [], 0
            for row in rows:
                path = root / dataset / row["file"]
                solution = path.parent.parent / "solutions" / path.name.replace(".cr.xml", ".solution.xml")
                scenario = retimed(read_scenario(path, [solution] if solution.exists() else []))
                problem = scenario.planning_problems[0]
                human = scenario.recorded_ego(problem.id)
                if human is None:
                    continue
                record = simulate(scenario, problem.id, make_planner("log-replay"), mode)
                evaluate(scenario, problem, record, human)  # warm the map cache
                a: list[float] = []
                b: list[float] = []
                for _ in range(REPEATS):
                    best_ms(lambda: evaluate(scenario, problem, record, human), a)  # noqa: B023
                    best_ms(lambda: realism_metrics(scenario, record), b)  # noqa: B023
                scored.append(min(a))
                measured.append(min(b))
                steps += record.num_steps
            if not scored:
                continue
            total_a, total_b = float(np.sum(scored)), float(np.sum(measured))
            print(
                f"{dataset:8} {mode:6} {len(scored):4d} {steps:6d} {total_a / len(scored):12.2f} "
                f"{total_b / len(measured):11.2f} {total_b / total_a:6.2f}"
            )


if __name__ == "__main__":
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/commonroad")
    main(data, int(sys.argv[2]) if len(sys.argv) > 2 else 4)
