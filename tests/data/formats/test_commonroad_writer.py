"""The CommonRoad writer: recorded scenarios written and read back come out the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_equality import assert_same_scenario

from drivestack.core.errors import InputError
from drivestack.data.formats.commonroad import read_scenario
from drivestack.data.formats.commonroad_writer import write_scenario, write_solution

# one with lights, intersections and a solution; one highway with signs; one with pedestrians (circles)
SAMPLES = (
    (
        "sind/scenarios/CHN_SIND-8021_1052_T-1127.cr.xml.gz",
        "sind/solutions/CHN_SIND-8021_1052_T-1127.solution.xml.gz",
    ),
    (
        "highd/scenarios/DEU_LocationALower26-1_260_T-75.cr.xml.gz",
        "highd/solutions/DEU_LocationALower26-1_260_T-75.solution.xml.gz",
    ),
    ("ind/scenarios/C-DEU_AachenBendplatz-1_141040_T-1119.xml.gz", None),
)


@pytest.mark.parametrize(("scenario", "solution"), SAMPLES)
def test_recorded_scenarios_round_trip(
    commonroad_root: Path, tmp_path: Path, scenario: str, solution: str | None
) -> None:
    solutions = [commonroad_root / solution] if solution else []
    original = read_scenario(commonroad_root / scenario, solutions)
    written = write_scenario(original, tmp_path / "copy.xml.gz")
    copies = [write_solution(original, tmp_path / "copy.solution.xml")] if solution else []
    assert_same_scenario(original, read_scenario(written, copies))
    assert original.lane_graph.map_id == read_scenario(written).lane_graph.map_id


def test_unwritable_target_is_an_input_error(tmp_path: Path, commonroad_root: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    scenario = read_scenario(commonroad_root / SAMPLES[2][0])
    with pytest.raises(InputError, match="cannot be written"):
        write_scenario(scenario, blocker / "scenario.xml")
