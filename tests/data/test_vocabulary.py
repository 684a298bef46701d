"""Mining a motion vocabulary from recorded drivers, its file, and `drivestack train-vocabulary`."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_process import run
from recorded_data import COMMONROAD_ROOT

from drivestack.core.errors import ConfigError, InputError, StoreError
from drivestack.core.motions import VOCABULARY_VERSION, MotionVocabulary, load_vocabulary, save_vocabulary
from drivestack.data.ingest import ingest
from drivestack.data.sets import create_set, split_set
from drivestack.data.store import Store
from drivestack.data.vocabulary import VocabularyConfig, scenario_windows, train_vocabulary

PER_DATASET = {"highd": 3, "sind": 3, "exid": 2}
"""Recorded scenarios with human egos (solution files) per dataset: highD, SinD and exiD."""


def recorded_files(per_dataset: dict[str, int]) -> list[Path]:
    """The first scenarios of each dataset (index.csv order) with their solution files."""
    files: list[Path] = []
    for dataset, count in per_dataset.items():
        with (COMMONROAD_ROOT / dataset / "index.csv").open(newline="") as handle:
            for row in list(csv.DictReader(handle))[:count]:
                files.append(COMMONROAD_ROOT / dataset / row["file"])
                files.append(COMMONROAD_ROOT / dataset / row["ego_solution_file"])
    return files


@pytest.fixture(scope="module")
def store(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store of eight recorded scenarios with their human egos, set "all", its split by recording
    into "all-train" and "all-test", and an empty set "none"."""
    opened = Store.open(tmp_path_factory.mktemp("vocabulary") / "store", create=True)
    report = ingest(recorded_files(PER_DATASET), opened, workers=1)
    assert report.rejected == [] and len(report.added) == sum(PER_DATASET.values())
    create_set(opened, "all")
    split_set(opened, "all", "recording", (0.6, 0.4), ("train", "test"))
    create_set(opened, "none", where="false")
    return opened


SMALL = VocabularyConfig(size=24, seed=3)


def test_training_is_deterministic_per_seed_and_motions_start_at_the_origin(store: Store) -> None:
    first = train_vocabulary(store, "all", SMALL)
    again = train_vocabulary(store, "all", SMALL)
    other = train_vocabulary(store, "all", dataclasses.replace(SMALL, seed=4))
    for name in ("x", "y", "yaw", "speed", "weight"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.x, other.x)  # the seed changes the clusters
    assert first.size == 24 and first.times[-1] == pytest.approx(SMALL.horizon)
    assert np.all(first.x[:, 0] == 0.0) and np.all(first.y[:, 0] == 0.0) and np.all(first.yaw[:, 0] == 0.0)
    # each motion starts in its speed bin and represents windows of that bin
    edges = first.speed_edges
    bins = np.clip(np.searchsorted(edges, first.start_speed, side="right") - 1, 0, len(edges) - 2)
    assert len(np.unique(bins)) >= 4  # standing, urban and motorway speeds are all covered
    assert first.weight.sum() == first.provenance["windows_clustered"]
    # a motion is one recorded window: it moves as its start speed says (no averaged blur)
    travelled = np.hypot(first.x[:, 10], first.y[:, 10])
    assert np.all(np.abs(travelled - first.start_speed * 1.0) < 0.5 * first.start_speed + 1.0)
    assert first.provenance["set"] == "all" and first.provenance["seed"] == 3
    assert int(first.provenance["windows_from_egos"]) > 0


def test_windows_are_cut_on_the_step_the_motion_shows(store: Store) -> None:
    """highD declares 0.1 s but its agents move 0.2 s per step: a window of 8 s spans 40 steps, and
    its first second covers what a recorded car really drives in a second."""
    highd = [store.load_scenario(key) for key in store.scenario_ids() if key.startswith("DEU_Location")]
    scenario = max(highd, key=lambda found: len(found.recorded_egos[0].trajectory))
    egos, cars = scenario_windows(scenario, SMALL)
    assert egos.count > 0 and cars.count > 0 and egos.from_ego.all() and not cars.from_ego.any()
    ego = scenario.recorded_egos[0].trajectory
    start = np.hypot(ego.x[5] - ego.x[0], ego.y[5] - ego.y[0])  # five steps of 0.2 s = one second
    assert egos.x[0, 10] == pytest.approx(start, rel=1e-6)
    assert start == pytest.approx(ego.speed[0], rel=0.15)


def test_egos_only_and_bounded_windows(store: Store) -> None:
    egos = train_vocabulary(store, "all", dataclasses.replace(SMALL, egos_only=True))
    assert egos.provenance["windows_from_egos"] == egos.provenance["windows_clustered"]
    capped = train_vocabulary(store, "all", dataclasses.replace(SMALL, max_windows=50))
    assert capped.provenance["windows_clustered"] == 50
    assert int(capped.provenance["scenarios_read"]) < 8


