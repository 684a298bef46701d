"""Generated scenarios are read alike by drivestack's reader and by commonroad-io (the reference).

Reuses the recorded-data cross-check: `dump_commonroad_io.py` runs in the separate cross-check
interpreter and the same comparison of counts, goal states and every obstacle's (and the recorded
ego's) state at every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_crosscheck_commonroad_io import (
    CROSSCHECK_PYTHON,
    dump_reference,
    ego_mismatches,
    scenario_mismatches,
)

from drivestack.data.formats.commonroad import read_scenario, read_solution
from drivestack.data.generate import KINDS, generate


def test_generated_scenarios_match_commonroad_io(tmp_path: Path) -> None:
    if not CROSSCHECK_PYTHON.exists():
        pytest.skip(
            f"cross-check interpreter {CROSSCHECK_PYTHON} absent: python3 -m venv .venv-crosscheck && "
            ".venv-crosscheck/bin/pip install -r tests/crosscheck/requirements.txt"
        )
    written = [files for kind in KINDS for files in generate(tmp_path / "data", kind, 1, seed=11)]
    inputs = [files.scenario for files in written] + [files.solution for files in written]
    out, errors = tmp_path / "reference", tmp_path / "dump.stderr"
    with errors.open("wb") as sink:
        assert dump_reference(inputs, out, sink).wait(timeout=300) == 0, errors.read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    mismatches = []
    for files in written:
        scenario = read_scenario(files.scenario)
        reference = json.loads((out / manifest[str(files.scenario)]).read_text())
        assert "error" not in reference, reference.get("error")
        assert reference["scenario_id"] == scenario.scenario_id  # a valid CommonRoad benchmark id
        assert reference["dynamic_obstacle_count"] > 0
        mismatches += scenario_mismatches(files.scenario.name, reference, scenario)
        solution = json.loads((out / manifest[str(files.solution)]).read_text())
        assert "error" not in solution, solution.get("error")
        mismatches += ego_mismatches(files.solution.name, solution, *read_solution(files.solution))
    assert not mismatches, "\n".join(mismatches[:20])
