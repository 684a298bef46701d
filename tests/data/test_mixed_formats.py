"""Everything downstream of the readers on a folder mixing formats: validate, ingest, mine, show,
simulate, bench, report and export-mcap on CommonRoad files next to units of the tests' fake format
(a multi-scenario file with one broken member, a folder unit) and a file of no format at all."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import fake_format
import pyarrow.parquet as pq
import pytest
from store_cases import assert_same
from typer.testing import CliRunner

from drivestack.bench import find_scenario, find_sources
from drivestack.cli import app
from drivestack.core.errors import ConfigError
from drivestack.data.formats.registry import EXTRA_READERS_VARIABLE, read_unit
from drivestack.data.ingest import RejectionKind, dataset_name, ingest
from drivestack.data.mining.runner import mine_store
from drivestack.data.sets import create_set, shared_groups, split_set
from drivestack.data.store import Store
from drivestack.data.store.tables import SCHEMAS

SMALL = "highd/scenarios/DEU_LocationCUpper6-1_65865_T-5940.cr.xml.gz"
SMALL_SOLUTION = "highd/solutions/DEU_LocationCUpper6-1_65865_T-5940.solution.xml.gz"
CR_KEY = "DEU_LocationCUpper6-1_65865_T-5940@2020a"
FAKE_KEYS = ["a@fake", "b@fake", "f@fake"]


@pytest.fixture(scope="module")
def mixed(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The mixed folder, with the fake reader registered for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EXTRA_READERS_VARIABLE, "fake_format")
        data = tmp_path_factory.mktemp("mixed") / "data"
        for name in (SMALL, SMALL_SOLUTION):
            (data / Path(name).parent).mkdir(parents=True, exist_ok=True)
            shutil.copy(commonroad_root / name, data / name)
        specs = {"a": '{"speed": 8}', "bad": "{not json", "b": '{"speed": 10}'}
        (data / "fake").mkdir()
        fake_format.write_file(data / "fake" / "many.fks", specs)
        fake_format.write_folder(data / "fake" / "logs" / "log-1", "f", 6.0)
        (data / "junk.bin").write_bytes(b"\x89PNG not a scenario")
        (data / "index.csv").write_text("file\n")
        yield data


@pytest.fixture(scope="module")
def store(mixed: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The mixed folder ingested in this process."""
    opened = Store.open(tmp_path_factory.mktemp("store") / "store", create=True)
    ingest([mixed], opened, workers=1, batch_size=2)
    return opened


def rows(store: Store) -> dict[str, list[str]]:
    """Every table's rows as sorted JSON lines, without the batch id (which differs between runs)."""
    found = {}
    for table in SCHEMAS:
        data = store.read_table(table)
        if "batch" in data.column_names:
            data = data.drop_columns(["batch"])
        found[table] = sorted(json.dumps(row, sort_keys=True, default=str) for row in data.to_pylist())
    return found


def test_validate_counts_each_member_and_rejects_the_bad_one_and_the_unknown_file(mixed: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(mixed), "--workers", "1"])
    assert result.exit_code == 1, result.output
    many = mixed / "fake" / "many.fks"
    assert result.stdout.splitlines() == [
        f"{many}#bad: member bad: not JSON (Expecting property name enclosed in double quotes)",
        f"{mixed / 'junk.bin'}: unknown format: no reader claims it (formats read: fake, "
        + result.stdout.split("(formats read: fake, ", 1)[1].split("\n", 1)[0],
        "5 loaded, 2 rejected",  # CommonRoad scenario + solution, members a and b, the folder unit
    ]


def test_ingest_stores_each_scenario_with_its_format_dataset_and_recording(mixed: Path, store: Store) -> None:
    index = store.index()
    assert sorted(index) == sorted([CR_KEY, *FAKE_KEYS])
    many = (mixed / "fake" / "many.fks").resolve()
    assert {key: index[key]["source_format"] for key in index} == {
        CR_KEY: "commonroad",
        **dict.fromkeys(FAKE_KEYS, "fake"),
    }
    assert index["a@fake"]["file"] == f"{many}#a"
    assert index["f@fake"]["file"] == f"{(mixed / 'fake' / 'logs' / 'log-1').resolve()}#f"
    assert {key: index[key]["recording_group"] for key in index} == {
        CR_KEY: "DEU_LocationCUpper6-1",
        **dict.fromkeys(FAKE_KEYS, "fake_straight"),
    }
    datasets = store.query("SELECT scenario_key, dataset FROM scenarios ORDER BY scenario_key").to_pylist()
    assert {row["scenario_key"]: row["dataset"] for row in datasets} == {
        CR_KEY: "highd",
        "a@fake": "fake",
        "b@fake": "fake",
        "f@fake": "logs",
    }
    assert {key: row["dataset"] for key, row in index.items()} == {
        row["scenario_key"]: row["dataset"] for row in datasets
    }
    rejected = {row["file"]: row["kind"] for row in store.read_table("rejected").to_pylist()}
    assert rejected == {
        f"{many}#bad": RejectionKind.UNREADABLE.value,
        str(mixed / "junk.bin"): RejectionKind.UNKNOWN.value,
    }
    assert_same(read_unit(many, "fake", "b"), store.load_scenario("b@fake"), "b@fake")


