"""The CommonRoad features beyond recorded trajectories: interval-valued states, point-mass states
without orientation, set-based and phantom obstacles, dangling sign references (warnings), on
handmade documents and on commonroad-io's own test scenarios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from commonroad_docs import (
    CAR,
    CAR_SHAPE,
    CAR_STATES,
    SCENARIO_2018B,
    SCENARIO_2020A,
    dynamic_obstacle,
    edit,
    point,
    write,
)

from drivestack.core.errors import InputError
from drivestack.core.scenario import AgentType, Scenario, ShapeKind
from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.validate import validate


def read_text(tmp_path: Path, text: str) -> Scenario:
    return read_scenario(write(tmp_path, "scenario.xml", text))


def interval(start: float, end: float) -> str:
    return f"<intervalStart>{start}</intervalStart><intervalEnd>{end}</intervalEnd>"


def uncertain_state(step: int, x: float, tag: str = "state") -> str:
    """A 2018b-style uncertain state: a rectangle of positions, orientation and velocity intervals."""
    region = (
        "<rectangle><length>0.6</length><width>0.4</width><orientation>-1.9</orientation>"
        f"<center><x>{x}</x><y>2.0</y></center></rectangle>"
    )
    return (
        f"<{tag}><position>{region}</position><orientation>{interval(0.1, 0.3)}</orientation>"
        f"<time><exact>{step}</exact></time><velocity>{interval(9.0, 11.0)}</velocity></{tag}>"
    )


def test_interval_states_read_at_midpoints_and_region_centres(tmp_path: Path) -> None:
    original = dynamic_obstacle(50, "car", CAR_SHAPE, CAR_STATES, tag="obstacle")
    states = [uncertain_state(0, 5.0, "initialState"), uncertain_state(1, 6.0)]
    uncertain = dynamic_obstacle(50, "car", CAR_SHAPE, states, tag="obstacle")
    tracks = read_text(tmp_path, edit(SCENARIO_2018B, original, uncertain)).tracks
    row = tracks.index_of(50)
    assert tracks.x[row, :2] == pytest.approx([5.0, 6.0])
    assert tracks.y[row, :2] == pytest.approx([2.0, 2.0])
    assert tracks.yaw[row, :2] == pytest.approx([0.2, 0.2])
    assert tracks.speed[row, :2] == pytest.approx([10.0, 10.0])


def test_interval_initial_state_of_a_planning_problem(tmp_path: Path) -> None:
    exact = "<time><exact>0</exact></time><velocity><exact>8.0</exact></velocity>"
    uncertain = f"<time><exact>0</exact></time><velocity>{interval(6.0, 9.0)}</velocity>"
    problem = read_text(tmp_path, edit(SCENARIO_2020A, exact, uncertain)).planning_problems[0]
    assert problem.initial.speed == pytest.approx(7.5)


def test_an_interval_time_step_is_rejected(tmp_path: Path) -> None:
    text = edit(SCENARIO_2020A, "<time><exact>3</exact></time>", f"<time>{interval(3, 4)}</time>")
    with pytest.raises(InputError, match="dynamicObstacle 50 / trajectory / state / time: is an interval"):
        read_text(tmp_path, text)


def pm_state(step: int, x: float, y: float, vx: float | None, vy: float | None, tag: str = "state") -> str:
    """A point-mass state: position, time, and optionally velocity (x) and velocityY, no orientation."""
    velocity = "" if vx is None else f"<velocity><exact>{vx}</exact></velocity>"
    velocity += "" if vy is None else f"<velocityY><exact>{vy}</exact></velocityY>"
    return f"<{tag}><position>{point(x, y)}</position><time><exact>{step}</exact></time>{velocity}</{tag}>"


def test_point_mass_heading_from_velocity_else_positions_held_at_standstill(tmp_path: Path) -> None:
    states = [
        pm_state(0, 0.0, 0.0, 3.0, 4.0, "initialState"),  # velocity components: atan2(4, 3), 5 m/s
        pm_state(1, 0.0, 0.5, None, None),  # positions only: +y
        pm_state(2, 0.0, 1.0, None, None),
        pm_state(3, 0.0, 1.0, 0.0, 0.0),  # standstill: held
        pm_state(4, 0.0, 1.0, 0.0, 0.0),
    ]
    obstacle = dynamic_obstacle(70, "car", CAR_SHAPE, states)
    tracks = read_text(tmp_path, edit(SCENARIO_2020A, CAR, CAR + obstacle)).tracks
    row = tracks.index_of(70)
    assert tracks.yaw[row] == pytest.approx(
        [np.arctan2(4.0, 3.0), np.pi / 2, np.pi / 2, np.pi / 2, np.pi / 2]
    )
    assert tracks.speed[row, 0] == pytest.approx(5.0)
    assert tracks.speed[row, 3:] == pytest.approx([0.0, 0.0])


def test_point_mass_planning_problem_heads_along_its_velocity(tmp_path: Path) -> None:
    old = (
        f"<position>{point(5.0, 0.0)}</position><orientation><exact>0.0</exact></orientation>"
        "<time><exact>0</exact></time><velocity><exact>8.0</exact></velocity>"
    )
    new = (
        f"<position>{point(5.0, 0.0)}</position><time><exact>0</exact></time>"
        "<velocity><exact>0.0</exact></velocity><velocityY><exact>-2.0</exact></velocityY>"
    )
    problem = read_text(tmp_path, edit(SCENARIO_2020A, old, new)).planning_problems[0]
    assert (problem.initial.yaw, problem.initial.speed) == pytest.approx((-np.pi / 2, 2.0))


def occupancy(shape: str, time: str) -> str:
    return f"<occupancy><shape>{shape}</shape><time>{time}</time></occupancy>"


SQUARE = f"<polygon>{point(0, 0)}{point(0, 2)}{point(2, 2)}{point(2, 0)}</polygon>"
CIRCLE = "<circle><radius>1.5</radius><center><x>5.0</x><y>5.0</y></center></circle>"


def test_set_based_and_phantom_obstacles_become_occupancies(tmp_path: Path) -> None:
    initial = (
        f"<initialState><position>{point(1, 1)}</position><orientation><exact>0.0</exact></orientation>"
        "<time><exact>0</exact></time></initialState>"
    )
    occupancies = occupancy(SQUARE, "<exact>0</exact>") + occupancy(SQUARE, interval(2, 4))
    occupancies += occupancy(CIRCLE, "<exact>4</exact>")
    set_based = (
        f'<dynamicObstacle id="80"><type>car</type><shape>{CAR_SHAPE}</shape>{initial}'
        f"<occupancySet>{occupancies}</occupancySet></dynamicObstacle>"
    )
    phantom = (
        f'<phantomObstacle id="81"><occupancySet>{occupancy(CIRCLE, interval(7, 8))}</occupancySet>'
        "</phantomObstacle>"
    )
    scenario = read_text(tmp_path, edit(SCENARIO_2020A, CAR, CAR + set_based + phantom))
    tracks = scenario.tracks
    row = tracks.index_of(80)
    assert np.flatnonzero(tracks.valid[row]).tolist() == [0]  # its initial state is its track
    first, second = scenario.occupancies
    assert (first.id, first.agent_type, first.phantom) == (80, AgentType.CAR, False)
    assert first.steps.tolist() == [2, 3, 4]  # step 0 is its initial state's
    assert first.shapes[2].kind is ShapeKind.GROUP and len(first.shapes[2].parts) == 2
    assert first.boxes[0] == pytest.approx([1.0, 1.0, first.boxes[0, 2], 2.0, 2.0])
    assert (second.id, second.agent_type, second.phantom) == (81, AgentType.UNKNOWN, True)
    assert second.steps.tolist() == [7, 8]
    assert second.boxes[0] == pytest.approx([5.0, 5.0, 0.0, 3.0, 3.0])
    assert scenario.num_steps == 9  # the grid covers the occupancies


def test_dangling_sign_and_light_references_are_dropped_with_warnings(tmp_path: Path) -> None:
    text = edit(
        SCENARIO_2020A, '<trafficSignRef ref="10"/>', '<trafficSignRef ref="10"/><trafficSignRef ref="11"/>'
    )
    text = edit(
        text, '<trafficLightRef ref="20"/>\n', '<trafficLightRef ref="20"/><trafficLightRef ref="21"/>\n'
    )
    scenario = read_text(tmp_path, text)
    lane = scenario.lane_graph.lanes[1]
    assert lane.traffic_sign_ids == (10,) and lane.traffic_light_ids == (20,)
    assert [(w.element, w.problem) for w in scenario.warnings] == [
        ("lanelet 1 / trafficSignRef", "refers to trafficSign 11, which does not exist: dropped"),
        ("lanelet 1 / trafficLightRef", "refers to trafficLight 21, which does not exist: dropped"),
    ]
    assert all(w.path == str(tmp_path / "scenario.xml") for w in scenario.warnings)


# --- commonroad-io's own test scenarios -------------------------------------------------------------


def test_every_commonroad_io_test_file_loads(commonroad_io_tests: Path) -> None:
    report = validate([commonroad_io_tests], workers=1)
    assert (report.loaded, report.rejected) == (21, ())
    assert [(Path(w.path or "").name, w.element) for w in report.warnings] == [
        ("test_reading_lanelets.xml.gz", "lanelet 100 / trafficSignRef")
    ]


def test_commonroad_io_feature_files(commonroad_io_tests: Path) -> None:
    a9 = read_scenario(commonroad_io_tests / "DEU_A9-3_1_T-1.xml.gz").tracks  # uncertain 2018b states
    row = a9.index_of(3536)
    assert (a9.x[row, 0], a9.y[row, 0]) == pytest.approx((351.6643758281, -5866.331045464546))
    assert (a9.yaw[row, 0], a9.speed[row, 0]) == pytest.approx(
        (0.5 * (0.0011 + 0.0347), 0.5 * (27.0104 + 27.4908))
    )
    pm = read_scenario(commonroad_io_tests / "test_reading_pm_state.xml.gz").tracks
    assert pm.yaw[0, 1:] == pytest.approx(np.full(3, np.pi / 4))  # velocity = velocityY in that file
    everything = read_scenario(commonroad_io_tests / "test_reading_all.xml.gz")
    assert [(o.id, o.phantom, o.steps.tolist()) for o in everything.occupancies] == [
        (1, False, [1, 2, 3]),
        (5678, True, [1, 2, 3]),
    ]
