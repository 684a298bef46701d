"""Run traces: the benchmark keeps one per run, the report draws its viewer from them without
re-simulating (and falls back to a re-simulation, saying so, when one is missing or stale), and a
damaged or hostile trace file is refused with an error naming it."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from drivestack.bench import records
from drivestack.bench.records import RUNS, read_trace, trace_path, write_trace
from drivestack.core.errors import InputError
from drivestack.viz import report as report_module
from drivestack.viz.report import ReportConfig, build_report


def ok_rows(folder: Path) -> list[dict[str, Any]]:
    return [row for row in pq.read_table(folder / "results.parquet").to_pylist() if row["status"] == "ok"]


def path_of(folder: Path, row: dict[str, Any]) -> Path:
    return trace_path(folder, row["source"], row["planning_problem_id"], row["planner"], row["agents"])


def no_resimulation(*_: Any, **__: Any) -> Any:
    raise AssertionError("the report re-simulated a run that has a stored trace")


@pytest.fixture(scope="module")
def resimulated(bench_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[str]]:
    """The report of a copy of the benchmark without its traces (every run re-simulated), and what it said."""
    copy = tmp_path_factory.mktemp("traceless") / "bench"
    shutil.copytree(bench_run, copy)
    shutil.rmtree(copy / RUNS)
    messages: list[str] = []
    return build_report(copy, ReportConfig(worst=2), progress=messages.append), messages


def test_bench_keeps_a_trace_of_every_finished_run(bench_run: Path) -> None:
    rows = ok_rows(bench_run)
    assert rows
    for row in rows:
        trace = read_trace(path_of(bench_run, row))
        assert (trace.planner, trace.agents_mode, trace.planning_problem_id) == (
            row["planner"],
            row["agents"],
            row["planning_problem_id"],
        )
        assert trace.score == pytest.approx(row["score"], abs=1e-12)
        assert len(trace.steps) == row["steps"] == len(trace.plans) == len(trace.decisions)
        assert trace.objects.valid.shape == (len(trace.objects.ids), row["steps"])
    assert not [p for p in (bench_run / RUNS).iterdir() if p.suffix != ".npz"]  # no temporary left


def test_report_draws_runs_from_traces_as_a_resimulation_would(
    bench_run: Path, resimulated: tuple[Any, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    again, again_messages = resimulated
    monkeypatch.setattr(report_module, "replay_row", no_resimulation)
    messages: list[str] = []
    stored = build_report(bench_run, ReportConfig(worst=2), progress=messages.append)
    shown = len(ok_rows(bench_run))
    assert stored.resimulated == 0 and len(stored.runs) == shown
    assert all(m.startswith("reading ") for m in messages)
    assert again.resimulated == shown
    assert all(m.startswith("re-simulating ") and "no stored run trace" in m for m in again_messages)
    assert stored.runs == again.runs
    crash = [data for data in stored.runs.values() if data["events"]["marks"]]
    assert crash and all("unavailable" not in data for data in stored.runs.values())


def test_a_stale_trace_is_not_drawn(bench_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bench"
    shutil.copytree(bench_run, copy)
    row = ok_rows(copy)[0]
    target = path_of(copy, row)
    write_trace(target, dataclasses.replace(read_trace(target), score=row["score"] - 0.25))
    messages: list[str] = []
    built = build_report(copy, ReportConfig(worst=0, viewer=1), progress=messages.append)
    assert built.resimulated == 1
    assert messages == [
        f"re-simulating {report_module.run_title(row)} (its stored run trace is of another run)"
    ]


def test_trace_round_trip(bench_run: Path, tmp_path: Path) -> None:
    source = path_of(bench_run, ok_rows(bench_run)[0])
    trace = read_trace(source)
    write_trace(tmp_path / "copy.npz", trace)
    back = read_trace(tmp_path / "copy.npz")
    for field in dataclasses.fields(trace):
        mine, theirs = getattr(trace, field.name), getattr(back, field.name)
        if field.name == "plans":
            assert [p is None for p in mine] == [p is None for p in theirs]
            assert all(same(a, b) for a, b in zip(mine, theirs, strict=True) if a is not None)
        elif field.name in ("ego", "objects"):
            for part in dataclasses.fields(mine):
                assert same(getattr(mine, part.name), getattr(theirs, part.name))
        elif field.name == "metrics":
            assert mine.keys() == theirs.keys()
            for name in mine:
                assert same(mine[name].values, theirs[name].values)
                assert same(mine[name].valid, theirs[name].valid)
        else:
            assert same(mine, theirs)


def same(a: Any, b: Any) -> bool:
    """Equal arrays (or values), NaN equal to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def rewrite(source: Path, target: Path, change: dict[str, Any]) -> None:
    """A copy of the trace `source` with the arrays of `change` replaced (None: removed; a function:
    of the original arrays)."""
    with np.load(source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in change.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value(arrays) if callable(value) else value
    with open(target, "wb") as sink:
        np.savez(sink, **arrays)


class Boom:
    def __reduce__(self) -> Any:
        return (print, ("unpickled!",))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"decisions": np.array([Boom()], dtype=object)}, "allow_pickle"),
        ({"ego.x": None}, "no array 'ego.x'"),
        ({"objects.types": lambda arrays: np.full(arrays["objects.types"].shape, "spaceship")}, "spaceship"),
        ({"plan_counts": np.array([1_000_000])}, "plan_counts"),
    ],
)
def test_a_damaged_trace_is_refused_naming_the_file(
    bench_run: Path, tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    target = tmp_path / "damaged.npz"
    rewrite(path_of(bench_run, ok_rows(bench_run)[0]), target, change)
    with pytest.raises(InputError, match=problem) as raised:
        read_trace(target)
    assert str(target) in str(raised.value)


def test_a_truncated_or_oversized_trace_is_refused(
    bench_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = path_of(bench_run, ok_rows(bench_run)[0])
    cut = tmp_path / "cut.npz"
    cut.write_bytes(source.read_bytes()[:200])
    with pytest.raises(InputError, match="not a readable run trace"):
        read_trace(cut)
    packed = source.stat().st_size
    unpacked = sum(info.file_size for info in zipfile.ZipFile(source).infolist())
    assert unpacked > packed  # compressed: the unpacked bound is the one a zip bomb meets
    monkeypatch.setattr(records, "MAX_TRACE_BYTES", packed + 1)
    with pytest.raises(InputError, match="unpack to more than"):
        read_trace(source)
    monkeypatch.setattr(records, "MAX_TRACE_BYTES", packed - 1)
    with pytest.raises(InputError, match="larger than"):
        read_trace(source)


def test_a_pickle_named_like_a_trace_is_never_loaded(tmp_path: Path) -> None:
    target = tmp_path / "trace.npz"
    target.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(InputError, match="not a readable run trace"):
        read_trace(target)
