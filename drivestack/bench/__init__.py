"""Running many scenarios: sources, executors (sequential, processes), the resumable result store.

`run_bench(sources, BenchConfig(...), ResultStore(out, ...), executor)` runs every scenario x
planning problem x planner x agents combination not yet in `out/results.parquet` and returns a
summary with the aggregate table per planner x agents.
"""

from drivestack.bench.executors import Executor, ProcessExecutor, SequentialExecutor, WorkerDied
from drivestack.bench.results import RESULT_SCHEMA, ResultStore, aggregate
from drivestack.bench.run import (
    BenchConfig,
    BenchSummary,
    Task,
    bench_config_record,
    run_bench,
    run_one,
    run_task,
)
from drivestack.bench.sources import Source, find_scenario, find_sources

__all__ = [
    "RESULT_SCHEMA",
    "BenchConfig",
    "BenchSummary",
    "Executor",
    "ProcessExecutor",
    "ResultStore",
    "SequentialExecutor",
    "Source",
    "Task",
    "WorkerDied",
    "aggregate",
    "bench_config_record",
    "find_scenario",
    "find_sources",
    "run_bench",
    "run_one",
    "run_task",
]
