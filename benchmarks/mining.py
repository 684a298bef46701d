"""Mining throughput on the recorded dev set: `drivestack mine` end to end and each detector's cost.

Run: `.venv/bin/python benchmarks/mining.py [--store DIR] [DATA_ROOT]` (default data
../shared/data/commonroad). Without --store the data is ingested into a temporary store first.
1. Mining every scenario with every detector, fresh (nothing mined yet), with 1 and 2 worker
   processes: scenarios/s (store loading, detection and tag writes included), and a re-run, which
   must find nothing to do.
2. Per scenario, the shared derivations (`Scene`: map index, lane of every vehicle at every step,
   smoothed speeds, egos) and each detector on top of them [ms], over every 10th scenario.
The machine may be shared: rates are wall-clock; the load average is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from drivestack.data.ingest import ingest
from drivestack.data.mining import REGISTRY, Scene
from drivestack.data.mining.runner import mine_store, tag_counts
from drivestack.data.store import Store

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"


def fresh_versions() -> None:
    """Give every detector a version no store has mined yet, so a copied store is mined from scratch."""
    for name, detector in list(REGISTRY.items()):
        REGISTRY[name] = dataclasses.replace(detector, version=detector.version + 1000)


def end_to_end(store: Store, folder: Path) -> None:
    """Mine copies of `store` with 1 and 2 workers; print rates, the speed-up and a re-run's cost."""
    fresh_versions()
    print("\n1. drivestack mine (all detectors)  scenarios/s  seconds  failures")
    rates = {}
    for workers in (1, 2):
        copy = folder / f"mine-{workers}"
        shutil.copytree(store.root, copy)
        opened = Store.open(copy)
        report = mine_store(opened, workers=workers)
        rates[workers] = report.scenarios / report.seconds
        print(
            f"   {workers} worker(s)                    {rates[workers]:8.1f} {report.seconds:8.1f}"
            f"  {len(report.failures):8d}"
        )
        if workers == 1:
            again = mine_store(opened)
            print(f"   re-run (incremental)       {again.seconds:8.2f} s, {again.scenarios} scenarios mined")
            print("   tag                         scenarios   rows")
            for tag, scenarios, rows in tag_counts(opened):
                print(f"   {tag:26s} {scenarios:10d} {rows:6d}")
    print(f"   2 / 1 worker speed-up: {rates[2] / rates[1]:.2f}x (load average {os.getloadavg()[0]:.1f})")


def per_detector(store: Store) -> None:
    """Time the shared derivations and each detector per scenario over every 10th scenario."""
    keys = store.scenario_ids()[::10]
    scenarios = [store.load_scenario(key) for key in keys]
    shared, cost = 0.0, dict.fromkeys(REGISTRY, 0.0)
    for scenario in scenarios:
        started = time.perf_counter()
        scene = Scene(scenario)
        scene.lanes, scene.acceleration, scene.egos  # noqa: B018 - computed once, shared by detectors
        shared += time.perf_counter() - started
        for name, detector in REGISTRY.items():
            started = time.perf_counter()
            detector.detect(scene)
            cost[name] += time.perf_counter() - started
    count = len(scenarios)
    print(f"\n2. per scenario over {count} scenarios [ms]")
    print(f"   shared derivations (Scene)  {shared / count * 1e3:8.2f}")
    for name, seconds in cost.items():
        print(f"   {name:26s}  {seconds / count * 1e3:8.2f}")
    total = shared + sum(cost.values())
    rate = count / total
    print(f"   total                       {total / count * 1e3:8.2f}  ->  {rate:.1f} scenarios/s per core")


def main() -> None:
    """Parse arguments, make or open the store, run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--store", type=Path, help="an ingested store (default: ingest DATA into a temporary one)"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if arguments.store is not None:
            store = Store.open(arguments.store)
        else:
            store = Store.open(folder / "store", create=True)
            report = ingest([arguments.data], store, workers=2)
            added, seconds = len(report.added), report.seconds
            print(f"ingested {added} scenarios from {arguments.data.resolve()} in {seconds:.1f} s")
        print(f"store: {store.root}  ({len(store.scenario_ids())} scenarios)")
        end_to_end(store, folder)
        per_detector(store)


if __name__ == "__main__":
    main()
