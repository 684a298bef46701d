"""Where the recorded data lives, and a small per-dataset sample of it (imported by tests and conftest)."""

from __future__ import annotations

import csv
from pathlib import Path

DATA_ROOT = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
COMMONROAD_ROOT = DATA_ROOT / "commonroad"
COMMONROAD_IO_TESTS = DATA_ROOT / "commonroad-io-tests"
"""commonroad-io's own test scenarios and tutorial: one file per format feature."""
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
