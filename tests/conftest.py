"""Shared test fixtures: where the recorded data lives, and a small per-dataset sample of it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

DATA_ROOT = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
COMMONROAD_ROOT = DATA_ROOT / "commonroad"
DATASETS = ("ngsim", "highd", "sind", "exid", "mona", "ind")


def commonroad_sample(per_dataset: int) -> list[Path]:
    """The first `per_dataset` scenario files of each dataset folder, in index.csv order."""
    files: list[Path] = []
    for dataset in DATASETS:
        index = COMMONROAD_ROOT / dataset / "index.csv"
        if not index.exists():
            continue
        with index.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        files += [COMMONROAD_ROOT / dataset / row["file"] for row in rows[:per_dataset]]
    return files


@pytest.fixture(scope="session")
def commonroad_root() -> Path:
    """Folder of the recorded CommonRoad data; skips the test when it is not on this machine."""
    if not COMMONROAD_ROOT.is_dir():
        pytest.skip(f"recorded data not found at {COMMONROAD_ROOT}")
    return COMMONROAD_ROOT
