"""The store on constructed scenarios: exact round trips, keys, tags, read-only SQL and damaged stores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from store_cases import assert_same, rich_scenario

from drivestack.core.errors import ConfigError, StoreError
from drivestack.data.ingest import ingest_scenarios
from drivestack.data.store import ScenarioFilter, Store
from drivestack.data.store.layout import SCHEMA_VERSION, remove_orphans
from drivestack.data.tags import Tag


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes (to prove an operation changed nothing)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store holding two rich constructed scenarios: DEU_Rich-1_1_T-1@2020a and DEU_Rich-2_1_T-1@2020a."""
    opened = Store.open(tmp_path / "store", create=True)
    report = ingest_scenarios(opened, [rich_scenario(), rich_scenario("DEU_Rich-2_1_T-1", shift=1.0)])
    assert report.added == ["DEU_Rich-1_1_T-1@2020a", "DEU_Rich-2_1_T-1@2020a"]
    return opened


def test_load_scenario_rebuilds_every_field(store: Store) -> None:
    reopened = Store.open(store.root)
    assert_same(rich_scenario(), reopened.load_scenario("DEU_Rich-1_1_T-1@2020a"))
    assert_same(rich_scenario("DEU_Rich-2_1_T-1", shift=1.0), reopened.load_scenario("DEU_Rich-2_1_T-1"))


def test_occupancies_are_stored_one_row_per_obstacle_and_step(store: Store) -> None:
    rows = store.query(
        "SELECT obstacle_id, phantom, count(*) AS n FROM occupancies WHERE scenario_key = $1 GROUP BY ALL "
        "ORDER BY 1",
        ["DEU_Rich-1_1_T-1@2020a"],
    ).to_pylist()
    assert rows == [
        {"obstacle_id": 14, "phantom": False, "n": 2},
        {"obstacle_id": 95, "phantom": True, "n": 3},
    ]


def test_tables_hold_one_row_per_valid_state_and_maps_are_shared(store: Store) -> None:
    counts = store.query("SELECT scenario_key, count(*) AS n FROM tracks GROUP BY ALL ORDER BY 1").to_pylist()
    valid = int(rich_scenario().tracks.valid.sum())
    assert counts == [
        {"scenario_key": "DEU_Rich-1_1_T-1@2020a", "n": valid},
        {"scenario_key": "DEU_Rich-2_1_T-1@2020a", "n": valid},
    ]
    assert store.query("SELECT count(*) AS n FROM maps").to_pylist() == [{"n": 1}]
    row = store.query("SELECT * FROM scenarios WHERE scenario_id = 'DEU_Rich-1_1_T-1'").to_pylist()[0]
    assert row["dataset"] == "constructed"
    assert row["recording_group"] == "DEU_Rich-1"
    assert (row["num_agents"], row["num_cars"], row["num_pedestrians"], row["num_other_agents"]) == (
        3,
        1,
        1,
        1,
    )
    assert (row["num_track_rows"], row["has_traffic_lights"], row["has_recorded_ego"]) == (valid, True, True)
    assert row["tags"] == ["urban", "intersection"]


def test_same_scenario_is_skipped_and_other_content_under_a_stored_key_is_rejected(store: Store) -> None:
    before = snapshot(store.root)
    again = ingest_scenarios(store, [rich_scenario()])
    assert (again.added, len(again.skipped), again.rejected) == ([], 1, [])
    assert snapshot(store.root) == before
    other = ingest_scenarios(store, [rich_scenario(shift=5.0)])
    assert other.added == [] and len(other.rejected) == 1
    assert "already stored with other content" in other.rejected[0].reason
    assert_same(rich_scenario(), store.load_scenario("DEU_Rich-1_1_T-1@2020a"))


def test_other_format_version_of_the_same_id_gets_its_own_key(store: Store) -> None:
    older = dataclasses.replace(rich_scenario(shift=2.0), format_version="2018b")
    assert ingest_scenarios(store, [older]).added == ["DEU_Rich-1_1_T-1@2018b"]
    with pytest.raises(StoreError, match="ambiguous"):
        store.load_scenario("DEU_Rich-1_1_T-1")
    assert_same(older, store.load_scenario("DEU_Rich-1_1_T-1@2018b"))
    with pytest.raises(StoreError, match="no scenario"):
        store.load_scenario("DEU_Nothing-1_1_T-1")


def test_scenario_filter_combines_where_tags_sets_and_limit(store: Store) -> None:
    assert store.scenario_ids() == ["DEU_Rich-1_1_T-1@2020a", "DEU_Rich-2_1_T-1@2020a"]
    assert store.scenario_ids(ScenarioFilter(where="scenario_id LIKE '%Rich-2%'")) == [
        "DEU_Rich-2_1_T-1@2020a"
    ]
    assert store.scenario_ids(ScenarioFilter(tags=("urban",), limit=1)) == ["DEU_Rich-1_1_T-1@2020a"]
    assert store.scenario_ids(ScenarioFilter(tags=("urban", "cut_in"))) == []
    # a trailing SQL comment in `where` cannot swallow the other conditions
    assert store.scenario_ids(ScenarioFilter(where="true -- comment", tags=("cut_in",))) == []
    with pytest.raises(StoreError, match="no set named"):
        store.scenario_ids(ScenarioFilter(set_name="missing"))
    with pytest.raises(ConfigError):
        store.scenario_ids(ScenarioFilter(limit=-1))


