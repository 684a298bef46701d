"""Ingest of the recorded CommonRoad data: exact rows, idempotence, keys, rejections, kill-and-resume."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from recorded_data import COMMONROAD_ROOT, DATASETS
from store_cases import assert_same

from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.ingest import RejectionKind, dataset_name, ingest
from drivestack.data.sources import discover
from drivestack.data.store import ScenarioFilter, Store, scenario_key
from drivestack.data.store.tables import SCHEMAS

NGSIM_TWINS = ("ngsim/2018b/USA_US101-22_1_T-1.xml.gz", "ngsim/2020a/USA_US101-22_1_T-1.xml.gz")
"""The same drive in two format versions: both must be stored, under different keys."""


def sample_files(per_dataset: int) -> list[Path]:
    """The first `per_dataset` scenarios of each dataset (index.csv order) with their solution files."""
    files: list[Path] = []
    for dataset in DATASETS:
        with (COMMONROAD_ROOT / dataset / "index.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))[:per_dataset]
        for row in rows:
            files.append(COMMONROAD_ROOT / dataset / row["file"])
            if row["ego_solution_file"]:
                files.append(COMMONROAD_ROOT / dataset / row["ego_solution_file"])
    return files


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def store_rows(store: Store) -> dict[str, list[str]]:
    """Every table's rows as sorted JSON lines, without the batch id (which differs between runs)."""
    rows = {}
    for table in SCHEMAS:
        data = store.read_table(table)
        if "batch" in data.column_names:
            data = data.drop_columns(["batch"])
        rows[table] = sorted(json.dumps(row, sort_keys=True, default=str) for row in data.to_pylist())
    return rows


@pytest.fixture(scope="module")
def ingested(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, list[Path]]:
    """A store of two scenarios per dataset plus the NGSIM twins, ingested by two worker processes."""
    files = sample_files(2) + [commonroad_root / twin for twin in NGSIM_TWINS]
    store = Store.open(tmp_path_factory.mktemp("ingest") / "store", create=True)
    report = ingest(files, store, workers=2, batch_size=3)
    assert report.rejected == []
    assert len(report.added) == len(discover(files)[0])
    return store, files


def test_rows_equal_the_reader_and_scenarios_load_back_identically(
    ingested: tuple[Store, list[Path]],
) -> None:
    store, files = ingested
    rows = store.query("SELECT scenario_key, count(*) AS n FROM tracks GROUP BY ALL").to_pylist()
    counts = {row["scenario_key"]: row["n"] for row in rows}
    for source in discover(files)[0]:
        scenario = read_scenario(source.scenario.resolve(), [p.resolve() for p in source.solutions])
        key = scenario_key(scenario.scenario_id, scenario.format_version)
        assert counts[key] == int(scenario.tracks.valid.sum()), key
        assert_same(scenario, store.load_scenario(key), key)


def test_index_describes_each_scenario(ingested: tuple[Store, list[Path]]) -> None:
    store, _ = ingested
    rows = store.query(
        "SELECT dataset, count(*) AS n, sum(has_recorded_ego::INT) AS egos FROM scenarios GROUP BY ALL"
    ).to_pylist()
    by_dataset = {row["dataset"]: row for row in rows}
    assert sorted(by_dataset) == sorted(DATASETS)
    assert by_dataset["highd"]["egos"] == 2 and by_dataset["mona"]["egos"] == 0
    assert by_dataset["ngsim"]["n"] == 4
    shared = store.query(
        "SELECT count(DISTINCT map_key) AS maps, count(*) AS n FROM scenarios WHERE dataset = 'highd'"
    ).to_pylist()
    assert shared == [{"maps": 1, "n": 2}]  # two windows of one recording share one stored map
    assert store.query("SELECT count(*) AS n FROM maps").column(0)[0].as_py() < 14


def test_other_engines_read_the_table_folders_as_they_are(ingested: tuple[Store, list[Path]]) -> None:
    store, _ = ingested
    tracks = ds.dataset(store.root / "tracks", format="parquet", partitioning="hive")
    assert tracks.count_rows() == store.query("SELECT count(*) FROM tracks").column(0)[0].as_py()
    highd = tracks.to_table(filter=ds.field("dataset") == "highd", columns=["scenario_key"])
    assert set(highd.column("scenario_key").to_pylist()) == set(
        store.scenario_ids(ScenarioFilter(where="dataset = 'highd'"))
    )
    lanes = ds.dataset(store.root / "lanes", format="parquet")
    assert lanes.count_rows() == store.query("SELECT count(*) FROM lanes").column(0)[0].as_py()


