"""Benchmark: read every recorded CommonRoad scenario (with its solution files) with 1 and with 2 processes.

Prints scenarios/s (wall clock) and the CPU seconds used for each process count, and the speed-up
ratio; CPU seconds show the cost even when other work on the machine stretches the wall clock. The
files are read once beforehand so that every run finds them in the page cache. Usage:

    .venv/bin/python benchmarks/read_commonroad.py [--data ../shared/data/commonroad] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.sources import SourceFiles, discover

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"


def read_one(source: SourceFiles) -> int:
    """Read one scenario with its recorded egos; returns its agent count (a small result to send back)."""
    return read_scenario(source.scenario, source.solutions).tracks.num_agents


def cpu_seconds() -> float:
    """CPU time [s] used so far by this process and its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(sources: list[SourceFiles], workers: int) -> tuple[float, float]:
    """(wall-clock, CPU) seconds to read all `sources` with `workers` processes (1: in this process)."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    if workers == 1:
        for source in sources:
            read_one(source)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(read_one, sources, chunksize=4))
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def main() -> None:
    """Discover the data, warm the page cache, time each process count and print the rates."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CommonRoad data folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts to time")
    args = parser.parse_args()
    sources, orphans, _ = discover([args.data])
    files = [path for source in sources for path in (source.scenario, *source.solutions)]
    compressed = sum(len(path.read_bytes()) for path in files)
    solutions = sum(len(source.solutions) for source in sources)
    print(f"{len(sources)} scenarios, {solutions} solution files ({len(orphans)} unmatched)")
    print(f"{compressed / 1e6:.0f} MB of gzip files")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other work on the machine slows the runs down)")
    rates = {}
    for workers in args.workers:
        seconds, cpu = run(sources, workers)
        rates[workers] = len(sources) / seconds
        label = f"{workers} process{'es' if workers > 1 else ''}"
        print(f"{label}: {seconds:6.1f} s, {rates[workers]:6.1f} scenarios/s ({cpu:.1f} CPU s)")
    first, *others = args.workers
    for workers in others:
        print(f"ratio {workers}/{first} processes: {rates[workers] / rates[first]:.2f}")


if __name__ == "__main__":
    main()
