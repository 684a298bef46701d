"""The benchmark report: one self-contained HTML file (no network: styles, scripts, plots and the
runs' data inline) that tells how planners did on a benchmark run, and lets one watch any run.

Single run (`write_report(run_dir, out)`):
- the aggregate table per planner x agents (`bench.results.aggregate`);
- the agents' realism per agent mode, and every planner per agent mode side by side (`bench.modes`);
- the score and sub-metric distributions and the planners' runtimes as plots (matplotlib, inline SVG);
- a sortable, filterable table of every run (click a header to sort, type to filter, pick a planner
  / agents / dataset / tag / status); a row opens the run in the viewer (`viz.viewer`), drawn from
  the trace the benchmark kept of it (`bench.records`; a run without one is re-simulated from the
  manifest, `bench.replay`; up to `ReportConfig.viewer` runs, the worst first);
- the worst runs: the `ReportConfig.worst` lowest scores below 1, with their failure events;
- every planner against the baseline (`ReportConfig.baseline`, default the benchmark's first),
  scenario by scenario (a pair opens both runs side by side);
- the run's manifest.
Comparison (`write_report(run_a, out, compare=run_b)`): both runs' aggregates, every run both hold
(same scenario, planning problem and agents; and planner, unless each run holds one planner) with
its score in each and the difference (sortable table, scatter plot, histogram; a pair opens A and B
side by side), the configuration settings that differ, and both runs tables.

The file is written atomically (temporary file, rename); above `ReportConfig.inline_bytes` of run
data, each run's goes to a script in "<report>.runs/" beside it.
"""

from __future__ import annotations

import dataclasses
import html
import io
import itertools
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from drivestack.bench.modes import mode_order, planners_by_mode, realism_by_mode, realism_runs
from drivestack.bench.records import RunTrace, read_trace, trace_path
from drivestack.bench.replay import (
    SCORE_TOLERANCE,
    planner_options,
    read_manifest,
    replay_row,
    result_rows,
    sim_config,
    source_of,
)
from drivestack.bench.results import aggregate
from drivestack.core.errors import ConfigError, DrivestackError, InputError
from drivestack.core.files import as_new_file
from drivestack.core.scenario import PlanningProblem, Scenario
from drivestack.data.ingest import dataset_name
from drivestack.data.store import Store
from drivestack.metrics.events import describe_events
from drivestack.metrics.realism import RealismMetrics
from drivestack.viz.viewer import embed, run_view

SUB_METRICS = (
    "no_at_fault_collision",
    "drivable_area",
    "driving_direction",
    "making_progress",
    "ego_progress",
    "ttc_within_bound",
    "speed_limit",
    "comfort",
)
TABLE_COLUMNS = (
    ("scenario_id", "scenario"),
    ("planning_problem_id", "problem"),
    ("planner", "planner"),
    ("agents", "agents"),
    ("dataset", "dataset"),
    ("tags", "tags"),
    ("status", "status"),
    ("score", "score"),
    ("at_fault_collision", "at-fault"),
    ("any_collision", "collision"),
    ("goal_reached", "goal"),
    ("steps", "steps"),
    ("plan_ms_p50", "ms p50"),
    ("plan_ms_p99", "ms p99"),
    ("termination", "end"),
    ("error", "error"),
)
PALETTE = ("#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#0c8599", "#a61e4d", "#5c940d", "#495057")


@dataclass(frozen=True)
class ReportConfig:
    """What the report shows: the `worst` lowest-scoring runs (score below 1) listed first, at most
    `viewer` runs in the run viewer (the worst first, then in table order), planners
    compared against `baseline` (None: the first planner of the benchmark), the store stored
    scenarios come from (None: the default store), and above how many bytes of viewer data the runs
    go to a folder beside the report (loaded when opened) instead of into the page."""

    worst: int = 8
    viewer: int = 200
    baseline: str | None = None
    store: str | None = None
    inline_bytes: int = 24_000_000


# --- small HTML helpers -----------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object) -> str:
    """A table cell: numbers right-aligned with a sortable data-value, floats to 3 decimals."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return '<td data-value="">–</td>'
    if isinstance(value, bool):
        return f'<td data-value="{int(value)}">{"yes" if value else "no"}</td>'
    if isinstance(value, int | float):
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-value="{value!r}">{text}</td>'
    return f"<td>{_e(value)}</td>"


def _table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    table_id: str = "",
    sortable: bool = False,
    opens: Sequence[str | None] = (),
) -> str:
    """An HTML table of `rows` over `columns` (key, header); a row with an entry in `opens` (the keys
    of the runs it shows in the viewer) opens them when clicked."""
    attributes = f' id="{table_id}"' if table_id else ""
    attributes += ' class="sortable"' if sortable else ""
    head = "".join(f'<th data-key="{_e(key)}">{_e(title)}</th>' for key, title in columns)
    body = "".join(
        (f'<tr class="opens" data-open="{_e(keys)}">' if keys else "<tr>")
        + "".join(_cell(row.get(key)) for key, _ in columns)
        + "</tr>"
        for row, keys in itertools.zip_longest(rows, opens[: len(rows)])
    )
    return f"<table{attributes}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(figure: Figure, label: str) -> str:
    """The figure as inline SVG (text kept as text), in a labelled figure element."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "drivestack"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    return f'<figure class="plot" data-plot="{_e(label)}">{svg}<figcaption>{_e(label)}</figcaption></figure>'


