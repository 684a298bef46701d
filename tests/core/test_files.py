"""Every file drivestack writes gets the mode the user's umask gives new files (atomic writes too)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from drivestack.bench.results import ResultStore
from drivestack.core.files import new_file_mode
from drivestack.data.generate import generate
from drivestack.viz.bev import save_png


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_mode_follows_the_umask(umask_027: None) -> None:
    assert new_file_mode() == 0o640
    assert new_file_mode() == 0o640  # reading it leaves it as it was


def test_written_files_share_the_umask_mode(umask_027: None, tmp_path: Path) -> None:
    figure = Figure()
    figure.add_subplot().plot([0, 1], [0, 1])
    written = [save_png(figure, tmp_path / "picture.png")]
    files = generate(tmp_path / "generated", "highway", 1, seed=1)
    written += [files[0].scenario, files[0].solution]
    results = ResultStore(tmp_path / "run", {"test": True})
    results.add([{"source": "s", "planner": "p", "agents": "log", "status": "skipped"}])
    results.flush()
    written += [tmp_path / "run" / "manifest.json", tmp_path / "run" / "results.parquet"]
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives
    assert {path.name: _mode(path) for path in written} == {path.name: _mode(plain) for path in written}
    assert _mode(plain) == 0o640
