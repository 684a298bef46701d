"""Re-running one benchmarked run to look at it: the same scenario, planner, agents and simulator
settings as the benchmark, so the same run.

A benchmark keeps one result row per run and a trimmed trace of it for the report's viewer
(`records`), not the run's full record (every agent of 1,062 scenarios x planners x agent modes
would dwarf the results). Pictures, animations and MCAP files need the full states of a few runs,
as does a report of results whose traces are missing, and the simulator is deterministic (same
inputs, bit-identical run), so they re-simulate those runs from the benchmark's `manifest.json`
(the simulator settings) and the run's row in `results.parquet` (its source, planning problem,
planner and agents). The re-run's
score is checked against the row's: a planner that is not deterministic is reported, not hidden.
Stored scenarios (`store:<key>` sources) are looked up in the store given (else the default one).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivestack.bench.records import RunTrace, trace_run
from drivestack.bench.results import MANIFEST, RESULTS, read_results, read_run_manifest
from drivestack.bench.sources import Source, find_scenario
from drivestack.core.errors import ConfigError, DrivestackError
from drivestack.core.record import RunRecord
from drivestack.core.scenario import PlanningProblem, Scenario
from drivestack.data.formats.registry import split_label, unit_label
from drivestack.data.store import Store
from drivestack.metrics import MetricContext, ScenarioMetrics, evaluate
from drivestack.plan import PlannerOptions, make_planner
from drivestack.sim.runner import simulate
from drivestack.sim.world import SimConfig

SCORE_TOLERANCE = 1e-9
"""Largest difference between a re-run's score and its row's that still counts as the same run."""


def _build(kind: type, data: Any) -> Any:
    """An instance of dataclass `kind` from its `dataclasses.asdict` form (nested ones too)."""
    if not dataclasses.is_dataclass(kind) or not isinstance(data, dict):
        return data
    hints = typing.get_type_hints(kind)
    values = {f.name: _build(hints[f.name], data[f.name]) for f in dataclasses.fields(kind) if f.name in data}
    return kind(**values)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The benchmark's manifest (ConfigError when the folder holds none, InputError when it is damaged)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {MANIFEST} (expected the output folder of `drivestack bench`)")
    return read_run_manifest(path)


def sim_config(manifest: dict[str, Any]) -> SimConfig:
    """The simulator settings a benchmark ran with."""
    return typing.cast(SimConfig, _build(SimConfig, manifest.get("config", {}).get("sim", {})))


def planner_options(manifest: dict[str, Any]) -> PlannerOptions:
    """How a benchmark built its planners (e.g. the vocabulary file of drivestack-vocab)."""
    return typing.cast(
        PlannerOptions, _build(PlannerOptions, manifest.get("config", {}).get("planner_options", {}))
    )


def result_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every row of the benchmark's results.parquet, as dicts (InputError when it is damaged)."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {RESULTS} (expected the output folder of `drivestack bench`)")
    return list(read_results(path).to_pylist())


def find_row(
    rows: list[dict[str, Any]],
    scenario_id: str,
    planner: str | None = None,
    agents: str | None = None,
    problem: int | None = None,
) -> dict[str, Any]:
    """The first "ok" row (in results order) of `scenario_id` (a scenario key "<id>@<version>" or a
    bare id naming one of them) matching the optional planner, agents and planning problem;
    ConfigError listing what there is otherwise, or when a bare id names two scenarios."""
    mine = [row for row in rows if scenario_id in (row["scenario_key"], row["scenario_id"])]
    done = [
        row
        for row in mine
        if row["status"] == "ok"
        and (planner is None or row["planner"] == planner)
        and (agents is None or row["agents"] == agents)
        and (problem is None or row["planning_problem_id"] == problem)
    ]
    if not done:
        runs = sorted({(r["planner"], r["agents"], r["planning_problem_id"], r["status"]) for r in mine})
        raise ConfigError(
            f"no finished run of {scenario_id} with planner={planner} agents={agents} problem={problem}; "
            f"runs of it: {runs or 'none'}"
        )
    keys = sorted({str(row["scenario_key"]) for row in done})
    if len(keys) > 1:
        raise ConfigError(f"scenario id {scenario_id!r} is ambiguous in this benchmark: use one of {keys}")
    return done[0]


def source_of(row: dict[str, Any], store: str | None = None, run_dir: str | Path | None = None) -> Source:
    """Where a row's scenario comes from: its file (with the solution files beside its dataset
    folder), or its key in `store` (default store when None). A relative file path that does not
    exist from here is looked up from the benchmark folder's parent (`run_dir`), where `drivestack
    bench` usually ran."""
    name = str(row["source"])
    if name.startswith("store:"):
        opened = Store.open(store)
        return Source(store=str(opened.root), key=name.removeprefix("store:"))
    path, member = split_label(name)
    if not path.exists() and not path.is_absolute() and run_dir is not None:
        path, member = split_label(str(Path(run_dir).resolve().parent / name))
    return find_scenario(unit_label(path, member) if path.exists() else name)


@dataclass(frozen=True, eq=False)
class Replay:
    """One re-run: the scenario as the benchmark ran it (re-timed), the planning problem, the run's
    record, its metrics and the benchmark's row."""

    scenario: Scenario
    problem: PlanningProblem
    record: RunRecord
    metrics: ScenarioMetrics
    row: dict[str, Any]

    def trace(self) -> RunTrace:
        """The re-run's trace, as the benchmark would have stored it (`records.trace_run`)."""
        human = self.scenario.recorded_ego(self.problem.id)
        return trace_run(MetricContext(self.scenario, self.problem, self.record, human), self.metrics.score)


def replay_row(
    row: dict[str, Any],
    sim: SimConfig,
    store: str | None = None,
    scenario: Scenario | None = None,
    run_dir: str | Path | None = None,
    options: PlannerOptions | None = None,
) -> Replay:
    """Re-run the run of `row` with the simulator settings `sim` and planner `options` (the scenario
    is loaded unless given; see `source_of`); DrivestackError (not a usage error) when the re-run's
    score differs from the row's."""
    loaded = scenario if scenario is not None else source_of(row, store, run_dir).load()
    problem = loaded.planning_problem(int(row["planning_problem_id"]))
    planner = make_planner(str(row["planner"]), options)
    record = simulate(loaded, problem.id, planner, str(row["agents"]), sim)
    metrics = evaluate(loaded, problem, record, loaded.recorded_ego(problem.id))
    score = row.get("score")
    if score is not None and not math.isclose(metrics.score, score, abs_tol=SCORE_TOLERANCE):
        raise DrivestackError(
            f"{row['scenario_id']} / {row['planner']} / {row['agents']}: the re-run scores "
            f"{metrics.score:.6f}, the benchmark {score:.6f}: the planner or the code changed since"
        )
    return Replay(loaded, problem, record, metrics, row)


def replay(
    run_dir: str | Path,
    scenario_id: str,
    planner: str | None = None,
    agents: str | None = None,
    problem: int | None = None,
    store: str | None = None,
) -> Replay:
    """Re-run a benchmark's run of `scenario_id` (the first matching row; see `find_row`)."""
    row = find_row(result_rows(run_dir), scenario_id, planner, agents, problem)
    manifest = read_manifest(run_dir)
    return replay_row(row, sim_config(manifest), store, run_dir=run_dir, options=planner_options(manifest))
