"""Bad input the CommonRoad reader refuses with an `InputError` naming the file, element and expectation."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from commonroad_docs import SCENARIO_2020A, SCENARIO_ID, SOLUTION, bound, dynamic_obstacle, edit, state, write

from drivestack.core.errors import InputError
from drivestack.core.limits import DEFAULT_READER_LIMITS, ReaderLimits
from drivestack.data.formats import _xml, commonroad
from drivestack.data.formats.commonroad import read_scenario, read_solution

SMALL_HIGHD = "highd/scenarios/DEU_LocationCUpper6-1_65865_T-5940.cr.xml.gz"  # 4 kB, the smallest file


def rejected(path: Path, element: str | None, expectation: str, solution: bool = False) -> InputError:
    """Read `path` (scenario or solution file); check the error names it, `element` and `expectation`."""
    with pytest.raises(InputError) as raised:
        read_solution(path) if solution else read_scenario(path)
    error = raised.value
    assert error.path == str(path)
    assert error.element == element, str(error)
    assert expectation in error.problem, str(error)
    assert str(error).startswith(f"{path}: ")
    return error


def scenario_with(tmp_path: Path, old: str, new: str, name: str = "bad.xml") -> Path:
    """The handmade 2020a scenario with one edit, written to `tmp_path / name`."""
    return write(tmp_path, name, edit(SCENARIO_2020A, old, new))


# --- the file and its XML -----------------------------------------------------------------------------


def test_truncated_gzip(tmp_path: Path, commonroad_root: Path) -> None:
    data = (commonroad_root / SMALL_HIGHD).read_bytes()
    path = write(tmp_path, "cut.xml.gz", data[: len(data) // 2])
    rejected(path, "gzip stream", "truncated gzip data")


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(SCENARIO_2020A.encode(), mtime=0))
    data[len(data) // 2] ^= 0xFF
    rejected(write(tmp_path, "corrupt.xml", bytes(data)), "gzip stream", "corrupt gzip data")


def test_decompressed_size_is_bounded(tmp_path: Path) -> None:
    path = write(tmp_path, "big.xml.gz", SCENARIO_2020A + " " * 100_000)
    with pytest.raises(InputError, match="decompresses to more than the limit of 50000 bytes"):
        _xml.read_bytes(path, max_bytes=50_000)
    plain = write(tmp_path, "big.xml", SCENARIO_2020A)
    with pytest.raises(InputError, match="more than the limit of 100 bytes"):
        _xml.read_bytes(plain, max_bytes=100)
    assert DEFAULT_READER_LIMITS.max_bytes == 256 * 1024 * 1024


def test_malformed_xml(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, "</lanelet>", "</lanelt>")
    error = rejected(path, "line 16", "malformed XML")
    assert "mismatch" in error.problem


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    deep = b"<commonRoad>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</commonRoad>"
    error = rejected(write(tmp_path, "deep.xml", deep), "line 1", "malformed XML")
    assert "depth" in error.problem


def test_not_xml_and_empty_files(tmp_path: Path) -> None:
    rejected(write(tmp_path, "empty.xml", b""), "line 1", "malformed XML")
    rejected(write(tmp_path, "noise.xml", bytes(range(256))), "line 1", "malformed XML")


def test_missing_file(tmp_path: Path) -> None:
    rejected(tmp_path / "absent.xml", None, "cannot be read")


XXE = """<?xml version="1.0"?>
<!DOCTYPE commonRoad [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<commonRoad commonRoadVersion="2020a" benchmarkID="&secret;" timeStepSize="0.1"/>
"""


def test_external_entity_is_refused(tmp_path: Path) -> None:
    error = rejected(write(tmp_path, "xxe.xml", XXE), "DOCTYPE", "not allowed")
    assert "root:" not in str(error)


def billion_laughs(encoding: str = "utf-8") -> bytes:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n<!-- harmless comment -->\n'
    body = (
        f'<!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>\n<commonRoad source="&lol9;">&lol9;</commonRoad>\n'
    )
    return (head + body).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_refused_fast(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, f"lol-{encoding}.xml.gz", billion_laughs(encoding))
    start = time.perf_counter()
    with pytest.raises(InputError) as raised:
        read_scenario(path)
    assert time.perf_counter() - start < 1.0  # 10^9 expansions would take minutes and gigabytes
    assert raised.value.element == "DOCTYPE"


def test_plain_doctype_is_refused(tmp_path: Path) -> None:
    text = edit(
        SCENARIO_2020A,
        "<commonRoad ",
        '<!DOCTYPE commonRoad SYSTEM "http://127.0.0.1:9/cr.dtd">\n<commonRoad ',
    )
    rejected(
        write(tmp_path, "doctype.xml", "\ufeff" + text),
        "DOCTYPE",
        "document type declarations are not allowed",
    )


def test_wrong_root_element(tmp_path: Path) -> None:
    rejected(
        write(tmp_path, "solution.xml", SOLUTION), "CommonRoadSolution", "expected a CommonRoad scenario"
    )
    rejected(
        write(tmp_path, "scenario.xml", SCENARIO_2020A), "commonRoad", "expected a CommonRoad solution", True
    )


def test_unknown_format_version(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, 'commonRoadVersion="2020a"', 'commonRoadVersion="2024a"')
    rejected(
        path,
        "commonRoad / commonRoadVersion",
        "unsupported format version '2024a' (expected one of 2018b, 2020a)",
    )


# --- required elements and types ----------------------------------------------------------------------


def test_missing_required_element(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, bound("leftBound", [(100, 2), (200, 2)]), "")
    rejected(path, "lanelet 2 / leftBound", "required element is missing")


def test_missing_required_attribute(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, 'timeStepSize="0.1"', "")
    rejected(path, "commonRoad", "attribute 'timeStepSize' is missing")


def test_missing_state_field_names_the_state(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, "<position><point><x>13.0</x><y>0.0</y></point></position>", "")
    rejected(path, "dynamicObstacle 50 / trajectory / state[2]", "is missing position/point/x")


@pytest.mark.parametrize(
    ("old", "new", "element", "expectation"),
    [
        (
            "<x>12.0</x>",
            "<x>abc</x>",
            "dynamicObstacle 50 / trajectory / state[1] / position/point/x",
            "expected a number, got 'abc'",
        ),
        (
            "<exact>3</exact>",
            "<exact>3.5</exact>",
            "dynamicObstacle 50 / trajectory / state[2] / time/exact",
            "expected an integer (64-bit), got '3.5'",
        ),
        ('timeStepSize="0.1"', 'timeStepSize="fast"', "commonRoad / timeStepSize", "expected a number"),
        ('<lanelet id="2">', '<lanelet id="two">', "lanelet / id", "expected an integer (64-bit), got 'two'"),
        (
            "<length>4.5</length>",
            "<length>-4.5</length>",
            "dynamicObstacle 50 / shape / rectangle / length",
            "expected a positive length",
        ),
        (
            "<duration>30</duration>",
            "<duration>thirty</duration>",
            "trafficLight 20 / cycle / cycleElement[0] / duration",
            "expected an integer",
        ),
        (
            "<color>green</color>",
            "<color>blue</color>",
            "trafficLight 20 / cycle / cycleElement[0] / color",
            "unknown colour 'blue'",
        ),
        (
            "<type>car</type>",
            "<type>spaceship</type>",
            "dynamicObstacle 50 / type",
            "unknown obstacle type 'spaceship'",
        ),
        (
            'drivingDir="opposite"',
            'drivingDir="sideways"',
            "lanelet 1 / adjacentLeft",
            "expected 'same' or 'opposite'",
        ),
        (
            "<additionalValue>13.89</additionalValue>",
            "<additionalValue>fast</additionalValue>",
            "trafficSign 10 / trafficSignElement[0] / additionalValue",
            "expected a number",
        ),
    ],
)
def test_wrong_types(tmp_path: Path, old: str, new: str, element: str, expectation: str) -> None:
    rejected(scenario_with(tmp_path, old, new), element, expectation)


@pytest.mark.parametrize("token", ["NaN", "nan", "inf", "-Infinity", "1e999"])
def test_non_finite_numbers(tmp_path: Path, token: str) -> None:
    velocity = "<velocity><exact>10.0</exact></velocity>"
    path = write(tmp_path, "nan.xml", SCENARIO_2020A.replace(velocity, velocity.replace("10.0", token)))
    rejected(path, "dynamicObstacle 50 / initialState / velocity/exact", "expected a finite number")
    bound_path = scenario_with(tmp_path, "<point><x>200</x>", f"<point><x>{token}</x>", name="nan-bound.xml")
    rejected(bound_path, "lanelet 2 / leftBound / point[1] / x", "expected a finite number")


def test_time_steps_must_increase(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, "<time><exact>3</exact>", "<time><exact>1</exact>")
    rejected(path, "dynamicObstacle 50 / trajectory / state[2] / time", "time step 1 does not follow 2")


def test_time_steps_and_grid_are_bounded(tmp_path: Path) -> None:
    far = scenario_with(tmp_path, "<time><exact>4</exact>", "<time><exact>2000000</exact>")
    rejected(
        far, "dynamicObstacle 50 / trajectory / state[3] / time", "time step 2000000 outside [0, 1000000]"
    )
    path = write(tmp_path, "s.xml", SCENARIO_2020A)
    with pytest.raises(InputError, match="2 obstacles over 5 steps exceed the limit of 9 grid cells"):
        read_scenario(path, limits=ReaderLimits(max_track_cells=9))


def test_duplicate_ids(tmp_path: Path) -> None:
    rejected(
        scenario_with(tmp_path, '<lanelet id="3">', '<lanelet id="2">'),
        "lanelet 2",
        "used by more than one lanelet",
    )
    rejected(
        scenario_with(tmp_path, 'staticObstacle id="40"', 'staticObstacle id="50"'),
        "obstacle 50",
        "used by more than one",
    )


@pytest.mark.parametrize(
    ("occupancies", "element", "expectation"),
    [
        ("", "dynamicObstacle 90 / occupancySet", "has no occupancy"),
        (
            "<occupancy><shape/><time><exact>1</exact></time></occupancy>",
            "dynamicObstacle 90 / occupancySet / occupancy[0] / shape",
            "is empty",
        ),
        (
            "<occupancy><shape><circle><radius>1</radius></circle></shape><time>"
            "<intervalStart>5</intervalStart><intervalEnd>2</intervalEnd></time></occupancy>",
            "dynamicObstacle 90 / occupancySet / occupancy[0] / time",
            "interval [5, 2] is empty",
        ),
        (
            "<occupancy><shape><circle><radius>1</radius></circle></shape><time>"
            "<intervalStart>0</intervalStart><intervalEnd>900000</intervalEnd></time></occupancy>",
            "dynamicObstacle 90 / occupancySet / occupancy[0] / time",
            "occupancy sets spread over more than 100000 steps per file",
        ),
    ],
)
def test_bad_occupancy_sets(tmp_path: Path, occupancies: str, element: str, expectation: str) -> None:
    circle = "<circle><radius>1</radius></circle>"
    obstacle = dynamic_obstacle(90, "car", circle, [state(0, 0.0, 0.0, 0.0, tag="initialState")])
    obstacle = edit(
        obstacle, "</dynamicObstacle>", f"<occupancySet>{occupancies}</occupancySet></dynamicObstacle>"
    )
    text = edit(SCENARIO_2020A, "</commonRoad>", f"{obstacle}</commonRoad>")
    rejected(write(tmp_path, "occupancy.xml", text), element, expectation)


# --- references ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "element", "target"),
    [
        ('<successor ref="2"/>', '<successor ref="99"/>', "lanelet 1 / successor", "lanelet 99"),
        ('<adjacentLeft ref="3"', '<adjacentLeft ref="61"', "lanelet 1 / adjacentLeft", "lanelet 61"),
        (
            '<position><lanelet ref="2"/>',
            '<position><lanelet ref="7"/>',
            "planningProblem 60 / goalState[0] / position / lanelet",
            "lanelet 7",
        ),
        (
            '<incomingLanelet ref="1"/>',
            '<incomingLanelet ref="5"/>',
            "intersection 30 / incoming 31 / incomingLanelet",
            "lanelet 5",
        ),
    ],
)
def test_dangling_references(tmp_path: Path, old: str, new: str, element: str, target: str) -> None:
    rejected(scenario_with(tmp_path, old, new), element, f"refers to {target}, which does not exist")


def test_dangling_stop_line_back_reference_is_dropped(tmp_path: Path) -> None:
    """Stop lines point back at their lanelet's sign / light; inD files name an absent sign there."""
    path = scenario_with(
        tmp_path,
        "<lineMarking>solid</lineMarking><trafficLightRef",
        '<lineMarking>solid</lineMarking><trafficSignRef ref="4000"/><trafficLightRef',
    )
    stop_line = read_scenario(path).lane_graph.lanes[1].stop_line
    assert stop_line is not None and stop_line.traffic_sign_ids == () and stop_line.traffic_light_ids == (20,)


# --- solution files -----------------------------------------------------------------------------------


def test_solution_errors(tmp_path: Path) -> None:
    def solution_with(old: str, new: str) -> Path:
        return write(tmp_path, "bad.solution.xml", edit(SOLUTION, old, new))

    rejected(
        solution_with("KS2:TR2:", "KS2:"),
        "CommonRoadSolution / benchmark_id",
        "expected '<vehicle>:<cost function>",
        True,
    )
    rejected(
        solution_with("KS2", "XX2"),
        "CommonRoadSolution / benchmark_id",
        "vehicle id 'XX2' is not a model",
        True,
    )
    rejected(solution_with("KS2", "PM2"), "ksTrajectory[0]", "does not match vehicle model PM", True)
    rejected(
        solution_with("<time>0</time>", "<time>1</time>"),
        "ksTrajectory[0] of planningProblem 60 / time",
        "time step 1 appears twice",
        True,
    )
    rejected(
        solution_with("<velocity>8.0</velocity>", ""),
        "ksTrajectory[0] of planningProblem 60 / ksState[0] / velocity",
        "required element is missing",
        True,
    )
    vectors = edit(SOLUTION, "ksTrajectory", "inputVector", count=2)
    rejected(
        write(tmp_path, "input.xml", vectors),
        "inputVector[0]",
        "input vectors need a forward simulation",
        True,
    )


def test_solution_must_fit_its_scenario(tmp_path: Path) -> None:
    scenario_path = write(tmp_path, "s.xml", SCENARIO_2020A)
    other = write(tmp_path, "other.solution.xml", edit(SOLUTION, SCENARIO_ID, "ZAM_Other-1_1_T-1"))
    with pytest.raises(
        InputError, match="names scenario 'ZAM_Other-1_1_T-1', expected 'ZAM_Test-1_1_T-1'"
    ) as raised:
        read_scenario(scenario_path, [other])
    assert raised.value.path == str(other)
    unknown = write(
        tmp_path, "unknown.solution.xml", edit(SOLUTION, 'planningProblem="60"', 'planningProblem="61"')
    )
    with pytest.raises(InputError, match="has no such planning problem"):
        read_scenario(scenario_path, [unknown])


def test_unexpected_failures_become_input_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of defence: a bug deep in the reader still surfaces as an `InputError` for the file."""

    def broken(lanes: object) -> str:
        raise KeyError("boom")

    monkeypatch.setattr(commonroad, "_map_id", broken)
    rejected(write(tmp_path, "s.xml", SCENARIO_2020A), None, "could not be read (KeyError")
