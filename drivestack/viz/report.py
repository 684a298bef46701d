"""The benchmark report: one self-contained HTML file (no network: styles, script, plots and
animations inline) that tells how planners did on a benchmark run, and where to look.

Single run (`write_report(run_dir, out)`):
- the aggregate table per planner x agents (`bench.results.aggregate`);
- the score and sub-metric distributions and the planners' runtimes as plots (matplotlib, inline SVG);
- a sortable, filterable table of every run (a small hand-written script: click a header to sort,
  type to filter, pick a planner / agents / status);
- the worst runs (the lowest scores, and every at-fault collision, up to `ReportConfig.worst`): each
  re-simulated from the manifest (`bench.replay`) and shown as an animated GIF (data URI) with the
  planner's decisions step by step (each change of decision, all of them folded);
- planner against planner, scenario by scenario, when the run holds two or more planners;
- the run's manifest.
Comparison (`write_report(run_a, out, compare=run_b)`): both runs' aggregates, and every run both
hold (same scenario, planning problem and agents; and planner, unless each run holds one planner)
with its score in each and the difference, as a sortable table, a scatter plot and a histogram.

The file is written atomically (temporary file, rename).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from drivestack.bench.replay import Replay, read_manifest, replay_row, result_rows, sim_config
from drivestack.bench.results import aggregate
from drivestack.core.errors import DrivestackError, InputError
from drivestack.core.files import as_new_file
from drivestack.viz.animate import FrameStyle, frames
from drivestack.viz.mcap import short_decision

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
    """How much the report shows: at most `worst` worst runs with animations (the `lowest` lowest
    scores, then at-fault collisions), their GIFs at `fps` in frames of `frame` size, and the store
    stored scenarios come from (None: the default store)."""

    worst: int = 8
    lowest: int = 4
    fps: float = 3.0
    frame: FrameStyle = field(default_factory=lambda: FrameStyle(width=5.6, height=3.8, dpi=80))
    store: str | None = None


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
) -> str:
    """An HTML table of `rows` over `columns` (key, header)."""
    attributes = f' id="{table_id}"' if table_id else ""
    attributes += ' class="sortable"' if sortable else ""
    head = "".join(f'<th data-key="{_e(key)}">{_e(title)}</th>' for key, title in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(key)) for key, _ in columns) + "</tr>" for row in rows)
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


# --- worst runs ----------------------------------------------------------------------------------------


def worst_rows(rows: Sequence[dict[str, Any]], config: ReportConfig) -> list[tuple[str, dict[str, Any]]]:
    """(why, row) of the runs to look at: the `config.lowest` lowest scores (taken from each planner
    in turn, so every planner shows its worst), then every at-fault collision, at most
    `config.worst` in all."""
    done = [row for row in rows if row["status"] == "ok"]
    by_planner: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(done, key=lambda r: (r["score"], r["scenario_id"], r["agents"])):
        by_planner.setdefault(row["planner"], []).append(row)
    turns = [row for group in itertools.zip_longest(*by_planner.values()) for row in group if row is not None]
    chosen: list[tuple[str, dict[str, Any]]] = [
        ("among the lowest scores", row) for row in turns[: config.lowest]
    ]
    for row in sorted(done, key=lambda r: (r["scenario_id"], r["planner"], r["agents"])):
        if row["at_fault_collision"] and all(row is not other for _, other in chosen):
            chosen.append(("at-fault collision", row))
    return chosen[: config.worst]


def _gif(images: Iterable[np.ndarray], fps: float) -> str:
    """A GIF data URI of the frames."""
    import imageio.v3 as imageio

    data = imageio.imwrite("<bytes>", list(images), extension=".gif", duration=round(1000.0 / fps), loop=0)
    return "data:image/gif;base64," + base64.b64encode(data).decode("ascii")


def decision_changes(steps: Sequence[int], dt: float, decisions: Sequence[str]) -> list[dict[str, Any]]:
    """Each step at which the decision's headline changes: step, time [s] and the decision."""
    changes = []
    previous = None
    for step, decision in zip(steps, decisions, strict=False):
        headline = short_decision(decision)
        if headline != previous and decision:
            changes.append({"step": step, "t": round(step * dt, 2), "decision": decision})
            previous = headline
    return changes


