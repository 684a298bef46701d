"""Scenario sets and leak-free splits on constructed scenarios with known recording groups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from store_cases import rich_scenario

from drivestack.core.errors import ConfigError, StoreError
from drivestack.data.ingest import ingest_scenarios
from drivestack.data.sets import create_set, list_sets, set_definition, set_members, shared_groups, split_set
from drivestack.data.store import ScenarioFilter, Store

GROUP_SIZES = {"GroupA": 4, "GroupB": 3, "GroupC": 2, "GroupD": 1}
DRIVESTACK = str(Path(sys.executable).parent / "drivestack")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Ten scenarios in four recording groups (DEU_GroupA-1 ... DEU_GroupD-1) of sizes 4, 3, 2, 1."""
    opened = Store.open(tmp_path / "store", create=True)
    scenarios = [
        rich_scenario(f"DEU_{group}-1_{i}_T-1", shift=float(i))
        for group, size in GROUP_SIZES.items()
        for i in range(size)
    ]
    assert len(ingest_scenarios(opened, scenarios).added) == 10
    return opened


def test_sampling_is_deterministic_per_seed(store: Store) -> None:
    first = create_set(store, "a", where="recording_group <> 'DEU_GroupD-1'", limit=5, seed=3)
    again = create_set(store, "b", where="recording_group <> 'DEU_GroupD-1'", limit=5, seed=3)
    other = [create_set(store, f"s{seed}", limit=5, seed=seed) for seed in range(4)]
    assert first == again and len(first) == 5 and first == sorted(first)
    assert not any("GroupD" in key for key in first)
    assert len({tuple(members) for members in other}) > 1  # the seed matters
    assert set_members(store, "a") == first
    assert set_definition(store, "a").seed == 3
    assert store.scenario_ids(ScenarioFilter(set_name="a", limit=2)) == first[:2]


def test_existing_set_needs_replace(store: Store) -> None:
    create_set(store, "highway", where="recording_group = 'DEU_GroupA-1'")
    with pytest.raises(StoreError, match="already exists"):
        create_set(store, "highway")
    assert len(create_set(store, "highway", replace=True)) == 10
    assert list_sets(store).to_pylist()[0]["size"] == 10
    with pytest.raises(ConfigError):
        create_set(store, "no spaces")


def test_membership_is_stored_not_re_evaluated(store: Store) -> None:
    members = create_set(store, "all")
    ingest_scenarios(store, [rich_scenario("DEU_GroupE-1_0_T-1")])
    assert set_members(store, "all") == members
    assert len(store.scenario_ids()) == 11


def test_split_keeps_recording_groups_whole_and_approximates_ratios(store: Store) -> None:
    create_set(store, "all")
    parts = split_set(store, "all", by="recording", ratios=(0.8, 0.2), labels=("train", "val"))
    assert {name: len(keys) for name, keys in parts.items()} == {"all-train": 8, "all-val": 2}
    groups = {
        name: {key.split("_")[1] for key in keys} for name, keys in parts.items()
    }  # "DEU_GroupC-1_0_T-1@2020a" -> "GroupC-1"
    assert groups["all-val"] == {"GroupC-1"}
    assert not groups["all-train"] & groups["all-val"]
    assert shared_groups(store, ["all"]) == {}  # one split set expands to its parts
    assert set_definition(store, "all-val").split_of == "all"
    check = subprocess.run(
        [DRIVESTACK, "split-check", "all", "--store", str(store.root)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "no recording group is shared between all-train, all-val" in check.stdout


def test_check_fails_and_names_a_shared_group(store: Store) -> None:
    create_set(store, "early", where="scenario_id LIKE '%_0_T-1'")  # the first of each group
    create_set(store, "groupa", where="recording_group = 'DEU_GroupA-1'")
    assert shared_groups(store, ["early", "groupa"]) == {"DEU_GroupA-1": ["early", "groupa"]}
    check = subprocess.run(
        [DRIVESTACK, "split-check", "early", "groupa", "--store", str(store.root)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1
    assert "DEU_GroupA-1" in check.stdout and "LEAK" in check.stdout


def test_split_refuses_impossible_requests(store: Store) -> None:
    create_set(store, "two", where="recording_group IN ('DEU_GroupC-1', 'DEU_GroupD-1')")
    with pytest.raises(ConfigError, match="fewer than"):
        split_set(store, "two", ratios=(0.4, 0.3, 0.3))
    with pytest.raises(ConfigError, match=r"summing to 1, got 0\.8, 0\.3$"):
        split_set(store, "two", ratios=(0.8, 0.3))
    with pytest.raises(ConfigError, match="cannot split by"):
        split_set(store, "two", by="weather")
    with pytest.raises(StoreError, match="no set named"):
        split_set(store, "missing")
    by_scenario = split_set(store, "two", by="scenario", ratios=(0.5, 0.5))
    assert sorted(len(keys) for keys in by_scenario.values()) == [1, 2]