def test_same_id_in_two_format_versions_gets_two_keys(ingested: tuple[Store, list[Path]]) -> None:
    store, _ = ingested
    rows = store.query(
        "SELECT scenario_key, format_version FROM scenarios WHERE scenario_id = $1 ORDER BY 1",
        ["USA_US101-22_1_T-1"],
    ).to_pylist()
    assert rows == [
        {"scenario_key": "USA_US101-22_1_T-1@2018b", "format_version": "2018b"},
        {"scenario_key": "USA_US101-22_1_T-1@2020a", "format_version": "2020a"},
    ]


def test_reingest_adds_nothing_and_changes_no_file(ingested: tuple[Store, list[Path]]) -> None:
    store, files = ingested
    before = snapshot(store.root)
    report = ingest(files, store, workers=1)
    assert (report.added, report.rejected) == ([], [])
    assert len(report.skipped) == len(discover(files)[0])
    assert all(skip.stored is not None for skip in report.skipped)
    assert snapshot(store.root) == before


def test_bad_files_are_rejected_with_reasons_and_never_stop_the_run(
    commonroad_root: Path, tmp_path: Path
) -> None:
    good = commonroad_root / "mona" / "scenarios" / "C-DEU_MONAEast-2_1040_T-1119.xml.gz"
    inbox = tmp_path / "mona"
    inbox.mkdir()
    (inbox / good.name).write_bytes(good.read_bytes())
    (inbox / "truncated.xml.gz").write_bytes(good.read_bytes()[:5000])
    text = gzip.decompress(good.read_bytes()).decode()
    (inbox / "not_commonroad.xml").write_text("<osm version='0.6'/>")
    edited = text.replace('timeStepSize="0.2"', 'timeStepSize="0.25"', 1)
    assert edited != text
    (inbox / "edited-copy.xml").write_text(edited)  # same key, other content
    solution = commonroad_root / "highd" / "solutions" / "DEU_LocationALower26-1_260_T-75.solution.xml.gz"
    (inbox / solution.name).write_bytes(solution.read_bytes())  # no scenario for it here
    store = Store.open(tmp_path / "store", create=True)
    report = ingest([inbox], store)
    assert report.added == ["C-DEU_MONAEast-2_1040_T-1119@2020a"]
    reasons = {Path(r.file).name: r.reason for r in report.rejected}
    assert sorted(reasons) == sorted(
        ["truncated.xml.gz", "not_commonroad.xml", "edited-copy.xml", solution.name]
    )
    assert "gzip" in reasons["truncated.xml.gz"]
    assert "C-DEU_MONAEast-2_1040_T-1119@2020a" in reasons["edited-copy.xml"]
    assert "without a matching scenario" in reasons[solution.name]
    stored = store.query("SELECT file, reason FROM rejected ORDER BY file").to_pylist()
    assert {Path(row["file"]).name: row["reason"] for row in stored} == reasons
    again = ingest([inbox], store)
    assert again.added == [] and len(again.rejected) == 4
    assert store.query("SELECT count(*) FROM rejected").column(0)[0].as_py() == 4
    assert dataset_name(inbox / good.name) == "mona"


