"""Running many scenarios: sources, executors (sequential, processes), the resumable result store.

`run_bench(sources, BenchConfig(...), ResultStore(out, ...), executor)` runs every scenario x
planning problem x planner x agents combination not yet in `out/results.parquet` and returns a
summary with the aggregate table per planner x agents.

The names below are imported when first used (PEP 562): importing this package must not load the
simulator, metrics and planners where only part of it is needed (2 s of imports per process). The
executors themselves live in `drivestack.parallel` (ingest and mining run on them too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from drivestack.parallel.executors import Executor, ProcessExecutor, SequentialExecutor, WorkerDied

_HOMES = {
    "drivestack.parallel.executors": ("Executor", "ProcessExecutor", "SequentialExecutor", "WorkerDied"),
    "drivestack.bench.results": ("RESULT_SCHEMA", "ResultStore", "aggregate"),
    "drivestack.bench.run": (
        "BenchConfig",
        "BenchSummary",
        "Task",
        "bench_config_record",
        "run_bench",
        "run_one",
        "run_task",
    ),
    "drivestack.bench.sources": ("Source", "find_scenario", "find_sources"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    """The public name `name`, imported from its module on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