def test_reingest_skips_each_member_and_a_second_unit_with_a_stored_id_is_a_conflict(
    mixed: Path, store: Store, tmp_path: Path
) -> None:
    before = rows(store)
    again = ingest([mixed], store, workers=1)
    assert again.added == [] and len(again.skipped) == 4
    assert sorted(r.kind.value for r in again.rejected) == ["unknown_format", "unreadable"]
    other = fake_format.write_file(tmp_path / "other.fks", {"a": '{"speed": 3}', "c": '{"speed": 5}'})
    report = ingest([other], store, workers=1)
    assert report.added == ["c@fake"]
    assert [(r.file, r.kind) for r in report.rejected] == [(f"{other.resolve()}#a", RejectionKind.CONFLICT)]
    assert "a@fake is already stored from" in report.rejected[0].reason
    after = rows(store)
    assert after["tracks"] != before["tracks"]  # c was added ...
    a_rows = [row for row in after["tracks"] if '"scenario_key": "a@fake"' in row]
    assert a_rows == [row for row in before["tracks"] if '"scenario_key": "a@fake"' in row]  # ... a kept


def test_a_folder_unit_changes_only_with_the_files_its_reader_reads(
    tmp_path: Path, fake_reader: None
) -> None:
    folder = fake_format.write_folder(tmp_path / "data" / "log-1", "g", 7.0)
    store = Store.open(tmp_path / "store", create=True)
    assert ingest([folder], store).added == ["g@fake"]
    (folder / "lidar.bin").write_bytes(b"other sensor data")
    assert [skip.stored for skip in ingest([folder], store).skipped] == ["g@fake"]
    (folder / fake_format.FOLDER_MARKER).write_text(json.dumps({"id": "g", "speed": 9.0}))
    changed = ingest([folder], store)
    assert [(r.kind, r.scenario_key) for r in changed.rejected] == [(RejectionKind.CONFLICT, "g@fake")]


def test_worker_processes_store_the_same_rows(mixed: Path, store: Store, tmp_path: Path) -> None:
    parallel = Store.open(tmp_path / "store", create=True)
    ingest([mixed], parallel, workers=2, batch_size=1)
    mine = rows(store)
    theirs = rows(parallel)
    drop_c = {name: [row for row in table if '"c@fake"' not in row] for name, table in mine.items()}
    assert {name: sorted(table) for name, table in theirs.items() if name != "rejected"} == {
        name: table for name, table in drop_c.items() if name != "rejected"
    }


