"""The HTML report, opened in headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
tables and plots render, sorting and filtering work, the run viewer plays, pauses and scrubs to a
collision it marks in red, and the console stays clean."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from drivestack.bench import (
    BenchConfig,
    ResultStore,
    SequentialExecutor,
    bench_config_record,
    find_sources,
    run_bench,
)
from drivestack.cli import app
from drivestack.core.errors import ConfigError
from drivestack.viz.report import (
    TABLE_COLUMNS,
    Report,
    ReportConfig,
    baseline_of,
    build_report,
    config_diff,
    save_report,
    versus_sections,
    worst_rows,
    write_report,
)
from drivestack.viz.viewer import embed

pytestmark = pytest.mark.xdist_group("report")
"""One worker (of `make pytest`'s two) builds the report once and drives one Chromium."""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # Playwright adds --headless; a fresh --user-data-dir comes from the persistent context
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUICK = ReportConfig(worst=2)


def single_planner_run(data: Path, out: Path, planner: str) -> Path:
    config = BenchConfig((planner,), ("log",))
    run_bench(
        find_sources(str(data)),
        config,
        ResultStore(out, bench_config_record(config, str(data), None, 1)),
        SequentialExecutor(),
    )
    return out


@pytest.fixture(scope="module")
def built(bench_run: Path) -> Report:
    return build_report(bench_run, QUICK)


@pytest.fixture(scope="module")
def report(built: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_report(built, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="module")
def lazy_report(built: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same report with its runs' data in a folder beside it (as large reports are written)."""
    return save_report(built, tmp_path_factory.mktemp("lazy") / "report.html", inline_bytes=0)


@pytest.fixture(scope="module")
def comparison(generated_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("comparison")
    run_a = single_planner_run(generated_data, folder / "a", "idm")
    run_b = single_planner_run(generated_data, folder / "b", "constant-velocity")
    return write_report(run_a, folder / "compare.html", QUICK, compare=run_b)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (the system's, never a downloaded one) with a fresh profile."""
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (dev extra)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    with playwright.sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def open_page(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """The page at `path` and the list its console errors and page errors go to."""
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "request",
        lambda request: (
            problems.append(request.url) if not request.url.startswith(("file:", "data:")) else None
        ),
    )
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def visible_column(page: Any, table: str, column: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr",
        f"rows => rows.filter(r => r.style.display !== 'none').map(r => r.cells[{column}].textContent)",
    )


def test_report_is_one_offline_file(report: Path, bench_run: Path) -> None:
    text = report.read_text()
    rows = pq.read_table(bench_run / "results.parquet").num_rows
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text) and "<link" not in text
    assert "<script src" not in text and "@import" not in text
    results = pq.read_table(bench_run / "results.parquet").to_pylist()
    done = sum(r["status"] == "ok" for r in results)
    assert text.count('<script type="application/json" id="run-') == done  # every finished run, inlined
    runs_table = text[text.index('<table id="runs"') :]
    runs_table = runs_table[: runs_table.index("</table>")]
    assert runs_table.count('<tr class="opens" data-open="') == done and runs_table.count("<tr") == rows + 1
    worst = text[text.index('<ol class="worst">') :]
    assert worst[: worst.index("</ol>")].count("<li>") == len(worst_rows(results, QUICK.worst)) == 2
    assert "&quot;planners&quot;: [" in text  # the manifest


def test_tables_plots_sorting_filtering_in_chromium(browser: Any, report: Path, bench_run: Path) -> None:
    page, problems = open_page(browser, report)
    results = pq.read_table(bench_run / "results.parquet").to_pylist()
    assert page.locator("#aggregate tbody tr").count() == len({(r["planner"], r["agents"]) for r in results})
    assert page.locator("#runs tbody tr").count() == len(results)
    sizes = page.eval_on_selector_all(
        "figure.plot svg",
        "svgs => svgs.map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])",
    )
    assert len(sizes) == 4 and all(w > 150 and h > 100 for w, h in sizes)  # score, metrics, runtime, versus
    score = [key for key, _ in TABLE_COLUMNS].index("score")
    header = page.locator("#runs thead th").nth(score)
    header.click()
    ascending = [float(v) for v in visible_column(page, "runs", score)]
    assert ascending == [round(v, 3) for v in sorted(r["score"] for r in results)]
    header.click()
    assert [float(v) for v in visible_column(page, "runs", score)] == sorted(ascending, reverse=True)
    page.fill(".filters[data-table=runs] input", "merge")
    assert set(visible_column(page, "runs", 0)) == {
        r["scenario_id"] for r in results if "Merge" in r["scenario_id"]
    }
    page.fill(".filters[data-table=runs] input", "")
    page.select_option(".filters[data-table=runs] select[data-key=planner]", "idm")
    assert set(visible_column(page, "runs", 2)) == {"idm"}
    expected = f"{sum(r['planner'] == 'idm' for r in results)} of {len(results)} rows"
    assert page.inner_text(".filters[data-table=runs] .count") == expected
    assert problems == []


def test_comparison_in_chromium(browser: Any, comparison: Path) -> None:
    page, problems = open_page(browser, comparison)
    rows = page.locator("#pairs tbody tr")
    assert rows.count() == 2  # two scenarios, one problem each, log agents
    summary = page.inner_text("p.summary")
    assert summary.startswith("2 runs in both") and "better in" in summary
    deltas = [float(v) for v in visible_column(page, "pairs", 7)]
    scores = page.eval_on_selector_all(
        "#pairs tbody tr", "rows => rows.map(r => [r.cells[5].textContent, r.cells[6].textContent])"
    )
    assert deltas == pytest.approx([float(b) - float(a) for a, b in scores], abs=2e-3)
    assert page.locator("figure.plot svg").count() == 2
    rows.first.click()  # a pair opens run A and run B side by side, on one slider
    page.wait_for_function("() => document.querySelectorAll('#viewer .pane').length === 2")
    runs = page.eval_on_selector_all("#viewer .pane", "panes => panes.map(p => p.dataset.run)")
    assert runs == rows.first.get_attribute("data-open").split(" ") and [r[0] for r in runs] == ["a", "b"]
    page.locator("#viewer .viewer-slider").fill("4")
    steps = page.eval_on_selector_all("#viewer .pane", "panes => panes.map(p => p.dataset.step)")
    assert len(set(steps)) == 1  # same scenario and problem: the same step in both
    assert problems == []


def test_cli_report(bench_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(bench_run, tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run), "--worst", "0"])
    assert result.exit_code == 0, result.output
    assert (run / "report.html").stat().st_size > 20_000 and "report:" in result.output


# --- report options (issue 23 item 3) ------------------------------------------------------------------


def test_worst_are_the_lowest_scores_below_one(bench_run: Path) -> None:
    rows = pq.read_table(bench_run / "results.parquet").to_pylist()
    perfect = [{**r, "score": 1.0, "at_fault_collision": False} if r["planner"] == "idm" else r for r in rows]
    shown = worst_rows(perfect, 8)
    assert shown and all(r["planner"] != "idm" and r["score"] < 1.0 for r in shown)
    assert [r["score"] for r in shown] == sorted(r["score"] for r in perfect if r["score"] < 1.0)
    assert worst_rows(rows, 1) == [min(rows, key=lambda r: (r["score"], not r["at_fault_collision"]))]
    assert worst_rows(rows, 0) == []


def test_every_planner_against_the_baseline(bench_run: Path) -> None:
    rows = pq.read_table(bench_run / "results.parquet").to_pylist()
    third = [{**r, "planner": "idm-again"} for r in rows if r["planner"] == "idm"]
    manifest = {"config": {"planners": ["idm", "drivestack"]}}
    assert baseline_of(rows + third, manifest, None) == "idm"  # default: the benchmark's first
    sections = versus_sections(rows + third, "drivestack", {})
    assert [title for title, _ in sections] == [
        "Planners drivestack (A) vs idm (B)",
        "Planners drivestack (A) vs idm-again (B)",
    ]
    assert all(f"{len(third)} runs in both" in body for _, body in sections)
    with pytest.raises(ConfigError, match="'pdm' did not run"):
        baseline_of(rows, manifest, "pdm")


def test_cli_report_options(bench_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(bench_run, tmp_path / "run")
    result = CliRunner().invoke(
        app, ["report", str(run), "--worst", "1", "--baseline", "drivestack", "--viewer", "1"]
    )
    assert result.exit_code == 0, result.output
    text = (run / "report.html").read_text()
    assert "Planners drivestack (A) vs idm (B)" in text and "Planners idm (A)" not in text
    assert text.count('<script type="application/json" id="run-') == 1  # --viewer 1: the worst one only
    worst = text[text.index('<ol class="worst">') :]
    assert worst[: worst.index("</ol>")].count("<li>") == 1


def test_config_diff_names_only_what_differs(comparison: Path) -> None:
    manifest_a = {"config": {"planners": ["idm"], "sim": {"max_steps": 400, "dt": 0.1}, "agents": ["log"]}}
    manifest_b = {"config": {"planners": ["pdm"], "sim": {"max_steps": 400, "dt": 0.2}, "agents": ["log"]}}
    assert config_diff(manifest_a, manifest_b) == [
        {"setting": "planners", "a": '["idm"]', "b": '["pdm"]'},
        {"setting": "sim.dt", "a": "0.1", "b": "0.2"},
    ]
    text = comparison.read_text()
    table = text[text.index('<table id="config-diff"') :]
    table = table[: table.index("</table>")]
    assert "<td>planners</td><td>[&quot;idm&quot;]</td><td>[&quot;constant-velocity&quot;]</td>" in table
    assert "agents" not in table and "&quot;planners&quot;: [" not in text  # no JSON dumps of the manifests


def test_embedded_data_cannot_break_out_of_its_script() -> None:
    hostile = {"id": "</script><script>alert(1)</script>", "name": "<!-- & -->"}
    text = embed(hostile)
    assert "<" not in text and ">" not in text and "&" not in text
    assert __import__("json").loads(text) == hostile


def test_dataset_and_tag_columns_filter_in_chromium(
    browser: Any, report: Path, bench_run: Path, generated_data: Path
) -> None:
    page, problems = open_page(browser, report)
    results = pq.read_table(bench_run / "results.parquet").to_pylist()
    keys = [key for key, _ in TABLE_COLUMNS]
    datasets = set(visible_column(page, "runs", keys.index("dataset")))
    assert datasets == {generated_data.name.lower()} and len(results) == len(visible_column(page, "runs", 0))
    tags = page.eval_on_selector_all(
        ".filters[data-table=runs] select[data-key=tags] option", "options => options.map(o => o.value)"
    )
    assert len(tags) > 1
    page.select_option(".filters[data-table=runs] select[data-key=tags]", tags[1])
    shown = visible_column(page, "runs", keys.index("tags"))
    assert shown and all(tags[1] in cell.split(", ") for cell in shown)
    assert problems == []


# --- the run viewer (issue 23 item 1, acceptance) --------------------------------------------------------


def run_data(report: Path, key: str) -> dict[str, Any]:
    """The viewer data the report holds for run `key`."""
    text = report.read_text()
    start = text.index(f'<script type="application/json" id="run-{key}">')
    body = text[text.index(">", start) + 1 :]
    return __import__("json").loads(body[: body.index("</script>")])


def overlap_point(data: dict[str, Any], index: int) -> tuple[float, float]:
    """A point [m] inside the overlap of the ego's box and a box it touches at step `index`."""
    import shapely

    def box(x: float, y: float, yaw: float, length: float, width: float) -> Any:
        return shapely.affinity.rotate(
            shapely.box(x - length / 2, y - width / 2, x + length / 2, y + width / 2),
            yaw,
            (x, y),
            use_radians=True,
        )

    ego = data["ego"]
    own = box(ego["x"][index], ego["y"][index], ego["yaw"][index], ego["l"], ego["w"])
    hit = next(o for o in data["objects"] if index in o["hit"])
    other = box(hit["x"][index], hit["y"][index], hit["yaw"][index], hit["l"], hit["w"])
    inner = own.intersection(other)
    assert inner.area > 0.0
    point = inner.representative_point()
    return point.x, point.y


def pixel(page: Any, x: float, y: float, pane: int = 0) -> list[int]:
    """The RGB colour of the pane's canvas at world point (x, y) [m]."""
    return page.evaluate(
        """([x, y, pane]) => {
            const canvas = document.querySelectorAll('#viewer canvas.bev')[pane];
            const s = +canvas.dataset.scale;
            const px = Math.round(canvas.width / 2 + (x - +canvas.dataset.cx) * s);
            const py = Math.round(canvas.height / 2 - (y - +canvas.dataset.cy) * s);
            return Array.from(canvas.getContext('2d').getImageData(px, py, 1, 1).data.slice(0, 3));
        }""",
        [x, y, pane],
    )


def test_viewer_plays_pauses_and_scrubs_to_the_collision(
    browser: Any, report: Path, bench_run: Path, tmp_path: Path
) -> None:
    results = pq.read_table(bench_run / "results.parquet").to_pylist()
    crash = next(i for i, r in enumerate(results) if r["status"] == "ok" and r["collision_step"] is not None)
    row = results[crash]
    data = run_data(report, str(crash))
    index = data["steps"].index(row["collision_step"])
    page, problems = open_page(browser, report)
    viewer = page.locator("#viewer")
    assert viewer.is_hidden()
    page.locator(f'#runs tbody tr[data-open="{crash}"]').click()
    canvas = page.locator("#viewer canvas.bev").first
    assert viewer.is_visible() and canvas.get_attribute("data-step") == str(data["steps"][0])
    problem, planner = row["planning_problem_id"], row["planner"]
    title = f"{row['scenario_id']} / problem {problem} / {planner} / {row['agents']} agents"
    assert page.inner_text("#viewer .pane-title") == title
    page.click("#viewer [data-act=play]")
    page.wait_for_function("() => +document.querySelector('#viewer canvas.bev').dataset.step >= 3")
    page.click("#viewer [data-act=play]")  # pause
    paused = canvas.get_attribute("data-step")
    page.wait_for_timeout(400)
    assert canvas.get_attribute("data-step") == paused and viewer.get_attribute("data-playing") is None
    slider = page.locator("#viewer .viewer-slider")
    area = slider.bounding_box()
    last = len(data["steps"]) - 1
    page.mouse.move(area["x"] + 8, area["y"] + area["height"] / 2)
    page.mouse.down()
    page.mouse.move(
        area["x"] + 8 + (area["width"] - 16) * index / last, area["y"] + area["height"] / 2, steps=8
    )
    page.mouse.up()
    for _ in range(20):  # the drag lands within a step or two; the arrow keys finish the job
        current = int(slider.input_value())
        if current == index:
            break
        slider.press("ArrowRight" if current < index else "ArrowLeft")
    step = str(row["collision_step"])
    assert canvas.get_attribute("data-step") == step
    assert page.get_attribute("#viewer svg.series .cursor", "data-step") == step
    marks = page.eval_on_selector_all(
        "#viewer svg.series .event-mark", "marks => marks.map(m => [m.dataset.kind, m.dataset.step])"
    )
    assert ["collision", step] in marks
    sentence = page.inner_text("#viewer .event")
    assert (
        "collision with" in sentence
        and f"{row['collision_agent_id']} at t = {row['collision_time']:.1f} s" in sentence
    )
    x, y = overlap_point(data, index)
    assert pixel(page, x, y) == [255, 0, 0]  # the overlap, in red
    viewer.screenshot(path=str(tmp_path / "viewer.png"))
    assert (tmp_path / "viewer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    slider.press("Home")
    free = next(i for i in range(len(data["steps"])) if not any(i in o["hit"] for o in data["objects"]))
    for _ in range(free):
        slider.press("ArrowRight")
    assert canvas.get_attribute("data-step") == str(data["steps"][free]) and pixel(page, x, y) != [255, 0, 0]
    assert [p for p in problems if not p.startswith("Canvas2D: Multiple readback")] == []  # our reads


def test_viewer_shows_two_planners_side_by_side(browser: Any, report: Path, bench_run: Path) -> None:
    results = pq.read_table(bench_run / "results.parquet").to_pylist()
    first = next(i for i, r in enumerate(results) if r["status"] == "ok" and r["planner"] == "idm")
    partner = next(
        i
        for i, r in enumerate(results)
        if r["planner"] != "idm"
        and (r["scenario_key"], r["planning_problem_id"])
        == (results[first]["scenario_key"], results[first]["planning_problem_id"])
    )
    page, problems = open_page(browser, report)
    page.locator(f'#runs tbody tr[data-open="{first}"]').click()
    page.select_option("#viewer .viewer-other", str(partner))
    panes = page.locator("#viewer .pane")
    page.wait_for_function("() => document.querySelectorAll('#viewer .pane').length === 2")
    assert [panes.nth(k).get_attribute("data-run") for k in range(2)] == [str(first), str(partner)]
    page.locator("#viewer .viewer-slider").fill("7")
    steps = [panes.nth(k).get_attribute("data-step") for k in range(2)]
    assert steps == [str(run_data(report, str(k))["steps"][7]) for k in (first, partner)]
    log = page.locator("#viewer .pane").nth(1).locator("ol.log li.current")
    assert log.count() == 1 and int(log.get_attribute("data-step")) <= int(steps[1])
    late = len(run_data(report, str(partner))["steps"]) - 1
    page.locator("#viewer .viewer-slider").fill(str(late))
    in_view = page.evaluate(
        """() => {
            const log = document.querySelectorAll('#viewer ol.log')[1];
            const item = log.querySelector('li.current');
            return [+item.dataset.step, item.offsetTop >= log.scrollTop
                && item.offsetTop + item.offsetHeight <= log.scrollTop + log.clientHeight];
        }"""
    )
    assert in_view[1]  # the log scrolled to the current decision
    assert problems == []


def test_large_reports_load_runs_from_beside_the_page(browser: Any, lazy_report: Path, report: Path) -> None:
    text = lazy_report.read_text()
    scripts = sorted((lazy_report.parent / "report.html.runs").iterdir())
    assert 'type="application/json"' not in text and 'data-runs="report.html.runs"' in text
    assert len(scripts) == report.read_text().count('<script type="application/json" id="run-') > 0
    page, problems = open_page(browser, lazy_report)
    row = page.locator("#runs tbody tr.opens").first
    key = row.get_attribute("data-open")
    row.click()
    page.wait_for_function("() => document.querySelector('#viewer canvas.bev') !== null")
    page.locator("#viewer .viewer-slider").fill("5")
    assert page.get_attribute("#viewer .pane", "data-run") == key
    assert page.get_attribute("#viewer canvas.bev", "data-step") == str(run_data(report, key)["steps"][5])
    assert problems == []


def test_viewer_shows_hostile_text_as_text(browser: Any, built: Report, tmp_path: Path) -> None:
    hostile = '</script><img src=x onerror="document.title=1">'
    key, data = next(iter(built.runs.items()))
    planted = {
        **data,
        "title": hostile,
        "decisions": [[0, hostile]],
        "events": {"text": [hostile], "marks": []},
    }
    path = save_report(Report(built.title, built.meta, built.sections, {key: planted}), tmp_path / "r.html")
    page, problems = open_page(browser, path)
    page.locator(f'#runs tbody tr[data-open="{key}"]').click()
    assert page.inner_text("#viewer .pane-title") == hostile and page.inner_text("#viewer .event") == hostile
    assert hostile in page.inner_text("#viewer ol.log")
    assert page.locator("#viewer img").count() == 0 and page.title() != "1"
    assert problems == []


def test_a_run_that_replays_differently_says_why_in_the_viewer(
    browser: Any, bench_run: Path, tmp_path: Path
) -> None:
    import pyarrow as pa

    run = shutil.copytree(bench_run, tmp_path / "run")
    table = pq.read_table(run / "results.parquet")
    rows = table.to_pylist()
    worst = rows.index(worst_rows(rows, 1)[0])
    for row in rows:  # as if the planners had changed since the benchmark (the order stays)
        row["score"] = (
            row["score"] + 1e-3 if row["score"] is not None and row["score"] < 0.99 else row["score"]
        )
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), run / "results.parquet")
    built = build_report(run, ReportConfig(worst=1, viewer=1))
    assert list(built.runs) == [str(worst)] and "the re-run scores" in built.runs[str(worst)]["unavailable"]
    page, problems = open_page(browser, save_report(built, tmp_path / "r.html"))
    page.locator(f'#runs tbody tr[data-open="{worst}"]').click()
    note = page.inner_text("#viewer .viewer-panes .note")
    assert note.startswith(f"{rows[worst]['scenario_id']} / problem") and "not shown: " in note
    assert page.locator("#viewer canvas").count() == 0 and problems == []
