"""The Argoverse 2 reader on tiny units the tests write and on the recorded samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from av2_units import (
    CUBOID_OFFSET,
    EGO_SPEED,
    SCENARIO_ID,
    forecast_rows,
    samples,
    write_forecast,
    write_sensor_log,
)

from drivestack.core.errors import InputError
from drivestack.core.map import Neighbour
from drivestack.core.scenario import AgentType, Scenario
from drivestack.data.formats import av2
from drivestack.maps.index import MapIndex

SAMPLES = samples()
needs_samples = pytest.mark.skipif(
    not SAMPLES, reason=f"no Argoverse 2 samples under {av2.__name__} data root"
)


def test_forecast_unit_becomes_tracks_lanes_and_the_focal_tracks_problem(tmp_path: Path) -> None:
    folder = write_forecast(tmp_path / "scenario")
    assert av2.sniff(folder) and av2.members(folder) == [""]
    scenario = av2.read(folder)
    assert (scenario.scenario_id, scenario.dt, scenario.num_steps) == (SCENARIO_ID, 0.1, 110)
    tracks = scenario.tracks
    # "10" is the focal track: it became the ego and left the traffic; "AV" follows the largest id
    assert sorted(tracks.ids.tolist()) == [7, 11]
    av, walker = tracks.index_of(11), tracks.index_of(7)
    assert (tracks.agent_type[av], tracks.agent_type[walker]) == (AgentType.CAR, AgentType.PEDESTRIAN)
    assert (tracks.length[av], tracks.width[av]) == av2.FORECAST_TYPES["vehicle"][1]
    assert np.flatnonzero(tracks.valid[walker]).tolist() == list(range(20, 50))
    assert np.isnan(tracks.x[walker, :20]).all()
    np.testing.assert_allclose(tracks.x[av], 0.4 * np.arange(110))
    np.testing.assert_allclose(tracks.speed[av], 4.0)
    np.testing.assert_allclose(tracks.acceleration[av], 0.0, atol=1e-9)
    np.testing.assert_allclose(tracks.speed[walker, 20:50], 1.2)
    np.testing.assert_allclose(tracks.yaw[walker, 20:50], np.pi / 2)

    (problem,) = scenario.planning_problems
    assert problem.initial.step == 49  # the last observed step
    assert problem.initial.x == pytest.approx(5.0 + 0.5 * 49)
    human = scenario.recorded_ego(problem.id)
    assert human is not None
    assert human.trajectory.steps.tolist() == list(range(49, 110))
    np.testing.assert_allclose(human.trajectory.speed, 5.0)


def test_forecast_map_lanes_neighbours_crossings_and_dangling_references(tmp_path: Path) -> None:
    scenario = av2.read(write_forecast(tmp_path / "scenario"))
    lanes = scenario.lane_graph.lanes
    assert sorted(lanes) == [1, 2, 3, 50]
    first, second, oncoming, crossing = lanes[1], lanes[2], lanes[3], lanes[50]
    assert (first.successors, second.predecessors, second.successors) == ((2,), (1,), ())
    assert first.left_neighbour == Neighbour(3, same_direction=False)
    assert oncoming.left_neighbour == Neighbour(1, same_direction=False)
    np.testing.assert_allclose(first.center, [[0.0, 1.75], [50.0, 1.75]])
    assert (first.lane_types, first.users_one_way) == (("urban",), ("vehicle",))
    assert (first.left_marking, first.right_marking) == ("dashed", "solid")
    # the crossing runs along edge1 (+y); edge2 was drawn the other way and lies at larger x (right)
    assert crossing.lane_types == ("crosswalk",) and crossing.users_bidirectional == ("pedestrian",)
    np.testing.assert_allclose(crossing.left, [[60.0, -1.0], [60.0, 8.0]])
    np.testing.assert_allclose(crossing.right, [[63.0, -1.0], [63.0, 8.0]])
    (warning,) = scenario.warnings
    assert "log_map_archive" in str(warning) and "dropped 1 references" in str(warning)
    assert "lane 2 successors 999" in str(warning)


def test_sensor_log_places_cuboids_in_the_city_frame_on_one_time_grid(tmp_path: Path) -> None:
    folder = write_sensor_log(tmp_path / "log")
    assert av2.sniff(folder) and av2.members(folder) == [""]
    scenario = av2.read(folder)
    assert scenario.num_steps == 30 and scenario.tracks.num_agents == 2
    tracks = scenario.tracks
    car = next(row for row in range(2) if tracks.agent_type[row] is AgentType.CAR)
    walker = 1 - car
    seconds = 0.1 * np.arange(30)
    # ego at (100, 5 t) heading north: ego-frame (ahead, left) = city (-x, +y) turned
    np.testing.assert_allclose(tracks.x[car], 100.0 - CUBOID_OFFSET[1], atol=1e-9)
    np.testing.assert_allclose(tracks.y[car], EGO_SPEED * seconds + CUBOID_OFFSET[0], atol=1e-9)
    np.testing.assert_allclose(tracks.yaw[car], np.pi / 2, atol=1e-9)
    np.testing.assert_allclose(tracks.speed[car], EGO_SPEED, atol=1e-6)
    assert (tracks.length[car], tracks.width[car]) == (4.5, 1.9)
    # the pedestrian's 0.6 s gap is longer than MAX_GAP: not interpolated
    assert np.flatnonzero(~tracks.valid[walker]).tolist() == [10, 11, 12, 13, 14]
    (problem,) = scenario.planning_problems
    assert problem.initial.step == round(av2.SENSOR_HISTORY / av2.DT)
    human = scenario.recorded_ego(problem.id)
    assert human is not None
    np.testing.assert_allclose(human.trajectory.x, 100.0, atol=1e-9)
    np.testing.assert_allclose(human.trajectory.y, EGO_SPEED * 0.1 * human.trajectory.steps, atol=1e-9)
    np.testing.assert_allclose(human.trajectory.speed, EGO_SPEED, atol=1e-6)


def test_sensor_log_ego_cuboids_give_the_ego_size_and_are_not_traffic(tmp_path: Path) -> None:
    scenario = av2.read(write_sensor_log(tmp_path / "log", with_ego=True))
    assert scenario.tracks.num_agents == 2
    human = scenario.recorded_ego(1)
    assert human is not None and human.vehicle_type == 3  # the closest CommonRoad size to 4.877 x 2.0


def test_folders_that_are_not_av2_units_are_not_sniffed(tmp_path: Path) -> None:
    assert not av2.sniff(tmp_path)
    pq.write_table(pa.table({"frame": [1], "x": [0.0]}), tmp_path / "scenario_x.parquet")
    (tmp_path / "log_map_archive_x.json").write_text(json.dumps({"lane_segments": {}}))
    assert not av2.sniff(tmp_path)  # another table beside an AV2 map
    assert not av2.sniff(tmp_path / "scenario_x.parquet")  # a unit is a folder
    with pytest.raises(InputError, match="not an Argoverse 2 unit"):
        av2.read(tmp_path)


def test_damaged_files_in_an_av2_layout_are_claimed_and_named(tmp_path: Path) -> None:
    folder = write_forecast(tmp_path / "scenario")
    parquet = next(folder.glob("*.parquet"))
    parquet.write_bytes(parquet.read_bytes()[:300])  # Parquet magic, no footer
    assert av2.sniff(folder)
    with pytest.raises(InputError, match=r"\.parquet: not a readable Parquet file"):
        av2.read(folder)
    folder = write_forecast(tmp_path / "other")
    map_json = next(folder.glob("*.json"))
    map_json.write_text("lane segments, but not JSON")
    assert av2.sniff(folder)
    with pytest.raises(InputError, match=r"log_map_archive_.*\.json: not valid JSON"):
        av2.read(folder)


def bad_forecast(tmp_path: Path, **changes: list[object]) -> Path:
    rows = forecast_rows()
    for name, values in changes.items():
        if values:
            rows[name] = values
        else:
            del rows[name]
    return write_forecast(tmp_path / "bad", rows)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"velocity_y": []}, "missing columns velocity_y"),
        ({"timestep": [str(s) for s in forecast_rows()["timestep"]]}, "wrong type: timestep is string"),
        ({"focal_track_id": ["404"] * 250}, "focal_track_id: names track '404', which has no rows"),
        ({"scenario_id": ["<b>x</b>"] * 250}, "scenario_id: '<b>x</b>' is not an id"),
        ({"timestep": [0] * 250}, "a track has two rows for one time step"),
        ({"position_x": [float("nan")] * 250}, "position_x: holds NaN, infinite or values beyond"),
    ],
)
def test_bad_forecasting_parquet_is_rejected_with_file_and_reason(
    tmp_path: Path, changes: dict[str, list[object]], message: str
) -> None:
    folder = bad_forecast(tmp_path, **changes)
    with pytest.raises(InputError, match=message) as caught:
        av2.read(folder)
    assert f"scenario_{SCENARIO_ID}.parquet" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_parquet_without_the_forecasting_columns_is_not_a_unit(tmp_path: Path) -> None:
    folder = write_forecast(tmp_path / "scenario")
    pq.write_table(pa.table({"track_id": ["1"]}), next(folder.glob("*.parquet")))
    assert not av2.sniff(folder)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: text.replace('"lane_segments"', '"lanes"'), "lane_segments: missing"),
        (
            lambda text: text.replace(
                '"left_lane_boundary": [{"x": 0.0, "y": 3.5, "z": 0.0}, ', '"left_lane_boundary": ['
            ),
            "lane_segments / '1' / left_lane_boundary: expected two or more points",
        ),
        (
            lambda text: text.replace('"id": 2,', '"id": "2",'),
            "lane_segments / '2' / id: expected an integer id",
        ),
    ],
)
def test_bad_map_json_is_rejected_with_file_and_element(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = write_forecast(tmp_path / "scenario")
    map_json = next(folder.glob("*.json"))
    map_json.write_text(damage(map_json.read_text()))
    with pytest.raises(InputError, match=message) as caught:
        av2.read(folder)
    assert map_json.name in str(caught.value)


def test_a_crossing_with_a_lanes_id_is_dropped_with_a_warning(tmp_path: Path) -> None:
    folder = write_forecast(tmp_path / "scenario")
    map_json = next(folder.glob("*.json"))
    map_json.write_text(map_json.read_text().replace('"id": 50,', '"id": 3,'))
    scenario = av2.read(folder)
    assert sorted(scenario.lane_graph.lanes) == [1, 2, 3]
    assert scenario.lane_graph.lanes[3].lane_types == ("urban",)
    messages = [str(warning) for warning in scenario.warnings]
    assert any("pedestrian_crossings / '50' / id: 3 is also a lane segment's id" in m for m in messages)


def test_truncated_feather_is_rejected_with_file_and_reason(tmp_path: Path) -> None:
    folder = write_sensor_log(tmp_path / "log")
    poses = folder / "city_SE3_egovehicle.feather"
    data = poses.read_bytes()
    assert av2.sniff(folder)
    poses.write_bytes(data[: len(data) - 200])  # the footer (and so the schema) is gone
    assert av2.sniff(folder)  # the one table of the layout left without a role
    with pytest.raises(InputError, match=r"city_SE3_egovehicle\.feather: not a readable Feather file"):
        av2.read(folder)
    annotations = folder / "annotations.feather"
    poses.write_bytes(data)
    body = annotations.read_bytes()
    annotations.write_bytes(body[:64] + body[len(body) // 2 :])  # footer kept, blocks point astray
    assert av2.sniff(folder)
    with pytest.raises(InputError, match=r"annotations\.feather: not a readable Feather file"):
        av2.read(folder)


def test_scenarios_sharing_a_folder_are_members(tmp_path: Path) -> None:
    folder = write_forecast(tmp_path / "scenario")
    rows = forecast_rows()
    rows["scenario_id"] = ["second"] * len(rows["track_id"])
    pq.write_table(pa.table(rows), folder / "scenario_second.parquet")
    names = av2.members(folder)
    assert names == sorted(path.name for path in folder.glob("*.parquet")) and len(names) == 2
    read = {name: av2.read(folder, name) for name in names}
    assert read["scenario_second.parquet"].scenario_id == "second"
    assert read[f"scenario_{SCENARIO_ID}.parquet"].scenario_id == SCENARIO_ID
    with pytest.raises(InputError, match="holds 2 scenarios"):
        av2.read(folder)


def test_unknown_members_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no forecasting scenario 'other\.parquet'"):
        av2.read(write_forecast(tmp_path / "scenario"), "other.parquet")
    with pytest.raises(InputError, match="one scenario"):
        av2.read(write_sensor_log(tmp_path / "log"), "x")


# ------------------------------------------------------------------------------- recorded samples


@pytest.fixture(scope="module")
def recorded() -> dict[str, Scenario]:
    if not SAMPLES:
        pytest.skip("no Argoverse 2 samples in ../shared/data/argoverse2")
    return {folder.name: av2.read(folder) for folder in SAMPLES}


@needs_samples
def test_every_sample_reads_into_a_scenario_with_a_problem_and_its_human(
    recorded: dict[str, Scenario],
) -> None:
    assert len(recorded) == len(SAMPLES)
    for name, scenario in recorded.items():
        assert scenario.scenario_id == name and scenario.format_version == av2.FORMAT
        tracks = scenario.tracks
        assert tracks.num_agents > 10 and len(scenario.lane_graph) > 50
        assert len(np.unique(tracks.ids)) == tracks.num_agents
        assert np.isnan(tracks.x[~tracks.valid]).all() and np.isfinite(tracks.x[tracks.valid]).all()
        assert (
            np.isfinite(tracks.speed[tracks.valid]).all() and np.isfinite(tracks.yaw_rate[tracks.valid]).all()
        )
        (problem,) = scenario.planning_problems
        human = scenario.recorded_ego(problem.id)
        assert human is not None and human.trajectory.steps[0] == problem.initial.step
        assert human.trajectory.steps[-1] == scenario.num_steps - 1


def moving_vehicle_points(scenario: Scenario, index: MapIndex) -> tuple[np.ndarray, np.ndarray]:
    """(on a lane, inside the map's lane hull) per valid step of every moving vehicle: one that
    reaches 1 m/s and ends 5 m or more from where it started. AV2 maps are crops around the
    recording, so steps outside the convex hull of its lanes are outside the map and not counted."""
    tracks = scenario.tracks
    hull = shapely.union_all(index.polygons).convex_hull
    on, inside = [], []
    for row in range(tracks.num_agents):
        valid = tracks.valid[row]
        xy = np.stack([tracks.x[row, valid], tracks.y[row, valid]], axis=1)
        moved = np.hypot(*(xy[-1] - xy[0])) >= 5.0 and np.abs(tracks.speed[row, valid]).max() >= 1.0
        if not (tracks.agent_type[row].is_vehicle and moved):
            continue
        on.append(np.array([bool(lanes) for lanes in index.lanes_at(xy)]))
        inside.append(shapely.contains_xy(hull, xy[:, 0], xy[:, 1]))
    return np.concatenate(on), np.concatenate(inside)


@needs_samples
def test_moving_vehicles_drive_on_lanes(recorded: dict[str, Scenario]) -> None:
    """Over all samples, at least 95 % of the moving vehicles' steps inside the map lie on a lane;
    per sample at least 85 % (a conversion that misplaces cuboids or flips a frame scores near 0;
    the samples' own misses are cars in driveways and side streets the lane crop leaves out)."""
    counts = []
    for name, scenario in recorded.items():
        on, inside = moving_vehicle_points(scenario, MapIndex(scenario.lane_graph))
        share = on[inside].mean()
        assert share >= 0.85, f"{name}: {share:.3f} of moving vehicles' steps on a lane"
        counts.append((on[inside].sum(), inside.sum()))
    total = np.sum(counts, axis=0)
    assert total[0] / total[1] >= 0.95


@needs_samples
def test_log_replay_of_every_sample_is_exact_and_clean(recorded: dict[str, Scenario]) -> None:
    """The recorded ego replayed closed loop (log agents): exact, no collision, on the drivable area,
    right direction, full progress; the score reaches 0.9 unless comfort is 0, which (the replay
    being exact) judges the recording itself: a 3.0 m/s2 start in one log, 2.4 m/s2 in another, and
    4.4 m/s3 of jerk in the forecasting focal track's stop (AV2's tracked velocities)."""
    from drivestack.bench.run import run_one
    from drivestack.sim.world import SimConfig

    for name, scenario in recorded.items():
        row = run_one(scenario, scenario.planning_problems[0], "log-replay", "log", SimConfig())
        assert row["status"] == "ok" and row["goal_reached"], name
        assert row["ade"] == pytest.approx(0.0, abs=1e-6), name
        assert not row["any_collision"], name
        for factor in ("drivable_area", "driving_direction", "making_progress", "ego_progress"):
            assert row[factor] == 1.0, (name, factor, row[factor])
        assert row["score"] >= 0.9 or row["comfort"] == 0.0, (name, row["score"])


def test_a_map_is_found_by_its_first_bytes_or_as_the_only_json_there(tmp_path: Path) -> None:
    folder = write_forecast(tmp_path / "scenario")
    map_json = next(folder.glob("*.json"))
    padded = {"padding": "x" * (2 * av2.SNIFF_BYTES), **json.loads(map_json.read_text())}
    map_json.write_text(json.dumps(padded))  # its map keys come after the sniffed bytes
    assert av2.sniff(folder) and len(av2.read(folder).lane_graph) == 4
    (folder / "notes.json").write_text("{}")  # now two JSON files, neither recognisable
    assert not av2.sniff(folder)