def _groups(rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The "ok" rows by "planner / agents", in name order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] == "ok":
            grouped.setdefault(f"{row['planner']} / {row['agents']}", []).append(row)
    return sorted(grouped.items())


# --- plots -------------------------------------------------------------------------------------------


def score_plot(rows: Sequence[dict[str, Any]]) -> str:
    """Histograms of the closed-loop score per planner x agents."""
    figure = Figure(figsize=(6.4, 3.4))
    ax = figure.add_subplot()
    bins = np.linspace(0.0, 1.0, 21).tolist()
    for k, (label, group) in enumerate(_groups(rows)):
        scores = np.array([row["score"] for row in group], dtype=float)
        ax.hist(
            scores,
            bins=bins,
            histtype="step",
            linewidth=1.8,
            color=PALETTE[k % len(PALETTE)],
            label=f"{label} (n={len(scores)})",
        )
    ax.set_xlabel("closed-loop score")
    ax.set_ylabel("runs")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(figure, "score distribution")


def metrics_plot(rows: Sequence[dict[str, Any]]) -> str:
    """Mean of every sub-metric of the score per planner x agents, as grouped bars."""
    groups = _groups(rows)
    figure = Figure(figsize=(8.0, 3.4))
    ax = figure.add_subplot()
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(SUB_METRICS))
    for k, (label, group) in enumerate(groups):
        means = [
            np.nanmean([np.nan if row[m] is None else float(row[m]) for row in group]) for m in SUB_METRICS
        ]
        ax.bar(
            x + (k - (len(groups) - 1) / 2) * width,
            means,
            width,
            color=PALETTE[k % len(PALETTE)],
            label=label,
        )
    ax.set_xticks(x, [m.replace("_", "\n") for m in SUB_METRICS], fontsize=7)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("mean over runs")
    ax.legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _svg(figure, "sub-metric means")


def runtime_plot(rows: Sequence[dict[str, Any]]) -> str:
    """Histograms of each run's median and 99th-percentile planning time [ms] per planner (log x)."""
    figure = Figure(figsize=(8.0, 3.2))
    axes = figure.subplots(1, 2, sharey=True)
    times = [
        float(row[key])
        for row in rows
        if row["status"] == "ok"
        for key in ("plan_ms_p50", "plan_ms_p99")
        if row[key]
    ]
    low, high = (max(min(times), 1e-3), max(times)) if times else (1e-2, 1.0)
    bins = np.geomspace(low, high * 1.01 + 1e-9, 25)
    planners = sorted({row["planner"] for row in rows if row["status"] == "ok"})
    for ax, key in zip(axes, ("plan_ms_p50", "plan_ms_p99"), strict=True):
        for k, planner in enumerate(planners):
            values = [
                float(r[key]) for r in rows if r["status"] == "ok" and r["planner"] == planner and r[key]
            ]
            ax.hist(
                values,
                bins=bins,
                histtype="step",
                linewidth=1.8,
                color=PALETTE[k % len(PALETTE)],
                label=planner,
            )
        ax.set_xscale("log")
        ax.set_xlabel(f"{key.removeprefix('plan_ms_')} planning time per run [ms]")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("runs")
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    return _svg(figure, "planner runtime")


# --- worst runs and the run viewer -------------------------------------------------------------------