def test_empty_unknown_and_too_short_sets_are_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="set 'none' is empty"):
        train_vocabulary(store, "none")
    with pytest.raises(StoreError, match="no set named 'nope'"):
        train_vocabulary(store, "nope")
    with pytest.raises(ConfigError, match="no recorded egos drive 60 s"):
        train_vocabulary(store, "all", dataclasses.replace(SMALL, horizon=60.0, egos_only=True))


@pytest.fixture(scope="module")
def vocabulary(store: Store) -> MotionVocabulary:
    return train_vocabulary(store, "all-train", SMALL)


def test_the_file_round_trips(vocabulary: MotionVocabulary, tmp_path: Path) -> None:
    path = save_vocabulary(vocabulary, tmp_path / "v.npz")
    loaded = load_vocabulary(path)
    for name in ("times", "x", "y", "yaw", "speed", "weight", "speed_edges"):
        assert np.array_equal(getattr(loaded, name), getattr(vocabulary, name))
    assert loaded.provenance == vocabulary.provenance
    assert [p.name for p in tmp_path.iterdir()] == ["v.npz"]  # no temporary file left behind


def rewrite(source: Path, target: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of the npz archive `source` with members replaced (None: removed) or added."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename not in change:
                new.writestr(info, old.read(info))
        for name, data in change.items():
            if data is not None:
                new.writestr(name, data)
    return target


def npy(value: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_hostile_and_corrupt_files_are_refused_in_one_line(
    vocabulary: MotionVocabulary, tmp_path: Path
) -> None:
    good = save_vocabulary(vocabulary, tmp_path / "good.npz")
    meta = {"version": VOCABULARY_VERSION, "provenance": {}}
    cases: dict[str, tuple[bytes | dict[str, bytes | None] | None, str]] = {
        "missing.npz": (None, "no such vocabulary file"),
        "text.npz": (b"hello", "not a vocabulary file"),
        "truncated.npz": (good.read_bytes()[:300], "not a vocabulary file"),
        "pickled.npz": (
            {"x.npy": npy(np.array([object()], dtype=object), allow_pickle=True)},
            "Python objects",
        ),
        "version.npz": ({"meta.npy": npy(np.array(json.dumps({**meta, "version": 99})))}, "version 99"),
        "no_meta.npz": ({"meta.npy": None}, "not a vocabulary file: holds"),
        "extra.npz": ({"evil.npy": npy(np.zeros(3))}, "not a vocabulary file: holds"),
        "nan.npz": ({"y.npy": npy(np.full(vocabulary.y.shape, np.nan))}, "y: holds NaN"),
        "shape.npz": ({"speed.npy": npy(np.zeros((2, 2)))}, "speed: expected shape"),
        "offset.npz": ({"x.npy": npy(vocabulary.x + 1.0)}, "start at the origin"),
        "strings.npz": ({"weight.npy": npy(np.array(["a"] * vocabulary.size))}, "expected numbers"),
        "bad_meta.npz": ({"meta.npy": npy(np.array("[1, 2"))}, "damaged"),
        "provenance.npz": (
            {"meta.npy": npy(np.array(json.dumps({**meta, "provenance": {"a": [1]}})))},
            "provenance",
        ),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, dict):
            rewrite(good, path, content)
        with pytest.raises(InputError, match=message) as raised:
            load_vocabulary(path)
        assert "\n" not in str(raised.value) and name in str(raised.value)


def test_a_decompression_bomb_is_refused_before_it_is_read(
    vocabulary: MotionVocabulary, tmp_path: Path
) -> None:
    good = save_vocabulary(vocabulary, tmp_path / "good.npz")
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(good) as old, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != "x.npy":
                new.writestr(info, old.read(info))
        new.writestr("x.npy", npy(np.zeros((40_000, 1_000))))  # 320 MB of zeros, deflated to ~300 kB
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(InputError, match="larger than 256 MiB"):
        load_vocabulary(bomb)


def test_the_command_trains_writes_and_reports(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "motions.npz"
    done = run(
        "train-vocabulary", "all-train", "--out", out, "--store", store.root, "--size", "16", "--seed", "2"
    )
    assert done.returncode == 0, done.stderr
    assert "16 motions of 8 s" in done.stdout and "set all-train" in done.stdout
    written = load_vocabulary(out)
    assert written.size == 16 and written.provenance["seed"] == 2 and written.provenance["set"] == "all-train"
    same = train_vocabulary(store, "all-train", VocabularyConfig(size=16, seed=2))
    assert np.array_equal(written.x, same.x)
    for args, message in (
        (("none", "--out", tmp_path / "a.npz"), "set 'none' is empty"),
        (("nope", "--out", tmp_path / "a.npz"), "no set named 'nope'"),
        (("all-train", "--out", tmp_path / "a.txt"), "expected a file name ending in .npz"),
    ):
        failed = run("train-vocabulary", *args, "--store", store.root)
        assert failed.returncode != 0 and failed.stderr.strip().count("\n") == 0 and message in failed.stderr
        assert not (tmp_path / "a.npz").exists()
