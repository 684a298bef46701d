"""The mining runner over a small store of built scenes: incremental, idempotent, failures retried."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from scenes import LANE_WIDTH, Ego, braking, changing_lanes, moving, scenario, straight_road

from drivestack.data.ingest import ingest_scenarios
from drivestack.data.mining import REGISTRY
from drivestack.data.mining.runner import mine_store, tag_counts
from drivestack.data.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with two built scenes: one with a hard-braking car and a lane change, one quiet."""
    road = straight_road(num_lanes=2)
    busy = scenario(
        road,
        [braking(10, 40.0, LANE_WIDTH, 20.0, 5.0), changing_lanes(11, 60.0, 15.0, 0.0, LANE_WIDTH, start=10)],
        Ego(moving(0, 10.0, 0.0, 15.0)),
        scenario_id="TEST_Busy-1_1_T-1",
    )
    quiet = scenario(
        road, [moving(10, 80.0, 0.0, 15.0)], Ego(moving(0, 10.0, 0.0, 15.0)), scenario_id="TEST_Quiet-1_1_T-1"
    )
    created = Store.open(tmp_path / "store", create=True)
    ingest_scenarios(created, [busy, quiet])
    return created


def test_mining_tags_the_store_and_a_rerun_adds_nothing(store: Store) -> None:
    first = mine_store(store)
    assert first.scenarios == 2 and not first.failures
    assert all(count == 2 for count in first.mined.values())
    counts = {tag: (scenarios, rows) for tag, scenarios, rows in tag_counts(store)}
    assert counts["hard_braking"] == (1, 1) and counts["lane_change"] == (1, 1)
    again = mine_store(store)
    assert again.scenarios == 0 and set(again.already.values()) == {2}
    assert {tag: (scenarios, rows) for tag, scenarios, rows in tag_counts(store)} == counts


def test_a_new_detector_version_re_mines_only_that_detector(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine_store(store)
    monkeypatch.setitem(REGISTRY, "hard_braking", dataclasses.replace(REGISTRY["hard_braking"], version=2))
    report = mine_store(store)
    assert report.mined == {name: (2 if name == "hard_braking" else 0) for name in REGISTRY}
    rows = store.query("SELECT DISTINCT version FROM tags WHERE tag = 'hard_braking'").column(0).to_pylist()
    assert rows == [2]


def test_a_failing_detector_is_reported_and_retried(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> list[object]:
        raise ValueError("boom")

    original = REGISTRY["merge"]
    monkeypatch.setitem(REGISTRY, "merge", dataclasses.replace(original, function=broken))
    report = mine_store(store, ["merge", "high_speed"])
    assert {(failure.detector, failure.error) for failure in report.failures} == {
        ("merge", "ValueError: boom")
    }
    assert report.mined == {"merge": 0, "high_speed": 2}
    monkeypatch.setitem(REGISTRY, "merge", original)
    assert mine_store(store, ["merge"]).mined == {"merge": 2}


def test_two_worker_processes_find_the_same_tags(store: Store, tmp_path: Path) -> None:
    mine_store(store, workers=2, batch_size=1)
    in_workers = sorted(store.query("SELECT * EXCLUDE (version) FROM tags").to_pylist(), key=str)
    other = Store.open(tmp_path / "other", create=True)
    ingest_scenarios(other, [store.load_scenario(key) for key in store.scenario_ids()])
    mine_store(other)
    assert sorted(other.query("SELECT * EXCLUDE (version) FROM tags").to_pylist(), key=str) == in_workers
