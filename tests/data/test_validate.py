"""`drivestack validate` and the file discovery behind it, on small folders and on the whole recorded set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from commonroad_docs import SCENARIO_2018B, SCENARIO_2020A, SCENARIO_ID, SOLUTION, edit, write
from typer.testing import CliRunner

from drivestack.cli import app
from drivestack.core.errors import InputError
from drivestack.data.sources import SourceFiles, discover
from drivestack.data.validate import validate

SMALL = "highd/scenarios/DEU_LocationCUpper6-1_65865_T-5940.cr.xml.gz"
SMALL_SOLUTION = "highd/solutions/DEU_LocationCUpper6-1_65865_T-5940.solution.xml.gz"


@pytest.fixture
def folder(tmp_path: Path, commonroad_root: Path) -> Path:
    """A small data folder: a real scenario with its solution, a handmade pair, a broken file, other files."""
    data = tmp_path / "data"
    for name in (SMALL, SMALL_SOLUTION):
        (data / Path(name).parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(commonroad_root / name, data / name)
    (data / "handmade").mkdir()
    write(data / "handmade", "test.xml", SCENARIO_2020A)
    write(data / "handmade", "test.solution.xml.gz", SOLUTION)
    write(data / "handmade", "broken.xml.gz", (commonroad_root / SMALL).read_bytes()[:2000])
    (data / "index.csv").write_text("file,split\n")
    (data / "notes.txt").write_text("not a scenario\n")
    return data


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_lists_the_broken_file_and_counts(folder: Path, workers: str) -> None:
    result = CliRunner().invoke(app, ["validate", str(folder), "--workers", workers])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    broken = folder / "handmade" / "broken.xml.gz"
    assert lines == [
        f"{broken}: gzip stream: truncated gzip data (the stream ends before its end marker)",
        "4 loaded, 1 rejected",
    ]


def test_cli_exits_zero_when_everything_loads(folder: Path) -> None:
    (folder / "handmade" / "broken.xml.gz").unlink()
    result = CliRunner().invoke(app, ["validate", str(folder / "handmade"), str(folder / SMALL)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["3 loaded, 0 rejected"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_lists_warnings_apart_from_rejections(tmp_path: Path, workers: str) -> None:
    """A dangling sign reference is dropped with a warning: the file loads, the exit code stays 0."""
    dangling = edit(SCENARIO_2020A, '<trafficSignRef ref="10"/>', '<trafficSignRef ref="12"/>')
    path = write(tmp_path, "dangling.xml", dangling)
    result = CliRunner().invoke(app, ["validate", str(tmp_path), "--workers", workers])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"warning: {path}: lanelet 1 / trafficSignRef: refers to trafficSign 12, which does not exist: "
        "dropped",
        "1 loaded, 0 rejected, 1 warnings",
    ]


def test_solution_counts_as_its_own_file(tmp_path: Path) -> None:
    write(tmp_path, "s.xml", SCENARIO_2020A)
    bad = write(tmp_path, "s.solution.xml", edit(SOLUTION, 'planningProblem="60"', 'planningProblem="61"'))
    report = validate([tmp_path], workers=1)
    assert report.loaded == 1 and [r.path for r in report.rejected] == [bad]
    assert report.rejected[0].reason.startswith(
        "trajectory of planningProblem 61: scenario ZAM_Test-1_1_T-1 has no such"
    )


def test_solutions_of_a_broken_scenario_are_still_read(tmp_path: Path) -> None:
    write(tmp_path, "s.xml", edit(SCENARIO_2020A, 'timeStepSize="0.1"', 'timeStepSize="0"'))
    write(tmp_path, "s.solution.xml", SOLUTION)
    report = validate([tmp_path], workers=1)
    assert report.loaded == 1 and report.rejected[0].reason.startswith("commonRoad / timeStepSize")


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        validate([tmp_path / "absent"])


def test_discover_pairs_solutions_by_scenario_id_and_version(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = write(tmp_path / "a", "s.xml", SCENARIO_2018B)
    new = write(tmp_path / "b", "s.xml.gz", SCENARIO_2020A)
    solution = write(
        tmp_path / "a", "x.solution.xml", SOLUTION
    )  # names version 2020a, next to the 2018b file
    orphan = write(tmp_path, "o.xml", edit(SOLUTION, SCENARIO_ID, "ZAM_Other-1_1_T-1"))
    renamed = write(
        tmp_path, "mystery.xml", edit(SOLUTION, "<CommonRoadSolution", "<!-- c --><CommonRoadSolution")
    )
    (tmp_path / "index.csv").write_text("")
    sources, orphans, unknown = discover([tmp_path, solution])
    assert sources == [SourceFiles(old, ()), SourceFiles(new, (renamed, solution))]  # version beats folder
    assert orphans == [orphan]
    assert unknown == []  # index.csv is not scenario data


@pytest.mark.slow
def test_whole_recorded_set_loads(commonroad_root: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(commonroad_root)])
    assert result.stdout.splitlines()[-1] == "1935 loaded, 0 rejected", result.stdout[-3000:]
    assert result.exit_code == 0
