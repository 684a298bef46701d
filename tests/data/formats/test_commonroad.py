"""The CommonRoad reader on handmade documents (every element it knows) and on real recorded files."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from commonroad_docs import (
    CAR_SHAPE,
    SCENARIO_2018B,
    SCENARIO_2020A,
    SCENARIO_ID,
    SOLUTION,
    bound,
    dynamic_obstacle,
    edit,
    point,
    state,
    write,
)
from recorded_data import commonroad_sample

from drivestack.core.errors import InputError
from drivestack.core.scenario import AgentType, LightColor, Scenario, ShapeKind
from drivestack.data.formats.commonroad import attach_solution, read_scenario, read_solution


def read_text(tmp_path: Path, text: str, name: str = "scenario.xml") -> Scenario:
    return read_scenario(write(tmp_path, name, text))


# --- handmade documents ------------------------------------------------------------------------------


def test_2020a_document_reads_every_element(tmp_path: Path) -> None:
    scenario = read_text(tmp_path, SCENARIO_2020A)
    assert (scenario.scenario_id, scenario.format_version, scenario.dt) == (SCENARIO_ID, "2020a", 0.1)
    assert (scenario.author, scenario.affiliation, scenario.source) == ("Tester", "drivestack", "handmade")
    assert scenario.tags == ("urban", "intersection")
    assert (scenario.location.geo_name_id, scenario.location.latitude) == (2867714, 48.26)

    lanes = scenario.lane_graph.lanes
    first = lanes[1]
    assert first.successors == (2,) and lanes[2].predecessors == (1,)
    assert first.left_neighbour is not None and first.left_neighbour.lane_id == 3
    assert not first.left_neighbour.same_direction
    assert (first.left_marking, first.right_marking) == ("solid", "dashed")
    assert first.lane_types == ("urban",) and first.users_one_way == ("vehicle",)
    assert lanes[3].users_bidirectional == ("bicycle",)
    assert first.speed_limit == pytest.approx(13.89)  # from the '274' sign it references, in m/s
    assert lanes[2].speed_limit is None
    assert first.traffic_sign_ids == (10,) and first.traffic_light_ids == (20,)
    assert first.stop_line is not None
    assert (first.stop_line.start, first.stop_line.end) == ((100.0, 2.0), (100.0, -2.0))  # the bounds' ends
    assert first.stop_line.traffic_light_ids == (20,)
    np.testing.assert_allclose(first.center, [[0, 0], [50, 0], [100, 0]])  # 3 left vs 2 right points
    assert len(scenario.lane_graph.map_id) == 16
    (incoming,) = scenario.lane_graph.intersections[0].incomings
    assert incoming.incoming_lane_ids == (1,) and incoming.successors_straight == (2,)

    (sign,) = scenario.traffic_signs
    assert sign.elements == (("274", ("13.89",)),) and (sign.x, sign.y) == (0.0, -3.0)
    (light,) = scenario.traffic_lights
    assert light.offset == 3 and light.direction == "all" and light.active
    colours = light.colors_at(np.array([3, 32, 33, 38, 62, 63]))
    assert colours == (
        LightColor.GREEN,
        LightColor.GREEN,
        LightColor.YELLOW,
        LightColor.RED,
        LightColor.RED,
        LightColor.GREEN,
    )

    (parked,) = scenario.static_obstacles
    assert (parked.id, parked.agent_type, parked.x, parked.y) == (40, AgentType.PARKED_VEHICLE, 150.0, -1.0)

    tracks = scenario.tracks
    assert scenario.num_steps == 5 and tracks.ids.tolist() == [50, 51]
    assert tracks.agent_type == (AgentType.CAR, AgentType.PEDESTRIAN)
    assert tracks.valid.tolist() == [[True] * 5, [False, False, True, True, False]]
    np.testing.assert_array_equal(tracks.x[0], [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(tracks.vx[0], [10] * 5)
    assert np.isnan(tracks.x[1, [0, 1, 4]]).all()
    assert tracks.yaw[1, 2] == pytest.approx(3.5 - 2 * np.pi)  # 3.5 rad wrapped into [-pi, pi)
    np.testing.assert_allclose(tracks.vy[1, 2:4], 1.2 * np.sin(3.5))
    assert (tracks.length[0], tracks.width[0]) == (4.5, 1.8)
    assert tracks.shapes[1].kind is ShapeKind.CIRCLE and tracks.length[1] == pytest.approx(0.8)

    (problem,) = scenario.planning_problems
    assert (problem.id, problem.initial.step, problem.initial.x, problem.initial.speed) == (60, 0, 5.0, 8.0)
    lanelet_goal, region_goal = problem.goal.states
    assert lanelet_goal.lanelet_ids == (2,) and lanelet_goal.velocity is not None
    assert (lanelet_goal.time.start, lanelet_goal.time.end) == (10, 50) and lanelet_goal.orientation is None
    (region,) = region_goal.regions
    assert (region.kind, region.center, region.length) == (ShapeKind.RECTANGLE, (150.0, 0.0), 10.0)
    assert region_goal.orientation is not None and region_goal.orientation.contains(0.2)


def test_2018b_document_uses_roles_speed_limits_and_tag_attribute(tmp_path: Path) -> None:
    scenario = read_text(tmp_path, SCENARIO_2018B)
    assert scenario.format_version == "2018b" and scenario.tags == ("highway", "multi_lane")
    assert scenario.lane_graph.lanes[1].speed_limit == 22.35
    assert [o.id for o in scenario.static_obstacles] == [40] and scenario.tracks.ids.tolist() == [50]
    assert scenario.location.geo_name_id is None


def test_gzip_and_plain_files_read_the_same(tmp_path: Path) -> None:
    plain = read_text(tmp_path, SCENARIO_2020A, "s.xml")
    packed = read_text(tmp_path, SCENARIO_2020A, "s.xml.gz")
    np.testing.assert_array_equal(plain.tracks.x, packed.tracks.x)
    assert plain.lane_graph.map_id == packed.lane_graph.map_id


def test_missing_velocity_acceleration_and_yaw_rate_are_derived(tmp_path: Path) -> None:
    """A car on a circle of radius 20 m at 5 m/s (0.25 rad/s), states without velocity."""
    steps = np.arange(0, 11)
    angle = 0.25 * steps * 0.1
    states = [
        state(
            int(t),
            20 * np.sin(a),
            20 - 20 * np.cos(a),
            a,
            speed=None,
            tag="initialState" if t == 0 else "state",
        )
        for t, a in zip(steps, angle, strict=True)
    ]
    text = edit(
        SCENARIO_2020A, "</commonRoad>", dynamic_obstacle(70, "car", CAR_SHAPE, states) + "</commonRoad>"
    )
    tracks = read_text(tmp_path, text).tracks
    row = tracks.index_of(70)
    np.testing.assert_allclose(tracks.speed[row, :11], 5.0, rtol=1e-3)
    np.testing.assert_allclose(tracks.yaw_rate[row, :11], 0.25, rtol=1e-9)
    np.testing.assert_allclose(tracks.acceleration[row, :11], 0.0, atol=1e-2)
    assert tracks.acceleration[tracks.index_of(50), 0] == 0.0  # given nowhere, derived from constant speed


def test_shape_groups_polygons_and_offset_rectangles(tmp_path: Path) -> None:
    group = (
        "<rectangle><length>2.0</length><width>1.0</width><orientation>0.5</orientation>"
        "<center><x>1.0</x><y>0.0</y></center></rectangle>"
        f"<polygon>{point(0, 0)}{point(1, 0)}{point(0, 1)}</polygon><circle><radius>0.5</radius></circle>"
    )
    text = edit(SCENARIO_2020A, CAR_SHAPE, group)
    shape = read_text(tmp_path, text).tracks.shapes[0]
    assert shape.kind is ShapeKind.GROUP
    assert [part.kind for part in shape.parts] == [ShapeKind.RECTANGLE, ShapeKind.POLYGON, ShapeKind.CIRCLE]
    assert shape.parts[0].center == (1.0, 0.0) and shape.parts[0].orientation == 0.5
    assert shape.parts[1].vertices.shape == (3, 2)


def test_map_id_follows_geometry_and_topology(tmp_path: Path) -> None:
    base = read_text(tmp_path, SCENARIO_2020A).lane_graph.map_id
    other_obstacles = edit(SCENARIO_2020A, "<x>10.0</x>", "<x>9.0</x>")
    moved_lane = edit(
        SCENARIO_2020A, bound("leftBound", [(100, 2), (200, 2)]), bound("leftBound", [(100, 2), (201, 2)])
    )
    assert read_text(tmp_path, other_obstacles).lane_graph.map_id == base
    assert read_text(tmp_path, moved_lane).lane_graph.map_id != base


def test_solution_is_sorted_and_attached_with_the_scenario_dt(tmp_path: Path) -> None:
    solution_path = write(tmp_path, "s.solution.xml", SOLUTION)
    scenario_id, (ego,) = read_solution(solution_path)
    assert scenario_id == SCENARIO_ID
    assert (ego.planning_problem_id, ego.vehicle_model, ego.vehicle_type, ego.cost_function) == (
        60,
        "KS",
        2,
        "TR2",
    )
    assert ego.trajectory.steps.tolist() == [0, 1] and ego.trajectory.x.tolist() == [5.0, 6.0]
    assert np.isnan(ego.trajectory.dt) and ego.source_file == str(solution_path)
    scenario = read_scenario(write(tmp_path, "s.xml", SCENARIO_2020A), [solution_path])
    recorded = scenario.recorded_ego(60)
    assert recorded is not None and recorded.trajectory.dt == 0.1


def test_point_mass_solution_gets_heading_and_speed_from_its_velocities(tmp_path: Path) -> None:
    text = (
        f'<CommonRoadSolution benchmark_id="PM1:JB1:{SCENARIO_ID}:2020a"><pmTrajectory planningProblem="60">'
        "<pmState><x>5</x><y>0</y><xVelocity>3.0</xVelocity><yVelocity>4.0</yVelocity><time>0</time></pmState>"
        "</pmTrajectory></CommonRoadSolution>"
    )
    scenario = attach_solution(read_text(tmp_path, SCENARIO_2020A), write(tmp_path, "pm.xml", text))
    trajectory = scenario.recorded_egos[0].trajectory
    assert trajectory.speed[0] == pytest.approx(5.0) and trajectory.yaw[0] == pytest.approx(np.arctan2(4, 3))


# --- recorded data -----------------------------------------------------------------------------------

SAMPLE = commonroad_sample(2)


def index_row(path: Path) -> tuple[Path, dict[str, str]]:
    """(dataset folder, index.csv row) of a recorded scenario file."""
    folder = next(parent for parent in path.parents if (parent / "index.csv").exists())
    with (folder / "index.csv").open(newline="") as handle:
        return folder, next(row for row in csv.DictReader(handle) if folder / row["file"] == path)


def goal_fields(scenario: Scenario) -> str:
    """index.csv's `goal_fields`: per goal state the fields it constrains, problems separated by '|'."""
    fields = []
    for problem in scenario.planning_problems:
        for goal in problem.goal.states:
            given = {"time": True, "position": goal.has_position}
            given |= {"velocity": goal.velocity is not None, "orientation": goal.orientation is not None}
            fields.append(",".join(sorted(name for name, present in given.items() if present)))
    return "|".join(fields)