def test_replace_tags_replaces_exactly_the_given_scenarios(store: Store) -> None:
    one, two = store.scenario_ids()
    store.replace_tags("hard_braking", 1, [one, two], [Tag(one, "hard_braking", 11, 2, 4, -3.5)])
    assert store.mined("hard_braking", 1) == {one, two}
    assert store.mined("hard_braking", 2) == set()
    assert store.scenario_ids(ScenarioFilter(tags=("hard_braking",))) == [one]
    store.replace_tags("hard_braking", 2, [two], [Tag(two, "hard_braking", 12, 0, 1, -4.0, 7)])
    sql = "SELECT scenario_key, agent_id, planning_problem_id, version FROM tags ORDER BY 1"
    assert store.query(sql).to_pylist() == [
        {"scenario_key": one, "agent_id": 11, "planning_problem_id": -1, "version": 1},
        {"scenario_key": two, "agent_id": 12, "planning_problem_id": 7, "version": 2},
    ]
    assert (store.mined("hard_braking", 1), store.mined("hard_braking", 2)) == ({one}, {two})
    store.replace_tags("cut_in", 1, [one], [])
    assert store.mined("cut_in", 1) == {one}
    assert Store.open(store.root).query("SELECT count(*) AS n FROM tags").to_pylist() == [{"n": 2}]
    with pytest.raises(StoreError, match="not being replaced"):
        store.replace_tags("cut_in", 1, [one], [Tag(two, "cut_in", 1, 0, 1, 1.0)])
    with pytest.raises(ConfigError):
        store.replace_tags("bad name; drop", 1, [one], [])


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO '{out}'",
        "COPY tracks TO '{out}' (FORMAT parquet)",
        "ATTACH '{out}' AS other",
        "INSTALL httpfs",
        "CREATE TABLE t AS SELECT 1",
        "DROP VIEW tracks",
        "SET enable_external_access = true",
        "SELECT 1; COPY (SELECT 1) TO '{out}'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('{manifest}')",
        "DELETE FROM scenarios",
        "PRAGMA enable_profiling",
    ],
)
def test_query_refuses_anything_but_reading(store: Store, sql: str, tmp_path: Path) -> None:
    out = tmp_path / "escape.out"
    before = snapshot(store.root)
    with pytest.raises(StoreError):
        store.query(sql.format(out=out, manifest=store.root / "store.json"))
    assert not out.exists()
    assert snapshot(store.root) == before
    assert store.query("SELECT count(*) AS n FROM scenarios").to_pylist() == [{"n": 2}]


def test_invalid_sql_is_a_one_line_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="invalid SQL") as info:
        store.query("SELEC * FROM scenarios")
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match="query failed"):
        store.query("SELECT no_such_column FROM scenarios")


def test_missing_store_and_other_schemas_are_refused(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StoreError, match="no drivestack store"):
        Store.open(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()
    manifest = store.root / "store.json"
    payload = json.loads(manifest.read_text())
    payload["schema_version"] = SCHEMA_VERSION + 1
    manifest.write_text(json.dumps(payload))
    before = snapshot(store.root)
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Store.open(store.root)
    payload["schema_version"] = 1  # before tags named their planning problem
    manifest.write_text(json.dumps(payload))
    with pytest.raises(StoreError, match=r"old schema version 1 .*planning_problem_id.*re-ingest"):
        Store.open(store.root)
    manifest.write_text("{not json")
    with pytest.raises(StoreError, match="unreadable store manifest"):
        Store.open(store.root)
    assert snapshot(store.root).keys() == before.keys()


def test_corrupted_parquet_file_is_a_store_error_and_changes_nothing(store: Store) -> None:
    tracks = store.root / store.manifest.table_files("tracks")[0].path
    data = bytearray(tracks.read_bytes())
    middle = slice(4, len(data) // 2)
    data[middle] = b"\x00" * (middle.stop - middle.start)  # same size, damaged pages, intact footer
    tracks.write_bytes(bytes(data))
    before = snapshot(store.root)
    damaged = Store.open(store.root)
    with pytest.raises(StoreError, match=r"corrupted data file .*part-") as info:
        damaged.query("SELECT * FROM tracks")
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match="corrupted"):
        damaged.load_scenario("DEU_Rich-1_1_T-1@2020a")
    tracks.write_bytes(bytes(data[:-10]))  # truncated: caught when opening
    with pytest.raises(StoreError, match="corrupted data file"):
        Store.open(store.root)
    assert snapshot(store.root).keys() == before.keys()


def test_uncommitted_files_are_invisible_and_cleaned_by_the_next_writer(store: Store) -> None:
    stray = store.root / "tracks" / "dataset=constructed" / "part-0000.parquet"
    table = store.query("SELECT * EXCLUDE (dataset) FROM tracks")
    pq.write_table(table, stray)
    (store.root / "tracks" / "_tmp-half.parquet").write_bytes(b"PAR1 half written")
    assert store.query("SELECT count(*) AS n FROM tracks").to_pylist() == [{"n": table.num_rows}]
    assert remove_orphans(store.root, store.manifest, ["maps"]) == []  # only the named tables
    store.replace_tags("cut_in", 1, [], [])  # any writer cleans up first
    assert not stray.exists() and not (store.root / "tracks" / "_tmp-half.parquet").exists()
    assert store.query("SELECT count(*) AS n FROM tracks").to_pylist() == [{"n": table.num_rows}]


def test_readers_follow_commits_of_other_writers(store: Store) -> None:
    reader = Store.open(store.root)
    assert len(reader.scenario_ids()) == 2
    ingest_scenarios(store, [rich_scenario("DEU_Rich-3_1_T-1")])
    assert len(reader.scenario_ids()) == 3
    assert isinstance(reader.query("SELECT * FROM scenarios"), pa.Table)