def _worst_run(title: str, why: str, run: Replay, config: ReportConfig) -> str:
    """One worst run: its animation, its decision changes, failures and every step's decision."""
    record, metrics = run.record, run.metrics
    gif = _gif(frames(run.scenario, record, config.fps, config.frame), config.fps)
    changes = decision_changes(record.steps.tolist(), record.dt, record.decisions)
    every = [
        {"step": step, "t": round(step * record.dt, 2), "speed": float(speed), "decision": decision or "–"}
        for step, speed, decision in zip(
            record.steps.tolist(), record.ego.speed, record.decisions, strict=False
        )
    ]
    failures = "".join(f"<li>{_e(failure)}</li>" for failure in record.failures[:10])
    goal = "reached" if metrics.goal_reached else "missed"
    summary = (
        f"{why}; ended by {record.termination}; score {metrics.score:.3f}, "
        f"{metrics.collisions} collision(s), goal {goal}"
    )
    decisions = (
        _table(changes, [("step", "step"), ("t", "t [s]"), ("decision", "decision")])
        if changes
        else f'<p class="note">{_e(record.planner)} states no decisions.</p>'
    )
    steps = _table(every, [("step", "step"), ("t", "t [s]"), ("speed", "v [m/s]"), ("decision", "decision")])
    return (
        f'<section class="worst"><h3>{_e(title)}</h3><p class="why">{_e(summary)}</p><div class="pair">'
        f'<img class="animation" alt="{_e(title)}" src="{gif}"><div class="decisions">'
        f"<h4>decisions (each change)</h4>{decisions}"
        + (f"<h4>planner failures</h4><ul>{failures}</ul>" if failures else "")
        + f"<details><summary>every step ({len(every)})</summary>{steps}</details></div></div></section>"
    )


def worst_section(
    run_dir: Path, rows: Sequence[dict[str, Any]], config: ReportConfig, progress: Callable[[str], None]
) -> str:
    """The worst runs, each re-simulated (a run that cannot be is listed with the reason)."""
    sim = sim_config(read_manifest(run_dir))
    parts = []
    for why, row in worst_rows(rows, config):
        title = (
            f"{row['scenario_id']} / problem {row['planning_problem_id']} / {row['planner']} / "
            f"{row['agents']} agents"
        )
        progress(title)
        try:
            run = replay_row(row, sim, config.store, run_dir=run_dir)
        except DrivestackError as error:
            parts.append(
                f'<section class="worst"><h3>{_e(title)}</h3><p class="why">{_e(why)}</p>'
                f'<p class="note">not re-simulated: {_e(error)}</p></section>'
            )
            continue
        parts.append(_worst_run(title, why, run, config))
    return "".join(parts) or "<p>No run to show.</p>"


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
            }
        )
    return pairs


def comparison_section(pairs: Sequence[dict[str, Any]], label_a: str, label_b: str, table_id: str) -> str:
    """Where B is better than A (and worse), scenario by scenario."""
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
        + _table(ordered, columns, table_id, sortable=True)
    )


# --- page ---------------------------------------------------------------------------------------------------

ASSETS = resources.files("drivestack.viz") / "assets"
"""The report's style sheet and script, inlined into every page."""


def _filter_bar(table_id: str, selects: Sequence[tuple[str, str]] = ()) -> str:
    """Filter controls for table `table_id`: a text box and a select per (column key, label)."""
    choices = "".join(
        f'<label>{_e(label)} <select data-key="{_e(key)}"><option value="">all</option></select></label>'
        for key, label in selects
    )
    return (
        f'<div class="filters" data-table="{_e(table_id)}"><input type="search" placeholder="filter rows…" '
        f'aria-label="filter rows">{choices}<span class="count"></span></div>'
    )