@pytest.mark.usefixtures("commonroad_root")
@pytest.mark.parametrize("path", SAMPLE, ids=[path.name for path in SAMPLE])
def test_recorded_scenarios_match_their_index(path: Path) -> None:
    folder, row = index_row(path)
    solutions = [folder / row["ego_solution_file"]] if row["ego_solution_file"] else []
    scenario = read_scenario(path, solutions)
    types = Counter(kind.value for kind in scenario.tracks.agent_type)
    assert scenario.scenario_id == row["scenario_id"] and scenario.format_version == row["format_version"]
    assert scenario.dt == float(row["dt_s"])
    assert len(scenario.lane_graph) == int(row["n_lanelets"])
    assert scenario.tracks.num_agents == int(row["n_dynamic_obstacles"])
    assert scenario.num_steps - 1 == int(row["max_time_step"])
    assert len(scenario.planning_problems) == int(row["n_planning_problems"])
    assert ";".join(f"{kind}:{n}" for kind, n in sorted(types.items())) == row["obstacle_types"]
    assert goal_fields(scenario) == row["goal_fields"]
    assert " ".join(scenario.tags) == row["tags"]
    tracks = scenario.tracks
    assert tracks.valid.any(axis=1).all() and np.isfinite(tracks.x[tracks.valid]).all()
    assert (tracks.yaw[tracks.valid] >= -np.pi).all() and (tracks.yaw[tracks.valid] < np.pi).all()
    assert len(scenario.recorded_egos) == len(solutions)
    for ego in scenario.recorded_egos:
        problem = scenario.planning_problem(ego.planning_problem_id)
        start = ego.trajectory
        assert (start.x[0], start.y[0]) == (problem.initial.x, problem.initial.y)
        assert start.dt == scenario.dt and (np.diff(start.steps) == 1).all()


