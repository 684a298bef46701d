"""Latency of the drivestack planner's `plan()` on recorded scenarios with 50+ agents.

Runs the planner closed-loop (log-replayed agents) on recorded scenarios of every dataset whose
index lists at least `--min-agents` dynamic obstacles, times every `plan()` call (wall clock and
this process's CPU time; the first call of each run, which builds the map's corridors, is reported
apart), and prints per dataset and overall: calls, p50 / p99 / max latency [ms], agents seen per
step, proposals evaluated per step, and the ratio to the goal (p50 <= 10 ms, p99 <= 30 ms with
>= 200 proposals, one core). Usage:

    .venv/bin/python benchmarks/planner.py [--per-dataset 4] [--min-agents 50]
    .venv/bin/python benchmarks/planner.py --baseline /tmp/base-worktree --rounds 3 [--per-dataset 2]

With `--baseline TREE` it runs the same measurement in fresh processes, alternating between this tree
and TREE (another checkout, e.g. a worktree of main, imported instead of this one), and prints each
round's overall p50 / p99 (wall and CPU) per tree and the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from drivestack.bench.sources import Source
from drivestack.core.planner import Observation
from drivestack.core.scenario import Trajectory
from drivestack.plan.drivestack import DrivestackPlanner
from drivestack.sim.runner import simulate

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"
DATASETS = ("highd", "sind", "exid", "mona", "ind", "ngsim")
P50_GOAL, P99_GOAL, PROPOSALS_GOAL = 10.0, 30.0, 200


class TimedPlanner(DrivestackPlanner):
    """The drivestack planner, recording each call's wall and CPU time [ms], agents and proposals."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[tuple[float, float, int, int, bool]] = []

    def plan(self, observation: Observation) -> Trajectory:
        first = not self.decisions
        wall, cpu = time.perf_counter(), time.process_time()
        trajectory = super().plan(observation)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        agents = int(observation.agents.num_agents)
        self.samples.append((1e3 * wall, 1e3 * cpu, agents, self.decisions[-1].proposals, first))
        return trajectory


def crowded(dataset: str, min_agents: int, count: int) -> list[Source]:
    """Up to `count` scenarios of `dataset` (spread over its index) with >= `min_agents` agents."""
    folder = ROOT / dataset
    with (folder / "index.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["n_dynamic_obstacles"]) >= min_agents]
    picked = rows[:: max(1, len(rows) // count)][:count]
    sources = []
    for row in picked:
        solution = row["ego_solution_file"]
        solutions = (str(folder / solution),) if solution else ()
        sources.append(Source(path=str(folder / row["file"]), solutions=solutions))
    return sources


def percentiles(values: np.ndarray) -> str:
    return f"{np.percentile(values, 50):7.2f} {np.percentile(values, 99):7.2f} {values.max():7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=4)
    parser.add_argument("--min-agents", type=int, default=50)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with, alternating")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds with --baseline")
    parser.add_argument("--summary", action="store_true", help="print only one JSON line (overall)")
    args = parser.parse_args()
    if args.baseline is not None:
        compare(args)
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    warm = crowded("highd", args.min_agents, 1)[0].load()  # compile / load the kernels once
    simulate(warm, warm.planning_problems[0].id, DrivestackPlanner())
    rows: dict[str, list[tuple[float, float, int, int, bool]]] = {}
    for dataset in DATASETS:
        for source in crowded(dataset, args.min_agents, args.per_dataset):
            scenario = source.load()
            for problem in scenario.planning_problems[:2]:
                planner = TimedPlanner()
                simulate(scenario, problem.id, planner)
                rows.setdefault(dataset, []).extend(planner.samples)
    header = (
        "dataset     calls   wall p50     p99     max |  cpu p50     p99 | agents p50 | proposals min p50"
    )
    steady = {dataset: np.array([s[:4] for s in samples if not s[4]]) for dataset, samples in rows.items()}
    total = np.concatenate(list(steady.values()))
    if args.summary:
        figures = {"calls": len(total), "load": os.getloadavg()[0]}
        for name, values in (("wall", total[:, 0]), ("cpu", total[:, 1])):
            figures |= {f"{name}_p50": np.percentile(values, 50), f"{name}_p99": np.percentile(values, 99)}
        print(json.dumps(figures))
        return
    print(f"plan() latency [ms] on scenarios with >= {args.min_agents} agents (first call of a run excluded)")
    print(header)
    for dataset, calls in steady.items():
        print(
            f"{dataset:10s} {len(calls):6d} {percentiles(calls[:, 0])} | "
            f"{np.percentile(calls[:, 1], 50):7.2f} {np.percentile(calls[:, 1], 99):7.2f} | "
            f"{np.median(calls[:, 2]):10.0f} | {calls[:, 3].min():8.0f} {np.median(calls[:, 3]):4.0f}"
        )
    print(
        f"{'all':10s} {len(total):6d} {percentiles(total[:, 0])} | "
        f"{np.percentile(total[:, 1], 50):7.2f} {np.percentile(total[:, 1], 99):7.2f} | "
        f"{np.median(total[:, 2]):10.0f} | {total[:, 3].min():8.0f} {np.median(total[:, 3]):4.0f}"
    )
    firsts = np.array([s[0] for samples in rows.values() for s in samples if s[4]])
    print(f"first call of a run (corridors built): p50 {np.median(firsts):.1f} ms, max {firsts.max():.1f} ms")
    p50, p99 = np.percentile(total[:, 0], 50), np.percentile(total[:, 0], 99)
    print(
        f"goal: p50 {p50:.2f} / {P50_GOAL} ms = {p50 / P50_GOAL:.2f}, p99 {p99:.2f} / {P99_GOAL} ms = "
        f"{p99 / P99_GOAL:.2f}, proposals median {np.median(total[:, 3]):.0f} / {PROPOSALS_GOAL}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def compare(args: argparse.Namespace) -> None:
    """Alternate fresh runs of this measurement on this tree and on `args.baseline`; print both."""
    trees = {"this": Path(__file__).resolve().parents[1], "baseline": args.baseline.resolve()}
    command = [sys.executable, __file__, "--summary", "--per-dataset", str(args.per_dataset)]
    command += ["--min-agents", str(args.min_agents)]
    print("round tree       calls  wall p50    p99 |  cpu p50    p99 | load")
    for round_number in range(1, args.rounds + 1):
        for name, tree in trees.items():
            environment = os.environ | {"PYTHONPATH": str(tree)}
            done = subprocess.run(command, env=environment, cwd=tree, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{name} ({tree}) failed: {done.stderr.strip().splitlines()[-1:]}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{round_number:5d} {name:9s} {figures['calls']:6d} {figures['wall_p50']:8.2f} "
                f"{figures['wall_p99']:6.2f} | {figures['cpu_p50']:8.2f} {figures['cpu_p99']:6.2f} | "
                f"{figures['load']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