def worst_rows(rows: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The `count` finished runs with the lowest scores, lowest first (at-fault collisions first among
    equal scores); runs scoring 1 are never among them."""
    failed = [
        row for row in rows if row["status"] == "ok" and row["score"] is not None and row["score"] < 1.0
    ]
    failed.sort(key=lambda r: (r["score"], not r["at_fault_collision"], r["scenario_id"], r["planner"]))
    return failed[:count]


def run_title(row: dict[str, Any]) -> str:
    """A run's name: scenario / problem / planner / agents."""
    problem = row["planning_problem_id"]
    return f"{row['scenario_id']} / problem {problem} / {row['planner']} / {row['agents']} agents"


def run_data(
    scenario: Scenario, problem: PlanningProblem, trace: RunTrace, row: dict[str, Any]
) -> dict[str, Any]:
    """What the viewer shows of a run: its drawing data (`viewer.run_view`) and title."""
    return {**run_view(scenario, problem, trace, row), "title": run_title(row), "tags": sorted(scenario.tags)}


def stored_trace(run_dir: Path, row: dict[str, Any]) -> RunTrace | str:
    """The trace the benchmark kept of the run of `row`, or why there is none to use: missing (results
    of a benchmark older than traces), unreadable, or of another run (its identity or score differs)."""
    path = trace_path(
        run_dir, str(row["source"]), int(row["planning_problem_id"]), row["planner"], row["agents"]
    )
    if not path.is_file():
        return "no stored run trace"
    try:
        trace = read_trace(path)
    except InputError as error:
        return str(error)
    same = (trace.planner, trace.agents_mode, trace.planning_problem_id) == (
        row["planner"],
        row["agents"],
        row["planning_problem_id"],
    )
    if (
        not same
        or row["score"] is None
        or not math.isclose(trace.score, row["score"], abs_tol=SCORE_TOLERANCE)
    ):
        return "its stored run trace is of another run"
    return trace


def viewer_runs(
    run_dir: Path,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    first: Sequence[int],
    config: ReportConfig,
    progress: Callable[[str], None],
) -> tuple[dict[str, dict[str, Any]], int]:
    """The viewer's data of the runs of `rows` (indices `first` first, then the others in order, at
    most `config.viewer` "ok" ones) under `keys` (one per row), from the traces the benchmark kept;
    a run without a usable trace is re-simulated (`bench.replay`). Returns the data by key (for a run
    that could not be shown, its title and the reason as `unavailable`) and how many runs were
    re-simulated."""
    manifest = read_manifest(run_dir)
    sim, options = sim_config(manifest), planner_options(manifest)
    order = list(dict.fromkeys([*first, *range(len(rows))]))
    chosen = [i for i in order if rows[i]["status"] == "ok"][: config.viewer]
    data: dict[str, dict[str, Any]] = {}
    loaded: dict[str, Scenario] = {}  # the last scenario read, by source: a scenario's runs are neighbours
    resimulated = 0
    for i in chosen:
        row, title = rows[i], run_title(rows[i])
        trace = stored_trace(run_dir, row)
        try:
            if isinstance(trace, RunTrace):
                progress(f"reading {title}")
                scenario = loaded.get(row["source"]) or source_of(row, config.store, run_dir).load()
                problem = scenario.planning_problem(int(row["planning_problem_id"]))
            else:
                progress(f"re-simulating {title} ({trace})")
                resimulated += 1
                run = replay_row(row, sim, config.store, loaded.get(row["source"]), run_dir, options)
                scenario, problem, trace = run.scenario, run.problem, run.trace()
            loaded = {row["source"]: scenario}
            data[keys[i]] = run_data(scenario, problem, trace, row)
        except DrivestackError as error:
            data[keys[i]] = {"title": title, "unavailable": f"not shown: {error}"}
        except KeyError:  # the scenario read now lacks the row's planning problem
            data[keys[i]] = {
                "title": title,
                "unavailable": "not shown: the scenario has no such planning problem",
            }
    return data, resimulated


def link_partners(data: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]]) -> None:
    """Give every run's data the runs it can be shown beside: the others of the same scenario and
    planning problem, as (key, label) pairs."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for key in data:
        row = rows[key]
        groups.setdefault((row["scenario_key"], row["planning_problem_id"]), []).append(key)
    for members in groups.values():
        for key in members:
            data[key]["partners"] = [
                [other, f"{rows[other]['planner']} / {rows[other]['agents']}"]
                for other in members
                if other != key
            ]


def _open_button(keys: str, label: str = "open") -> str:
    return f'<button type="button" class="open-run" data-open="{_e(keys)}">{_e(label)}</button>'


def worst_section(rows: Sequence[dict[str, Any]], data: dict[str, Any], count: int) -> str:
    """The `count` lowest-scoring runs (rows with their viewer key `view`) with their first failures,
    each opening the viewer."""
    items = []
    for row in worst_rows(rows, count):
        events = "; ".join(describe_events(row))
        button = _open_button(row["view"]) if row["view"] in data else ""
        items.append(
            f"<li>{button} <b>{_e(run_title(row))}</b>: score {row['score']:.3f}; "
            f'<span class="why">{_e(events or "no failure event")}</span></li>'
        )
    return f'<ol class="worst">{"".join(items)}</ol>' if items else "<p>No run scored below 1.</p>"


def viewer_section() -> str:
    """The (hidden until a run is opened) viewer: controls, and the panes the script fills."""
    return (
        '<section id="viewer" hidden><div class="viewer-bar"><b class="viewer-title"></b>'
        '<label>beside it: <select class="viewer-other"><option value="">none</option></select></label>'
        '<button type="button" data-act="close">close</button></div>'
        '<div class="viewer-controls"><button type="button" data-act="play">▶ play</button>'
        '<button type="button" data-act="prev">◀ step</button>'
        '<button type="button" data-act="next">step ▶</button>'
        '<input type="range" class="viewer-slider" min="0" max="0" value="0" aria-label="time">'
        '<span class="viewer-clock"></span></div><div class="viewer-panes"></div></section>'
    )


# --- comparison ------------------------------------------------------------------------------------------


def paired(
    rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]], with_planner: bool
) -> list[dict[str, Any]]:
    """The runs both sides hold ("ok" in both), matched on scenario key, planning problem and agents
    (and planner when `with_planner`): scenario, problem, agents, planners, both scores, B - A."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        base = (row["scenario_key"], row["planning_problem_id"], row["agents"])
        return (*base, row["planner"]) if with_planner else base

    right = {key(row): row for row in rows_b if row["status"] == "ok"}
    pairs = []
    for row in rows_a:
        other = right.get(key(row))
        if row["status"] != "ok" or other is None:
            continue
        pairs.append(
            {
                "scenario_id": row["scenario_id"],
                "planning_problem_id": row["planning_problem_id"],
                "agents": row["agents"],
                "planner_a": row["planner"],
                "planner_b": other["planner"],
                "score_a": row["score"],
                "score_b": other["score"],
                "delta": other["score"] - row["score"],
                "at_fault_a": row["at_fault_collision"],
                "at_fault_b": other["at_fault_collision"],
                "goal_a": row["goal_reached"],
                "goal_b": other["goal_reached"],
                "view_a": row.get("view"),
                "view_b": other.get("view"),
            }
        )
    return pairs