def dataset_file(root: Path, dataset: str, rank: int = 0) -> tuple[Path, dict[str, str]]:
    """The `rank`-th scenario file of a dataset folder and its index row."""
    with (root / dataset / "index.csv").open(newline="") as handle:
        row = list(csv.DictReader(handle))[rank]
    return root / dataset / row["file"], row


def test_sind_traffic_lights_and_circles(commonroad_root: Path) -> None:
    path, _ = dataset_file(commonroad_root, "sind")
    scenario = read_scenario(path)
    lights = {light.id: light for light in scenario.traffic_lights}
    assert lights and all(light.cycle and light.active for light in lights.values())
    referenced = {i for lane in scenario.lane_graph.lanes.values() for i in lane.traffic_light_ids}
    assert referenced <= set(lights)
    cycle_lengths = {sum(duration for _, duration in light.cycle) for light in lights.values()}
    assert len(cycle_lengths) == 1  # one signal programme for the whole intersection
    colours = {c for light in lights.values() for c in light.colors_at(np.arange(scenario.num_steps))}
    assert colours <= {LightColor.GREEN, LightColor.YELLOW, LightColor.RED}
    circles = [
        s
        for s, kind in zip(scenario.tracks.shapes, scenario.tracks.agent_type, strict=True)
        if kind is AgentType.PEDESTRIAN
    ]
    assert circles and all(shape.kind is ShapeKind.CIRCLE and shape.radius > 0 for shape in circles)


