"""Does a motion vocabulary learned from recorded drivers help the drivestack planner? End to end.

1. A store of recorded scenarios with their human egos (solution files): given (`--store`), or
   ingested into OUT/store from the shared data (the first `--per-group` scenarios of each
   recording group of highD, SinD and exiD).
2. Set "vocab-all" of its scenarios with a recorded ego, split by recording into "vocab-all-train"
   and "vocab-all-test" (`--ratios`): no recording in both.
3. `train_vocabulary` on the train part (`--size`, `--seed`), written to OUT/vocabulary.npz.
4. The benchmark of drivestack and drivestack-vocab (log agents, one worker) on the held-out part.
5. The table, per planner: runs, mean score, goal rate, runs with an at-fault collision, mean
   ADE / FDE [m] of the driven path against the recorded human; and the runs where
   drivestack-vocab collides at fault while drivestack does not (the acceptance: none).
6. How often drivestack-vocab drove a learned motion: its runs re-simulated (the simulator is
   deterministic: the scores must equal the benchmark's), counting the steps whose returned
   trajectory is one of the vocabulary source's rollouts.

Usage (about 5 minutes for 40 held-out scenarios on one core):

    .venv/bin/python benchmarks/vocabulary.py --out /tmp/vocab-eval [--per-group 8] [--ratios 0.7,0.3]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from drivestack.bench import (
    BenchConfig,
    ResultStore,
    SequentialExecutor,
    bench_config_record,
    find_sources,
    run_bench,
)
from drivestack.bench.sources import Source
from drivestack.core.motions import MotionVocabulary, save_vocabulary
from drivestack.core.planner import Observation
from drivestack.core.scenario import Trajectory
from drivestack.data.ingest import ingest
from drivestack.data.sets import create_set, split_set
from drivestack.data.store import Store
from drivestack.data.vocabulary import VocabularyConfig, train_vocabulary
from drivestack.metrics import evaluate
from drivestack.plan import VOCABULARY_PLANNER, PlannerOptions
from drivestack.plan.drivestack import DrivestackPlanner
from drivestack.plan.drivestack.decide import LaneOption, Scene
from drivestack.plan.drivestack.stages import Proposals
from drivestack.plan.drivestack.vocabulary import VocabularySource
from drivestack.sim.runner import simulate
from drivestack.sim.world import SimConfig

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"
DATASETS = ("highd", "sind", "exid")
"""The recorded datasets whose every scenario has its human ego (solution file)."""
BASELINE = "drivestack"

TABLE_SQL = """
SELECT planner, count(*) AS runs, avg(score) AS score, avg(goal_reached::INT) AS goal_rate,
       sum(at_fault_collision::INT) AS at_fault_runs, avg(ade) AS ade_m, avg(fde) AS fde_m,
       quantile_cont(plan_ms_p50, 0.5) AS plan_ms_p50
FROM results WHERE status = 'ok' GROUP BY planner ORDER BY planner
"""
ADDED_SQL = f"""
SELECT v.scenario_id, v.planning_problem_id
FROM results AS v JOIN results AS b USING (source, planning_problem_id, agents)
WHERE v.planner = '{VOCABULARY_PLANNER}' AND b.planner = '{BASELINE}'
  AND v.at_fault_collision AND NOT b.at_fault_collision
