"""`ingest` and `mine` on a local Ray (2 CPUs): the same store as in this process, resumable, and the
command line's --backend/--address wiring."""

from __future__ import annotations

import json
from pathlib import Path

import fake_format
import pytest
from typer.testing import CliRunner

from drivestack.cli import app
from drivestack.data.ingest import ingest
from drivestack.data.mining.runner import mine_store
from drivestack.data.store import Store
from drivestack.data.store.tables import SCHEMAS

pytestmark = pytest.mark.xdist_group("ray")
"""One local Ray at a time: its tests run on one worker of `make pytest`."""

DETECTORS = ["hard_braking", "dense_traffic", "high_speed"]


def rows(store: Store, tables: list[str]) -> dict[str, list[str]]:
    """Rows of `tables` as sorted JSON lines, without the batch id (which differs between runs)."""
    found = {}
    for table in tables:
        data = store.read_table(table)
        if "batch" in data.column_names:
            data = data.drop_columns(["batch"])
        found[table] = sorted(json.dumps(row, sort_keys=True, default=str) for row in data.to_pylist())
    return found


@pytest.fixture
def data(generated_data: Path, tmp_path: Path, fake_reader: None) -> Path:
    """Two generated CommonRoad scenarios with solutions, a fake file of three scenarios, a fake folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    specs = {"a": '{"speed": 8}', "b": '{"speed": 10}', "c": '{"speed": 12}'}
    fake_format.write_file(folder / "many.fks", specs)
    fake_format.write_folder(folder / "log-1", "f", 6.0)
    return folder


def test_ingest_and_mine_on_a_local_ray_equal_the_sequential_store(
    data: Path, generated_data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="ray not installed: pip install 'drivestack[ray]'")
    paths = [data, generated_data]
    sequential = Store.open(tmp_path / "sequential", create=True)
    ingest(paths, sequential, workers=1, batch_size=2)
    mine_store(sequential, DETECTORS)
    on_ray = Store.open(tmp_path / "ray", create=True)
    report = ingest(paths, on_ray, workers=2, batch_size=2, backend="ray")
    assert report.rejected == [] and len(report.added) == 6
    mined = mine_store(on_ray, DETECTORS, workers=2, batch_size=2, backend="ray")
    assert mined.failures == [] and mined.mined == dict.fromkeys(DETECTORS, 6)
    assert rows(on_ray, list(SCHEMAS)) == rows(sequential, list(SCHEMAS))
    again = ingest(paths, on_ray, workers=2, backend="ray")  # resumable: everything is stored
    assert again.added == [] and len(again.skipped) == 6
    assert mine_store(on_ray, DETECTORS, backend="ray").scenarios == 0


def test_cli_passes_backend_and_address(data: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(data), "--store", store, "--address", "ray://nowhere:1"])
    assert ingested.exit_code == 1 and "--address is for the ray backend" in str(ingested.exception)
    wrong = runner.invoke(app, ["mine", "--store", store, "--backend", "spark"])
    assert wrong.exit_code == 1 and "backend 'spark': expected one of" in str(wrong.exception)
