"""Every detector on a few recorded scenarios of each dataset: no failures, and well-formed tags."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import solution_files

from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.mining import REGISTRY
from drivestack.data.mining.runner import mine_scenario
from drivestack.data.mining.scene import Scene, motion_time_step


@pytest.mark.usefixtures("commonroad_root")
def test_all_detectors_run_on_a_sample_of_every_dataset() -> None:
    from recorded_data import commonroad_sample

    found: dict[str, int] = {}
    for path in commonroad_sample(2):
        scenario = read_scenario(path, solution_paths=solution_files(path))
        result = mine_scenario(scenario, list(REGISTRY.values()))
        assert not result.failures, result.failures
        egos = {problem.id for problem in scenario.planning_problems}
        for name, tags in result.tags.items():
            found[name] = found.get(name, 0) + len(tags)
            for tag in tags:
                assert tag.tag == name and tag.scenario_id == scenario.scenario_id
                assert 0 <= tag.step_start <= tag.step_end < scenario.num_steps, (path.name, tag)
                assert tag.agent_id in egos or tag.agent_id in scenario.tracks.ids, (path.name, tag)
                assert np.isfinite(tag.value), (path.name, tag)
    # the sample holds intersections with pedestrians and lights (SinD, inD) and lane changes (highD)
    assert found["vulnerable_road_user"] > 0 and found["lane_change"] > 0 and found["intersection"] > 0


@pytest.mark.usefixtures("commonroad_root")
def test_recorded_ego_and_twins_give_every_dataset_a_drive() -> None:
    from recorded_data import commonroad_sample

    sources = {}
    for path in commonroad_sample(1):
        scene = Scene(read_scenario(path, solution_paths=solution_files(path)))
        sources[path.parent.parent.name] = {ego.source for ego in scene.egos}
    # highD, SinD, exiD ship solutions; MONA keeps its egos among the agents; NGSIM only has initial states
    assert (
        sources["highd"] == {"recorded"}
        and sources["sind"] == {"recorded"}
        and sources["exid"] == {"recorded"}
    )
    assert sources["mona"] == {"agent"} and sources["ngsim"] == {"initial"}


@pytest.mark.usefixtures("commonroad_root")
def test_motion_time_step_finds_the_stretched_grids() -> None:
    from recorded_data import commonroad_sample

    steps = {}
    for path in commonroad_sample(1):
        scenario = read_scenario(path)
        steps[path.parent.parent.name] = motion_time_step(scenario) / scenario.dt
    # highD files move 2 dt per step, SinD 5 dt; the others as declared
    assert steps["highd"] == pytest.approx(2.0, abs=0.05) and steps["sind"] == pytest.approx(5.0, abs=0.1)
    assert steps["exid"] == 1.0 and steps["mona"] == 1.0 and steps["ind"] == 1.0


@pytest.mark.usefixtures("commonroad_root")
def test_junctions_of_the_recorded_maps() -> None:
    from recorded_data import commonroad_sample

    areas = {}
    for path in commonroad_sample(1):
        scene = Scene(read_scenario(path))
        areas[path.parent.parent.name] = (scene.map.intersection_area.area, scene.junction_area.area)
    # exiD's motorway map has no junction, only two lanes overlapping by 5 m2 at a steep angle;
    # SinD and inD mark theirs; NGSIM's Lankershim junction is found from its crossing lanes
    assert 0.0 < areas["exid"][0] < 20.0 and areas["exid"][1] == 0.0
    assert areas["highd"] == (0.0, 0.0)
    assert areas["sind"][1] == areas["sind"][0] > 500.0 and areas["ind"][1] == areas["ind"][0] > 100.0
    assert areas["ngsim"][1] == areas["ngsim"][0] > 400.0
