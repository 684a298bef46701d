"""The format registry: content-based dispatch, folder units, unknown files, absent and broken readers."""

from __future__ import annotations

import gzip
from pathlib import Path

import fake_format
import pytest
from commonroad_docs import SCENARIO_2020A, SOLUTION, write

from drivestack.core.errors import ConfigError, InputError
from drivestack.data.formats import registry
from drivestack.data.formats.registry import (
    COMMONROAD,
    EXTRA_READERS_VARIABLE,
    identify,
    missing_readers,
    read_unit,
    split_label,
    unit_files,
    unit_label,
    unit_members,
    unknown_format_reason,
)
from drivestack.data.sources import discover


@pytest.fixture
def mixed(tmp_path: Path, fake_reader: None) -> Path:
    """A folder mixing CommonRoad (scenario + solution), a fake multi-scenario file named like XML, a
    fake folder unit, a file of no format, and an index file."""
    data = tmp_path / "data"
    (data / "cr").mkdir(parents=True)
    write(data / "cr", "s.xml", SCENARIO_2020A)
    write(data / "cr", "s.solution.xml.gz", SOLUTION)
    fake_format.write_file(data / "many.xml", {"a": '{"speed": 8}', "b": '{"speed": 10}'})
    fake_format.write_folder(data / "logs" / "log-1", "f", 6.0)
    (data / "junk.bin").write_bytes(b"\x89PNG not a scenario")
    (data / "index.csv").write_text("file\n")
    return data


def test_dispatch_is_by_content_not_by_name(mixed: Path) -> None:
    assert identify(mixed / "many.xml") is fake_format  # named .xml, yet the fake reader claims it
    cr = identify(mixed / "cr" / "s.xml")
    assert cr is not None and cr.FORMAT == COMMONROAD
    assert identify(mixed / "logs" / "log-1").FORMAT == "fake"  # type: ignore[union-attr]
    assert identify(mixed / "junk.bin") is None
    assert identify(mixed / "logs") is None  # a folder that holds units is not one


def test_commonroad_claims_an_unreadable_xml_file_so_its_reader_names_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml.gz"
    broken.write_bytes(gzip.compress(SCENARIO_2020A.encode())[:200])
    reader = identify(broken)
    assert reader is not None and reader.FORMAT == COMMONROAD
    with pytest.raises(InputError, match="gzip"):
        read_unit(broken, COMMONROAD)


def test_discover_walks_folders_but_not_folder_units(mixed: Path) -> None:
    sources, orphans, unknown = discover([mixed])
    found = {(source.scenario.relative_to(mixed).as_posix(), source.format) for source in sources}
    assert found == {("cr/s.xml", COMMONROAD), ("many.xml", "fake"), ("logs/log-1", "fake")}
    cr = next(source for source in sources if source.format == COMMONROAD)
    assert cr.solutions == (mixed / "cr" / "s.solution.xml.gz",)
    assert orphans == []
    assert unknown == [mixed / "junk.bin"]  # lidar.bin inside the folder unit and index.csv are not


def test_a_file_named_explicitly_is_always_judged(mixed: Path) -> None:
    _, _, unknown = discover([mixed / "index.csv", mixed / "logs" / "log-1" / "lidar.bin"])
    assert unknown == [mixed / "index.csv", mixed / "logs" / "log-1" / "lidar.bin"]
    assert unknown_format_reason().startswith("unknown format: no reader claims it (formats read: fake,")


def test_members_and_reading_one_member(mixed: Path) -> None:
    assert unit_members(mixed / "many.xml", "fake") == ["a", "b"]
    assert unit_members(mixed / "cr" / "s.xml", COMMONROAD) == [None]
    scenario = read_unit(mixed / "many.xml", "fake", "b")
    assert scenario.scenario_id == "b"
    assert scenario.source_file == f"{mixed / 'many.xml'}#b"
    assert split_label(scenario.source_file) == (mixed / "many.xml", "b")
    assert split_label(str(mixed / "many.xml")) == (mixed / "many.xml", None)
    assert split_label(f"{mixed / 'many.xml'}#x#y") == (mixed / "many.xml", "x#y")
    assert split_label(f"{mixed / 'absent'}#x") == (mixed / "absent#x", None)
    assert unit_label(mixed / "logs", None) == unit_label(mixed / "logs", "") == str(mixed / "logs")
    with pytest.raises(ConfigError, match="solution files belong to CommonRoad"):
        read_unit(mixed / "many.xml", "fake", "a", [mixed / "cr" / "s.solution.xml.gz"])


def test_unit_files_are_the_readers_choice_else_every_file(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = mixed / "logs" / "log-1"
    assert unit_files(folder, "fake") == [folder / fake_format.FOLDER_MARKER]
    assert unit_files(mixed / "many.xml", "fake") == [mixed / "many.xml"]
    monkeypatch.delattr(fake_format, "unit_files")
    assert unit_files(folder, "fake") == [folder / fake_format.FOLDER_MARKER, folder / "lidar.bin"]


def test_a_unit_without_scenarios_is_an_input_error(tmp_path: Path, fake_reader: None) -> None:
    empty = fake_format.write_file(tmp_path / "empty.fake", {})
    with pytest.raises(InputError, match="fake unit holds no scenario"):
        unit_members(empty, "fake")


def test_an_absent_reader_module_is_skipped_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXTRA_READERS_VARIABLE, "no_such_reader_module")
    assert "no_such_reader_module" in missing_readers()
    assert COMMONROAD in registry.formats()
    assert "readers not installed: no_such_reader_module" in unknown_format_reason()


def test_a_reader_whose_dependency_is_missing_is_an_error_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_dependency.py").write_text("import no_such_dependency_package\n")
    (tmp_path / "half_reader.py").write_text("FORMAT = 'half'\ndef sniff(path):\n    return False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(EXTRA_READERS_VARIABLE, "needs_dependency")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_package"):
        registry.readers()
    monkeypatch.setenv(EXTRA_READERS_VARIABLE, "half_reader")
    with pytest.raises(ConfigError, match="reader half_reader has no members"):
        registry.readers()