def comparison_section(
    pairs: Sequence[dict[str, Any]], label_a: str, label_b: str, table_id: str, data: dict[str, Any]
) -> str:
    """Where B is better than A (and worse), scenario by scenario; a pair whose runs are in `data`
    (the viewer's) opens them side by side."""
    if not pairs:
        return "<p>No run is held by both sides.</p>"
    delta = np.array([p["delta"] for p in pairs], dtype=float)
    better, worse = int((delta > 1e-9).sum()), int((delta < -1e-9).sum())
    figure = Figure(figsize=(8.0, 3.4))
    scatter, histogram = figure.subplots(1, 2)
    scatter.scatter(
        [p["score_a"] for p in pairs], [p["score_b"] for p in pairs], s=14, color=PALETTE[0], alpha=0.7
    )
    scatter.plot([0, 1], [0, 1], color="#868e96", linewidth=0.8)
    scatter.set_xlabel(f"score {label_a}")
    scatter.set_ylabel(f"score {label_b}")
    scatter.set_aspect("equal")
    histogram.hist(delta, bins=np.linspace(-1.0, 1.0, 41), color=PALETTE[1])
    histogram.set_xlabel(f"score {label_b} - {label_a}")
    histogram.set_ylabel("runs")
    histogram.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (scatter, histogram):
        ax.grid(alpha=0.3)
    columns = [
        ("scenario_id", "scenario"),
        ("planning_problem_id", "problem"),
        ("agents", "agents"),
        ("planner_a", f"planner {label_a}"),
        ("planner_b", f"planner {label_b}"),
        ("score_a", f"score {label_a}"),
        ("score_b", f"score {label_b}"),
        ("delta", "B - A"),
        ("at_fault_a", f"at-fault {label_a}"),
        ("at_fault_b", f"at-fault {label_b}"),
        ("goal_a", f"goal {label_a}"),
        ("goal_b", f"goal {label_b}"),
    ]
    ordered = sorted(pairs, key=lambda p: p["delta"])
    return (
        f'<p class="summary">{len(pairs)} runs in both: <b>{_e(label_b)}</b> better in {better}, '
        f"worse in {worse}, equal in {len(pairs) - better - worse}; mean difference "
        f"{delta.mean():+.3f}.</p>"
        + _svg(figure, f"{label_a} vs {label_b}")
        + _filter_bar(table_id)
        + _table(
            ordered,
            columns,
            table_id,
            sortable=True,
            opens=[" ".join(k for k in (p["view_a"], p["view_b"]) if k in data) for p in ordered],
        )
    )


# --- page ---------------------------------------------------------------------------------------------------

ASSETS = resources.files("drivestack.viz") / "assets"
"""The report's style sheet and script, inlined into every page."""


def _filter_bar(table_id: str, selects: Sequence[tuple[str, str]] = ()) -> str:
    """Filter controls for table `table_id`: a text box and a select per (column key, label); the
    `tags` column's cells are lists (", "-separated), filtered by each of their items."""
    choices = "".join(
        f'<label>{_e(label)} <select data-key="{_e(key)}"'
        + (' data-split=", "' if key == "tags" else "")
        + '><option value="">all</option></select></label>'
        for key, label in selects
    )
    return (
        f'<div class="filters" data-table="{_e(table_id)}"><input type="search" placeholder="filter rows…" '
        f'aria-label="filter rows">{choices}<span class="count"></span></div>'
    )


