"""Run every scenario x planning problem x planner x agents combination and keep the results.

The unit of work is one scenario: a worker loads it once and runs every combination still missing
for it, returning one row per (planning problem, planner, agents). Nothing a scenario does can stop
the benchmark: a scenario that cannot be loaded, a run or a scoring that raises, all become rows
with status "error" and the reason; a log-replay without a recorded human becomes "skipped".
Each finished run also leaves its trace (`records`) in the benchmark folder, for the report's viewer.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drivestack.bench.records import trace_path, trace_run, write_trace
from drivestack.bench.results import ResultStore, aggregate
from drivestack.bench.sources import Source
from drivestack.core.errors import ConfigError
from drivestack.core.names import display_text
from drivestack.core.planner import is_oracle
from drivestack.core.record import RunRecord
from drivestack.core.scenario import PlanningProblem, Scenario
from drivestack.metrics import MetricContext, ScenarioMetrics, evaluate_context
from drivestack.metrics.realism import realism_metrics
from drivestack.parallel.executors import Executor
from drivestack.plan import PLANNERS, PlannerOptions, make_planner
from drivestack.sim.agents import AGENT_MODES
from drivestack.sim.runner import simulate
from drivestack.sim.world import SimConfig


@dataclass(frozen=True)
class BenchConfig:
    """What to run: `planners` and `agents` modes (every pair), on the simulator `sim` settings;
    planners are built with `planner_options` (e.g. the vocabulary file of drivestack-vocab)."""

    planners: tuple[str, ...]
    agents: tuple[str, ...] = ("log",)
    sim: SimConfig = field(default_factory=SimConfig)
    planner_options: PlannerOptions = field(default_factory=PlannerOptions)

    def __post_init__(self) -> None:
        unknown = [name for name in self.planners if name not in PLANNERS]
        if unknown or not self.planners:
            named = display_text(", ".join(unknown)) or "none given"
            raise ConfigError(f"unknown planner {named}; expected names among {', '.join(PLANNERS)}")
        wrong = [mode for mode in self.agents if mode not in AGENT_MODES]
        if wrong or not self.agents:
            named = display_text(", ".join(wrong)) or "none given"
            raise ConfigError(f"unknown agents mode {named}; expected modes among {', '.join(AGENT_MODES)}")
        self.planner_options.check(self.planners)

    @property
    def combinations(self) -> list[tuple[str, str]]:
        """Every (planner, agents) pair, in order."""
        return [(planner, agents) for planner in self.planners for agents in self.agents]


@dataclass(frozen=True)
class Task:
    """One scenario and the (planner, agents) combinations to run on it, how planners are built, and
    where each run's trace is written (under the benchmark folder `traces`, `records.trace_path`;
    None: none kept)."""

    source: Source
    combinations: tuple[tuple[str, str], ...]
    sim: SimConfig
    planner_options: PlannerOptions = field(default_factory=PlannerOptions)
    traces: Path | None = None


def _reason(error: BaseException) -> str:
    """`Type: message (file:line)` of where an exception was raised, for a result row."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return display_text(f"{type(error).__name__}: {error}{where}")


def _row(
    source: Source, scenario: Scenario | None, problem: int, planner: str, agents: str, **values: Any
) -> dict[str, Any]:
    """A result row: identity columns of `source` (and of `scenario` once it is read), then `values`."""
    return {
        "scenario_id": scenario.scenario_id if scenario is not None else source.scenario_id,
        "scenario_key": source.scenario_key(scenario) if scenario else None,
        "planning_problem_id": problem,
        "planner": planner,
        "agents": agents,
        "source": source.name,
        **values,
    }


def run_one(
    scenario: Scenario,
    problem: PlanningProblem,
    planner_name: str,
    agents: str,
    sim: SimConfig,
    progress: Callable[[int, int], None] | None = None,
    planner_options: PlannerOptions | None = None,
    trace_to: Path | None = None,
) -> dict[str, Any]:
    """The result values of one run (row columns but the identity ones): simulate (`progress` as
    `simulate`'s), then score it and measure its agents' realism (status "ok"), or why it was
    skipped; the run's trace is written to `trace_to` when given (`records.write_trace`).
    Exceptions of the run or the scoring propagate."""
    planner = make_planner(planner_name, planner_options)
    human = scenario.recorded_ego(problem.id)
    if is_oracle(planner) and human is None:
        return {"status": "skipped", "error": "no recorded human ego for this problem (no solution file)"}
    started = time.perf_counter()
    record: RunRecord = simulate(scenario, problem.id, planner, agents, sim, progress)
    simulated = time.perf_counter()
    ctx = MetricContext(scenario, problem, record, human)
    metrics: ScenarioMetrics = evaluate_context(ctx)
    metrics_s = time.perf_counter() - simulated
    if trace_to is not None:
        write_trace(trace_to, trace_run(ctx, metrics.score))
    realism = realism_metrics(scenario, record)
    planned = record.plan_ms[np.isfinite(record.plan_ms)]
    return {
        "status": "ok",
        "dt": record.dt,
        "termination": record.termination,
        "plan_failures": len(record.failures),
        "first_failure": record.failures[0] if record.failures else None,
        "plan_ms_p50": float(np.percentile(planned, 50)) if len(planned) else None,
        "plan_ms_p99": float(np.percentile(planned, 99)) if len(planned) else None,
        "plan_ms_max": float(planned.max()) if len(planned) else None,
        "sim_s": simulated - started,
        "metrics_s": metrics_s,
        **metrics.as_row(),
        **dataclasses.asdict(realism),
    }


