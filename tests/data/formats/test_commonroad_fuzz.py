"""Seeded mutations of small real CommonRoad files: the reader returns a result or raises `DrivestackError`.

Nothing else may escape (no bare `KeyError`, `IndexError`, `ValueError` from inside the parser), and
each case finishes within `CASE_SECONDS`. Mutations: byte flips and truncations of the XML text and
of the gzip stream, deleted and duplicated elements, swapped attribute values and element texts,
and numbers replaced by tokens numbers must not be ('nan', 'abc', '', huge integers).
"""

from __future__ import annotations

import gzip
import random
import re
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from recorded_data import COMMONROAD_ROOT

from drivestack.core.errors import DrivestackError
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario, read_solution

FILES = (  # the smallest file of several datasets and format versions, and a solution file
    "highd/scenarios/DEU_LocationCUpper6-1_65865_T-5940.cr.xml.gz",
    "mona/scenarios/C-DEU_MONAMerge-2_2320_T-2365.xml.gz",
    "ngsim/2018b/USA_Peach-1_1_T-1.xml.gz",
    "exid/scenarios/DEU_AachenBrand-1_436166_T-6174.cr.xml.gz",
    "sind/scenarios/CHN_SIND-852_2331_T-2334.cr.xml.gz",
    "sind/solutions/CHN_SIND-834_2180_T-2255.solution.xml.gz",
)
CASES_PER_FILE = 56  # 336 cases
CASE_SECONDS = 5.0
STRANGE_NUMBERS = ("nan", "-inf", "abc", "", "1e999", "99999999999999999999999", "-7", "0", "0x1F", "1,5")

_ELEMENT = re.compile(rb"<([A-Za-z]+)[ >]")
_ATTRIBUTE_VALUE = re.compile(rb'="([^"]*)"')
_TEXT = re.compile(rb">\s*([^<\s][^<]*)<")
_NUMBER = re.compile(rb">(-?[0-9][0-9.eE+-]*)<")


@cache
def original(name: str) -> bytes:
    """The decompressed XML of a recorded file."""
    return gzip.decompress((COMMONROAD_ROOT / name).read_bytes())


def flip_bytes(xml: bytes, rng: random.Random) -> bytes:
    data = bytearray(xml)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    return bytes(data)


def truncate(xml: bytes, rng: random.Random) -> bytes:
    return xml[: rng.randrange(len(xml))]


def element_span(xml: bytes, rng: random.Random) -> tuple[int, int]:
    """Start and end of a random element (from a start tag to the next matching end tag)."""
    starts = list(_ELEMENT.finditer(xml))
    match = starts[rng.randrange(1, len(starts))]  # never the root
    close = xml.find(b"</" + match.group(1) + b">", match.start())
    end = close + len(match.group(1)) + 3 if close >= 0 else xml.find(b">", match.start()) + 1
    return match.start(), end


def delete_element(xml: bytes, rng: random.Random) -> bytes:
    start, end = element_span(xml, rng)
    return xml[:start] + xml[end:]


def duplicate_element(xml: bytes, rng: random.Random) -> bytes:
    start, end = element_span(xml, rng)
    return xml[:end] + xml[start:end] + xml[end:]


def swap(xml: bytes, rng: random.Random, pattern: re.Pattern[bytes]) -> bytes:
    """Swap the first groups of two random matches of `pattern` that differ."""
    matches = list(pattern.finditer(xml))
    one = rng.choice(matches)
    other = rng.choice([match for match in matches if match.group(1) != one.group(1)])
    first, second = sorted((one, other), key=lambda match: match.start())
    a, b = first.span(1), second.span(1)
    return xml[: a[0]] + xml[b[0] : b[1]] + xml[a[1] : b[0]] + xml[a[0] : a[1]] + xml[b[1] :]


def swap_attributes(xml: bytes, rng: random.Random) -> bytes:
    return swap(xml, rng, _ATTRIBUTE_VALUE)


def swap_texts(xml: bytes, rng: random.Random) -> bytes:
    return swap(xml, rng, _TEXT)


def strange_number(xml: bytes, rng: random.Random) -> bytes:
    number = rng.choice(list(_NUMBER.finditer(xml)))
    token = rng.choice(STRANGE_NUMBERS).encode()
    return xml[: number.start(1)] + token + xml[number.end(1) :]


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bytes,
    truncate,
    delete_element,
    duplicate_element,
    swap_attributes,
    swap_texts,
    strange_number,
)
GZIP_MUTATIONS = (flip_bytes, truncate)  # applied to the compressed stream


def mutated(name: str, case: int) -> tuple[str, bytes, str]:
    """(mutation name, file content, file suffix) of fuzz case `case` of file `name`; deterministic."""
    rng = random.Random(f"{name}:{case}")
    kinds = len(MUTATIONS) + len(GZIP_MUTATIONS)
    kind = case % kinds
    if kind < len(MUTATIONS):
        mutation = MUTATIONS[kind]
        return mutation.__name__, mutation(original(name), rng), ".xml"
    mutation = GZIP_MUTATIONS[kind - len(MUTATIONS)]
    compressed = gzip.compress(original(name), mtime=0)
    return f"gzip_{mutation.__name__}", mutation(compressed, rng), ".xml.gz"


CASES = [(name, case) for name in FILES for case in range(CASES_PER_FILE)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{Path(n).name.split('.')[0]}-{c}" for n, c in CASES])
def test_mutated_file_is_read_or_rejected(
    commonroad_root: Path, tmp_path: Path, name: str, case: int
) -> None:
    mutation, content, suffix = mutated(name, case)
    path = tmp_path / f"case{suffix}"
    path.write_bytes(content)
    reader: Callable[[Path], object] = read_solution if "solution" in name else read_scenario
    start = time.perf_counter()
    try:
        result = reader(path)
    except DrivestackError as error:
        assert str(path) in str(error), f"{mutation}: {error}"
    else:
        assert isinstance(result, tuple if "solution" in name else Scenario), mutation
    assert time.perf_counter() - start < CASE_SECONDS, mutation


def test_mutations_change_the_outcome(commonroad_root: Path, tmp_path: Path) -> None:
    """The mutations bite: of the first file's cases some are rejected, and none is left unchanged."""
    name = FILES[0]
    outcomes = []
    for case in range(CASES_PER_FILE):
        mutation, content, suffix = mutated(name, case)
        path = tmp_path / f"case{case}{suffix}"
        path.write_bytes(content)
        assert content not in (original(name), gzip.compress(original(name), mtime=0)), mutation
        try:
            read_scenario(path)
            outcomes.append(True)
        except DrivestackError:
            outcomes.append(False)
    assert outcomes.count(False) >= CASES_PER_FILE // 2
