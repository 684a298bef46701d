"""Wall and CPU time of `drivestack demo` from this tree against a baseline tree, cold and warm.

Each round runs, for this tree and then the baseline (alternating, the order swapped every round):
the demo into a new folder with an empty numba cache (cold), then again into the same folder
(warm: everything is reused). Every run is a new interpreter (`drivestack.cli.main`) with the
tree first on PYTHONPATH; its CPU time is the children's rusage (it and its worker processes).
Prints per run: tree, cold/warm, wall [s], CPU [s], the 1-minute load average after it (others
share the machine) and the demo's own per-stage line. Usage:

    .venv/bin/python benchmarks/demo.py BASELINE_TREE [--rounds 1] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    """CPU seconds of every ended child process of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(tree: Path, out: Path, cache: Path, workers: int | None) -> tuple[float, float, str]:
    """Wall [s], CPU [s] and the per-stage line of one demo of `tree` into `out` (`workers`: None for
    the demo's default, as `make demo` runs it)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": str(cache)}
    entry = "from drivestack.cli import main; main()"
    command = [sys.executable, "-c", entry, "demo", "--out", str(out)]
    command += ["--workers", str(workers)] if workers is not None else []
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    stages = " ".join(line for line in done.stderr.split("\n") if "done in" in line or "CPU" in line)
    return wall, _children_cpu() - cpu, " ".join(stages.split())


def main() -> None:
    """Alternate cold and warm demos of this tree and the baseline; print each run's times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="default: the demo's own, as `make demo`")
    args = parser.parse_args()
    trees = [("this", HERE), ("baseline", args.baseline.resolve())]
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            for name, tree in trees if round_ % 2 == 0 else trees[::-1]:
                folder = Path(scratch) / f"{name}-{round_}"
                for mode in ("cold", "warm"):
                    wall, cpu, stages = run(tree, folder / "out", folder / "numba", args.workers)
                    load = os.getloadavg()[0]
                    print(
                        f"{name:8} {mode}  wall {wall:6.1f} s  CPU {cpu:6.1f} s  load {load:4.1f}  {stages}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