def _page(
    title: str, meta: str, sections: Sequence[tuple[str, str]], runs: str = "", runs_folder: str = ""
) -> str:
    """The page: `sections` (heading, HTML), then the viewer, the run data `runs` (script elements)
    and the scripts; `runs_folder` names the folder beside the page the run data are loaded from."""
    body = "".join(
        f'<h2 id="section-{_e(anchor)}">{_e(heading)}</h2>{content}'
        for heading, content, anchor in (
            (h, c, re.sub(r"[^a-z0-9]+", "-", h.lower()).strip("-")) for h, c in sections
        )
    )
    folder = f' data-runs="{_e(runs_folder)}"' if runs_folder else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{(ASSETS / 'report.css').read_text()}</style></head><body{folder}>"
        f'<h1>{_e(title)}</h1><p class="meta">{meta}</p>{viewer_section()}{body}{runs}'
        f"<script>{(ASSETS / 'report.js').read_text()}</script>"
        f"<script>{(ASSETS / 'viewer.js').read_text()}</script></body></html>"
    )


def _aggregate_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    table = (
        pa.Table.from_pylist([{k: row.get(k) for k in _AGGREGATE_INPUT} for row in rows]) if rows else None
    )
    return aggregate(table).to_pylist() if table is not None else []


_AGGREGATE_INPUT = (
    "planner",
    "agents",
    "status",
    "score",
    "at_fault_collision",
    "any_collision",
    "goal_reached",
    "plan_failures",
    "plan_ms_p50",
    "plan_ms_p99",
)
_AGGREGATE_COLUMNS = (
    ("planner", "planner"),
    ("agents", "agents"),
    ("runs", "runs"),
    ("errors", "errors"),
    ("skipped", "skipped"),
    ("mean_score", "mean score"),
    ("at_fault_rate", "at-fault rate"),
    ("collision_rate", "collision rate"),
    ("goal_rate", "goal rate"),
    ("plan_fail_rate", "plan-failure rate"),
    ("ms_p50", "ms p50"),
    ("ms_p99", "ms p99"),
)


# --- agent modes --------------------------------------------------------------------------------------

REALISM_COLUMNS = (
    ("agents", "agents"),
    ("measured_on", "runs of"),
    ("runs", "runs"),
    ("ade_m", "ADE [m]"),
    ("fde_m", "FDE [m]"),
    ("new_collisions", "new agent-agent collisions"),
    ("collision_rate", "agents in one"),
    ("offroad_pct", "off-road % (sim)"),
    ("offroad_pct_log", "off-road % (log)"),
    ("red_lights", "red lights (sim)"),
    ("red_lights_log", "red lights (log)"),
    ("speed_w1_mps", "speed W1 [m/s]"),
    ("accel_w1_mps2", "accel W1 [m/s²]"),
    ("jerk_w1_mps3", "jerk W1 [m/s³]"),
    ("headway_w1_s", "headway W1 [s]"),
)
_MODE_INPUT: tuple[str, ...] = (
    *("source", "planning_problem_id", "planner", "agents", "status", "score", "at_fault_collision"),
    *("any_collision", "ego_progress", *(f.name for f in dataclasses.fields(RealismMetrics))),
)
"""The result columns the agent-mode tables read."""


def _percent(rows: list[dict[str, Any]], keys: dict[str, str]) -> list[dict[str, Any]]:
    """`rows` with each `keys` value (a percentage) = 100 x its key's value (a fraction; None stays None)."""
    return [
        {**row, **{pct: None if row[share] is None else 100.0 * row[share] for share, pct in keys.items()}}
        for row in rows
    ]


def realism_plot(runs: Sequence[dict[str, Any]]) -> str:
    """Per agent mode, the agent ADE [m] and speed W1 distance [m/s] of `runs` (`bench.modes.
    realism_runs`) as box plots."""
    modes = mode_order({str(r["agents"]) for r in runs})
    figure = Figure(figsize=(8.0, 3.0))
    panels = (("realism_ade_m", "agent ADE [m]"), ("realism_speed_w1_mps", "speed W1 [m/s]"))
    for ax, (key, label) in zip(figure.subplots(1, 2), panels, strict=True):
        values = [
            [float(r[key]) for r in runs if r["agents"] == mode and r[key] is not None] for mode in modes
        ]
        ax.boxplot([found or [np.nan] for found in values], tick_labels=modes)
        ax.set_ylabel(f"{label} per run")
        ax.grid(axis="y", alpha=0.3)
    return _svg(figure, "agents' realism per mode")


