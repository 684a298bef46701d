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
from pathlib import Path

import fuzz_corpus
import pytest
from fuzz_corpus import COMMANDS, SCENARIOS, SOLUTION, Case, Outcome, case, judge, original, run, steady_run
from lxml import etree

pytestmark = pytest.mark.xdist_group("fuzz")
"""One worker runs every case, one at a time (`make pytest` runs two workers): each case is held to
CPU-time and memory budgets measured against the command's own footprint."""

SEED = 21
CASE_SECONDS = 10.0
"""CPU time a case may take (`benchmarks/fuzz.py` reports the cases over 10 s as hangs)."""
SAMPLE = {"validate": 8, "ingest": 2, "simulate": 2}


@pytest.fixture(autouse=True)
def _recorded_data(commonroad_root: Path) -> None:
    """Every case is made from recorded files (skipped when they are absent)."""


def check(command: list[str], case: Case, folder: Path) -> tuple[str, Outcome]:
    """Run `command` on `case` (`simulate` after an unmeasured run that compiles its kernels, as its
    footprint was measured); assert `judge` finds no problem; (the refusal line, the outcome)."""
    outcome = (steady_run if command[0] == "simulate" else run)(command, case, folder)
    verdict = judge(command[0], case, outcome, folder, CASE_SECONDS)
    assert verdict.problem == ""
    return verdict.line, outcome


def test_element_bomb_is_refused_in_one_line_without_building_a_tree(tmp_path: Path) -> None:
    """Item 2: an 86 kB gzip of 80 MB of `<a/>` took 2.8 GB and 14 s to validate."""
    xml = fuzz_corpus.empty_elements(original(SCENARIOS[0]), 20_000_000)
    bomb = Case("bomb", "huge_count", "bomb.xml.gz", gzip.compress(xml, mtime=0), len(xml))
    line, outcome = check(COMMANDS["validate"], bomb, tmp_path)
    assert line.endswith("more than 2000000 XML elements (limit ReaderLimits.max_elements)")
    budget = fuzz_corpus.FOOTPRINT_MARGIN * fuzz_corpus.footprint("validate") + 2 * bomb.xml_size
    assert len(bomb.data) < 100_000 and outcome.peak_bytes < budget


def test_far_time_steps_are_bounded(tmp_path: Path) -> None:
    """Item 3: a 4 kB scenario with a state at step 999999 and a goal window to 999999 simulated for
    hours. Its four obstacles now exceed the track grid limit; with one obstacle (and the goal out of
    reach) the run ends at the step cap."""
    xml = fuzz_corpus.far_steps(original(SCENARIOS[0]), 999_999)
    far = Case("far", "far_time_step", "far.xml", xml, len(xml))
    line, _ = check(COMMANDS["validate"], far, tmp_path)
    assert "4 obstacles over 1000000 steps exceed the limit of 1000000 grid cells" in line
    root = etree.fromstring(xml)
    for obstacle in root.findall("dynamicObstacle")[:-1]:  # keep the one with the far step
        root.remove(obstacle)
    for x in root.iterfind("planningProblem/goalState/position/polygon/point/x"):
        x.text = str(float(x.text or "") + 10_000.0)
    alone = etree.tostring(root)
    one = Case("far-one", "far_time_step", "far-one.xml", alone, len(alone))
    line, outcome = check([*COMMANDS["simulate"], "--max-steps", "300"], one, tmp_path)
    assert line == ""
    assert ", 301 steps (step_cap)," in outcome.stdout, outcome.stdout


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
            line, _ = check(COMMANDS[command], extreme, tmp_path)
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
    check(COMMANDS[command], case(source, kind, number, SEED), tmp_path)
