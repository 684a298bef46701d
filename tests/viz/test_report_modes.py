"""The report's agent-mode sections: the agents' realism per mode and the planners side by side."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from drivestack.bench import (
    BenchConfig,
    ResultStore,
    SequentialExecutor,
    bench_config_record,
    find_sources,
    run_bench,
)
from drivestack.viz.report import ReportConfig, build_report

NO_VIEWER = ReportConfig(viewer=0)


@pytest.fixture(scope="module")
def two_modes(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark of log-replay and constant-velocity among log and idm agents on one exiD window."""
    data = tmp_path_factory.mktemp("exid")
    scenario = sorted((commonroad_root / "exid" / "scenarios").iterdir())[0]
    for kind, path in (("scenarios", scenario), ("solutions", None)):
        (data / kind).mkdir()
        source = path or commonroad_root / "exid" / kind / scenario.name.replace(".cr.xml", ".solution.xml")
        shutil.copy(source, data / kind)
    out = tmp_path_factory.mktemp("out")
    config = BenchConfig(("log-replay", "constant-velocity"), ("log", "idm"))
    record = bench_config_record(config, str(data), None, 1)
    run_bench(find_sources(str(data)), config, ResultStore(out, record), SequentialExecutor())
    return out


def _section(report_sections: list[tuple[str, str]], heading: str) -> str:
    found = [content for title, content in report_sections if title == heading]
    assert len(found) == 1, [title for title, _ in report_sections]
    return found[0]


def _rows(html: str, table_id: str) -> list[list[str]]:
    """The data-value (or text) of every cell of table `table_id`, row by row."""
    body = re.search(f'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    cells = r"<td([^>]*)>([^<]*)</td>"
    return [
        [
            next(iter(re.findall(r'data-value="([^"]*)"', attributes)), text)
            for attributes, text in re.findall(cells, row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def test_report_shows_realism_and_planners_per_agent_mode(two_modes: Path) -> None:
    report = build_report(two_modes, NO_VIEWER)
    headings = [title for title, _ in report.sections]
    assert headings.index("Agents' realism per agent mode") == 1  # right after the aggregate
    realism = _section(report.sections, "Agents' realism per agent mode")
    assert 'data-plot="agents&#x27; realism per mode"' in realism
    log, idm = _rows(realism, "realism")
    assert (log[0], log[1], log[2], float(log[3]), float(log[5])) == ("log", "log-replay", "1", 0.0, 0.0)
    assert idm[0] == "idm" and float(idm[3]) > 0.1  # ADE [m]
    assert float(log[11]) == 0.0 and float(idm[11]) > 0.0  # speed W1 [m/s]
    modes = _section(report.sections, "Planners across agent modes")
    header = re.findall(r'<th data-key="([^"]*)"', modes)
    assert header[:4] == ["planner", "mean_score log", "mean_score idm", "score_vs_log idm"]
    rows = {row[0]: row for row in _rows(modes, "modes")}
    assert rows.keys() == {"constant-velocity", "log-replay"}
    replay = rows["log-replay"]
    assert float(replay[1]) == 1.0 and float(replay[3]) == pytest.approx(float(replay[2]) - 1.0)


def test_report_of_an_older_bench_has_no_realism_section(two_modes: Path, tmp_path: Path) -> None:
    older = tmp_path / "older"
    shutil.copytree(two_modes, older)
    table = pq.read_table(older / "results.parquet")
    pq.write_table(
        table.drop_columns([n for n in table.column_names if n.startswith("realism_")]),
        older / "results.parquet",
    )
    headings = [title for title, _ in build_report(older, NO_VIEWER).sections]
    assert "Agents' realism per agent mode" not in headings and "Planners across agent modes" not in headings
    assert "Aggregate per planner × agents" in headings
