"""Procedural scenarios: valid maps, physical collision-free traffic, a reachable goal, exact files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scenario_equality import assert_same_scenario
from typer.testing import CliRunner

from drivestack.bench import run_one
from drivestack.cli import app
from drivestack.core.errors import ConfigError
from drivestack.core.geometry import box_corners, boxes_overlap, wrap_angle
from drivestack.core.scenario import AgentType, LightColor, Scenario, vehicle_dimensions
from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.formats.commonroad_writer import write_scenario, write_solution
from drivestack.data.generate import KINDS, GeneratedFiles, generate, generate_scenario
from drivestack.maps.goal import goal_check
from drivestack.maps.index import MapIndex
from drivestack.sim.world import SimConfig


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Scenario, GeneratedFiles]]:
    """One scenario of each kind (seed 7) and its files."""
    folder = tmp_path_factory.mktemp("generated")
    out = {}
    for kind in KINDS:
        scenario = generate_scenario(kind, seed=7)
        name = scenario.scenario_id
        files = GeneratedFiles(
            write_scenario(scenario, folder / f"{name}.xml"),
            write_solution(scenario, folder / f"{name}.solution.xml"),
        )
        out[kind] = (scenario, files)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_files_read_back_as_generated(
    generated: dict[str, tuple[Scenario, GeneratedFiles]], kind: str
) -> None:
    scenario, files = generated[kind]
    assert files.scenario.name == f"{scenario.scenario_id}.xml"
    assert_same_scenario(scenario, read_scenario(files.scenario, [files.solution]))


def test_same_seed_same_bytes_other_seed_other_scenario(
    tmp_path: Path, generated: dict[str, tuple[Scenario, GeneratedFiles]]
) -> None:
    (again,) = generate(tmp_path, "highway", 1, seed=7)
    first = generated["highway"][1]
    assert first.scenario.read_bytes() == again.scenario.read_bytes()
    assert first.solution.read_bytes() == again.solution.read_bytes()
    other = generate_scenario("highway", seed=7, index=1)
    assert other.tracks.x.shape != generated["highway"][0].tracks.x.shape


@pytest.mark.parametrize("kind", KINDS)
def test_traffic_never_overlaps_and_moves_as_its_speeds_say(
    generated: dict[str, tuple[Scenario, GeneratedFiles]], kind: str
) -> None:
    scenario = generated[kind][0]
    tracks = scenario.tracks
    human = scenario.recorded_egos[0].trajectory
    ego_length, ego_width = vehicle_dimensions(scenario.recorded_egos[0].vehicle_type)
    x = np.vstack([tracks.x, human.x])
    y = np.vstack([tracks.y, human.y])
    yaw = np.vstack([tracks.yaw, human.yaw])
    corners = box_corners(
        x, y, yaw, np.append(tracks.length, ego_length)[:, None], np.append(tracks.width, ego_width)[:, None]
    )
    for step in range(scenario.num_steps):
        overlap = boxes_overlap(corners[:, None, step], corners[None, :, step])
        np.fill_diagonal(overlap, False)
        assert not overlap.any(), f"step {step}: rows {np.argwhere(overlap)[:2].tolist()} overlap"
    # positions advance by speed x dt along the heading (within a few cm per step)
    both = tracks.valid[:, 1:] & tracks.valid[:, :-1]
    moved = np.hypot(np.diff(tracks.x), np.diff(tracks.y))[both]
    expected = (0.5 * (tracks.speed[:, 1:] + tracks.speed[:, :-1]) * scenario.dt)[both]
    assert np.abs(moved - expected).max() < 0.05
    speed_change = np.diff(tracks.speed)[both]
    assert np.abs(speed_change - (tracks.acceleration[:, :-1] * scenario.dt)[both]).max() < 0.01
    assert np.nanmin(tracks.acceleration[[t is not AgentType.PEDESTRIAN for t in tracks.agent_type]]) >= -6.5
    assert (np.abs(np.asarray(wrap_angle(np.diff(human.yaw)))) < 0.1).all()


@pytest.mark.parametrize("kind", KINDS)
def test_maps_are_connected_with_limits(
    generated: dict[str, tuple[Scenario, GeneratedFiles]], kind: str
) -> None:
    scenario = generated[kind][0]
    lanes = scenario.lane_graph.lanes
    driving = [lane for lane in lanes.values() if "vehicle" in lane.users_one_way]
    assert all(lane.speed_limit is not None and lane.speed_limit > 0 for lane in driving)
    for lane in driving:
        for successor in lane.successors:
            assert lane.id in lanes[successor].predecessors
            np.testing.assert_allclose(lanes[successor].center[0], lane.center[-1], atol=1e-6)
        for neighbour in (lane.left_neighbour, lane.right_neighbour):
            if neighbour is not None and neighbour.same_direction:
                assert (
                    lanes[neighbour.lane_id].right_neighbour is not None
                    or lanes[neighbour.lane_id].left_neighbour is not None
                )
    if kind == "highway":
        assert any(lane.left_neighbour is not None and lane.left_neighbour.same_direction for lane in driving)
    if kind == "merge":  # a lane drop beside a continuing lane
        assert any(not lane.successors and lane.left_neighbour is not None for lane in driving)


def test_intersection_has_lights_stop_lines_and_pedestrians(
    generated: dict[str, tuple[Scenario, GeneratedFiles]],
) -> None:
    scenario = generated["intersection"][0]
    graph = scenario.lane_graph
    (intersection,) = graph.intersections
    assert len(intersection.incomings) == 4
    assert {"crosswalk", "sidewalk", "intersection"} <= {
        t for lane in graph.lanes.values() for t in lane.lane_types
    }
    steps = np.arange(2000)
    seen = set()
    for incoming in intersection.incomings:
        (lane_id,) = incoming.incoming_lane_ids
        lane = graph.lanes[lane_id]
        assert lane.stop_line is not None and lane.stop_line.traffic_light_ids == lane.traffic_light_ids
        light = next(light for light in scenario.traffic_lights if light.id in lane.traffic_light_ids)
        colors = light.colors_at(steps)
        seen.add(tuple(np.flatnonzero(np.array(colors) == LightColor.GREEN)[:1]))
        assert {LightColor.GREEN, LightColor.YELLOW, LightColor.RED} <= set(colors)
    assert len(seen) == 4  # each arm has its own green phase
    green = np.array(
        [[c is LightColor.GREEN for c in light.colors_at(steps)] for light in scenario.traffic_lights]
    )
    assert green.sum(axis=0).max() == 1  # never two arms green at once
    assert AgentType.PEDESTRIAN in scenario.tracks.agent_type


@pytest.mark.parametrize("kind", KINDS)
def test_recorded_ego_reaches_its_goal_and_log_replay_scores_it(
    generated: dict[str, tuple[Scenario, GeneratedFiles]], kind: str
) -> None:
    scenario = generated[kind][0]
    (problem,) = scenario.planning_problems
    path = scenario.recorded_egos[0].trajectory
    check = goal_check(problem.goal, MapIndex(scenario.lane_graph))
    reached = check.mask(path.steps, path.x, path.y, path.yaw, path.speed)
    assert reached.any() and not reached[0]
    assert (path.x[0], path.y[0], path.speed[0]) == (
        problem.initial.x,
        problem.initial.y,
        problem.initial.speed,
    )
    values = run_one(scenario, problem, "log-replay", "log", SimConfig())
    assert values["status"] == "ok" and values["goal_reached"] and not values["at_fault_collision"]


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scenario kind"):
        generate_scenario("roundabout")
    with pytest.raises(ConfigError, match="count"):
        generate(tmp_path, "highway", -1)


def test_cli_writes_scenarios_and_solutions(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", str(tmp_path), "--kind", "merge", "--count", "1", "--gzip"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "scenarios").iterdir()] == ["ZAM_Merge-1_1_T-1.xml.gz"]
    assert [p.name for p in (tmp_path / "solutions").iterdir()] == ["ZAM_Merge-1_1_T-1.solution.xml.gz"]
    scenario = read_scenario(tmp_path / "scenarios" / "ZAM_Merge-1_1_T-1.xml.gz")
    assert scenario.planning_problems and scenario.tracks.num_agents > 10
