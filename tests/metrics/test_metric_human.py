"""The recorded humans of highD, exiD and SinD, scored as runs: the sanity check of the metrics."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario
from drivestack.metrics import ScenarioMetrics, evaluate
from drivestack.metrics.human import human_run

PER_DATASET = 4


def _sample(root: Path, dataset: str) -> list[Scenario]:
    """The first PER_DATASET scenarios of a dataset (index.csv order) with their recorded humans."""
    with (root / dataset / "index.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["ego_solution_file"]][:PER_DATASET]
    folder = root / dataset
    return [read_scenario(folder / row["file"], [folder / row["ego_solution_file"]]) for row in rows]


def _human(scenario: Scenario) -> ScenarioMetrics:
    """The metrics of the scenario's first recorded human, replayed among the recorded traffic."""
    recorded = scenario.recorded_egos[0]
    problem = scenario.planning_problem(recorded.planning_problem_id)
    return evaluate(scenario, problem, human_run(scenario, recorded), recorded)


@pytest.mark.parametrize("dataset", ["highd", "exid", "sind"])
def test_recorded_humans_score_high_without_fault(commonroad_root: Path, dataset: str) -> None:
    for scenario in _sample(commonroad_root, dataset):
        metrics = _human(scenario)
        assert not metrics.at_fault_collision, scenario.scenario_id
        gates = (metrics.drivable_area, metrics.driving_direction, metrics.making_progress)
        assert gates == (1.0, 1.0, 1.0), scenario.scenario_id
        assert metrics.ego_progress == 1.0 and metrics.ade == 0.0, scenario.scenario_id
        assert metrics.goal_reached, scenario.scenario_id
        # SinD files state dt = 0.1 s while their states are 0.5 s apart, so comfort reads 5x too
        # large accelerations there (see the next test); everything else is the human's to keep
        assert metrics.score >= (0.875 if dataset == "sind" else 1.0), scenario.scenario_id


def _motion_dt(scenario: Scenario) -> float:
    """The time step [s] the recorded human's states are apart: displacement over speed, to 0.1 s."""
    trajectory = scenario.recorded_egos[0].trajectory
    step = np.hypot(np.diff(trajectory.x), np.diff(trajectory.y))
    speed = 0.5 * (trajectory.speed[1:] + trajectory.speed[:-1])
    moving = speed > 1.0
    return round(float(np.median(step[moving] / speed[moving])), 1)


def test_sind_humans_are_comfortable_at_their_own_time_step(commonroad_root: Path) -> None:
    for scenario in _sample(commonroad_root, "sind"):
        motion_dt = _motion_dt(scenario)
        assert motion_dt == 0.5, scenario.scenario_id
        metrics = _human(dataclasses.replace(scenario, dt=motion_dt))
        assert metrics.comfort == 1.0 and metrics.score == 1.0, scenario.scenario_id
