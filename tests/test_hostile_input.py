"""Hostile names and text through the real `drivestack` command: odd file names, ids that are paths or
too long, values that look like terminal markup. Each case once crashed or escaped (issue 21)."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path
from xml.sax.saxutils import quoteattr

import duckdb
from cli_process import run

from drivestack.core.names import MAX_FILE_NAME, display_text, safe_file_name
from drivestack.data.ingest import ingest
from drivestack.data.store import Store

HIGHD = "highd/scenarios/DEU_LocationALower26-1_260_T-75.cr.xml.gz"
HIGHD_OTHER = "highd/scenarios/DEU_LocationALower26-1_261053_T-1128.cr.xml.gz"
HIGHD_ID = "DEU_LocationALower26-1_260_T-75"


def highd_text(commonroad_root: Path, replace: tuple[str, str] | None = None) -> str:
    """The XML of a recorded highD scenario, with one text replaced once."""
    text = gzip.decompress((commonroad_root / HIGHD).read_bytes()).decode()
    if replace is not None:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1], 1)
    return text


def with_id(commonroad_root: Path, benchmark_id: str) -> str:
    """The highD scenario's XML claiming another `benchmarkID`."""
    return highd_text(
        commonroad_root, (f'benchmarkID="{HIGHD_ID}"', f"benchmarkID={quoteattr(benchmark_id)}")
    )


def test_names_are_stored_and_used_safely() -> None:
    assert display_text(os.fsdecode(b"/d/bad\xff\n[red].xml")) == "/d/bad\\xff\\n[red].xml"
    assert display_text("/d/plain.xml") == "/d/plain.xml"
    assert safe_file_name(HIGHD_ID) == HIGHD_ID
    escaped = safe_file_name("../escaped/x")
    assert "/" not in escaped and not escaped.startswith(".") and escaped.startswith("_escaped_x-")
    long_id = "A" * 300
    assert len(safe_file_name(long_id)) == MAX_FILE_NAME
    assert safe_file_name(long_id) != safe_file_name("A" * 299)  # shortened names keep their ids apart
    assert safe_file_name("a/b") != safe_file_name("a_b")  # cleaned names too
    assert safe_file_name("..") != "" and "/" not in safe_file_name("/")


