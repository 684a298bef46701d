"""Dump what the reference reader (commonroad-io) sees in CommonRoad files, one JSON per input file.

Run with the separate cross-check interpreter (`.venv-crosscheck/bin/python`, see requirements.txt
beside this file), never with drivestack's own: commonroad-io pins protobuf==3.20.2, which clashes
with drivestack's optional extras. It must not import drivestack, so it checks drivestack's reader
independently.

Usage: dump_commonroad_io.py --out DIR [--workers N] FILE [FILE ...]

FILE is a scenario (`.xml` or `.xml.gz`) or a solution (`*.solution.xml[.gz]`). Gzip-compressed
files are decompressed into a temporary folder first (commonroad-io opens plain files only). Each
input gets `DIR/<n>_<stem>.json`, where n is its position on the command line (the same scenario id
occurs in two ngsim format folders); `DIR/manifest.json` maps every input path to its JSON name.
A file commonroad-io cannot read gets a JSON with an `error` field instead of stopping the run.

Scenario JSON: scenario_id (null when commonroad-io rejects the file's id), dt [s], lanelet_count,
dynamic_obstacle_count, static_obstacle_count, environment_obstacle_count, phantom_obstacle_count,
planning_problems [{id, goal_state_count}], dynamic_obstacles [{id, type, time_step[], x[], y[],
orientation[], velocity[]}] (initial state first, then the trajectory; x, y [m] (the centre of a
region's bounding box where a state gives a region), orientation [rad] as in the file, velocity
[m/s] (an interval's midpoint; a point-mass state's speed); null where a state has no such field),
occupancies [{id, phantom, time_step[]}] (set-based predictions of dynamic and phantom obstacles:
the steps they give an occupancy at).
Solution JSON: scenario_id, egos [{planning_problem_id, vehicle_model, vehicle_type, cost_function,
time_step[], x[], y[], orientation[], velocity[]}].
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterable, Sequence
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from commonroad.common.file_reader import CommonRoadFileReader
from commonroad.common.solution import CommonRoadSolutionReader

SOLUTION_MARK = ".solution.xml"
ID_REJECTED = "Not a valid scenario ID"


def plain_copy(path: Path, folder: Path) -> Path:
    """An uncompressed file with `path`'s content: `path` itself, or its gunzipped copy inside `folder`."""
    if path.suffix != ".gz":
        return path
    target = folder / path.stem
    with gzip.open(path, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def optional_float(value: Any) -> float | None:
    """`value` as a float, or None when the state lacks the field (commonroad-io leaves it None); an
    interval (commonroad-io's `Interval`, `AngleInterval`) gives its midpoint."""
    if value is None:
        return None
    if hasattr(value, "start") and hasattr(value, "end"):
        return 0.5 * (float(value.start) + float(value.end))
    return float(value)


def position_xy(position: Any) -> tuple[float, float]:
    """A state's position [m]: the point, or the centre of a region's bounding box (uncertain states)."""
    shape = getattr(position, "shapely_object", None)
    if shape is None:
        return float(position[0]), float(position[1])
    low_x, low_y, high_x, high_y = shape.bounds
    return 0.5 * (low_x + high_x), 0.5 * (low_y + high_y)


def state_series(states: Iterable[Any]) -> dict[str, list[Any]]:
    """Time step, x, y [m], orientation [rad] and speed [m/s] of each state, as parallel lists (a
    point-mass state's `velocity` is its x component: the speed is its magnitude with `velocity_y`)."""
    series: dict[str, list[Any]] = {key: [] for key in ("time_step", "x", "y", "orientation", "velocity")}
    for state in states:
        series["time_step"].append(int(state.time_step))
        x, y = position_xy(state.position)
        series["x"].append(x)
        series["y"].append(y)
        series["orientation"].append(optional_float(getattr(state, "orientation", None)))
        velocity = optional_float(getattr(state, "velocity", None))
        # only a state holding velocity_y is a point-mass one (others derive the property from the heading)
        if velocity is not None and "velocity_y" in getattr(state, "attributes", ()):
            velocity = math.hypot(velocity, float(state.velocity_y))
        series["velocity"].append(velocity)
    return series


def occupied_steps(prediction: Any) -> list[int] | None:
    """The time steps a set-based prediction gives occupancies at (intervals spread over their steps),
    sorted; None for other predictions."""
    if type(prediction).__name__ != "SetBasedPrediction":  # trajectory predictions have occupancies too
        return None
    occupancies = prediction.occupancies
    steps: set[int] = set()
    for time in occupancies:
        if hasattr(time, "start"):
            steps.update(range(int(time.start), int(time.end) + 1))
        else:
            steps.add(int(time))
    return sorted(steps)


def dump_scenario(path: Path) -> dict[str, Any]:
    """Counts, planning problems and every dynamic obstacle's states as commonroad-io reads them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenario, problems = CommonRoadFileReader(path).open()
    # an id outside commonroad-io's grammar (e.g. inD's DEU_AAH4-0_66_T-1) comes back renamed ZAM_...
    rejected = any(ID_REJECTED in str(warning.message) for warning in caught)
    obstacles = []
    for obstacle in scenario.dynamic_obstacles:
        trajectory = getattr(obstacle.prediction, "trajectory", None)
        later = trajectory.state_list if trajectory is not None else []
        obstacles.append(
            {
                "id": int(obstacle.obstacle_id),
                "type": obstacle.obstacle_type.value,
                **state_series([obstacle.initial_state, *later]),
            }
        )
    occupancies = [
        {"id": int(obstacle.obstacle_id), "phantom": phantom, "time_step": steps}
        for obstacles_of_kind, phantom in (
            (scenario.dynamic_obstacles, False),
            (scenario.phantom_obstacle, True),
        )
        for obstacle in obstacles_of_kind
        if (steps := occupied_steps(obstacle.prediction)) is not None
    ]
    return {
        "scenario_id": None if rejected else str(scenario.scenario_id),
        "dt": float(scenario.dt),
        "lanelet_count": len(scenario.lanelet_network.lanelets),
        "dynamic_obstacle_count": len(scenario.dynamic_obstacles),
        "static_obstacle_count": len(scenario.static_obstacles),
        "environment_obstacle_count": len(scenario.environment_obstacle),
        "phantom_obstacle_count": len(scenario.phantom_obstacle),
        "planning_problems": [
            {"id": int(problem_id), "goal_state_count": len(problem.goal.state_list)}
            for problem_id, problem in sorted(problems.planning_problem_dict.items())
        ],
        "dynamic_obstacles": obstacles,
        "occupancies": occupancies,
    }


def dump_solution(path: Path) -> dict[str, Any]:
    """The recorded ego trajectories of a solution file as commonroad-io's solution reader reads them."""
    solution = CommonRoadSolutionReader.open(str(path))
    egos = [
        {
            "planning_problem_id": int(part.planning_problem_id),
            "vehicle_model": part.vehicle_model.name,
            "vehicle_type": int(part.vehicle_type.value),
            "cost_function": part.cost_function.name,
            **state_series(part.trajectory.state_list),
        }
        for part in solution.planning_problem_solutions
    ]
    return {"scenario_id": str(solution.scenario_id), "egos": egos}


def write_json_atomic(payload: dict[str, Any], target: Path) -> None:
    """Write `payload` as JSON to `target` through a temporary file and os.replace."""
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as sink:
        json.dump(payload, sink)
    os.replace(temp, target)


def dump_one(job: tuple[str, str]) -> None:
    """Dump one input file (path, target JSON path); a reader failure is written as the JSON's `error`."""
    source, target = Path(job[0]), Path(job[1])
    payload: dict[str, Any] = {"source": str(source)}
    try:
        with tempfile.TemporaryDirectory() as folder:
            plain = plain_copy(source, Path(folder))
            payload |= dump_solution(plain) if SOLUTION_MARK in source.name else dump_scenario(plain)
    except Exception as exc:
        payload["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    write_json_atomic(payload, target)


def output_name(position: int, source: Path) -> str:
    """JSON file name for the input at `position`: unique even when two inputs share a stem."""
    stem = source.name.removesuffix(".gz").removesuffix(".xml")
    return f"{position:04d}_{stem}.json"


def main(argv: Sequence[str]) -> int:
    """Parse the command line, dump every file with a pool of workers and write the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON files")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("files", type=Path, nargs="+", help="scenario or solution files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {str(path): output_name(i, path) for i, path in enumerate(args.files)}
    jobs = [(source, str(args.out / name)) for source, name in manifest.items()]
    # commonroad-io logs a warning per unknown tag or traffic sign: keep the workers quiet
    with Pool(args.workers, initializer=logging.disable, initargs=(logging.WARNING,)) as pool:
        for _ in pool.imap_unordered(dump_one, jobs):
            pass
    write_json_atomic(manifest, args.out / "manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