def test_killed_ingest_resumes_to_exactly_the_clean_result(commonroad_root: Path, tmp_path: Path) -> None:
    files = [str(path) for path in sample_files(6)]
    command = [
        str(Path(sys.executable).parent / "drivestack"),
        "ingest",
        *files,
        "--workers",
        "2",
        "--batch-size",
        "2",
    ]
    clean = tmp_path / "clean"
    subprocess.run([*command, "--store", str(clean)], check=True, capture_output=True)
    resumed = tmp_path / "resumed"
    process = subprocess.Popen(
        [*command, "--store", str(resumed)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        manifest = resumed / "store.json"
        if manifest.exists() and json.loads(manifest.read_text())["generation"] >= 2:
            break
        time.sleep(0.01)
    assert process.poll() is None, "ingest finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # the parent and its workers, mid-run
    process.wait()
    partial = len(Store.open(resumed).scenario_ids())
    total = len(Store.open(clean).scenario_ids())
    assert 0 < partial < total
    subprocess.run([*command, "--store", str(resumed)], check=True, capture_output=True)
    rows = store_rows(Store.open(resumed))
    assert rows == store_rows(Store.open(clean))
    assert len(rows["scenarios"]) == len(set(rows["scenarios"])) == total
    on_disk = {p.relative_to(resumed).as_posix() for p in resumed.rglob("*.parquet")}
    assert on_disk == {entry.path for entry in Store.open(resumed).manifest.files}  # orphans cleaned


def test_an_unreadable_copy_cannot_keep_a_readable_one_out(commonroad_root: Path, tmp_path: Path) -> None:
    good = (commonroad_root / "mona" / "scenarios" / "C-DEU_MONAEast-2_1040_T-1119.xml.gz").read_bytes()
    inbox = tmp_path / "mona"
    inbox.mkdir()
    (inbox / "a-broken.xml.gz").write_bytes(good[:4000])  # sorts first and announces the same key
    (inbox / "b-good.xml.gz").write_bytes(good)
    store = Store.open(tmp_path / "store", create=True)
    first = ingest([inbox], store)
    assert first.added == []
    assert sorted(r.kind for r in first.rejected) == [RejectionKind.CONFLICT, RejectionKind.UNREADABLE]
    second = ingest([inbox], store)
    assert second.added == ["C-DEU_MONAEast-2_1040_T-1119@2020a"]
    assert [(Path(r.file).name, r.kind) for r in second.rejected] == [
        ("a-broken.xml.gz", RejectionKind.UNREADABLE)
    ]
    kinds = store.query("SELECT kind, count(*) AS n FROM rejected GROUP BY ALL").to_pylist()
    assert kinds == [{"kind": "unreadable", "n": 1}]


def test_identical_unreadable_files_are_all_rejected_and_an_xxe_solution_is_refused(
    commonroad_root: Path, tmp_path: Path
) -> None:
    """Issue 21 item 12: the second of two empty files was "skipped", an XXE solution file an orphan."""
    inbox = tmp_path / "highd"
    inbox.mkdir()
    (inbox / "empty.xml").write_bytes(b"")
    (inbox / "empty-copy.xml").write_bytes(b"")
    good = commonroad_root / "highd" / "scenarios" / "DEU_LocationCUpper6-1_65865_T-5940.cr.xml.gz"
    (inbox / good.name).write_bytes(good.read_bytes())
    (inbox / f"copy-{good.name}").write_bytes(good.read_bytes())
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY s SYSTEM "file:///etc/passwd">]>\n'
        '<CommonRoadSolution benchmark_id="KS2:TR2:&s;:2020a"/>\n'
    )
    (inbox / "xxe.solution.xml").write_text(xxe)
    store = Store.open(tmp_path / "store", create=True)
    for _ in range(2):  # the second run finds the same rejections (and the scenario stored)
        report = ingest([inbox], store)
        rejected = {Path(r.file).name: r for r in report.rejected}
        assert sorted(rejected) == ["empty-copy.xml", "empty.xml", "xxe.solution.xml"]
        assert all(r.kind == RejectionKind.UNREADABLE for r in rejected.values())
        assert "malformed XML" in rejected["empty.xml"].reason
        assert "malformed XML" in rejected["empty-copy.xml"].reason
        assert "DOCTYPE: document type declarations are not allowed" in rejected["xxe.solution.xml"].reason
        assert {Path(skip.file).name for skip in report.skipped} <= {good.name, f"copy-{good.name}"}
    assert store.query("SELECT count(*) FROM rejected").column(0)[0].as_py() == 3
    assert len(store.scenario_ids()) == 1


def test_commonroad_io_feature_files_round_trip_and_their_warnings_are_reported(
    commonroad_io_tests: Path, tmp_path: Path
) -> None:
    """Occupancies (set-based and phantom obstacles) and states read from intervals load back as
    read; a dropped sign reference is reported (warnings are not stored)."""
    names = ("test_reading_all.xml.gz", "test_reading_lanelets.xml.gz", "DEU_A9-3_1_T-1.xml.gz")
    files = [commonroad_io_tests / name for name in names]
    store = Store.open(tmp_path / "store", create=True)
    report = ingest(files, store, workers=1)
    assert report.rejected == [] and len(report.added) == 3
    assert [(Path(w.path or "").name, w.element) for w in report.warnings] == [
        ("test_reading_lanelets.xml.gz", "lanelet 100 / trafficSignRef")
    ]
    for path in files:
        scenario = read_scenario(path.resolve())
        key = scenario_key(scenario.scenario_id, scenario.format_version)
        assert_same(dataclasses.replace(scenario, warnings=()), store.load_scenario(key), key)
    phantoms = store.query("SELECT count(*) AS n FROM occupancies WHERE phantom").to_pylist()
    assert phantoms == [{"n": 3}]