def run_task(task: Task) -> list[dict[str, Any]]:
    """Every row of one scenario (the worker function; never raises for scenario problems)."""
    source = task.source
    try:
        scenario = source.load()
    except Exception as error:  # an unreadable scenario is a result, not a crash
        reason = _reason(error)
        return [
            _row(source, None, -1, planner, agents, status="error", error=reason)
            for planner, agents in task.combinations
        ]
    rows = []
    for problem in scenario.planning_problems:
        for planner, agents in task.combinations:
            try:
                trace = None
                if task.traces is not None:
                    trace = trace_path(task.traces, source.name, problem.id, planner, agents)
                values = run_one(
                    scenario, problem, planner, agents, task.sim, None, task.planner_options, trace_to=trace
                )
            except Exception as error:  # one failing run must not lose the others
                values = {"status": "error", "error": _reason(error), "dt": scenario.dt}
            rows.append(_row(source, scenario, problem.id, planner, agents, **values))
    if not scenario.planning_problems:
        rows = [
            _row(
                source,
                scenario,
                -1,
                planner,
                agents,
                status="skipped",
                error="no planning problem",
            )
            for planner, agents in task.combinations
        ]
    return rows


@dataclass(frozen=True)
class BenchSummary:
    """What a `run_bench` call did: scenarios run now and skipped as done, rows now, the aggregate
    table over all rows, rows with status "error", and the wall time [s]."""

    scenarios_run: int
    scenarios_done_before: int
    rows_added: int
    aggregate: pa.Table
    errors: int
    wall_s: float


def run_bench(
    sources: Sequence[Source],
    config: BenchConfig,
    store: ResultStore,
    executor: Executor,
    progress: Callable[[int, int], None] | None = None,
    flush_every: int = 16,
) -> BenchSummary:
    """Run every missing combination of `config` on `sources`, adding rows to `store` in batches of
    `flush_every` scenarios and each run's trace to its folder; `progress(done, total)` after each
    scenario."""
    started = time.perf_counter()
    finished = store.done()
    tasks = []
    for source in sources:
        missing = tuple(c for c in config.combinations if (source.name, *c) not in finished)
        if missing:
            tasks.append(Task(source, missing, config.sim, config.planner_options, store.folder))
    added = 0
    for count, (task, result) in enumerate(executor.map(run_task, tasks), start=1):
        if isinstance(result, BaseException):  # the worker itself failed (e.g. died)
            reason = _reason(result)
            result = [
                _row(task.source, None, -1, p, a, status="error", error=reason) for p, a in task.combinations
            ]
        store.add(result)
        added += len(result)
        if count % flush_every == 0:
            store.flush()
        if progress is not None:
            progress(count, len(tasks))
    store.flush()
    table = store.table
    errors = int(pc.sum(pc.equal(table.column("status"), "error")).as_py() or 0)
    return BenchSummary(
        scenarios_run=len(tasks),
        scenarios_done_before=len(sources) - len(tasks),
        rows_added=added,
        aggregate=aggregate(table),
        errors=errors,
        wall_s=time.perf_counter() - started,
    )


WARM_UP = ("merge", "intersection")
"""Generated scenario kinds `warm_up` runs on: lane changes (merge), lights and give-way (intersection)."""
WARM_UP_STEPS = 60
"""Steps of each run `warm_up` simulates (the first merge's ego weighs a lane change at step 48)."""


def warm_up(config: BenchConfig) -> None:
    """Run every (planner, agents) combination of `config` for `WARM_UP_STEPS` steps on a generated
    scenario of each `WARM_UP` kind, so that numba compiles (and caches on disk) the kernels a
    benchmark runs: a process with a core to spare can do it while another prepares the data."""
    from drivestack.data.generate import generate_scenario  # only the warm-up needs the generator

    limits = dataclasses.replace(config.sim.limits, max_steps=WARM_UP_STEPS)
    sim = dataclasses.replace(config.sim, limits=limits)
    for kind in WARM_UP:
        scenario = generate_scenario(kind)
        for problem in scenario.planning_problems:
            for planner, agents in config.combinations:
                run_one(scenario, problem, planner, agents, sim)


def bench_config_record(config: BenchConfig, target: str, limit: int | None, workers: int) -> dict[str, Any]:
    """The JSON-able configuration a manifest records."""
    return {
        "target": target,
        "planners": list(config.planners),
        "agents": list(config.agents),
        "limit": limit,
        "workers": workers,
        "sim": dataclasses.asdict(config.sim),
        "planner_options": dataclasses.asdict(config.planner_options),
    }
