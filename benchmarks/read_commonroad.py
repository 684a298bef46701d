"""Benchmark: read every recorded CommonRoad scenario (with its solution files) with 1 and with 2 processes.

Prints scenarios/s for each process count and the speed-up ratio. The files are read once beforehand so
that both runs find them in the page cache. Usage:

    .venv/bin/python benchmarks/read_commonroad.py [--data ../shared/data/commonroad] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.sources import SourceFiles, discover

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"


def read_one(source: SourceFiles) -> int:
    """Read one scenario with its recorded egos; returns its agent count (a small result to send back)."""
    return read_scenario(source.scenario, source.solutions).tracks.num_agents


def run(sources: list[SourceFiles], workers: int) -> float:
    """Seconds to read all `sources` with `workers` processes (1: in this process)."""
    start = time.perf_counter()
    if workers == 1:
        for source in sources:
            read_one(source)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(read_one, sources, chunksize=4))
    return time.perf_counter() - start


def main() -> None:
    """Discover the data, warm the page cache, time each process count and print the rates."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CommonRoad data folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts to time")
    args = parser.parse_args()
    sources, orphans = discover([args.data])
    files = [path for source in sources for path in (source.scenario, *source.solutions)]
    compressed = sum(len(path.read_bytes()) for path in files)
    solutions = sum(len(source.solutions) for source in sources)
    print(f"{len(sources)} scenarios, {solutions} solution files ({len(orphans)} unmatched)")
    print(f"{compressed / 1e6:.0f} MB of gzip files")
    rates = {}
    for workers in args.workers:
        seconds = run(sources, workers)
        rates[workers] = len(sources) / seconds
        label = f"{workers} process{'es' if workers > 1 else ''}"
        print(f"{label}: {seconds:6.1f} s, {rates[workers]:6.1f} scenarios/s")
    first, *others = args.workers
    for workers in others:
        print(f"ratio {workers}/{first} processes: {rates[workers] / rates[first]:.2f}")


if __name__ == "__main__":
    main()