def test_ingest_takes_files_of_any_name(commonroad_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    odd = folder / os.fsdecode(b"a-bad\xff[red]\nname.cr.xml.gz")
    odd.write_bytes((commonroad_root / HIGHD).read_bytes())
    broken = folder / os.fsdecode(b"b-junk\xfe[b].cr.xml")
    broken.write_text("not xml")
    (folder / "c.cr.xml.gz").write_bytes((commonroad_root / HIGHD_OTHER).read_bytes())
    store = Store.open(tmp_path / "store", create=True)

    report = ingest([folder], store)
    assert len(report.added) == 2  # the file after the odd ones is ingested too
    assert [r.file for r in report.rejected] == [display_text(broken)]
    stored = store.query("SELECT file FROM scenarios ORDER BY file").column("file").to_pylist()
    assert stored == [display_text(odd), str(folder / "c.cr.xml.gz")]
    assert "\\xff[red]\\nname" in stored[0]
    again = ingest([folder], store)  # the rejection row of the odd name is replaced, not duplicated
    assert len(again.skipped) == 2 and len(store.read_table("rejected")) == 1

    printed = run("ingest", folder, "--store", tmp_path / "store2", "--workers", "1", "--allow-rejects")
    assert printed.returncode == 0, printed.stderr
    assert f"rejected {display_text(broken)}: " in printed.stdout


def test_ids_never_write_outside_the_folder(commonroad_root: Path, tmp_path: Path) -> None:
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    ids = ("../escaped/DEU_A-1_1_T-1", "DEU_A-1_1_T-" + "9" * 300)
    for n, benchmark_id in enumerate(ids):
        (data / f"{n}.cr.xml").write_text(with_id(commonroad_root, benchmark_id))
    assert run("ingest", data, "--store", tmp_path / "store", "--workers", "1").returncode == 0
    for benchmark_id in ids:
        shown = run("show", benchmark_id, "--store", tmp_path / "store", cwd=work)
        assert shown.returncode == 0, shown.stderr
        assert (work / f"{safe_file_name(benchmark_id)}.png").is_file()
    assert sorted(path.parent for path in tmp_path.rglob("*.png")) == [work, work]
    assert not (tmp_path / "escaped").exists()


def test_text_from_data_prints_literally(commonroad_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad" / "a.cr.xml"
    bad.parent.mkdir()
    bad.write_text(highd_text(commonroad_root, ('timeStepSize="0.1"', 'timeStepSize="[/b] [s]"')))
    ingested = run("ingest", bad.parent, "--store", tmp_path / "store", "--workers", "1")
    assert ingested.returncode == 1 and "expected a number, got '[/b] [s]'" in ingested.stdout
    simulated = run("simulate", bad)
    assert simulated.returncode == 1
    assert (
        simulated.stderr.strip()
        == f"error: {bad}: commonRoad / timeStepSize: expected a number, got '[/b] [s]'"
    )

    marked = tmp_path / "marked" / "b.cr.xml"
    marked.parent.mkdir()
    marked.write_text(with_id(commonroad_root, "DEU_A-1_1_T-1[/b]"))
    assert run("ingest", marked.parent, "--store", tmp_path / "store", "--workers", "1").returncode == 0
    queried = run(
        "query", "SELECT scenario_id, 'dt [s]' AS unit FROM scenarios", "--store", tmp_path / "store"
    )
    assert queried.returncode == 0, queried.stderr
    assert "DEU_A-1_1_T-1[/b]" in queried.stdout and "dt [s]" in queried.stdout
    shown = run("show", "DEU_A-1_1_T-1[/b]", "--store", tmp_path / "store", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "DEU_A-1_1_T-1[/b]@2020a" in shown.stdout


def one_error_line(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    """`result` failed with exit `code` and one `error:` line on stderr holding every part."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and all(part in lines[0] for part in parts), lines[0]


def test_unusable_folders_and_damaged_files_are_one_line_errors(
    commonroad_root: Path, tmp_path: Path
) -> None:
    scenario = commonroad_root / HIGHD
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    one_error_line(
        run("ingest", scenario, "--store", a_file), 1, str(a_file), "is a file, not a store folder"
    )
    one_error_line(run("scenarios", "--store", a_file), 1, str(a_file), "is a file, not a store folder")
    one_error_line(run("bench", scenario, "--planner", "idm", "--out", a_file), 1, str(a_file), "is a file")

    not_utf8 = tmp_path / os.fsdecode(b"st\xfeore")  # Parquet cannot be written under such a path
    one_error_line(
        run("ingest", scenario, "--store", not_utf8), 1, "st\\xfeore: a store's path must be UTF-8"
    )
    one_error_line(run("bench", scenario, "--planner", "idm", "--out", not_utf8), 1, "st\\xfeore", "UTF-8")
    assert not not_utf8.exists()

    locked = tmp_path / "locked"  # a store whose writer lock cannot be opened (as a read-only one)
    assert run("ingest", scenario, "--store", locked).returncode == 0
    (locked / ".lock").unlink()
    (locked / ".lock").mkdir()
    one_error_line(run("ingest", scenario, "--store", locked), 1, str(locked), "cannot write to this store")

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "manifest.json").write_text('{"config": {}, "runs": []}')
    (damaged / "results.parquet").write_bytes(b"PAR1 cut short")
    for args in (("report", damaged), ("export-mcap", damaged, "x", tmp_path / "x.mcap")):
        one_error_line(run(*args), 1, str(damaged / "results.parquet"), "unreadable results file")
    bench = ("bench", scenario, "--planner", "idm", "--out", damaged)
    one_error_line(run(*bench), 1, str(damaged / "results.parquet"), "unreadable results file")
    (damaged / "results.parquet").unlink()
    (damaged / "manifest.json").write_text('{"config": ')
    one_error_line(run(*bench), 1, str(damaged / "manifest.json"), "unreadable benchmark manifest")
    one_error_line(run("report", damaged), 1, str(damaged / "manifest.json"), "unreadable benchmark manifest")
    (damaged / "manifest.json").write_text("[1, 2]")
    one_error_line(run("report", damaged), 1, str(damaged / "manifest.json"), "not a benchmark manifest")


def test_exit_codes_tell_whether_everything_asked_for_succeeded(
    commonroad_root: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.cr.xml.gz").write_bytes((commonroad_root / HIGHD).read_bytes())  # no solution: no ade
    (data / "b.cr.xml").write_text("<commonRoad")
    ingested = run("ingest", data, "--store", tmp_path / "store")
    assert ingested.returncode == 1 and "1 file(s) rejected" in ingested.stderr
    assert run("ingest", data, "--store", tmp_path / "store", "--allow-rejects").returncode == 0

    out = tmp_path / "bench"
    benched = run("bench", data, "--planner", "idm", "--out", out)
    assert benched.returncode == 1 and "1 run(s) errored" in benched.stderr, benched.stderr
    assert run("bench", data, "--planner", "idm", "--out", out, "--allow-errors").returncode == 0
    results = duckdb.sql(
        "SELECT count(*) FILTER (WHERE ade IS NULL), count(*) FILTER (WHERE isnan(ade)), avg(score) "
        f"FROM read_parquet('{out / 'results.parquet'}') WHERE status = 'ok'"
    ).fetchall()
    nulls, nans, score = results[0]  # a missing ade (no recorded human) is null, so averages skip it
    assert (nulls, nans) == (1, 0) and 0.0 <= score <= 1.0

    one_error_line(run("query", "SELECT 1", "--format", "xml", "--store", tmp_path / "store"), 2, "--format")
    one_error_line(run("bench", data, "--planner", "nope", "--out", out), 2, "nope")
    assert run("scenarios", "--no-such-option").returncode == 2
