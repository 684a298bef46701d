"""`drivestack demo`: generated data (or a given folder) to store, tags, benchmark and report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from drivestack.cli import app
from drivestack.core.errors import ConfigError
from drivestack.data.generate import generate
from drivestack.data.sets import set_members
from drivestack.data.store import Store
from drivestack.demo import SET_NAME, DemoConfig, run_demo, sample_data

TINY = DemoConfig(
    data=None,
    planners=("idm",),
    agents=("log",),
    limit=2,
    workers=1,
    worst=1,
    sample=(("highway", 1), ("merge", 1)),
)


def test_demo_from_nothing_and_again(tmp_path: Path) -> None:
    config = dataclasses.replace(TINY, out=tmp_path / "demo")
    messages: list[str] = []
    result = run_demo(config, messages.append)
    assert result.data == tmp_path / "demo" / "data"
    assert len(list((result.data / "scenarios").iterdir())) == 2
    assert result.stored == 2 and result.benchmarked == 2
    assert len(set_members(Store.open(result.store), SET_NAME)) == 2
    rows = pq.read_table(result.bench / "results.parquet").to_pylist()
    assert len(rows) == 2 and all(row["status"] == "ok" for row in rows)
    text = result.report.read_text()
    assert text.startswith("<!DOCTYPE html>") and '<script type="application/json" id="run-' in text
    assert any("none given, generating" in m for m in messages)
    again = run_demo(config, messages.append)  # incremental: nothing new to ingest or run
    assert "0 added, 2 already stored" in " ".join(messages) and again.report == result.report
    assert pq.read_table(again.bench / "results.parquet").num_rows == 2
    assert "is up to date" in messages[-1] and again.report.read_text() == text  # not re-simulated
    messages.clear()
    run_demo(dataclasses.replace(config, worst=0), messages.append)  # other settings: written again
    assert any("writing the report" in m for m in messages)
    assert "data:image/gif" not in result.report.read_text()


def test_a_missing_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--data", str(tmp_path / "typo"), "--out", str(tmp_path / "d")])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "typo: no such data folder" in str(result.exception)
    assert not (tmp_path / "d" / "store").exists()


def test_cli_demo_on_a_given_folder(generated_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--data",
            str(generated_data),
            "--out",
            str(tmp_path / "demo"),
            "--limit",
            "1",
            "--workers",
            "1",
            "--worst",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    report = tmp_path / "demo" / "report.html"
    assert f"report: {report.resolve()}" in result.output.replace("\n", "")
    rows = pq.read_table(tmp_path / "demo" / "bench" / "results.parquet").to_pylist()
    assert {(row["planner"], row["agents"]) for row in rows} == {
        (planner, agents) for planner in ("drivestack", "idm") for agents in ("log", "idm")
    }


def test_sample_in_two_processes_is_the_sequential_one(tmp_path: Path) -> None:
    sample = (("highway", 1), ("intersection", 1))
    sample_data(tmp_path / "two", 3, sample, workers=2)
    for kind, count in sample:
        generate(tmp_path / "one", kind, count, seed=3)
    written = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.xml"))
    assert len(written) == 4  # two scenarios and their solutions
    for path in written:
        assert (tmp_path / "two" / path).read_bytes() == (tmp_path / "one" / path).read_bytes()
    stamp = (tmp_path / "two" / written[0]).stat().st_mtime_ns
    sample_data(tmp_path / "two", 3, sample, workers=2)  # all there: nothing written again
    assert (tmp_path / "two" / written[0]).stat().st_mtime_ns == stamp