def test_ind_pedestrians_are_circles(commonroad_root: Path) -> None:
    path, _ = dataset_file(commonroad_root, "ind")
    tracks = read_scenario(path).tracks
    kinds = {kind: tracks.shapes[i].kind for i, kind in enumerate(tracks.agent_type)}
    assert kinds[AgentType.PEDESTRIAN] is ShapeKind.CIRCLE and kinds[AgentType.CAR] is ShapeKind.RECTANGLE


def test_speed_limits_from_2018b_elements_and_2020a_signs(commonroad_root: Path) -> None:
    highd = read_scenario(dataset_file(commonroad_root, "highd")[0])
    limits = {lane.speed_limit for lane in highd.lane_graph.lanes.values()}
    assert limits <= {33.33, 36.11} and len(limits) == 1  # '274' signs: 120 or 130 km/h in m/s
    ngsim = read_scenario(dataset_file(commonroad_root, "ngsim")[0])
    assert ngsim.format_version == "2018b"
    assert {lane.speed_limit for lane in ngsim.lane_graph.lanes.values()} <= {
        3.5763,
        11.176,
        13.4112,
        15.6464,
    }


def test_drive_stored_in_both_format_versions_reads_the_same(commonroad_root: Path) -> None:
    """NGSIM's USA_Lanker-2_23_T-1 exists as 2018b (`<speedLimit>`) and 2020a ('R2-1' signs in m/s)."""
    old = read_scenario(commonroad_root / "ngsim" / "2018b" / "USA_Lanker-2_23_T-1.xml.gz")
    new = read_scenario(commonroad_root / "ngsim" / "2020a" / "USA_Lanker-2_23_T-1.xml.gz")
    assert (old.format_version, new.format_version) == ("2018b", "2020a")
    assert set(old.lane_graph.lanes) <= set(new.lane_graph.lanes)
    limits = {
        i: (lane.speed_limit, new.lane_graph.lanes[i].speed_limit) for i, lane in old.lane_graph.lanes.items()
    }
    assert all(a is not None and a == pytest.approx(b) for a, b in limits.values())
    np.testing.assert_array_equal(old.tracks.valid, new.tracks.valid)
    np.testing.assert_array_equal(old.tracks.x[old.tracks.valid], new.tracks.x[new.tracks.valid])


def test_map_id_shared_by_windows_of_one_recording(commonroad_root: Path) -> None:
    with (commonroad_root / "highd" / "index.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first, same_group = rows[0], next(r for r in rows[1:] if r["group"] == rows[0]["group"])
    other_group = next(r for r in rows if r["group"] != rows[0]["group"])
    ids = [
        read_scenario(commonroad_root / "highd" / r["file"]).lane_graph.map_id
        for r in (first, same_group, other_group)
    ]
    assert ids[0] == ids[1] != ids[2]


def test_solution_naming_another_scenario_is_rejected(commonroad_root: Path) -> None:
    path, row = dataset_file(commonroad_root, "highd")
    _, other = dataset_file(commonroad_root, "highd", rank=1)
    with pytest.raises(InputError, match="names scenario") as raised:
        read_scenario(path, [commonroad_root / "highd" / other["ego_solution_file"]])
    assert other["scenario_id"] in str(raised.value) and row["scenario_id"] in str(raised.value)
