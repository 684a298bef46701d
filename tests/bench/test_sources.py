"""Scenario sources: files, folders and re-timing of recordings whose declared step is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import scenes

from drivestack.bench.sources import find_scenario, find_sources, retimed
from drivestack.core.errors import ConfigError
from drivestack.data.formats.commonroad import read_scenario


def test_consistent_scene_is_left_alone() -> None:
    scenario = scenes.scenario(scenes.straight_road(), [scenes.moving(2, 0.0, 0.0, 10.0)], num_steps=50)
    assert retimed(scenario) is scenario


def test_scene_moving_twice_its_speed_gets_twice_the_step() -> None:
    agents = [scenes.moving(2, 0.0, 0.0, 10.0), scenes.moving(3, 0.0, 3.5, 7.0)]
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 5.0, 0.0, 8.0))
    scenario = scenes.scenario(scenes.straight_road(), agents, ego, num_steps=50)
    halved = dataclasses.replace(scenario.tracks, speed=scenario.tracks.speed / 2.0)
    fixed = retimed(dataclasses.replace(scenario, tracks=halved))
    assert fixed.dt == 2 * scenes.DT and fixed.recorded_egos[0].trajectory.dt == 2 * scenes.DT
    assert fixed.num_steps == scenario.num_steps and fixed.tracks is halved


def test_non_integer_ratio_is_left_alone() -> None:
    scenario = scenes.scenario(scenes.straight_road(), [scenes.moving(2, 0.0, 0.0, 10.0)], num_steps=50)
    odd = dataclasses.replace(
        scenario, tracks=dataclasses.replace(scenario.tracks, speed=scenario.tracks.speed / 1.5)
    )
    assert retimed(odd) is odd


def test_recorded_datasets(commonroad_root: Path) -> None:
    highd = read_scenario(commonroad_root / "highd/scenarios/DEU_LocationALower26-1_260_T-75.cr.xml.gz")
    sind = read_scenario(commonroad_root / "sind/scenarios/CHN_SIND-8021_1052_T-1127.cr.xml.gz")
    exid = read_scenario(commonroad_root / "exid/scenarios/DEU_AachenBrand-1_431052_T-1127.cr.xml.gz")
    assert (highd.dt, retimed(highd).dt) == (0.1, 0.2)
    assert (sind.dt, retimed(sind).dt) == (0.1, 0.5)
    assert retimed(exid) is exid


def test_sources_from_files_and_folders(commonroad_root: Path) -> None:
    folder = commonroad_root / "exid"
    sources = find_sources(str(folder), limit=3)
    assert len(sources) == 3 and sources == sorted(sources, key=lambda s: s.name)
    assert all(len(source.solutions) == 1 for source in sources)
    assert sources[0].scenario_id == Path(sources[0].name).name.split(".")[0]
    one = find_scenario(sources[0].name)
    assert one.solutions == sources[0].solutions
    assert one.load().recorded_egos


def test_unknown_target_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no scenarios found"):
        find_sources(str(tmp_path))


def test_a_scenario_file_looks_for_solutions_only_beside_it(commonroad_root: Path, tmp_path: Path) -> None:
    scenario = commonroad_root / "highd/scenarios/DEU_LocationALower26-1_260_T-75.cr.xml.gz"
    solution = commonroad_root / "highd/solutions/DEU_LocationALower26-1_260_T-75.solution.xml.gz"
    shared = tmp_path / "shared"
    mine, others, nested = shared / "mine", shared / "someone-else", shared / "mine" / "old"
    for folder in (mine, others, nested):
        folder.mkdir(parents=True)
    (mine / scenario.name).write_bytes(scenario.read_bytes())
    (others / solution.name).write_bytes(solution.read_bytes())  # not beside it: never read
    (nested / solution.name).write_bytes(solution.read_bytes())  # a subfolder: never read
    assert find_scenario(str(mine / scenario.name)).solutions == ()

    beside = shared / "dataset" / "solutions" / solution.name  # the CommonRoad layout is found
    (shared / "dataset" / "scenarios").mkdir(parents=True)
    beside.parent.mkdir()
    beside.write_bytes(solution.read_bytes())
    (shared / "dataset" / "scenarios" / scenario.name).write_bytes(scenario.read_bytes())
    found = find_scenario(str(shared / "dataset" / "scenarios" / scenario.name))
    assert found.solutions == (str(beside),)
    assert find_scenario(str(scenario)).solutions == (str(solution),)