def test_one_source_per_member_and_loading_one_decodes_only_it(
    mixed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = mixed / "fake" / "many.fks"
    sources = find_sources(str(mixed))
    assert [source.name for source in sources] == sorted(
        [
            f"{mixed / 'fake' / 'logs' / 'log-1'}#f",
            f"{many}#a",
            f"{many}#b",
            f"{many}#bad",
            str(mixed / SMALL),
            str(mixed / "junk.bin"),
        ]
    )
    log = tmp_path / "decoded.txt"
    monkeypatch.setenv(fake_format.DECODE_LOG_VARIABLE, str(log))
    chosen = next(source for source in sources if source.member == "b")
    assert chosen.load().scenario_id == "b" and chosen.scenario_id == "b" and chosen.format == "fake"
    assert log.read_text().split() == ["b"]


def test_find_scenario_asks_for_a_member_of_a_multi_scenario_file(mixed: Path) -> None:
    many = mixed / "fake" / "many.fks"
    expected = r"holds 3 scenarios: name one as .*many.fks#a \(members: a, bad, b\)"
    with pytest.raises(ConfigError, match=expected):
        find_scenario(str(many))
    assert find_scenario(f"{many}#b").load().scenario_id == "b"
    assert find_scenario(str(mixed / "fake" / "logs" / "log-1")).member == "f"
    assert find_scenario(str(mixed / SMALL)).solutions == (str(mixed / SMALL_SOLUTION),)


def test_mine_show_and_split_by_recording(store: Store, tmp_path: Path) -> None:
    report = mine_store(store, ["hard_braking", "dense_traffic", "lane_change"])
    assert report.failures == [] and report.scenarios == len(store.index())
    picture = tmp_path / "b.png"
    result = CliRunner().invoke(app, ["show", "b@fake", "--store", str(store.root), "--png", str(picture)])
    assert result.exit_code == 0, result.output
    assert picture.stat().st_size > 10_000 and "b@fake" in result.stdout
    create_set(store, "mixed")
    parts = split_set(store, "mixed", by="recording", ratios=(0.5, 0.5), replace=True)
    assert sorted(map(len, parts.values())) == [1, len(store.index()) - 1]  # the CR drive | the fake ones
    assert shared_groups(store, ["mixed"]) == {}


def test_simulate_bench_report_and_export_on_the_mixed_folder(mixed: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    many = mixed / "fake" / "many.fks"
    simulated = runner.invoke(app, ["simulate", f"{many}#a", "--planner", "log-replay"])
    assert simulated.exit_code == 0, simulated.output
    out = tmp_path / "bench"
    bench = runner.invoke(app, ["bench", str(mixed), "--planner", "drivestack,log-replay", "--out", str(out)])
    assert bench.exit_code == 1 and "4 run(s) errored" in bench.output, bench.output  # the two bad units
    table = pq.read_table(out / "results.parquet").to_pylist()
    by_source = {(row["source"], row["planner"]): row for row in table}
    for name, key in ((f"{many}#a", "a@fake"), (str(mixed / SMALL), CR_KEY)):
        replayed = by_source[(name, "log-replay")]
        assert replayed["status"] == "ok" and replayed["scenario_key"] == key
        assert replayed["score"] >= 0.9 and replayed["at_fault_collisions"] == 0
        assert by_source[(name, "drivestack")]["status"] == "ok"
    assert by_source[(f"{mixed / 'fake' / 'logs' / 'log-1'}#f", "drivestack")]["scenario_key"] == "f@fake"
    assert "not JSON" in by_source[(f"{many}#bad", "drivestack")]["error"]
    assert "unknown format" in by_source[(str(mixed / "junk.bin"), "drivestack")]["error"]
    report = runner.invoke(app, ["report", str(out), "--worst", "1"])
    assert report.exit_code == 0, report.output
    html = (out / "report.html").read_text()
    assert "<td>b</td>" in html and "<td>f</td>" in html and "member bad: not JSON" in html
    mcap = tmp_path / "a.mcap"
    exported = runner.invoke(app, ["export-mcap", str(out), "a@fake", str(mcap), "--planner", "drivestack"])
    assert exported.exit_code == 0, exported.output
    assert mcap.read_bytes()[:8] == b"\x89MCAP0\r\n"


def test_a_unit_whose_members_cannot_be_listed_is_rejected_whole_until_it_is_fixed(
    tmp_path: Path, fake_reader: None
) -> None:
    broken = tmp_path / "data" / "broken.fks"
    broken.parent.mkdir()
    broken.write_bytes(fake_format.MAGIC + b"no tab on this line\n")
    store = Store.open(tmp_path / "store", create=True)
    report = ingest([broken.parent], store)
    assert [(r.file, r.kind) for r in report.rejected] == [(str(broken.resolve()), RejectionKind.UNREADABLE)]
    assert report.rejected[0].reason == f"{broken.resolve()}: line 2: expected '<id>\\t<json>'"
    fake_format.write_file(broken, {"z": '{"speed": 4}'})
    fixed = ingest([broken.parent], store)
    assert fixed.added == ["z@fake"] and fixed.rejected == []
    assert store.read_table("rejected").num_rows == 0


@pytest.mark.parametrize(
    ("unit", "dataset"),
    [
        ("highd/scenarios/x.cr.xml.gz", "highd"),
        ("ngsim/2018b/x.xml", "ngsim"),
        ("womd/uncompressed/scenario/training/training.tfrecord-00000-of-01000", "womd"),
        ("av2/motion-forecasting/train/0a1e6f0a", "motion-forecasting"),  # a folder unit
        ("scenarionet/nuplan/v1.1/Mini/sd_nuplan.pkl", "nuplan"),  # "mini" is a split
        ("Data Sets/NuScenes Mini/val/x.pkl", "nuscenes_mini"),
    ],
)
def test_dataset_is_the_nearest_folder_that_is_no_container_split_or_version(
    tmp_path: Path, unit: str, dataset: str
) -> None:
    assert dataset_name(tmp_path / unit) == dataset


def test_two_units_with_one_id_in_one_run_keep_the_first_committed_and_leave_no_stray_files(
    tmp_path: Path, fake_reader: None
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    fake_format.write_file(data / "one.fks", {"d": '{"speed": 5}', "e": '{"speed": 6}'})
    fake_format.write_file(data / "two.fks", {"d": '{"speed": 7}'})
    store = Store.open(tmp_path / "store", create=True)
    report = ingest([data], store, batch_size=1)
    assert sorted(report.added) == ["d@fake", "e@fake"]
    assert [(r.kind, r.scenario_key) for r in report.rejected] == [(RejectionKind.CONFLICT, "d@fake")]
    kept = str(store.index()["d@fake"]["file"])
    assert report.rejected[0].file != kept and kept.endswith("#d")
    on_disk = {p.relative_to(store.root).as_posix() for p in store.root.rglob("*.parquet")}
    assert on_disk == {entry.path for entry in store.manifest.files}
    assert store.query("SELECT count(*) AS n FROM agents WHERE scenario_key = 'd@fake'").to_pylist() == [
        {"n": 2}
    ]
