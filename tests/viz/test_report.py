"""The HTML report, opened in headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
tables and plots render, sorting and filtering work, and the console stays clean."""

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
from drivestack.viz.report import TABLE_COLUMNS, ReportConfig, worst_rows, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # Playwright adds --headless; a fresh --user-data-dir comes from the persistent context
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUICK = ReportConfig(worst=2, lowest=1, fps=2.0)


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
def report(bench_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(bench_run, tmp_path_factory.mktemp("report") / "report.html", QUICK)


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
    shown = worst_rows(pq.read_table(bench_run / "results.parquet").to_pylist(), QUICK)
    assert len(shown) >= 1 and text.count("data:image/gif;base64,") == len(shown)
    runs_table = text[text.index('<table id="runs"') :]
    assert runs_table[: runs_table.index("</table>")].count("<tr>") == rows + 1
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
    widths = page.eval_on_selector_all("img.animation", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert widths == [QUICK.frame.pixels[1]] * len(worst_rows(results, QUICK))  # GIFs decoded
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
    assert problems == []


def test_cli_report(bench_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(bench_run, tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run), "--worst", "0"])
    assert result.exit_code == 0, result.output
    assert (run / "report.html").stat().st_size > 20_000 and "report:" in result.output
