"""Re-timing recordings whose declared time step disagrees with their motion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import scenes

from drivestack.data.formats.commonroad import read_scenario
from drivestack.sim.timing import motion_time_step, retimed


def test_consistent_scene_is_left_alone() -> None:
    scenario = scenes.scenario(scenes.straight_road(), [scenes.moving(2, 0.0, 0.0, 10.0)], num_steps=50)
    assert abs(float(motion_time_step(scenario) or 0.0) - scenes.DT) < 1e-9
    assert retimed(scenario) is scenario


def test_scene_moving_twice_its_speed_gets_twice_the_step() -> None:
    agents = [scenes.moving(2, 0.0, 0.0, 10.0), scenes.moving(3, 0.0, 3.5, 7.0)]
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 5.0, 0.0, 8.0))
    scenario = scenes.scenario(scenes.straight_road(), agents, ego, num_steps=50)
    halved = dataclasses.replace(scenario.tracks, speed=scenario.tracks.speed / 2.0)
    human = scenario.recorded_egos[0]
    slow = dataclasses.replace(
        human, trajectory=dataclasses.replace(human.trajectory, speed=human.trajectory.speed / 2)
    )
    mislabelled = dataclasses.replace(scenario, tracks=halved, recorded_egos=(slow,))
    fixed = retimed(mislabelled)
    assert fixed.dt == 2 * scenes.DT and fixed.recorded_egos[0].trajectory.dt == 2 * scenes.DT
    assert fixed.num_steps == scenario.num_steps and fixed.tracks is halved


def test_too_few_moving_samples_leave_the_step_alone() -> None:
    scenario = scenes.scenario(scenes.straight_road(), [scenes.moving(2, 0.0, 0.0, 0.0)], num_steps=50)
    assert motion_time_step(scenario) is None and retimed(scenario) is scenario


def test_recorded_datasets(commonroad_root: Path) -> None:
    highd = read_scenario(commonroad_root / "highd/scenarios/DEU_LocationALower26-1_260_T-75.cr.xml.gz")
    sind = read_scenario(commonroad_root / "sind/scenarios/CHN_SIND-8021_1052_T-1127.cr.xml.gz")
    exid = read_scenario(commonroad_root / "exid/scenarios/DEU_AachenBrand-1_431052_T-1127.cr.xml.gz")
    assert (highd.dt, retimed(highd).dt) == (0.1, 0.2)
    assert (sind.dt, retimed(sind).dt) == (0.1, 0.5)
    assert retimed(exid) is exid
