"""Shared test fixtures: the recorded data (skipped when absent), generated scenarios, a benchmark run."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorded_data import COMMONROAD_IO_TESTS, COMMONROAD_ROOT


@pytest.fixture(scope="session")
def commonroad_root() -> Path:
    """Folder of the recorded CommonRoad data; skips the test when it is not on this machine."""
    if not COMMONROAD_ROOT.is_dir():
        pytest.skip(f"recorded data not found at {COMMONROAD_ROOT}")
    return COMMONROAD_ROOT


@pytest.fixture(scope="session")
def commonroad_io_tests() -> Path:
    """Folder of commonroad-io's test scenarios; skips the test when it is not on this machine."""
    if not COMMONROAD_IO_TESTS.is_dir():
        pytest.skip(f"commonroad-io's test scenarios not found at {COMMONROAD_IO_TESTS}")
    return COMMONROAD_IO_TESTS


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two generated scenarios (an intersection and a merge, seed 5) and their solutions."""
    from drivestack.data.generate import generate

    folder = tmp_path_factory.mktemp("generated")
    generate(folder, "intersection", 1, seed=5)
    generate(folder, "merge", 1, seed=5)
    return folder


@pytest.fixture(scope="session")
def bench_run(generated_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a benchmark of idm and drivestack with log agents on `generated_data`."""
    from drivestack.bench import (
        BenchConfig,
        ResultStore,
        SequentialExecutor,
        bench_config_record,
        find_sources,
        run_bench,
    )

    out = tmp_path_factory.mktemp("bench")
    config = BenchConfig(("idm", "drivestack"), ("log",))
    store = ResultStore(out, bench_config_record(config, str(generated_data), None, 1))
    run_bench(find_sources(str(generated_data)), config, store, SequentialExecutor())
    return out


@pytest.fixture
def fake_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the tests' `fake_format` reader (`$DRIVESTACK_EXTRA_READERS`) for this process, its
    spawned workers and a local Ray started inside the test (which needs `tests/` on PYTHONPATH)."""
    import os

    from drivestack.data.formats.registry import EXTRA_READERS_VARIABLE

    monkeypatch.setenv(EXTRA_READERS_VARIABLE, "fake_format")
    tests = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
