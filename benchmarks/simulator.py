"""Closed-loop simulation speed on recorded scenarios with 50+ agents; prints steps/s and ratios.

Run: `.venv/bin/python benchmarks/simulator.py [DATA_ROOT]` (default ../shared/data/commonroad).
Scenarios: up to SCENARIOS_PER_DATASET per dataset with at least MIN_AGENTS agents (by index.csv),
loaded as the bench loads them (re-timed). Runs, each with agents "log" (replayed), "idm" and
"reactive" (goal for reactive: within REACTIVE_GOAL times idm's cost; the last column compares):
- `log-replay`: no planner to speak of, the ego replays the recorded human (highD, SinD, exiD);
- `constant-velocity`: the cheapest real planner, on every chosen scenario (NGSIM, MONA too);
- `idm`: the IDM baseline planner.
Every run is scored with `drivestack.metrics.evaluate` ("all metrics on"). Times are the best of
REPEATS passes over the scenario set in this one process, the agent modes' passes alternating
(one core; the machine may be shared), after a warm-up pass (numba kernels compiled, map caches
filled as a bench has them after the first planner on a scenario). Goal: GOAL_STEPS_PER_S
simulated steps per second with metrics on.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from drivestack.bench.sources import retimed
from drivestack.core.scenario import Scenario
from drivestack.data.formats.commonroad import read_scenario
from drivestack.metrics import evaluate
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate

GOAL_STEPS_PER_S = 2000.0
REACTIVE_GOAL = 2.0
AGENT_MODES = ("log", "idm", "reactive")
MIN_AGENTS = 50
SCENARIOS_PER_DATASET = 6
REPEATS = 3
DATASETS = ("highd", "sind", "exid", "ngsim", "mona")


def chosen_scenarios(root: Path) -> list[Scenario]:
    """Up to SCENARIOS_PER_DATASET scenarios per dataset with MIN_AGENTS+ agents, in index order."""
    scenarios = []
    for dataset in DATASETS:
        with (root / dataset / "index.csv").open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["n_dynamic_obstacles"]) >= MIN_AGENTS]
        for row in rows[:SCENARIOS_PER_DATASET]:
            solutions = [root / dataset / row["ego_solution_file"]] if row["ego_solution_file"] else []
            scenarios.append(retimed(read_scenario(root / dataset / row["file"], solutions)))
    return scenarios


def one_pass(scenarios: list[Scenario], planner: str, agents: str) -> tuple[int, float, float, int]:
    """(steps, simulation seconds, metrics seconds, runs) of every applicable problem once."""
    steps, sim_s, metrics_s, runs = 0, 0.0, 0.0, 0
    for scenario in scenarios:
        for problem in scenario.planning_problems:
            human = scenario.recorded_ego(problem.id)
            if planner == "log-replay" and human is None:
                continue
            started = time.perf_counter()
            record = simulate(scenario, problem.id, make_planner(planner), agents)
            simulated = time.perf_counter()
            evaluate(scenario, problem, record, human)
            metrics_s += time.perf_counter() - simulated
            sim_s += simulated - started
            steps += record.num_steps
            runs += 1
    return steps, sim_s, metrics_s, runs


COLUMNS = (
    ("planner", 18),
    ("agents", 6),
    ("runs", 5),
    ("steps", 6),
    ("sim ms/step", 12),
    ("metrics ms/step", 16),
    ("steps/s sim", 12),
    ("steps/s +metrics", 17),
    ("x goal", 7),
    ("sim x idm", 10),
)


def main() -> None:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "commonroad"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    scenarios = chosen_scenarios(root.resolve())
    counts = sorted(s.tracks.num_agents for s in scenarios)
    print(f"{len(scenarios)} scenarios, {counts[0]}..{counts[-1]} agents (median {counts[len(counts) // 2]})")
    print(" ".join(f"{name:>{width}}" for name, width in COLUMNS))
    for planner in ("log-replay", "constant-velocity", "idm"):
        idm_ms = float("nan")
        for agents in AGENT_MODES:
            one_pass(scenarios, planner, agents)  # warm-up
        # the modes' passes alternate, so that a load changing on a shared machine hits all alike
        passes: dict[str, list[tuple[int, float, float, int]]] = {agents: [] for agents in AGENT_MODES}
        for _ in range(REPEATS):
            for agents in AGENT_MODES:
                passes[agents].append(one_pass(scenarios, planner, agents))
        for agents in AGENT_MODES:
            steps, sim_s, metrics_s, runs = min(passes[agents], key=lambda found: found[1] + found[2])
            with_metrics = steps / (sim_s + metrics_s)
            sim_ms = 1e3 * sim_s / steps
            idm_ms = sim_ms if agents == "idm" else idm_ms
            values = (
                planner,
                agents,
                runs,
                steps,
                f"{sim_ms:.3f}",
                f"{1e3 * metrics_s / steps:.3f}",
                f"{steps / sim_s:.0f}",
                f"{with_metrics:.0f}",
                f"{with_metrics / GOAL_STEPS_PER_S:.2f}",
                f"{sim_ms / idm_ms:.2f}" if agents != "log" else "",
            )
            print(" ".join(f"{value:>{width}}" for value, (_, width) in zip(values, COLUMNS, strict=True)))


if __name__ == "__main__":
    main()
