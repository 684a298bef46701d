"""drivestack's CommonRoad reader against commonroad-io, the reference reader, on the recorded data.

commonroad-io lives in its own interpreter (`.venv-crosscheck`, from requirements.txt beside this
file: it pins protobuf==3.20.2, which clashes with drivestack's extras), so the reference side runs
as a subprocess (`dump_commonroad_io.py`) that writes JSON; this test compares that JSON with
`read_scenario` / `read_solution` on the same files: lanelet, obstacle and planning-problem counts,
goal states per problem, and every dynamic obstacle's (and recorded ego's) state at every step.

commonroad-io facts this relies on: 2018b files keep obstacles as `<obstacle><role>static|dynamic`,
which commonroad-io turns into static and dynamic obstacles like 2020a's `<staticObstacle>` /
`<dynamicObstacle>` (no file in the data has a static one); orientations are passed through
unwrapped, hence yaw is compared modulo 2 pi; solution states are sorted by time step; a benchmark
id outside commonroad-io's id grammar (inD's `DEU_AAH4-0_66_T-1`) is renamed `ZAM_DEUAAH4066T1-1`
with a warning, so such ids are not compared (the dump gives null for them).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

from drivestack.core.scenario import RecordedEgo, Scenario
from drivestack.data.formats.commonroad import read_scenario, read_solution

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CROSSCHECK_PYTHON = Path(
    os.environ.get("DRIVESTACK_CROSSCHECK_PYTHON", PROJECT_ROOT / ".venv-crosscheck" / "bin" / "python")
)
"""The cross-check interpreter: `.venv-crosscheck` in the project, or $DRIVESTACK_CROSSCHECK_PYTHON."""
DUMP_SCRIPT = Path(__file__).with_name("dump_commonroad_io.py")
PER_FORMAT_GROUP = 30  # scenarios per (dataset, format version); smaller groups are taken whole
SOLUTIONS_PER_DATASET = 5
TOLERANCE = 1e-6  # [m], [rad], [m/s]
SHOWN = 5  # differing steps quoted per mismatch


def spread(rows: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    """Every k-th row, k = len // count, so at least `count` rows spread over the list (all when fewer)."""
    return rows[:: max(1, len(rows) // count)]


def pick_scenarios(root: Path) -> list[tuple[Path, Path | None]]:
    """(scenario file, solution file or None) spread over every dataset's index.csv, per format version.

    Every dataset folder gives at least PER_FORMAT_GROUP scenarios of each format version (all when
    fewer); about SOLUTIONS_PER_DATASET of them come with their solution file where the dataset has one.
    """
    picks: list[tuple[Path, Path | None]] = []
    for index in sorted(root.glob("*/index.csv")):
        with index.open(newline="") as handle:
            groups: dict[str, list[dict[str, str]]] = defaultdict(list)
            for row in csv.DictReader(handle):
                groups[row["format_version"]].append(row)
        rows = [row for version in sorted(groups) for row in spread(groups[version], PER_FORMAT_GROUP)]
        with_solution = spread([row for row in rows if row["ego_solution_file"]], SOLUTIONS_PER_DATASET)
        chosen = {row["file"] for row in with_solution}
        picks += [
            (
                index.parent / row["file"],
                index.parent / row["ego_solution_file"] if row["file"] in chosen else None,
            )
            for row in rows
        ]
    return picks


def dump_reference(files: list[Path], out: Path, errors: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start commonroad-io's dump of `files` into `out` (2 worker processes, stderr to `errors`)."""
    command = [str(CROSSCHECK_PYTHON), str(DUMP_SCRIPT), "--out", str(out), "--workers", "2"]
    return subprocess.Popen([*command, *map(str, files)], stdout=subprocess.DEVNULL, stderr=errors)


def series_mismatches(
    where: str, reference: dict[str, Any], steps: np.ndarray, values: dict[str, np.ndarray]
) -> list[str]:
    """Differences between commonroad-io's state lists and drivestack's arrays at the same steps.

    `steps` (T,) are drivestack's time steps; `values` maps x, y, yaw [rad], speed [m/s] to (T,) arrays.
    """
    ref_steps = np.asarray(reference["time_step"], dtype=np.int64)
    if not np.array_equal(ref_steps, steps):
        only_ref, only_ours = np.setdiff1d(ref_steps, steps), np.setdiff1d(steps, ref_steps)
        return [
            f"{where} / time steps: {len(ref_steps)} in commonroad-io vs {len(steps)} in drivestack; only in "
            f"commonroad-io {only_ref[:SHOWN].tolist()}, only in drivestack {only_ours[:SHOWN].tolist()}"
        ]
    found = []
    for ours_name, ref_name in (("x", "x"), ("y", "y"), ("yaw", "orientation"), ("speed", "velocity")):
        ref = np.asarray(reference[ref_name], dtype=np.float64)  # null (missing field) -> NaN
        ours = values[ours_name]
        diff = ours - ref
        if ours_name == "yaw":
            diff = (diff + np.pi) % (2.0 * np.pi) - np.pi
        bad = ~((np.abs(diff) <= TOLERANCE) | np.isnan(ref))  # a field the file omits drivestack derives
        if bad.any():
            found.append(
                f"{where} / {ours_name} at {bad.sum()} of {len(bad)} steps, e.g. steps "
                f"{ref_steps[bad][:SHOWN].tolist()}: commonroad-io {ref[bad][:SHOWN].tolist()} "
                f"vs drivestack {ours[bad][:SHOWN].tolist()}"
            )
    return found


def scenario_mismatches(name: str, reference: dict[str, Any], scenario: Scenario) -> list[str]:
    """Every difference between commonroad-io's dump of file `name` and drivestack's `scenario`."""
    found = []
    tracks = scenario.tracks
    counts = {
        "scenario id": (reference["scenario_id"], scenario.scenario_id),
        "dt": (reference["dt"], scenario.dt),
        "lanelet count": (reference["lanelet_count"], len(scenario.lane_graph.lanes)),
        "dynamic obstacle count": (reference["dynamic_obstacle_count"], tracks.num_agents),
        "static and environment obstacle count": (
            reference["static_obstacle_count"] + reference["environment_obstacle_count"],
            len(scenario.static_obstacles),
        ),
        "phantom obstacle count": (
            reference["phantom_obstacle_count"],
            sum(occupancy.phantom for occupancy in scenario.occupancies),
        ),
        "goal states per planning problem": (
            {problem["id"]: problem["goal_state_count"] for problem in reference["planning_problems"]},
            {problem.id: len(problem.goal.states) for problem in scenario.planning_problems},
        ),
    }
    if reference["scenario_id"] is None:  # commonroad-io renames ids outside its grammar: nothing to compare
        del counts["scenario id"]
    found += [
        f"{name} / {what}: commonroad-io {ref} vs drivestack {ours}"
        for what, (ref, ours) in counts.items()
        if ref != ours
    ]
    for obstacle in reference["dynamic_obstacles"]:
        where = f"{name} / obstacle {obstacle['id']}"
        try:
            row = tracks.index_of(obstacle["id"])
        except KeyError:
            found.append(f"{where}: missing in drivestack's tracks")
            continue
        kind = tracks.agent_type[row].value
        if kind != obstacle["type"]:
            found.append(f"{where} / type: commonroad-io {obstacle['type']} vs drivestack {kind}")
        steps = np.flatnonzero(tracks.valid[row])
        values = {key: getattr(tracks, key)[row, steps] for key in ("x", "y", "yaw", "speed")}
        found += series_mismatches(where, obstacle, steps, values)
    ours = {(occupancy.id, occupancy.phantom): occupancy.steps.tolist() for occupancy in scenario.occupancies}
    for occupancy in reference.get("occupancies", []):
        where = (
            f"{name} / occupancies of {'phantom ' if occupancy['phantom'] else ''}obstacle {occupancy['id']}"
        )
        steps = occupancy["time_step"]
        if not occupancy["phantom"]:  # at its initial state's step the obstacle is its track (both readers)
            row = tracks.index_of(occupancy["id"])
            steps = [step for step in steps if not (step < tracks.num_steps and tracks.valid[row, step])]
        got = ours.pop((occupancy["id"], occupancy["phantom"]), None)
        if got != steps:
            found.append(f"{where}: steps {steps} in commonroad-io vs {got} in drivestack")
    found += [f"{name} / occupancies of obstacle {key[0]}: only in drivestack" for key in ours]
    return found


def ego_mismatches(
    name: str, reference: dict[str, Any], scenario_id: str, egos: tuple[RecordedEgo, ...]
) -> list[str]:
    """Every difference between commonroad-io's dump of solution file `name` and drivestack's egos."""
    found = []
    if reference["scenario_id"] != scenario_id:
        found.append(
            f"{name} / scenario id: commonroad-io {reference['scenario_id']} vs drivestack {scenario_id}"
        )
    ours = {ego.planning_problem_id: ego for ego in egos}
    ref_ids = sorted(ego["planning_problem_id"] for ego in reference["egos"])
    if sorted(ours) != ref_ids:
        found.append(f"{name} / planning problems: commonroad-io {ref_ids} vs drivestack {sorted(ours)}")
        return found
    for ref in reference["egos"]:
        ego = ours[ref["planning_problem_id"]]
        where = f"{name} / ego of planning problem {ref['planning_problem_id']}"
        header = (ref["vehicle_model"], ref["vehicle_type"], ref["cost_function"])
        ours_header = (ego.vehicle_model, ego.vehicle_type, ego.cost_function)
        if header != ours_header:
            found.append(f"{where} / vehicle and cost: commonroad-io {header} vs drivestack {ours_header}")
        path = ego.trajectory
        found += series_mismatches(
            where, ref, path.steps, {"x": path.x, "y": path.y, "yaw": path.yaw, "speed": path.speed}
        )
    return found


def compare_with_reference(files: list[Path], solutions: list[Path], root: Path, out: Path) -> list[str]:
    """Dump `files` with commonroad-io into `out` while drivestack reads them; every mismatch found
    (file names relative to `root`)."""
    errors = out.with_suffix(".stderr")
    with errors.open("wb") as sink:
        dump = dump_reference(files, out, sink)
        ours: dict[Path, Any] = {}  # read with drivestack while commonroad-io works in its subprocess
        for path in files:
            try:
                ours[path] = read_solution(path) if path in solutions else read_scenario(path)
            except Exception as exc:
                ours[path] = exc
        dump.wait(timeout=600)
    assert dump.returncode == 0, errors.read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    mismatches: list[str] = []
    for path in files:
        name = str(path.relative_to(root))
        reference = json.loads((out / manifest[str(path)]).read_text())
        if "error" in reference:
            mismatches.append(f"{name}: commonroad-io failed: {reference['error']}")
        elif isinstance(ours[path], Exception):
            mismatches.append(f"{name}: drivestack failed: {type(ours[path]).__name__}: {ours[path]}")
        elif path in solutions:
            mismatches += ego_mismatches(name, reference, *ours[path])
        else:
            mismatches += scenario_mismatches(name, reference, ours[path])
    return mismatches


def require_reference_reader() -> None:
    """Skip the test when the cross-check interpreter is not installed."""
    if not CROSSCHECK_PYTHON.exists():
        pytest.skip(
            f"cross-check interpreter {CROSSCHECK_PYTHON} absent: python3 -m venv .venv-crosscheck && "
            ".venv-crosscheck/bin/pip install -r tests/crosscheck/requirements.txt"
        )


def test_reader_matches_commonroad_io_on_its_own_test_files(
    commonroad_io_tests: Path, tmp_path: Path
) -> None:
    """commonroad-io's own feature files (uncertain and point-mass states, set-based and phantom
    obstacles, ...): counts, every obstacle state and every occupancy's steps agree."""
    require_reference_reader()
    files = sorted(commonroad_io_tests.glob("*.xml*"))
    assert len(files) == 21
    mismatches = compare_with_reference(files, [], commonroad_io_tests, tmp_path / "reference")
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:60])


@pytest.mark.slow
def test_reader_matches_commonroad_io(commonroad_root: Path, tmp_path: Path) -> None:
    """Counts and every obstacle state of ~180 scenarios (and ~18 recorded egos) agree with commonroad-io."""
    require_reference_reader()
    picks = pick_scenarios(commonroad_root)
    solutions = [solution for _, solution in picks if solution is not None]
    files = [scenario for scenario, _ in picks] + solutions
    mismatches = compare_with_reference(files, solutions, commonroad_root, tmp_path / "reference")
    datasets = {path.relative_to(commonroad_root).parts[0] for path in files}
    assert len(datasets) >= 6 and len(solutions) >= 10, (datasets, len(solutions))
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:60])