ORDER BY 1, 2
"""


def shared_files(per_group: int) -> list[Path]:
    """The first `per_group` scenarios of each recording group of `DATASETS`, with their solutions."""
    files: list[Path] = []
    for dataset in DATASETS:
        with (ROOT / dataset / "index.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        taken: dict[str, int] = {}
        for row in rows:
            if taken.get(row["group"], 0) < per_group and row["ego_solution_file"]:
                taken[row["group"]] = taken.get(row["group"], 0) + 1
                files += [ROOT / dataset / row["file"], ROOT / dataset / row["ego_solution_file"]]
    return files


class LearnedSource(VocabularySource):
    """The vocabulary source, keeping the proposals it made at the last step."""

    last: Proposals | None = None

    def propose(self, scene: Scene, options: list[LaneOption]) -> Proposals:
        self.last = super().propose(scene, options)
        return self.last


class CountingPlanner(DrivestackPlanner):
    """drivestack-vocab counting the steps at which the trajectory it returns is a learned motion."""

    def __init__(self, vocabulary: MotionVocabulary) -> None:
        self.learned_source = LearnedSource(vocabulary)
        super().__init__(extra_sources=(self.learned_source,))
        self.name = VOCABULARY_PLANNER
        self.learned = 0

    def plan(self, observation: Observation) -> Trajectory:
        trajectory = super().plan(observation)
        last = self.learned_source.last
        if last is not None and last.count:
            self.learned += int((last.states.x == trajectory.x[None, :]).all(axis=1).any())
        return trajectory


def chosen_share(store: Store, table: pa.Table, vocabulary: MotionVocabulary) -> tuple[int, int, bool]:
    """Re-run drivestack-vocab's benchmarked runs counting learned motions driven: (steps driving one,
    planned steps, whether every re-run's score equals its row's)."""
    learned = steps = 0
    same = True
    for row in table.filter(pc.equal(table.column("planner"), VOCABULARY_PLANNER)).to_pylist():
        if row["status"] != "ok":
            continue
        scenario = Source(store=str(store.root), key=row["scenario_key"]).load()
        problem = scenario.planning_problem(int(row["planning_problem_id"]))
        planner = CountingPlanner(vocabulary)
        record = simulate(scenario, problem.id, planner, "log", SimConfig())
        same &= (
            abs(evaluate(scenario, problem, record, scenario.recorded_ego(problem.id)).score - row["score"])
            < 1e-9
        )
        learned += planner.learned
        steps += len(planner.decisions)
    return learned, steps, same


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the store, vocabulary and runs")
    parser.add_argument("--store", type=Path, default=None, help="an existing store [default: OUT/store]")
    parser.add_argument("--per-group", type=int, default=8, help="scenarios per recording group ingested")
    parser.add_argument("--ratios", default="0.7,0.3", help="train,test shares of the split by recording")
    parser.add_argument("--size", type=int, default=256, help="motions in the vocabulary")
    parser.add_argument("--seed", type=int, default=0, help="split and k-means seed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    if args.store is None:
        store = Store.open(args.out / "store", create=True)
        report = ingest(shared_files(args.per_group), store, workers=1)
        print(f"ingested {len(report.added)} scenarios ({len(report.skipped)} already stored)")
    else:
        store = Store.open(args.store)
    create_set(store, "vocab-all", where="has_recorded_ego", replace=True)
    ratios = [float(value) for value in args.ratios.split(",")]
    parts = split_set(store, "vocab-all", "recording", ratios, ("train", "test"), args.seed, replace=True)
    train, test = parts["vocab-all-train"], parts["vocab-all-test"]
    print(f"split by recording: {len(train)} train, {len(test)} held-out scenarios")

    vocabulary = train_vocabulary(store, "vocab-all-train", VocabularyConfig(size=args.size, seed=args.seed))
    path = save_vocabulary(vocabulary, args.out / "vocabulary.npz")
    facts = vocabulary.provenance
    print(
        f"vocabulary: {vocabulary.size} motions of {vocabulary.horizon:g} s from "
        f"{facts['windows_clustered']} windows ({facts['windows_from_egos']} of recorded egos) -> {path}"
    )

    config = BenchConfig(
        (BASELINE, VOCABULARY_PLANNER), ("log",), planner_options=PlannerOptions(vocabulary=str(path))
    )
    runs = args.out / "runs"
    results = ResultStore(runs, bench_config_record(config, "vocab-all-test", None, 1))
    summary = run_bench(
        find_sources("vocab-all-test", str(store.root)), config, results, SequentialExecutor()
    )
    print(
        f"benchmark: {summary.scenarios_run} scenarios run, {summary.errors} errors, {summary.wall_s:.0f} s"
    )

    connection = duckdb.connect()
    connection.register("results", results.table)
    table: pa.Table = connection.sql(TABLE_SQL).to_arrow_table()
    columns = table.column_names
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in table.to_pylist():
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    added = connection.sql(ADDED_SQL).fetchall()
    print(f"\nat-fault collisions drivestack-vocab adds over drivestack: {len(added)} {added}")
    learned, steps, same = chosen_share(store, results.table, vocabulary)
    print(
        f"drivestack-vocab drove a learned motion at {learned} of {steps} steps "
        f"({learned / max(steps, 1):.1%}); "
        f"re-runs {'match' if same else 'DIFFER FROM'} the benchmark's scores"
    )
    print(
        f"held-out split: {len(test)} scenarios (split by recording); "
        f"total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