def agent_modes_sections(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """The agents' realism per agent mode (from the log-replay runs when there are any; a plot too
    when the benchmark ran several modes), and then each planner's score, collisions and progress
    per mode side by side (`bench.modes`)."""
    if not any(row.get("realism_agents") is not None for row in rows):
        return []
    table = pa.Table.from_pylist([{k: row.get(k) for k in (*_MODE_INPUT, "dataset")} for row in rows])
    by_mode = {row["agents"]: row for row in realism_by_mode(table).to_pylist()}
    realism = _percent(
        [by_mode[mode] for mode in mode_order(set(by_mode))],
        {"offroad_rate": "offroad_pct", "offroad_rate_log": "offroad_pct_log"},
    )
    modes = mode_order({str(r["agents"]) for r in rows if r["status"] == "ok"})
    plot = (
        f'<div class="plots">{realism_plot(realism_runs(table).to_pylist())}</div>' if len(modes) > 1 else ""
    )
    sections = [
        (
            "Agents' realism per agent mode",
            '<p class="summary">Simulated agents against their recording, over the log-replay run of '
            "each scenario and agent mode (the ego as recorded) where there is one, else every "
            "planner's runs; "
            "<code>log</code> is the reference (no displacement, no new collision, distances 0; "
            "off-road steps and red-light crossings are the recording's own). W1: Wasserstein-1 "
            "distance of the simulated to the recorded distribution.</p>"
            + _table(realism, REALISM_COLUMNS, "realism")
            + plot,
        )
    ]
    if len(modes) < 2:
        return sections
    by_planner: dict[str, dict[str, Any]] = {}
    for group in planners_by_mode(table).to_pylist():
        mode = group["agents"]
        line = by_planner.setdefault(group["planner"], {"planner": group["planner"]})
        line.update({f"{name} {mode}": group[name] for name in _SIDE_BY_SIDE})
    columns = [("planner", "planner")] + [
        (f"{name} {mode}", f"{title} {mode}")
        for name, title in _SIDE_BY_SIDE.items()
        for mode in modes
        if not (name == "score_vs_log" and mode == "log")
    ]
    sections.append(
        (
            "Planners across agent modes",
            '<p class="summary">Each planner per agent mode; "vs log" is the mean score difference '
            "to the same planner's <code>log</code> run of the same scenario and problem.</p>"
            + '<div class="scroll">'
            + _table(list(by_planner.values()), columns, "modes")
            + "</div>",
        )
    )
    return sections


_SIDE_BY_SIDE = {
    "mean_score": "score",
    "score_vs_log": "vs log",
    "at_fault_rate": "at-fault",
    "collision_rate": "collisions",
    "ego_progress": "progress",
}


def _manifest(manifest: dict[str, Any]) -> str:
    return f"<pre>{_e(json.dumps(manifest, indent=2))}</pre>"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested JSON value as {dotted path: leaf value} (lists are leaves)."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def config_diff(manifest_a: dict[str, Any], manifest_b: dict[str, Any]) -> list[dict[str, str]]:
    """Every setting of the two benchmarks' configurations that differs: path, A's value, B's value
    ("–" where one side lacks it)."""
    a, b = flatten(manifest_a.get("config", {})), flatten(manifest_b.get("config", {}))

    def text(side: dict[str, Any], key: str) -> str:
        return json.dumps(side[key]) if key in side else "–"

    return [
        {"setting": key, "a": text(a, key), "b": text(b, key)}
        for key in sorted(a.keys() | b.keys())
        if a.get(key, _ABSENT) != b.get(key, _ABSENT)
    ]


_ABSENT = object()


def _resolve(run_dir: str | Path) -> Path:
    folder = Path(run_dir)
    read_manifest(folder)  # ConfigError when it is not a benchmark folder
    return folder


def dataset_of(row: dict[str, Any], index: dict[str, dict[str, Any]]) -> str:
    """The dataset of a row's scenario: the store's for stored ones, else named after its file's folder."""
    source = str(row["source"])
    if source.startswith("store:"):
        return str(index.get(source.removeprefix("store:"), {}).get("dataset") or "–")
    return dataset_name(Path(source))


def store_index(rows: Sequence[dict[str, Any]], store: str | None) -> dict[str, dict[str, Any]]:
    """The store's index ({scenario_key: row}) when any of `rows` ran a stored scenario and the store
    opens; else empty (rows are then labelled from their files)."""
    if not any(str(row["source"]).startswith("store:") for row in rows):
        return {}
    try:
        return Store.open(store).index()
    except DrivestackError:
        return {}


def label_rows(
    rows: Sequence[dict[str, Any]], data: dict[str, dict[str, Any]], keys: Sequence[str], store: str | None
) -> list[dict[str, Any]]:
    """The rows with their dataset and tags (the store's for stored scenarios, else those of the
    scenario read for the viewer; "" when neither is known)."""
    index = store_index(rows, store)
    labelled = []
    for row, key in zip(rows, keys, strict=True):
        stored = index.get(str(row["source"]).removeprefix("store:"), {})
        tags = stored.get("tags") or data.get(key, {}).get("tags") or []
        labelled.append({**row, "dataset": dataset_of(row, index), "tags": ", ".join(sorted(map(str, tags)))})
    return labelled


def baseline_of(rows: Sequence[dict[str, Any]], manifest: dict[str, Any], baseline: str | None) -> str | None:
    """The planner the others are compared with: `baseline`, else the benchmark's first planner;
    ConfigError when `baseline` did not run."""
    planners = [
        p for p in manifest.get("config", {}).get("planners", []) if any(r["planner"] == p for r in rows)
    ]
    planners += sorted({str(r["planner"]) for r in rows} - set(planners))
    if baseline is not None and baseline not in planners:
        raise ConfigError(
            f"--baseline {baseline!r} did not run in this benchmark; planners: {', '.join(planners)}"
        )
    return baseline if baseline is not None else (planners[0] if planners else None)


def versus_sections(
    rows: Sequence[dict[str, Any]], baseline: str, data: dict[str, Any]
) -> list[tuple[str, str]]:
    """One section per planner other than `baseline`: it (B) against the baseline (A), run by run;
    each pair opens both runs side by side."""
    base = [r for r in rows if r["planner"] == baseline]
    sections = []
    for k, planner in enumerate(sorted({str(r["planner"]) for r in rows} - {baseline})):
        mine = [r for r in rows if r["planner"] == planner]
        pairs = paired(base, mine, with_planner=False)
        sections.append(
            (
                f"Planners {baseline} (A) vs {planner} (B)",
                comparison_section(pairs, baseline, planner, f"versus-{k}", data),
            )
        )
    return sections


def _runs_table(rows: Sequence[dict[str, Any]], data: dict[str, Any], table_id: str) -> str:
    """Every run, sortable and filterable (by planner, agents, dataset, tag, status); a row opens its run."""
    selects = (
        ("planner", "planner"),
        ("agents", "agents"),
        ("dataset", "dataset"),
        ("tags", "tag"),
        ("status", "status"),
    )
    return (
        _filter_bar(table_id, selects)
        + '<div class="scroll">'
        + _table(
            rows,
            TABLE_COLUMNS,
            table_id,
            sortable=True,
            opens=[r["view"] if r["view"] in data else None for r in rows],
        )
        + "</div>"
    )


@dataclass(frozen=True)
class Report:
    """A report before it is written: title, meta line (HTML), sections (heading, HTML), the
    viewer's data of every shown run by key, and how many of them had to be re-simulated (no stored
    trace: results of an older benchmark)."""

    title: str
    meta: str
    sections: list[tuple[str, str]]
    runs: dict[str, dict[str, Any]]
    resimulated: int = 0


def _viewed(
    folder: Path,
    prefix: str,
    config: ReportConfig,
    progress: Callable[[str], None],
    first: Callable[[list[dict[str, Any]]], list[int]],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], int]:
    """A benchmark's rows (labelled, each with its viewer key `view` = prefix + row number), the
    viewer data of its runs (the rows `first` picks first) and how many were re-simulated."""
    rows = result_rows(folder)
    keys = [f"{prefix}{i}" for i in range(len(rows))]
    data, resimulated = viewer_runs(folder, rows, keys, first(rows), config, progress)
    labelled = label_rows(rows, data, keys, config.store)
    return [{**row, "view": key} for row, key in zip(labelled, keys, strict=True)], data, resimulated


