"""Cost of `drivestack.metrics.evaluate` per simulated step on recorded scenarios; prints times and ratios.

Run: `.venv/bin/python benchmarks/metrics.py [DATA_ROOT]` (default ../shared/data/commonroad).
Two kinds of runs, both log replays of real recorded vehicles built into run records:
- "human": the recorded human ego of highD/exiD/SinD problems (as long as its solution file);
- "agent": the longest-lived recorded vehicle of a 50+ agent scenario as the ego, over its whole
  life, the other agents as recorded (highD, MONA, NGSIM: long runs among dense traffic).
"cold" includes building the map geometry (once per map), "warm" reuses it, as a bench does when
it runs several planners on a scenario. Budget: 0.2 ms per step (2,000 simulated steps/s with
metrics taking well under half of each step). Warm times are the best of five repeats (the
machine may be shared).
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from drivestack.core.record import EgoStates, RunRecord
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario
from drivestack.metrics import evaluate
from drivestack.metrics.human import human_run
from drivestack.metrics.lanes import clear_map_cache

BUDGET_MS = 0.2
SCENARIOS_PER_DATASET = 8
MIN_AGENTS = 50


def agent_run(scenario: Scenario) -> RunRecord:
    """The longest-lived recorded vehicle driven as the ego over its life; the others stay agents."""
    tracks = scenario.tracks
    row = int(np.argmax(tracks.valid.sum(axis=1)))
    steps = np.flatnonzero(tracks.valid[row]).astype(np.int64)
    others = np.arange(tracks.num_agents) != row
    fields = ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate", "valid")
    agents = dataclasses.replace(
        tracks,
        ids=tracks.ids[others],
        agent_type=tuple(kind for kind, keep in zip(tracks.agent_type, others, strict=True) if keep),
        length=tracks.length[others],
        width=tracks.width[others],
        shapes=tuple(shape for shape, keep in zip(tracks.shapes, others, strict=True) if keep),
        **{name: getattr(tracks, name)[others][:, steps] for name in fields},
    )
    ego = EgoStates(
        x=tracks.x[row, steps],
        y=tracks.y[row, steps],
        yaw=tracks.yaw[row, steps],
        speed=tracks.speed[row, steps],
        acceleration=tracks.acceleration[row, steps],
        yaw_rate=tracks.yaw_rate[row, steps],
        steering_angle=np.zeros(len(steps)),
        length=float(tracks.length[row]),
        width=float(tracks.width[row]),
    )
    problem_id = scenario.planning_problems[0].id
    return RunRecord(scenario.scenario_id, problem_id, "agent", "log", scenario.dt, steps, ego, agents)


def rows(root: Path, dataset: str, human: bool) -> list[dict[str, str]]:
    """index.csv rows of a dataset: with a human solution, or with 50+ agents."""
    with (root / dataset / "index.csv").open(newline="") as handle:
        found = list(csv.DictReader(handle))
    if human:
        found = [row for row in found if row["ego_solution_file"]]
    else:
        found = [row for row in found if int(row["n_dynamic_obstacles"]) >= MIN_AGENTS]
    return found[:SCENARIOS_PER_DATASET]


def measure(kind: str, root: Path, dataset: str) -> None:
    """Evaluate the runs of one dataset cold and warm; print per-step costs."""
    steps = cold = warm = 0.0
    agents = []
    for row in rows(root, dataset, kind == "human"):
        folder = root / dataset
        solutions = [folder / row["ego_solution_file"]] if kind == "human" else []
        scenario = read_scenario(folder / row["file"], solutions)
        if kind == "human":
            recorded = scenario.recorded_egos[0]
            record, problem = (
                human_run(scenario, recorded),
                scenario.planning_problem(recorded.planning_problem_id),
            )
        else:
            recorded, record, problem = None, agent_run(scenario), scenario.planning_problems[0]
        clear_map_cache()
        start = time.perf_counter()
        evaluate(scenario, problem, record, recorded)
        cold += time.perf_counter() - start
        best = np.inf
        for _ in range(5):
            start = time.perf_counter()
            evaluate(scenario, problem, record, recorded)
            best = min(best, time.perf_counter() - start)
        warm += best
        steps += record.num_steps
        agents.append(record.agents.num_agents)
    if not steps:
        return
    cold_ms, warm_ms = cold * 1e3 / steps, warm * 1e3 / steps
    print(
        f"{kind:6s} {dataset:6s} {len(agents):4d} {np.mean(agents):7.1f} {steps / len(agents):7.1f}"
        f" {cold_ms:9.3f} {warm_ms:9.3f} {BUDGET_MS / warm_ms:10.1f}"
    )


def main() -> None:
    """Print the per-step cost of evaluate per dataset and run kind."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default.resolve()
    print("kind   data   runs  agents   steps  cold ms/step  warm ms/step  budget/warm")
    for dataset in ("highd", "exid", "sind"):
        measure("human", root, dataset)
    for dataset in ("highd", "mona", "ngsim"):
        measure("agent", root, dataset)


if __name__ == "__main__":
    main()
