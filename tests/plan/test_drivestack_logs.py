"""The drivestack planner closed loop on the recorded Argoverse 2 sensor logs (skipped when the
data is absent): buses and trucks there swing into the ego's lane ahead of it, which the planner
must yield to (issue 19: no at-fault collision under log agents)."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorded_data import DATA_ROOT

from drivestack.data.formats.registry import identify
from drivestack.metrics import evaluate
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate


def _sensor_logs() -> list[Path]:
    return sorted((DATA_ROOT / "argoverse2" / "sensor_logs").glob("*-*"))


@pytest.mark.parametrize("path", _sensor_logs() or [None], ids=lambda p: p.name[:8] if p else "absent")
def test_no_at_fault_collision_on_the_av2_sensor_logs(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no Argoverse 2 sensor logs under {DATA_ROOT}")
    reader = identify(path)
    assert reader is not None
    scenario = reader.read(path, reader.members(path)[0])
    (problem,) = scenario.planning_problems
    record = simulate(scenario, problem.id, make_planner("drivestack"), "log")
    assert record.failures == ()
    metrics = evaluate(scenario, problem, record, scenario.recorded_ego(problem.id))
    assert not metrics.at_fault_collision
