"""The `scenarios` and `query` commands: outputs, and one clear error line for every bad request."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_process import DRIVESTACK, run
from store_cases import rich_scenario

from drivestack.data.ingest import ingest_scenarios
from drivestack.data.query import scenario_summary, to_csv
from drivestack.data.store import ScenarioFilter, Store
from drivestack.data.store.layout import SCHEMA_VERSION


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two constructed scenarios; the second carries the extra file tag "highway"."""
    opened = Store.open(tmp_path / "store", create=True)
    second = dataclasses.replace(rich_scenario("DEU_Rich-2_1_T-1", shift=1.0), tags=("highway",))
    ingest_scenarios(opened, [rich_scenario(), second])
    return opened


def test_query_prints_csv_json_and_table(store: Store) -> None:
    sql = "SELECT scenario_key, num_agents, tags FROM scenarios ORDER BY 1"
    csv_run = run("query", sql, "--format", "csv", "--store", str(store.root))
    assert csv_run.returncode == 0, csv_run.stderr
    assert csv_run.stdout == (
        "scenario_key,num_agents,tags\n"
        'DEU_Rich-1_1_T-1@2020a,3,"[""urban"",""intersection""]"\n'
        'DEU_Rich-2_1_T-1@2020a,3,"[""highway""]"\n'
    )
    json_run = run("query", sql, "--format", "json", "--store", str(store.root))
    assert json.loads(json_run.stdout) == [
        {"scenario_key": "DEU_Rich-1_1_T-1@2020a", "num_agents": 3, "tags": ["urban", "intersection"]},
        {"scenario_key": "DEU_Rich-2_1_T-1@2020a", "num_agents": 3, "tags": ["highway"]},
    ]
    table_run = run("query", "SELECT count(*) AS tracks_rows FROM tracks", "--store", str(store.root))
    assert (
        "tracks_rows" in table_run.stdout
        and str(2 * int(rich_scenario().tracks.valid.sum())) in table_run.stdout
    )


def test_scenarios_lists_matches_with_file_and_mined_tags(store: Store) -> None:
    listed = run("scenarios", "--where", "num_agents >= 3", "--tag", "highway", "--store", str(store.root))
    assert listed.returncode == 0, listed.stderr
    assert "DEU_Rich-2_1_T-1@2020a" in listed.stdout and "DEU_Rich-1_1_T-1@2020a" not in listed.stdout
    summary = scenario_summary(store, ScenarioFilter(tags=("urban",)))
    assert summary.column("scenario_key").to_pylist() == ["DEU_Rich-1_1_T-1@2020a"]
    assert summary.column("tags").to_pylist() == [["intersection", "urban"]]
    assert to_csv(summary).splitlines()[0].startswith("scenario_key,dataset,recording_group")


def damage_tracks(store: Store) -> None:
    path = store.root / store.manifest.table_files("tracks")[0].path
    data = bytearray(path.read_bytes())
    data[4 : len(data) // 2] = bytes(len(data) // 2 - 4)
    path.write_bytes(bytes(data))


def newer_schema(store: Store) -> None:
    manifest = store.root / "store.json"
    current = f'"schema_version": {SCHEMA_VERSION}'
    manifest.write_text(manifest.read_text().replace(current, '"schema_version": 99'))


@pytest.mark.parametrize(
    ("args", "prepare", "message"),
    [
        (("query", "SELEC 1"), None, "invalid SQL"),
        (("query", "COPY scenarios TO 'out.csv'"), None, "read-only"),
        (("query", "SELECT * FROM scenarios; DROP VIEW tracks"), None, "exactly one SQL statement"),
        (("query", "SELECT * FROM tracks"), damage_tracks, "corrupted data file"),
        (("scenarios",), newer_schema, "schema version 99"),
        (("scenarios", "--set", "nope"), None, "no set named 'nope'"),
        (("scenarios", "--where", "no_such_column > 1"), None, "query failed"),
        (("query", "SELECT 1", "--format", "xml"), None, "--format must be one of"),
    ],
)
def test_bad_requests_fail_with_one_line_and_change_nothing(
    store: Store, tmp_path: Path, args: tuple[str, ...], prepare: Callable[[Store], None] | None, message: str
) -> None:
    if prepare is not None:
        prepare(store)
    before = snapshot(store.root)
    result = subprocess.run(
        [DRIVESTACK, *args, "--store", str(store.root)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == (2 if "--format" in args else 1)  # a bad option value is a usage error
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert snapshot(store.root) == before
    assert not (tmp_path / "out.csv").exists()


def test_missing_store_is_not_created_by_readers(tmp_path: Path) -> None:
    result = run("scenarios", "--store", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "no drivestack store" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_scenario_keys_never_wrap_and_scenarios_prints_csv_and_json(store: Store) -> None:
    root = str(store.root)
    narrow = subprocess.run(
        [DRIVESTACK, "scenarios", "--store", root],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "60"},
    )
    assert narrow.returncode == 0, narrow.stderr
    for key in ("DEU_Rich-1_1_T-1@2020a", "DEU_Rich-2_1_T-1@2020a"):
        assert key in narrow.stdout  # whole, on one line, though the terminal is narrow
    as_csv = run("scenarios", "--store", root, "--format", "csv", "--tag", "highway")
    assert as_csv.stdout.splitlines()[0].startswith("scenario_key,dataset,")
    assert [line.split(",")[0] for line in as_csv.stdout.splitlines()[1:]] == ["DEU_Rich-2_1_T-1@2020a"]
    as_json = json.loads(run("scenarios", "--store", root, "--format", "json").stdout)
    assert [row["scenario_key"] for row in as_json] == ["DEU_Rich-1_1_T-1@2020a", "DEU_Rich-2_1_T-1@2020a"]
    wrong = run("scenarios", "--store", root, "--format", "yaml")
    assert (
        wrong.returncode == 2
        and wrong.stderr.strip() == "error: --format must be one of table, csv, json, got yaml"
    )


def test_an_unknown_tag_names_the_known_ones(store: Store) -> None:
    result = run("scenarios", "--store", str(store.root), "--tag", "highwya")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: unknown tag highwya; known tags: ")
    assert all(name in lines[0] for name in ("highway", "intersection", "urban", "cut_in"))
    assert (
        run("scenarios", "--store", str(store.root), "--tag", "cut_in").returncode == 0
    )  # known, none mined
