"""Fixtures of the viz tests: a generated intersection scenario and a small benchmark run on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivestack.bench import (
    BenchConfig,
    ResultStore,
    SequentialExecutor,
    bench_config_record,
    find_sources,
    run_bench,
)
from drivestack.data.generate import generate

PLANNERS = ("idm", "drivestack")


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two generated scenarios (an intersection and a merge) and their solutions."""
    folder = tmp_path_factory.mktemp("generated")
    generate(folder, "intersection", 1, seed=5)
    generate(folder, "merge", 1, seed=5)
    return folder


@pytest.fixture(scope="session")
def bench_run(generated_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a benchmark of `PLANNERS` with log agents on `generated_data`."""
    out = tmp_path_factory.mktemp("bench")
    config = BenchConfig(PLANNERS, ("log",))
    store = ResultStore(out, bench_config_record(config, str(generated_data), None, 1))
    run_bench(find_sources(str(generated_data)), config, store, SequentialExecutor())
    return out
