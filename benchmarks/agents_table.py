"""The closing-note table of issue 20 from a benchmark's output: per dataset and agent mode, the human
test and the agents' realism; then every other planner's score per dataset and agent mode.

Run: `.venv/bin/python benchmarks/agents_table.py OUT [--store STORE]` on the folder of
`drivestack bench ... --planner log-replay,... --agents log,idm,reactive --out OUT`. Prints Markdown.

First table (realism from each scenario's log-replay run, or every planner's runs where it has no
recorded human: "realism of" says which, see `bench.modes`): runs; the replayed human's
at-fault collision rate [% of runs], its mean score and the mean difference to its `log` score on
the same runs [points = score x 100]; agents' ADE and FDE [m]; agent-agent collisions the recording
does not have (pairs) and the share of agents in one [%]; off-road share of moving-vehicle
agent-steps [%], simulated and (in parentheses) recorded; red-light crossings, simulated (recorded);
Wasserstein-1 distances of speed [m/s], acceleration [m/s2], jerk [m/s3] and time headway [s].
The dataset of a run is the store index's for stored scenarios, else its file's folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from drivestack.bench.modes import REFERENCE_PLANNER, mode_order, planners_by_mode, realism_by_mode
from drivestack.bench.replay import result_rows
from drivestack.core.errors import DrivestackError
from drivestack.core.names import display_text
from drivestack.viz.report import dataset_of, store_index

HUMAN_COLUMNS = (
    ("dataset", "dataset", "s"),
    ("agents", "agents", "s"),
    ("measured_on", "realism of", "s"),
    ("runs", "runs", "d"),
    ("at_fault_pct", "log-replay at-fault %", ".1f"),
    ("score_points", "log-replay score", ".1f"),
    ("vs_log_points", "vs log [points]", "+.1f"),
    ("ade_m", "ADE [m]", ".2f"),
    ("fde_m", "FDE [m]", ".2f"),
    ("new_collisions", "new agent-agent collisions", "d"),
    ("collision_pct", "agents in one %", ".2f"),
    ("offroad", "off-road % (log)", "s"),
    ("red_lights", "red lights (log)", "s"),
    ("speed_w1_mps", "speed W1 [m/s]", ".3f"),
    ("accel_w1_mps2", "accel W1 [m/s2]", ".3f"),
    ("jerk_w1_mps3", "jerk W1 [m/s3]", ".3f"),
    ("headway_w1_s", "headway W1 [s]", ".3f"),
)
PLANNER_COLUMNS = (
    ("dataset", "dataset", "s"),
    ("planner", "planner", "s"),
    ("agents", "agents", "s"),
    ("runs", "runs", "d"),
    ("score_points", "score", ".1f"),
    ("vs_log_points", "vs log [points]", "+.1f"),
    ("at_fault_pct", "at-fault %", ".1f"),
    ("progress", "progress", ".3f"),
)


def _text(value: Any, spec: str) -> str:
    """A cell: `value` formatted by `spec`, "–" when missing; text from data made printable."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return display_text(str(value)).replace("|", "/") if spec == "s" else format(value, spec)


def markdown(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """`rows` as a Markdown table over `columns` (key, header, format spec)."""
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(_text(row.get(key), spec) for key, _, spec in columns) + " |" for row in rows]
    return "\n".join(lines)


def _pair(simulated: Any, recorded: Any, spec: str) -> str:
    """ "simulated (recorded)"."""
    return f"{_text(simulated, spec)} ({_text(recorded, spec)})"


def _scaled(value: Any, factor: float) -> float | None:
    return None if value is None else float(value) * factor


def with_datasets(out: Path, store: str | None) -> pa.Table:
    """The benchmark's result rows with their `dataset`."""
    rows = result_rows(out)
    index = store_index(rows, store)
    return pa.Table.from_pylist([{**row, "dataset": dataset_of(row, index)} for row in rows])


def human_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The first table's rows (see the module docstring), per dataset and agent mode."""
    realism = {
        (r["dataset"], r["agents"]): r for r in realism_by_mode(table, ("dataset", "agents")).to_pylist()
    }
    human = {
        (r["dataset"], r["agents"]): r
        for r in planners_by_mode(table, ("dataset", "planner", "agents")).to_pylist()
        if r["planner"] == REFERENCE_PLANNER
    }
    keys = realism.keys() | human.keys()
    order = {mode: k for k, mode in enumerate(mode_order({mode for _, mode in keys}))}
    rows = []
    for key in sorted(keys, key=lambda k: (k[0], order[k[1]])):
        found, replay = realism.get(key, {}), human.get(key, {})
        rows.append(
            {
                "dataset": key[0],
                "agents": key[1],
                "measured_on": found.get("measured_on"),
                "runs": found.get("runs", replay.get("runs")),
                "at_fault_pct": _scaled(replay.get("at_fault_rate"), 100.0),
                "score_points": _scaled(replay.get("mean_score"), 100.0),
                "vs_log_points": _scaled(replay.get("score_vs_log"), 100.0),
                "ade_m": found.get("ade_m"),
                "fde_m": found.get("fde_m"),
                "new_collisions": found.get("new_collisions"),
                "collision_pct": _scaled(found.get("collision_rate"), 100.0),
                "offroad": _pair(
                    _scaled(found.get("offroad_rate"), 100.0),
                    _scaled(found.get("offroad_rate_log"), 100.0),
                    ".2f",
                ),
                "red_lights": _pair(found.get("red_lights"), found.get("red_lights_log"), "d"),
                **{
                    k: found.get(k) for k in ("speed_w1_mps", "accel_w1_mps2", "jerk_w1_mps3", "headway_w1_s")
                },
            }
        )
    return rows


def planner_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Every planner but log-replay per dataset and agent mode: score, difference to log, at-fault."""
    found = planners_by_mode(table, ("dataset", "planner", "agents")).to_pylist()
    order = {mode: k for k, mode in enumerate(mode_order({r["agents"] for r in found}))}
    found.sort(key=lambda r: (r["dataset"], r["planner"], order[r["agents"]]))
    return [
        {
            **r,
            "score_points": _scaled(r["mean_score"], 100.0),
            "vs_log_points": _scaled(r["score_vs_log"], 100.0),
            "at_fault_pct": _scaled(r["at_fault_rate"], 100.0),
            "progress": r["ego_progress"],
        }
        for r in found
        if r["planner"] != REFERENCE_PLANNER
    ]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="a `drivestack bench` output folder")
    parser.add_argument("--store", default=None, help="the store stored scenarios come from")
    args = parser.parse_args(argv)
    try:
        table = with_datasets(args.out, args.store)
    except DrivestackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("Human test (log-replay) and agents' realism\n")
    print(markdown(human_rows(table), HUMAN_COLUMNS))
    others = planner_rows(table)
    if others:
        print("\nOther planners\n")
        print(markdown(others, PLANNER_COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
