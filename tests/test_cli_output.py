"""Terminal output a person can use: one line per run, arguments checked before the work, what to
run next, and a message instead of silence when there is nothing to do (issue 23 item 4)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from cli_process import run

from drivestack.bench import find_scenario


def one_error_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """`result` failed with exit `code` and exactly the line `error: text` on stderr."""
    assert result.returncode == code and result.stderr.strip() == f"error: {text}", result.stderr


def _scenario(generated_data: Path) -> Path:
    return next((generated_data / "scenarios").glob("ZAM_Intersection*"))


def _steps(path: Path) -> int:
    return find_scenario(str(path)).load().num_steps


def test_simulate_prints_one_line_per_problem(generated_data: Path) -> None:
    scenario = _scenario(generated_data)
    result = run("simulate", scenario, "--planner", "constant-velocity")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert re.match(
        rf"{scenario.name.split('.')[0]} / problem \d+ / constant-velocity / log agents: score ", line
    )
    assert "collision(s)" in line and "goal" in line


def test_simulate_checks_its_arguments_before_running(generated_data: Path, tmp_path: Path) -> None:
    scenario = _scenario(generated_data)
    started = time.perf_counter()
    one_error_line(
        run("simulate", scenario, "--gif", tmp_path / "run.mp4"),
        2,
        f"--gif {tmp_path / 'run.mp4'}: expected a file name ending in .gif",
    )
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_error_line(
        run("simulate", scenario, "--mcap", a_file / "run.mcap"),
        2,
        f"--mcap {a_file / 'run.mcap'}: {a_file} is a file, not a folder",
    )
    one_error_line(
        run("simulate", scenario, "--png", tmp_path / "x.png", "--frame", "100000"),
        2,
        f"--frame 100000: {scenario.name.split('.')[0]} has {_steps(scenario)} steps",
    )
    one_error_line(
        run("simulate", scenario, "--problem", "7"),
        2,
        f"{scenario.name.split('.')[0]}: no planning problem 7; it has 68",
    )
    assert time.perf_counter() - started < 60  # no simulation ran
    assert not list(tmp_path.glob("*.png"))


def test_bench_says_when_nothing_runs_and_ends_with_the_report_command(
    generated_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "my runs"
    nothing = run("bench", generated_data, "--planner", "constant-velocity", "--out", out, "--limit", "0")
    assert nothing.returncode == 0 and "nothing to run: --limit 0 selects no scenario" in nothing.stderr
    assert not out.exists()
    done = run("bench", generated_data, "--planner", "constant-velocity", "--out", out, "--limit", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"next: drivestack report '{out}'"
    again = run("bench", generated_data, "--planner", "constant-velocity", "--out", out, "--limit", "1")
    assert f"all 1 scenarios were already done in {out}" in again.stdout


def test_generate_lists_its_files_and_checks_the_folder(tmp_path: Path) -> None:
    result = run("generate", tmp_path / "gen", "--kind", "merge", "--count", "1")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.endswith(".solution.xml") and (tmp_path / "gen" / "scenarios").is_dir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_error_line(run("generate", a_file), 2, f"{a_file}: is a file, expected a folder for the scenarios")
    one_error_line(
        run("generate", tmp_path / "g2", "--kind", "roundabout"),
        2,
        "unknown scenario kind roundabout; expected one of highway, merge, intersection",
    )
    assert "--count 0: no scenario generated" in run("generate", tmp_path / "g3", "--count", "0").stderr


def test_show_checks_step_and_tag_and_an_empty_set_says_so(generated_data: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run("ingest", generated_data, "--store", store, "--workers", "1").returncode == 0
    assert run("mine", "--store", store).returncode == 0
    assert run("set", "create", "nothing", "--store", store, "--where", "num_agents > 1000").returncode == 0
    one_error_line(
        run("bench", "nothing", "--planner", "idm", "--out", tmp_path / "out", "--store", store),
        2,
        "set nothing is empty: no scenarios to run",
    )
    scenario = _scenario(generated_data).name.split(".")[0]
    one_error_line(
        run("show", scenario, "--store", store, "--step", "5000", "--png", tmp_path / "x.png"),
        2,
        f"--step 5000: {scenario} has steps 0 to {_steps(_scenario(generated_data)) - 1}",
    )
    unknown = run("show", scenario, "--store", store, "--tag", "cut-in", "--png", tmp_path / "x.png")
    assert unknown.returncode == 2 and unknown.stderr.startswith(
        f"error: unknown tag cut-in for {scenario}; its tags: "
    )
    assert len(unknown.stderr.strip().splitlines()) == 1 and "intersection" in unknown.stderr
    one_error_line(
        run("show", scenario, "--store", store, "--png", tmp_path / "x.gif"),
        2,
        f"--png {tmp_path / 'x.gif'}: expected a file name ending in .png",
    )
    shown = run("show", scenario, "--store", store, "--png", tmp_path / "x.png")
    assert shown.returncode == 0 and shown.stdout.splitlines()[-1] == f"picture: {tmp_path / 'x.png'}"


def test_usage_errors_are_one_error_line(tmp_path: Path) -> None:
    one_error_line(
        run("generate", tmp_path, "--count", "-1"),
        2,
        "drivestack generate: Invalid value for '--count': Input should be greater than or equal to 0 "
        "(see drivestack generate --help)",
    )
    one_error_line(
        run("scenarios", "--no-such-option"),
        2,
        "drivestack scenarios: No such option: --no-such-option (see drivestack scenarios --help)",
    )
    one_error_line(
        run("bench", tmp_path, "--out", tmp_path / "out"),
        2,
        "drivestack bench: Missing option '--planner'. (see drivestack bench --help)",
    )
    bare = run()
    assert (
        bare.returncode == 2
        and bare.stdout.startswith("Usage: drivestack")
        and "Traceback" not in bare.stderr
    )
