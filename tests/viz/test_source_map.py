"""`drivestack show` beside the source's own map: the polylines come from the source file itself, the
converted lanes lie on them, and the picture draws them in a second panel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from matplotlib.collections import LineCollection
from recorded_data import DATA_ROOT
from typer.testing import CliRunner

from drivestack.cli import app
from drivestack.core.errors import InputError
from drivestack.data.formats import av2, scenarionet, womd
from drivestack.data.formats.registry import identify, read_unit, source_polylines, unit_label
from drivestack.data.ingest import ingest
from drivestack.data.store import Store
from drivestack.viz.bev import render_scene

WOMD = DATA_ROOT / "womd" / "motion_data_one_scenario.tfrecord"
NUSCENES = DATA_ROOT / "scenarionet" / "nuscenes" / "sd_nuscenes_v1.0-mini_scene-0061.pkl"
SENSOR_LOG = DATA_ROOT / "argoverse2" / "sensor_logs" / "adcf7d18-0510-35b0-a2fa-b4cea13a6d76"
FORECAST = DATA_ROOT / "argoverse2" / "forecasting" / "0a1e6f0a-1817-4a98-b02e-db8c9327d151"
COMMONROAD = DATA_ROOT / "commonroad-io-tests" / "ZAM_Tutorial-1_1_T-1.xml.gz"


def _present(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.skip(f"sample not found at {path}")


@pytest.mark.parametrize("path", [WOMD, NUSCENES], ids=["womd", "nuscenes"])
def test_converted_lane_centres_lie_on_the_source_lanes(path: Path) -> None:
    """Every converted lane of a Waymo-style map runs along the source lane of its id (within the
    5 cm simplification), and the source's road lines and edges are drawn too."""
    _present(path)
    reader = identify(path)
    assert reader is not None and reader.FORMAT in (womd.FORMAT, scenarionet.FORMAT)
    scenario = read_unit(path, reader.FORMAT, reader.members(path)[0])
    polylines = source_polylines(scenario.source_file)
    assert polylines is not None
    kinds = {kind for kind, _ in polylines}
    assert {"lane", "road_line"} <= kinds
    source = reader.source_map(path, reader.members(path)[0])  # type: ignore[attr-defined]
    by_id = {lane.id: lane.center for lane in source.lanes}
    driving = [lane for lane in scenario.lane_graph.lanes.values() if "crosswalk" not in lane.lane_types]
    assert len(driving) > 20
    for lane in driving:
        gap = shapely.LineString(by_id[lane.id]).hausdorff_distance(shapely.LineString(lane.center))
        assert gap < 0.06, (lane.id, gap)


@pytest.mark.parametrize("folder", [SENSOR_LOG, FORECAST], ids=["sensor-log", "forecasting"])
def test_av2_source_map_holds_the_json_boundaries_and_drivable_areas(folder: Path) -> None:
    """AV2's source map: each lane segment's two boundaries (equal to the converted lane's bounds),
    the crossings and the drivable areas the conversion drops."""
    _present(folder)
    source = av2.source_map(folder)
    scenario = av2.read(folder)
    driving = {i: lane for i, lane in scenario.lane_graph.lanes.items() if "crosswalk" not in lane.lane_types}
    assert len(source.lines) == 2 * len(driving)
    for left, right in zip(source.lines[::2], source.lines[1::2], strict=True):
        lane = driving[left.id]
        np.testing.assert_array_equal(left.points, lane.left)
        np.testing.assert_array_equal(right.points, lane.right)
    kinds = {area.kind for area in source.areas}
    assert kinds == {"crosswalk", "drivable_area"}


def test_commonroad_has_no_source_map_and_a_missing_file_is_named(tmp_path: Path) -> None:
    _present(COMMONROAD, WOMD)
    assert source_polylines(str(COMMONROAD)) is None
    with pytest.raises(InputError, match="not found"):
        source_polylines(unit_label(tmp_path / "gone.tfrecord", "0"))
    # show of a stored CommonRoad scenario whose file is gone: no source panel, and no note about it
    copy = tmp_path / COMMONROAD.name
    shutil.copy(COMMONROAD, copy)
    store = Store.open(tmp_path / "store", create=True)
    (added,) = ingest([copy], store).added
    copy.unlink()
    picture = tmp_path / "cr.png"
    result = CliRunner().invoke(app, ["show", added, "--store", str(store.root), "--png", str(picture)])
    assert result.exit_code == 0, result.output
    assert picture.exists() and "source map" not in result.stdout


def test_show_draws_the_source_map_beside_the_converted_scenario(tmp_path: Path) -> None:
    """`show` of a stored WOMD scenario: a second panel with every source polyline in view; once the
    source file is gone, a note and the picture without it."""
    _present(WOMD)
    copy = tmp_path / "data" / WOMD.name
    copy.parent.mkdir()
    shutil.copy(WOMD, copy)
    store = Store.open(tmp_path / "store", create=True)
    (added,) = ingest([copy], store).added
    scenario = store.load_scenario(added)
    polylines = source_polylines(scenario.source_file)
    assert polylines is not None
    figure = render_scene(scenario, source=polylines)
    map_axes, beside = figure.axes[0], figure.axes[1]
    assert beside.get_title().startswith("source map (womd)")
    assert beside.get_xlim() == map_axes.get_xlim() and beside.get_ylim() == map_axes.get_ylim()
    drawn = [c for c in beside.collections if isinstance(c, LineCollection) and c.get_zorder() == 3]
    assert len(drawn) == 1 and 20 < len(drawn[0].get_segments()) <= len(polylines)
    picture = tmp_path / "with.png"
    result = CliRunner().invoke(app, ["show", added, "--store", str(store.root), "--png", str(picture)])
    assert result.exit_code == 0, result.output
    assert "source map not drawn" not in result.stdout
    copy.unlink()
    alone = tmp_path / "alone.png"
    result = CliRunner().invoke(app, ["show", added, "--store", str(store.root), "--png", str(alone)])
    assert result.exit_code == 0, result.output
    assert "note: source map not drawn" in result.stdout and "not found" in result.stdout
    assert alone.stat().st_size < picture.stat().st_size  # one map panel instead of two