def build_report(
    run_dir: str | Path,
    config: ReportConfig = ReportConfig(),
    compare: str | Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """The report of `run_dir` (or of `run_dir` against `compare`), with its runs' viewer data."""
    folder = _resolve(run_dir)
    manifest = read_manifest(folder)
    runs = manifest.get("runs")
    started = (
        runs[-1].get("started", "?")
        if isinstance(runs, list) and runs and isinstance(runs[-1], dict)
        else "?"
    )
    if compare is not None:
        other = _resolve(compare)
        manifest_b = read_manifest(other)
        plain_a, plain_b = result_rows(folder), result_rows(other)
        with_planner = not (
            len({r["planner"] for r in plain_a}) == 1 and len({r["planner"] for r in plain_b}) == 1
        )
        both = paired(
            [{**r, "view": str(i)} for i, r in enumerate(plain_a)],
            [{**r, "view": str(i)} for i, r in enumerate(plain_b)],
            with_planner,
        )
        rows, data, again = _viewed(folder, "a", config, progress, lambda _: [int(p["view_a"]) for p in both])
        rows_b, data_b, again_b = _viewed(
            other, "b", config, progress, lambda _: [int(p["view_b"]) for p in both]
        )
        data.update(data_b)
        pairs = paired(rows, rows_b, with_planner)
        link_partners(
            data,
            {r["view"]: {**r, "planner": f"{r['view'][0].upper()} {r['planner']}"} for r in rows + rows_b},
        )
        diff = config_diff(manifest, manifest_b)
        meta = f"A = {_e(folder)} ({len(rows)} rows), B = {_e(other)} ({len(rows_b)} rows)"
        sections = [
            ("Comparison, scenario by scenario", comparison_section(pairs, "A", "B", "pairs", data)),
            ("Aggregate A", _table(_aggregate_rows(rows), _AGGREGATE_COLUMNS)),
            ("Aggregate B", _table(_aggregate_rows(rows_b), _AGGREGATE_COLUMNS)),
            (
                "Distributions",
                '<div class="plots">'
                + score_plot(
                    [{**r, "planner": f"A {r['planner']}"} for r in rows]
                    + [{**r, "planner": f"B {r['planner']}"} for r in rows_b]
                )
                + "</div>",
            ),
            (
                "Configuration differences",
                _table(diff, [("setting", "setting"), ("a", "A"), ("b", "B")], "config-diff")
                if diff
                else "<p>The two benchmarks ran with the same configuration.</p>",
            ),
            ("Runs of A", _runs_table(rows, data, "runs")),
            ("Runs of B", _runs_table(rows_b, data, "runs-b")),
        ]
        return Report("drivestack benchmark comparison", meta, sections, data, again + again_b)
    rows, data, resimulated = _viewed(
        folder,
        "",
        config,
        progress,
        lambda plain: [
            i for i, r in enumerate(plain) if any(r is w for w in worst_rows(plain, config.worst))
        ],
    )
    link_partners(data, {r["view"]: r for r in rows})
    config_record = manifest.get("config", {})
    planners_run = ", ".join(config_record.get("planners", []))
    agents_run = ", ".join(config_record.get("agents", []))
    meta = _e(
        f"{folder} · started {started} · target {config_record.get('target')} · planners {planners_run} · "
        f"agents {agents_run} · {len(rows)} rows"
    )
    sections = [
        ("Aggregate per planner × agents", _table(_aggregate_rows(rows), _AGGREGATE_COLUMNS, "aggregate")),
        *agent_modes_sections(rows),
        ("Distributions", '<div class="plots">' + score_plot(rows) + metrics_plot(rows) + "</div>"),
        ("Runtime of the planners", '<div class="plots">' + runtime_plot(rows) + "</div>"),
        ("Scenarios (every run; click one to view it)", _runs_table(rows, data, "runs")),
        ("Worst runs", worst_section(rows, data, config.worst)),
    ]
    baseline = baseline_of(rows, manifest, config.baseline)
    if baseline is not None:
        sections += versus_sections(rows, baseline, data)
    sections.append(("Manifest", _manifest(manifest)))
    return Report("drivestack benchmark report", meta, sections, data, resimulated)


def _inline(runs: dict[str, str]) -> str:
    """The runs' data as JSON script elements the viewer reads."""
    return "".join(
        f'<script type="application/json" id="run-{_e(key)}">{text}</script>' for key, text in runs.items()
    )


def report_html(
    run_dir: str | Path,
    config: ReportConfig = ReportConfig(),
    compare: str | Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> str:
    """The report page of `run_dir` (or of `run_dir` against `compare`) as one HTML text, the runs inlined."""
    report = build_report(run_dir, config, compare, progress)
    return _page(
        report.title, report.meta, report.sections, _inline({k: embed(v) for k, v in report.runs.items()})
    )


def _write_text(target: Path, text: str) -> None:
    """Write `text` to `target` atomically (temporary file, rename), with the mode of a new file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as sink:
                sink.write(text)
            as_new_file(temporary)
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except OSError as error:
        raise InputError(target, None, f"cannot be written ({error.strerror or error})") from error


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    config: ReportConfig = ReportConfig(),
    compare: str | Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write the report of `run_dir` (against `compare` when given) to `out` (default
    RUN_DIR/report.html), atomically; returns its path. When the viewer's data pass
    `config.inline_bytes`, each run's goes to its own script in the folder "<out>.runs" beside it."""
    return save_report(
        build_report(run_dir, config, compare, progress), report_target(run_dir, out), config.inline_bytes
    )


def report_target(run_dir: str | Path, out: str | Path | None) -> Path:
    """Where a report goes: `out`, else RUN_DIR/report.html."""
    return Path(out) if out is not None else Path(run_dir) / "report.html"


def resimulated_note(count: int) -> str:
    """The line telling that `count` runs were re-simulated for the viewer, having no stored trace."""
    return (
        f"{count} run(s) had no stored trace (results of an older `drivestack bench`) and were re-simulated "
        "for the viewer"
    )


def save_report(report: Report, target: Path, inline_bytes: int = ReportConfig.inline_bytes) -> Path:
    """Write a built report to `target`: its runs' data inlined when they take at most `inline_bytes`,
    else one script per run in the folder "<target>.runs" beside it (loaded when a run is opened)."""
    runs = {key: embed(value) for key, value in report.runs.items()}
    if sum(len(text) for text in runs.values()) <= inline_bytes:
        _write_text(target, _page(report.title, report.meta, report.sections, _inline(runs)))
        return target
    folder = target.with_name(f"{target.name}.runs")
    for key, text in runs.items():
        _write_text(folder / f"{key}.js", f"window.drivestackRun({json.dumps(key)},{text});\n")
    _write_text(target, _page(report.title, report.meta, report.sections, runs_folder=folder.name))
    return target
