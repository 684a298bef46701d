"""The reader's limits (`core.limits.ReaderLimits`): elements counted before parsing, encodings whose
'<' a count could miss refused, physically absurd values refused naming their element (issue 21
items 2, 3 and 7)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from commonroad_docs import SCENARIO_2020A, SOLUTION, edit, write
from fuzz_corpus import SCENARIOS, empty_elements, far_steps
from lxml import etree

from drivestack.core.errors import InputError
from drivestack.core.limits import ReaderLimits
from drivestack.data.formats._xml import code_unit, count_tags
from drivestack.data.formats.commonroad import read_scenario, read_solution


@pytest.mark.parametrize("source", SCENARIOS)
def test_tag_count_is_the_element_count_in_every_encoding(commonroad_root: Path, source: str) -> None:
    xml = gzip.decompress((commonroad_root / source).read_bytes())
    markup = sum(1 for _ in etree.fromstring(xml).iter()) + xml.count(b"<?") + xml.count(b"<!--")
    text = xml.decode()
    for encoded in (xml, text.encode("utf-16"), text.encode("utf-32")):
        assert count_tags(encoded, code_unit(Path(source), encoded), 10**9) == markup
    body = text[text.index("?>") + 2 :] if text.startswith("<?xml") else text
    declared = ('<?xml version="1.0" encoding="UTF-16LE"?>' + body).encode("utf-16-le")  # no BOM
    assert count_tags(declared, code_unit(Path(source), declared), 10**9) == markup + (
        not text.startswith("<?xml")
    )
    assert count_tags(xml, "u1", 10) <= 2**22 + 1  # stops after the chunk that passes the limit


def test_element_bomb_is_refused_before_parsing(commonroad_root: Path, tmp_path: Path) -> None:
    """Item 2: 20 million `<a/>` (80 MB in a 78 kB gzip) were parsed into a 2.7 GB tree and accepted."""
    xml = empty_elements(gzip.decompress((commonroad_root / SCENARIOS[0]).read_bytes()), 20_000_000)
    path = write(tmp_path, "bomb.xml.gz", gzip.compress(xml, mtime=0))
    with pytest.raises(InputError) as raised:
        read_scenario(path)
    assert str(raised.value) == f"{path}: more than 2000000 XML elements (limit ReaderLimits.max_elements)"
    small = write(tmp_path, "small.xml", SCENARIO_2020A)
    with pytest.raises(InputError, match="more than 100 XML elements"):
        read_scenario(small, limits=ReaderLimits(max_elements=100))
    assert read_scenario(small, limits=ReaderLimits(max_elements=1000)).scenario_id


@pytest.mark.parametrize("codec", ["utf-7", "cp037", "x-unknown"])
def test_encodings_a_tag_count_cannot_see_are_refused(tmp_path: Path, codec: str) -> None:
    text = SCENARIO_2020A.replace('encoding="utf-8"', f'encoding="{codec}"')
    data = text.encode("utf-7" if codec == "utf-7" else "utf-8")
    path = write(tmp_path, "encoded.xml", data)
    with pytest.raises(InputError) as raised:
        read_scenario(path)
    assert raised.value.element == "encoding" and f"unsupported encoding '{codec}'" in raised.value.problem


def test_an_undeclared_ebcdic_document_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "ebcdic.xml", SCENARIO_2020A.replace(' encoding="utf-8"', "").encode("cp037"))
    with pytest.raises(InputError) as raised:
        read_scenario(path)
    assert raised.value.problem == "malformed XML (Unsupported encoding: detecting EBCDIC , line 1, column 1)"


def test_other_encodings_still_read(tmp_path: Path) -> None:
    expected = read_scenario(write(tmp_path, "plain.xml", SCENARIO_2020A))
    for codec in ("utf-16", "utf-32", "ISO-8859-1"):
        text = SCENARIO_2020A.replace('encoding="utf-8"', f'encoding="{codec}"').replace("Tester", "Zoë")
        scenario = read_scenario(write(tmp_path, f"{codec}.xml", text.encode(codec)))
        assert scenario.author == "Zoë" and scenario.tracks.num_agents == expected.tracks.num_agents


ABSURD = [  # (old text, new text, element, expectation)
    ('timeStepSize="0.1"', 'timeStepSize="1e300"', "commonRoad / timeStepSize", "in [0.001, 10] s"),
    ('timeStepSize="0.1"', 'timeStepSize="1e-5"', "commonRoad / timeStepSize", "got 1e-05"),
    (
        "<point><x>200</x>",
        "<point><x>1e308</x>",
        "lanelet 2 / leftBound / point[1] / x",
        "coordinate '1e308' is beyond the limit of +-1e+07 m (ReaderLimits.max_coordinate)",
    ),
    (
        "<point><x>150</x><y>-1</y>",
        "<point><x>-2e7</x><y>-1</y>",
        "staticObstacle 40 / initialState / position / point / x",
        "coordinate '-2e7'",
    ),
    (
        "<velocity><exact>10.0</exact>",
        "<velocity><exact>1e300</exact>",
        "dynamicObstacle 50 / initialState / velocity/exact",
        "speed '1e300' is beyond the limit of +-1000 m/s (ReaderLimits.max_speed)",
    ),
    (
        "<length>4.5</length>",
        "<length>1e300</length>",
        "dynamicObstacle 50 / shape / rectangle / length",
        "size '1e300' is beyond the limit of +-10000 m (ReaderLimits.max_size)",
    ),
    (
        "<velocity><exact>8.0</exact>",
        "<velocity><exact>-5e3</exact>",
        "planningProblem 60 / initialState / velocity / exact",
        "speed '-5e3'",
    ),
    (
        "<additionalValue>13.89</additionalValue>",
        "<additionalValue>1e9</additionalValue>",
        "trafficSign 10 / trafficSignElement[0] / additionalValue",
        "speed '1e9'",
    ),
]


@pytest.mark.parametrize(("old", "new", "element", "expectation"), ABSURD)
def test_physically_absurd_values_are_refused(
    tmp_path: Path, old: str, new: str, element: str, expectation: str
) -> None:
    """Item 7: finite extremes passed `validate` and crashed `simulate` (GEOS, infs in arrays)."""
    path = write(tmp_path, "absurd.xml", edit(SCENARIO_2020A, old, new))
    with pytest.raises(InputError) as raised:
        read_scenario(path)
    assert (raised.value.element, raised.value.path) == (element, str(path))
    assert expectation in raised.value.problem, str(raised.value)


def test_absurd_solution_states_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "solution.xml", edit(SOLUTION, "<x>6.0</x>", "<x>1e308</x>"))
    with pytest.raises(InputError, match=r"ksState\[0\] / x: coordinate '1e308' is beyond"):
        read_solution(path)


def test_far_time_steps_cannot_allocate_gigabytes(commonroad_root: Path, tmp_path: Path) -> None:
    """Item 3: one state at step 999999 made a (4, 1000000) grid of nine arrays (290 MB); twenty such
    obstacles would take 1.5 GB. The grid is bounded by `max_track_cells`."""
    xml = far_steps(gzip.decompress((commonroad_root / SCENARIOS[0]).read_bytes()), 999_999)
    path = write(tmp_path, "far.xml", xml)
    with pytest.raises(InputError) as raised:
        read_scenario(path)
    assert raised.value.problem == (
        "4 obstacles over 1000000 steps exceed the limit of 1000000 grid cells (ReaderLimits.max_track_cells)"
    )
    assert read_scenario(path, limits=ReaderLimits(max_track_cells=4_000_000)).num_steps == 1_000_000
