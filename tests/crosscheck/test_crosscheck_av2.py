"""drivestack's Argoverse 2 reader against `av2`, the reference devkit, on the recorded samples.

`av2` lives in its own interpreter (`.venv-crosscheck-av2`, from av2-requirements.txt beside this
file, installed with `--no-deps`: its declared dependencies pull torch and CUDA wheels, none of which
the map, forecasting and pose modules import), so the reference side runs as a subprocess
(`dump_av2.py`) that writes JSON. Compared within `TOLERANCE`:
- every lane boundary and pedestrian-crossing edge of every map (crossing edges as drivestack's
  crosswalk bounds, either edge on either side, edge2 possibly reversed);
- forecasting: every track's position, heading and velocity at every time step (the focal track
  against the recorded ego from its current step on, the focal having left the traffic);
- sensor logs: every cuboid's city-frame centre and heading (drivestack's `place_cuboids` against
  the devkit's SE(3) composition with the ego pose at the cuboid's timestamp), and the ego's pose at
  each of its timestamps.
The resampling of sensor-log tracks onto the 0.1 s grid is drivestack's own step, tested in
tests/data/formats/test_av2.py on logs with known motion.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivestack.core.geometry import angle_diff
from drivestack.core.scenario import Scenario
from drivestack.data.formats import av2

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AV2_PYTHON = PROJECT_ROOT / ".venv-crosscheck-av2" / "bin" / "python"
DUMP_SCRIPT = Path(__file__).with_name("dump_av2.py")
AV2_ROOT = (PROJECT_ROOT / ".." / "shared" / "data" / "argoverse2").resolve()
TOLERANCE = 1e-6  # [m], [rad], [m/s]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    units = sorted(path for path in AV2_ROOT.glob("*/*") if path.is_dir())
    if not units:
        pytest.skip(f"no Argoverse 2 samples under {AV2_ROOT}")
    if not AV2_PYTHON.exists():
        pytest.skip(
            f"reference interpreter {AV2_PYTHON} absent: make {AV2_PYTHON.parents[1].name}/.installed"
        )
    out = tmp_path_factory.mktemp("av2") / "reference.json"
    subprocess.run([str(AV2_PYTHON), str(DUMP_SCRIPT), "--out", str(out), *map(str, units)], check=True)
    dumps: dict[str, Any] = json.loads(out.read_text())
    return dumps


def assert_close(where: str, actual: np.ndarray, expected: Any) -> None:
    np.testing.assert_allclose(
        actual, np.asarray(expected, dtype=np.float64), rtol=0, atol=TOLERANCE, err_msg=where
    )


def check_map(scenario: Scenario, dump: dict[str, Any]) -> None:
    lanes = scenario.lane_graph.lanes
    assert len(lanes) == len(dump["lanes"]) + len(dump["crossings"])
    for lane_id, bounds in dump["lanes"].items():
        lane = lanes[int(lane_id)]
        assert_close(f"lane {lane_id} left", lane.left, bounds["left"])
        assert_close(f"lane {lane_id} right", lane.right, bounds["right"])
    for crossing_id, edges in dump["crossings"].items():
        lane = lanes[int(crossing_id)]
        assert lane.lane_types == ("crosswalk",)
        first, second = np.asarray(edges["edge1"]), np.asarray(edges["edge2"])
        ours = (
            [lane.left, lane.right]
            if np.allclose(lane.left, first, atol=TOLERANCE)
            else [lane.right, lane.left]
        )
        assert_close(f"crossing {crossing_id} edge1", ours[0], first)
        turned = second if np.allclose(ours[1], second, atol=TOLERANCE) else second[::-1]
        assert_close(f"crossing {crossing_id} edge2", ours[1], turned)


def check_forecasting(scenario: Scenario, dump: dict[str, Any]) -> None:
    tracks = scenario.tracks
    names = np.array(sorted(dump["tracks"]))
    ids = dict(zip(names.tolist(), av2._integer_ids(names).tolist(), strict=True))
    focal = dump["focal_track_id"]
    assert sorted(tracks.ids.tolist()) == sorted(ids[name] for name in names if name != focal)
    for name, states in dump["tracks"].items():
        steps = np.asarray(states["timestep"])
        if name == focal:
            human = scenario.recorded_egos[0].trajectory
            later = steps >= human.steps[0]
            assert human.steps.tolist() == steps[later].tolist()
            assert_close("focal x", human.x, np.asarray(states["x"])[later])
            assert_close("focal y", human.y, np.asarray(states["y"])[later])
            continue
        row = tracks.index_of(ids[name])
        assert np.flatnonzero(tracks.valid[row]).tolist() == steps.tolist(), name
        for ours, theirs in (("x", "x"), ("y", "y"), ("vx", "vx"), ("vy", "vy")):
            assert_close(f"track {name} {ours}", getattr(tracks, ours)[row, steps], states[theirs])
        heading_error = angle_diff(tracks.yaw[row, steps], np.asarray(states["heading"]))
        assert_close(f"track {name} heading", np.asarray(heading_error), np.zeros(len(steps)))


def check_sensor(unit: Path, dump: dict[str, Any]) -> None:
    annotations = next(unit.glob("annotations*.feather"))
    placed = av2.place_cuboids(annotations, unit / "city_SE3_egovehicle.feather")
    cuboids = dump["cuboids"]
    stamps = placed.start_ns + np.round(placed.seconds * 1e9).astype(np.int64)
    ours = {key: i for i, key in enumerate(zip(placed.uuid.tolist(), stamps.tolist(), strict=True))}
    rows = np.array([ours[key] for key in zip(cuboids["uuid"], cuboids["timestamp_ns"], strict=True)])
    assert len(rows) == len(placed.uuid)
    assert_close("cuboid x", placed.xy[rows, 0], cuboids["x"])
    assert_close("cuboid y", placed.xy[rows, 1], cuboids["y"])
    assert_close("cuboid yaw", np.asarray(angle_diff(placed.yaw[rows], np.asarray(cuboids["yaw"]))), 0.0)
    poses = dump["poses"]
    xy, yaw = placed.ego_pose((np.asarray(poses["timestamp_ns"]) - placed.start_ns) / 1e9)
    assert_close("ego x", xy[:, 0], poses["x"])
    assert_close("ego y", xy[:, 1], poses["y"])
    assert_close("ego yaw", np.asarray(angle_diff(yaw, np.asarray(poses["yaw"]))), 0.0)


def test_av2_reading_matches_the_reference_devkit(reference: dict[str, Any]) -> None:
    kinds = set()
    for unit_path, dump in reference.items():
        unit = Path(unit_path)
        scenario = av2.read(unit)
        check_map(scenario, dump)
        if dump["kind"] == "forecasting":
            check_forecasting(scenario, dump)
        else:
            check_sensor(unit, dump)
        kinds.add(dump["kind"])
    assert kinds == {"forecasting", "sensor"}