def _page(title: str, meta: str, sections: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f'<h2 id="{_e(anchor)}">{_e(heading)}</h2>{content}'
        for heading, content, anchor in ((h, c, h.split()[0].lower()) for h, c in sections)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{(ASSETS / 'report.css').read_text()}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="meta">{meta}</p>{body}'
        f"<script>{(ASSETS / 'report.js').read_text()}</script></body></html>"
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


def _manifest(manifest: dict[str, Any]) -> str:
    return f"<pre>{_e(json.dumps(manifest, indent=2))}</pre>"


def _resolve(run_dir: str | Path) -> Path:
    folder = Path(run_dir)
    read_manifest(folder)  # ConfigError when it is not a benchmark folder
    return folder


def report_html(
    run_dir: str | Path,
    config: ReportConfig = ReportConfig(),
    compare: str | Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> str:
    """The report page of `run_dir` (or of `run_dir` against `compare`) as HTML text."""
    folder = _resolve(run_dir)
    manifest = read_manifest(folder)
    rows = result_rows(folder)
    started = manifest.get("runs", [{}])[-1].get("started", "?")
    if compare is not None:
        other = _resolve(compare)
        rows_b = result_rows(other)
        planners_a, planners_b = {r["planner"] for r in rows}, {r["planner"] for r in rows_b}
        with_planner = not (len(planners_a) == 1 and len(planners_b) == 1)
        label_a, label_b = "A", "B"
        pairs = paired(rows, rows_b, with_planner)
        meta = f"A = {_e(folder)} ({len(rows)} rows), B = {_e(other)} ({len(rows_b)} rows)"
        sections = [
            ("Comparison, scenario by scenario", comparison_section(pairs, label_a, label_b, "pairs")),
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
                "Manifests",
                f"<h3>A</h3>{_manifest(manifest)}<h3>B</h3>{_manifest(read_manifest(other))}",
            ),
        ]
        return _page("drivestack benchmark comparison", meta, sections)
    config_record = manifest.get("config", {})
    planners_run = ", ".join(config_record.get("planners", []))
    agents_run = ", ".join(config_record.get("agents", []))
    meta = _e(
        f"{folder} · started {started} · target {config_record.get('target')} · planners {planners_run} · "
        f"agents {agents_run} · {len(rows)} rows"
    )
    sections = [
        ("Aggregate per planner × agents", _table(_aggregate_rows(rows), _AGGREGATE_COLUMNS, "aggregate")),
        ("Distributions", '<div class="plots">' + score_plot(rows) + metrics_plot(rows) + "</div>"),
        ("Runtime of the planners", '<div class="plots">' + runtime_plot(rows) + "</div>"),
        (
            "Scenarios (every run)",
            _filter_bar("runs", (("planner", "planner"), ("agents", "agents"), ("status", "status")))
            + '<div class="scroll">'
            + _table(rows, TABLE_COLUMNS, "runs", sortable=True)
            + "</div>",
        ),
        ("Worst runs", worst_section(folder, rows, config, progress)),
    ]
    planners = sorted({r["planner"] for r in rows})
    if len(planners) >= 2:
        first, second = planners[0], planners[1]
        pairs = paired(
            [r for r in rows if r["planner"] == first],
            [r for r in rows if r["planner"] == second],
            with_planner=False,
        )
        sections.append(
            (f"Planners {first} (A) vs {second} (B)", comparison_section(pairs, first, second, "versus"))
        )
    sections.append(("Manifest", _manifest(manifest)))
    return _page("drivestack benchmark report", meta, sections)


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    config: ReportConfig = ReportConfig(),
    compare: str | Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write the report of `run_dir` (against `compare` when given) to `out` (default
    RUN_DIR/report.html), atomically; returns its path."""
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    text = report_html(run_dir, config, compare, progress)
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
    return target
