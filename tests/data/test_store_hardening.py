"""The store against hostile queries and damaged or crafted stores (issue 21, items 4, 8, 9 and 12), on
recorded highD scenarios: bounded queries, manifest paths confined to the store, checksummed files,
PIVOT accepted while writes stay refused, and strict set names."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from drivestack.core.errors import ConfigError, StoreError
from drivestack.data.ingest import ingest
from drivestack.data.sets import create_set
from drivestack.data.store import Store
from drivestack.data.tags import Tag

if TYPE_CHECKING:
    from drivestack.data.query_limits import QueryLimits

DRIVESTACK = str(Path(sys.executable).parent / "drivestack")
LAUNCHER = Path(__file__).parents[1] / "measured_launch.py"
HIGHD_SCENARIOS = 3


def run(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the real `drivestack` command; (its result, its own peak resident memory [kB], measured by
    `measured_launch.py`)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage.txt"
        result = subprocess.run(
            [sys.executable, str(LAUNCHER), "-1", str(report), DRIVESTACK, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "250"},
            check=False,
        )
        code, _, peak_kib = report.read_text().split()
    return subprocess.CompletedProcess(result.args, int(code), result.stdout, result.stderr), int(peak_kib)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line a failed command printed on stderr (asserted to be exactly one line)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def highd_store(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the first highD scenarios (index.csv order) with their recorded-ego solutions."""
    folder = commonroad_root / "highd"
    with (folder / "index.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:HIGHD_SCENARIOS]
    files = [folder / row[column] for row in rows for column in ("file", "ego_solution_file")]
    root = tmp_path_factory.mktemp("highd") / "store"
    report = ingest(files, Store.open(root, create=True), workers=1)
    assert len(report.added) == HIGHD_SCENARIOS and not report.rejected
    return root


@pytest.fixture
def store(highd_store: Path, tmp_path: Path) -> Store:
    """A private copy of the highD store (tests damage it)."""
    root = tmp_path / "store"
    shutil.copytree(highd_store, root)
    return Store.open(root)


# --------------------------------------------------------------------------- item 4: bounded queries


def test_memory_limit_stops_a_huge_aggregate_in_one_line_and_bounded_memory(highd_store: Path) -> None:
    sql = "SELECT length(string_agg(range::VARCHAR, ',')) AS n FROM range(40000000)"  # ~2 GB unbounded
    result, peak_kb = run("query", sql, "--store", str(highd_store), "--memory-mib", "64")
    assert "memory limit of 64 MiB (--memory-mib)" in one_error_line(result)
    assert peak_kb < 600_000, f"peak {peak_kb} kB"


def test_result_larger_than_the_memory_limit_is_refused_while_streaming(store: Store) -> None:
    bounded = Store.open(store.root, limits=_limits(memory_mib=32))
    with pytest.raises(StoreError, match="result is larger than the memory limit of 32 MiB"):
        bounded.query("SELECT * FROM range(20000000)")  # 160 MB of int64
    assert bounded.query("SELECT count(*) AS n FROM scenarios").to_pylist() == [{"n": HIGHD_SCENARIOS}]


def test_timeout_interrupts_a_triple_cross_join_and_the_store_stays_usable(highd_store: Path) -> None:
    sql = "SELECT count(*) FROM tracks AS a, tracks AS b, tracks AS c WHERE a.x + b.x + c.x > 0"
    started = time.monotonic()
    result, _ = run("query", sql, "--store", str(highd_store), "--timeout", "1")
    assert time.monotonic() - started < 30
    assert "ran longer than the time limit of 1 s (--timeout)" in one_error_line(result)
    store = Store.open(highd_store, limits=_limits(timeout_s=0.5))
    with pytest.raises(StoreError, match=r"time limit of 0\.5 s"):
        store.query(sql)
    assert store.query("SELECT count(*) AS n FROM scenarios").to_pylist() == [{"n": HIGHD_SCENARIOS}]


def test_limits_are_set_and_locked_and_nothing_spills_to_disk(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounded = Store.open(store.root, limits=_limits(memory_mib=64, threads=1))
    settings = bounded.query(
        "SELECT current_setting('memory_limit') AS memory, current_setting('threads') AS threads, "
        "current_setting('temp_directory') AS temp"
    ).to_pylist()[0]
    assert (settings["memory"], settings["threads"], settings["temp"]) == ("64.0 MiB", 1, "")
    with pytest.raises(StoreError, match="read-only"):
        bounded.query("SET memory_limit = '10GB'")
    monkeypatch.chdir(tmp_path)  # DuckDB's default spill folder is ./.tmp
    with pytest.raises(StoreError, match="memory limit of 64 MiB"):
        bounded.query("SELECT count(*) FROM (SELECT range FROM range(20000000) ORDER BY hash(range))")
    assert not (tmp_path / ".tmp").exists()


def test_long_results_show_the_first_rows_as_a_table_and_point_to_csv(highd_store: Path) -> None:
    rows = Store.open(highd_store).query("SELECT count(*) AS n FROM tracks").to_pylist()[0]["n"]
    assert rows > 500
    sql = "SELECT scenario_key, agent_id, step FROM tracks"
    table, _ = run("query", sql, "--store", str(highd_store))
    assert table.returncode == 0, table.stderr
    assert f"{rows} rows (first 500 shown)" in table.stdout
    assert len([line for line in table.stdout.splitlines() if line.startswith("│")]) == 500
    assert "use --format csv" in table.stderr
    short, _ = run(
        "query",
        sql,
        "--store",
        str(highd_store),
        "--table-rows",
        "7",
    )
    assert len([line for line in short.stdout.splitlines() if line.startswith("│")]) == 7
    csv_out, _ = run(
        "query",
        sql,
        "--store",
        str(highd_store),
        "--format",
        "csv",
    )
    assert len(csv_out.stdout.splitlines()) == rows + 1 and csv_out.stderr == ""
    json_out, _ = run(
        "query",
        sql,
        "--store",
        str(highd_store),
        "--format",
        "json",
    )
    assert len(json.loads(json_out.stdout)) == rows


# --------------------------------------------------------------------------- item 8: confined manifest paths


def _add_entry(root: Path, **entry: object) -> None:
    manifest = root / "store.json"
    payload = json.loads(manifest.read_text())
    payload["files"].append({"part": "detector:cut_in", "dataset": None, **entry})
    manifest.write_text(json.dumps(payload))


def test_a_manifest_entry_outside_the_store_is_refused_and_the_other_store_keeps_its_file(
    store: Store, tmp_path: Path
) -> None:
    victim_root = tmp_path / "V"
    shutil.copytree(store.root, victim_root)
    victim = Store.open(victim_root)
    key = victim.scenario_ids()[0]
    victim.replace_tags("cut_in", 1, [key], [Tag(key, "cut_in", 1, 0, 3, 1.0)])
    target = victim.manifest.table_files("tags")[0]
    _add_entry(store.root, table="tags", path=f"../V/{target.path}", bytes=target.bytes)
    with pytest.raises(StoreError, match=r"file entry \d+ \('\.\./V/tags/part-.*'\) is not a data file"):
        Store.open(store.root)
    with pytest.raises(StoreError):
        store.replace_tags("cut_in", 1, [], [])  # the writer re-reads the manifest: refused, deletes nothing
    assert (victim_root / target.path).exists()
    assert victim.query("SELECT count(*) AS n FROM tags").to_pylist() == [{"n": 1}]


@pytest.mark.parametrize(
    "entry",
    [
        {"table": "tags", "path": "/etc/passwd"},
        {"table": "tags", "path": "tags/../../V/tags/part-0123456789abcdef0123456789abcdef.parquet"},
        {"table": "..", "path": "../part-0123456789abcdef0123456789abcdef.parquet"},
        {"table": "tags", "path": "tracks/part-0123456789abcdef0123456789abcdef.parquet"},
        {"table": "tags", "path": "tags/store.json"},
        {"table": "tags", "path": "tags/part-0123456789abcdef0123456789abcdef.parquet", "dataset": ".."},
        {"table": "tags", "path": 7},
    ],
)
def test_every_manifest_path_must_be_a_data_file_of_the_store(store: Store, entry: dict[str, object]) -> None:
    _add_entry(store.root, bytes=10, **entry)
    with pytest.raises(StoreError, match=r"store\.json: file entry \d+ ") as info:
        Store.open(store.root)
    assert "\n" not in str(info.value)


def test_a_symbolic_link_leading_out_of_the_store_is_refused(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(store.root / "tracks", outside)
    shutil.rmtree(store.root / "tracks")
    (store.root / "tracks").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError, match=r"\(.tracks/.*.\) lies in a folder that is a symbolic link"):
        Store.open(store.root)
    (store.root / "tracks").unlink()
    shutil.copytree(outside, store.root / "tracks")
    entry = store.manifest.table_files("agents")[0]
    moved = outside / "agents.parquet"
    (store.root / entry.path).rename(moved)
    (store.root / entry.path).symlink_to(moved)  # one file linked out, same bytes
    with pytest.raises(StoreError, match=f"{entry.path}: committed data file of table agents is a symbolic"):
        Store.open(store.root)
    check, _ = run("store", "check", "--store", str(store.root))
    assert check.returncode == 1 and f"agents: {store.root / entry.path}: is a symbolic link" in check.stdout


# --------------------------------------------------------------------------- item 9: checksums


def _flip_one_byte(path: Path) -> None:
    """Same size, footer intact: one byte inside the data pages inverted."""
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


def test_each_committed_file_carries_its_sha256(store: Store) -> None:
    payload = json.loads((store.root / "store.json").read_text())
    assert payload["manifest_version"] == 2
    for entry in store.manifest.files:
        assert entry.sha256 == hashlib.sha256((store.root / entry.path).read_bytes()).hexdigest()


def test_a_flipped_byte_is_named_by_store_check_and_refused_by_load_scenario(store: Store) -> None:
    healthy, _ = run("store", "check", "--store", str(store.root))
    assert healthy.returncode == 0 and healthy.stdout.startswith("ok:"), healthy.stdout + healthy.stderr
    tracks = store.manifest.table_files("tracks")[0]
    _flip_one_byte(store.root / tracks.path)
    damaged = Store.open(store.root)  # open stays cheap: size and footer still match
    check, _ = run("store", "check", "--store", str(store.root))
    assert check.returncode == 1
    assert f"tracks: {store.root / tracks.path}: SHA-256 differs" in check.stdout
    assert check.stdout.splitlines()[-1].startswith("1 of ")
    key = damaged.query(
        "SELECT scenario_key FROM scenarios WHERE batch = $1 LIMIT 1", [tracks.part]
    ).to_pylist()[0]["scenario_key"]
    with pytest.raises(StoreError, match=f"{tracks.path}: corrupted data file of table tracks .*SHA-256"):
        damaged.load_scenario(key)


def test_a_store_without_checksums_opens_and_store_check_says_it_cannot_verify(store: Store) -> None:
    manifest = store.root / "store.json"
    payload = json.loads(manifest.read_text())
    del payload["manifest_version"]
    for entry in payload["files"]:
        del entry["sha256"]
    manifest.write_text(json.dumps(payload))
    older = Store.open(store.root)
    assert older.query("SELECT count(*) AS n FROM scenarios").to_pylist() == [{"n": HIGHD_SCENARIOS}]
    older.load_scenario(older.scenario_ids()[0])
    check, _ = run("store", "check", "--store", str(store.root))
    assert check.returncode == 1 and "no checksum recorded" in check.stdout
    payload["manifest_version"] = 99
    manifest.write_text(json.dumps(payload))
    with pytest.raises(StoreError, match=r"manifest version 99 .*upgrade drivestack"):
        Store.open(store.root)


# --------------------------------------------------------------------------- item 12: PIVOT and set names


def test_pivot_and_explain_are_read_only_queries(store: Store) -> None:
    pivot = store.query("PIVOT scenarios ON dataset USING count(*) GROUP BY recording_group").to_pylist()
    assert pivot == [{"recording_group": "DEU_LocationALower26-1", "highd": HIGHD_SCENARIOS}]
    nested = store.query(
        "SELECT * FROM (PIVOT (SELECT agent_type FROM tracks) ON agent_type USING count(*)) AS p"
    ).to_pylist()
    assert sum(nested[0].values()) == store.query("SELECT count(*) AS n FROM tracks").to_pylist()[0]["n"]
    assert store.query("EXPLAIN SELECT count(*) FROM tracks").num_rows == 1
    # the temporary enum type a PIVOT creates is rolled back with its query
    assert store.query("SELECT count(*) AS n FROM duckdb_types() WHERE NOT internal").to_pylist() == [
        {"n": 0}
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t AS PIVOT scenarios ON dataset USING count(*)",
        "COPY (PIVOT scenarios ON dataset USING count(*)) TO '{out}'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "CALL pragma_version()",
    ],
)
def test_writes_wrapped_in_pivot_or_explain_are_still_refused(store: Store, sql: str, tmp_path: Path) -> None:
    out = tmp_path / "escape.out"
    with pytest.raises(StoreError, match="the store is read-only"):
        store.query(sql.format(out=out))
    assert not out.exists()
    assert store.query("SELECT count(*) AS n FROM duckdb_tables()").to_pylist() == [{"n": 0}]


@pytest.mark.parametrize("name", ["train\n", "train\r", "tab\tname", "-lead", "x" * 65, "", "név"])
def test_set_names_outside_the_documented_pattern_are_refused(store: Store, name: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        create_set(store, name)
    assert store.set_names() == []
    assert create_set(store, "highd_v1.train-2") == store.scenario_ids()


def _limits(**values: float) -> QueryLimits:
    """QueryLimits with these fields (imported here, so the other tests run on a drivestack without it)."""
    from drivestack.data.query_limits import QueryLimits

    return QueryLimits(**values)  # type: ignore[arg-type]
