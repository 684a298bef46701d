"""Recorded scenarios the simulator tests run on (skipped when the data is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivestack.bench.sources import retimed
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario

HIGHD = "DEU_LocationALower26-1_260_T-75"  # 53 agents, a recorded human ego
SIND = "CHN_SIND-8021_1052_T-1127"  # intersection: cars, buses, bikes, pedestrians, a human ego


def recorded(root: Path, dataset: str, scenario_id: str) -> Scenario:
    """A recorded scenario with its solution file, on its measured time step."""
    scenario = root / dataset / "scenarios" / f"{scenario_id}.cr.xml.gz"
    solution = root / dataset / "solutions" / f"{scenario_id}.solution.xml.gz"
    return retimed(read_scenario(scenario, [solution]))


@pytest.fixture(scope="session")
def highd(commonroad_root: Path) -> Scenario:
    """A highD window with 53 agents and the recorded human."""
    return recorded(commonroad_root, "highd", HIGHD)


@pytest.fixture(scope="session")
def sind(commonroad_root: Path) -> Scenario:
    """A SinD intersection window with the recorded human."""
    return recorded(commonroad_root, "sind", SIND)
