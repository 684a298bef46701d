"""The real `drivestack` command on hostile files (issue 21): the reproductions of items 2, 3 and 7,
then a seeded sample of `fuzz_corpus` through `validate`, `ingest` and `simulate`.

Every case runs in a subprocess limited in address space and time; it must finish, exit 0 (accepted)
or 1 (refused) without a traceback, say why in one line naming the file, and stay within a peak
resident memory of the command's own footprint plus a small multiple of the decompressed document.
`benchmarks/fuzz.py` runs the whole corpus.
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import fuzz_corpus
import pytest
from fuzz_corpus import SCENARIOS, SOLUTION, Case, Outcome, case, original, run
from lxml import etree

SEED = 21
CASE_SECONDS = 30.0
FOOTPRINT = {"validate": 300e6, "ingest": 400e6, "simulate": 600e6}
"""Peak resident memory [bytes] each command may use besides its input (measured: 127, 199, 344 MB)."""
MEMORY_PER_XML_BYTE = 4
COMMANDS = {
    "validate": ["validate", "--workers", "1"],
    "ingest": ["ingest", "--workers", "1", "--store", "store"],
    "simulate": ["simulate", "--planner", "constant-velocity"],
}
SAMPLE = {"validate": 12, "ingest": 3, "simulate": 3}


@pytest.fixture(autouse=True)
def _recorded_data(commonroad_root: Path) -> None:
    """Every case is made from recorded files (skipped when they are absent)."""


def check(command: str, case: Case, outcome: Outcome, folder: Path) -> str:
    """Assert what every run must do; returns the one line that says why the file was refused ("" if
    it was accepted)."""
    where = f"{command} {case.name}: {outcome.stderr[-2000:]}"
    assert outcome.code is not None and outcome.seconds < CASE_SECONDS, f"hung: {where}"
    assert outcome.code in (0, 1) and "Traceback" not in outcome.stderr, where
    assert outcome.peak_bytes <= FOOTPRINT[command] + MEMORY_PER_XML_BYTE * case.xml_size, (
        f"{outcome.peak_bytes / 1e6:.0f} MB: {where}"
    )
    path = folder / case.file_name
    errors = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(errors) <= 1, where
    if command == "validate":
        lines = outcome.stdout.splitlines()
        if outcome.code == 0:
            assert lines == ["1 loaded, 0 rejected"], where
            return ""
        assert len(lines) == 2 and lines[1] == "0 loaded, 1 rejected", where
        assert lines[0].startswith(f"{path}: "), where
        return lines[0]
    if command == "ingest":
        rejected = [line for line in outcome.stdout.splitlines() if line.startswith("rejected ")]
        assert len(rejected) <= 1, where
        assert not rejected or rejected[0].startswith(f"rejected {path.resolve()}: "), where
        return rejected[0] if rejected else ""
    assert not errors or errors[0].startswith(f"error: {path}: "), where
    return errors[0] if errors else ""


def test_element_bomb_is_refused_in_one_line_without_building_a_tree(tmp_path: Path) -> None:
    """Item 2: an 86 kB gzip of 80 MB of `<a/>` took 2.8 GB and 14 s to validate."""
    xml = fuzz_corpus.empty_elements(original(SCENARIOS[0]), 20_000_000)
    bomb = Case("bomb", "huge_count", "bomb.xml.gz", gzip.compress(xml, mtime=0), len(xml))
    outcome = run(COMMANDS["validate"], bomb, tmp_path)
    line = check("validate", bomb, outcome, tmp_path)
    assert line.endswith("more than 2000000 XML elements (limit ReaderLimits.max_elements)")
    assert len(bomb.data) < 100_000 and outcome.peak_bytes < FOOTPRINT["validate"] + 2 * bomb.xml_size


def test_far_time_steps_are_bounded(tmp_path: Path) -> None:
    """Item 3: a 4 kB scenario with a state at step 999999 and a goal window to 999999 simulated for
    hours. Its four obstacles now exceed the track grid limit; with one obstacle (and the goal out of
    reach) the run ends at the step cap."""
    xml = fuzz_corpus.far_steps(original(SCENARIOS[0]), 999_999)
    far = Case("far", "far_time_step", "far.xml", xml, len(xml))
    line = check("validate", far, run(COMMANDS["validate"], far, tmp_path), tmp_path)
    assert "4 obstacles over 1000000 steps exceed the limit of 1000000 grid cells" in line
    root = etree.fromstring(xml)
    for obstacle in root.findall("dynamicObstacle")[:-1]:  # keep the one with the far step
        root.remove(obstacle)
    for x in root.iterfind("planningProblem/goalState/position/polygon/point/x"):
        x.text = str(float(x.text or "") + 10_000.0)
    alone = etree.tostring(root)
    one = Case("far-one", "far_time_step", "far-one.xml", alone, len(alone))
    outcome = run([*COMMANDS["simulate"], "--max-steps", "300"], one, tmp_path)
    assert check("simulate", one, outcome, tmp_path) == ""
    assert re.search(r"termination\s*│\s*step_cap", outcome.stdout), outcome.stdout
    assert re.search(r"steps\s*│\s*301 ", outcome.stdout), outcome.stdout


def test_finite_extremes_are_refused_by_validate_and_simulate(tmp_path: Path) -> None:
    """Item 7: `validate` accepted timeStepSize 1e300 and a coordinate of 1e308, `simulate` crashed."""
    xml = original(SCENARIOS[0])
    coordinate = "planningProblem 101334 / initialState / position / point / x: coordinate '1e308' is"
    cases = {
        "commonRoad / timeStepSize: expected a time step in [0.001, 10] s": xml.replace(
            b'timeStepSize="0.1"', b'timeStepSize="1e300"'
        ),
        coordinate: xml.replace(b"<x>82.32</x>", b"<x>1e308</x>", 1),
    }
    for expected, data in cases.items():
        extreme = Case("extreme", "giant_number", "extreme.xml", data, len(data))
        for command in ("validate", "simulate"):
            line = check(command, extreme, run(COMMANDS[command], extreme, tmp_path), tmp_path)
            assert expected in line, line


def sample() -> list[tuple[str, str, str, int]]:
    """A seeded sample of (command, source file, mutation kind, case number): different kinds for each
    command (simulate on scenario files only)."""
    rng = random.Random(SEED)
    kinds = [*fuzz_corpus.MUTATIONS, *fuzz_corpus.GZIP_MUTATIONS]
    chosen = []
    for command, count in SAMPLE.items():
        sources = SCENARIOS if command == "simulate" else (*SCENARIOS, SOLUTION)
        chosen += [
            (command, rng.choice(sources), kind, rng.randrange(3)) for kind in rng.sample(kinds, count)
        ]
    return chosen


@pytest.mark.parametrize(("command", "source", "kind", "number"), sample())
def test_sampled_hostile_file(command: str, source: str, kind: str, number: int, tmp_path: Path) -> None:
    hostile = case(source, kind, number, SEED)
    check(command, hostile, run(COMMANDS[command], hostile, tmp_path), tmp_path)
