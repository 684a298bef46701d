"""Tiny Argoverse 2 units the tests write themselves: a forecasting scenario and a sensor log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from recorded_data import DATA_ROOT
from scipy.spatial.transform import Rotation

AV2_ROOT = DATA_ROOT / "argoverse2"
SCENARIO_ID = "c0ffee00-0000-4000-8000-000000000001"
EGO_SPEED = 5.0  # [m/s] of the sensor log's ego, driving north (yaw pi / 2) from (100, 0)
CUBOID_OFFSET = (10.0, 0.5)  # [m] of the sensor log's car in the ego frame (ahead, to the left)


def samples() -> list[Path]:
    """Every AV2 sample unit in the shared data (forecasting and sensor-log folders)."""
    return sorted(path for path in AV2_ROOT.glob("*/*") if path.is_dir())


def points(xy: np.ndarray) -> list[dict[str, float]]:
    return [{"x": float(x), "y": float(y), "z": 0.0} for x, y in xy]


def lane(lane_id: int, left: np.ndarray, right: np.ndarray, **fields: Any) -> dict[str, Any]:
    """An AV2 lane segment as the map JSON spells it."""
    return {
        "id": lane_id,
        "is_intersection": False,
        "lane_type": "VEHICLE",
        "left_lane_boundary": points(left),
        "right_lane_boundary": points(right),
        "left_lane_mark_type": "DASHED_WHITE",
        "right_lane_mark_type": "SOLID_WHITE",
        "left_neighbor_id": None,
        "right_neighbor_id": None,
        "predecessors": [],
        "successors": [],
        **fields,
    }


def road_map(along_y: bool = False) -> dict[str, Any]:
    """Two lanes 3.5 m wide along +x from 0 to 100 m (the second the first's successor, it names a
    successor 999 the map lacks), an oncoming lane to the left, and a crossing at x = 60 m.
    `along_y` turns it all by +90 degrees and shifts it so that lane 1 is centred on x = 100 m."""
    xs = np.array([0.0, 50.0])
    first = lane(1, np.c_[xs, [3.5, 3.5]], np.c_[xs, [0.0, 0.0]], successors=[2], left_neighbor_id=3)
    second = lane(
        2, np.c_[xs + 50, [3.5, 3.5]], np.c_[xs + 50, [0.0, 0.0]], predecessors=[1], successors=[999]
    )
    oncoming = lane(3, np.c_[xs[::-1], [3.5, 3.5]], np.c_[xs[::-1], [7.0, 7.0]], left_neighbor_id=1)
    crossing = {
        "id": 50,
        "edge1": points(np.array([[60.0, -1.0], [60.0, 8.0]])),
        "edge2": points(np.array([[63.0, 8.0], [63.0, -1.0]])),
    }
    data = {
        "drivable_areas": {},
        "lane_segments": {"1": first, "2": second, "3": oncoming},
        "pedestrian_crossings": {"50": crossing},
    }
    if along_y:
        turn = np.array([[0.0, 1.0], [-1.0, 0.0]])  # row vectors @ turn = +90 degrees

        def moved(polyline: list[dict[str, float]]) -> list[dict[str, float]]:
            xy = np.array([(p["x"], p["y"]) for p in polyline]) @ turn + [100.0 + 1.75, 0.0]
            return points(xy)

        for segment in data["lane_segments"].values():
            for key in ("left_lane_boundary", "right_lane_boundary"):
                segment[key] = moved(segment[key])
        for key in ("edge1", "edge2"):
            crossing[key] = moved(crossing[key])  # type: ignore[arg-type]
    return data


def forecast_rows() -> dict[str, list[Any]]:
    """110 steps: focal track "10" along lane 1 at 5 m/s, the AV behind it, a pedestrian "7" on the
    crossing for 30 steps; observed for the first 50 steps."""
    rows: dict[str, list[Any]] = {name: [] for name in ("track_id", "object_type", "timestep")}
    for name in ("position_x", "position_y", "heading", "velocity_x", "velocity_y", "observed"):
        rows[name] = []

    def add(track: str, kind: str, steps: range, x0: float, y0: float, vx: float, vy: float) -> None:
        for step in steps:
            rows["track_id"].append(track)
            rows["object_type"].append(kind)
            rows["timestep"].append(step)
            rows["position_x"].append(x0 + vx * 0.1 * step)
            rows["position_y"].append(y0 + vy * 0.1 * step)
            rows["heading"].append(float(np.arctan2(vy, vx)))
            rows["velocity_x"].append(vx)
            rows["velocity_y"].append(vy)
            rows["observed"].append(step < 50)

    add("10", "vehicle", range(110), 5.0, 1.75, 5.0, 0.0)
    add("AV", "vehicle", range(110), 0.0, 1.75, 4.0, 0.0)
    add("7", "pedestrian", range(20, 50), 61.5, -4.0, 0.0, 1.2)
    count = len(rows["track_id"])
    rows.update(
        scenario_id=[SCENARIO_ID] * count,
        focal_track_id=["10"] * count,
        city=["austin"] * count,
        object_category=[3] * count,
    )
    return rows


def write_forecast(folder: Path, rows: dict[str, list[Any]] | None = None) -> Path:
    """A forecasting unit in `folder` (created): the scenario Parquet and its map JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows or forecast_rows()), folder / f"scenario_{SCENARIO_ID}.parquet")
    (folder / f"log_map_archive_{SCENARIO_ID}.json").write_text(json.dumps(road_map()))
    return folder


def quaternions(yaw: np.ndarray) -> dict[str, np.ndarray]:
    """AV2's (qw, qx, qy, qz) columns of rotations by `yaw` [rad] about z."""
    x, y, z, w = Rotation.from_euler("z", np.reshape(yaw, (-1, 1))).as_quat().T
    return {"qw": w, "qx": x, "qy": y, "qz": z}


def write_sensor_log(folder: Path, with_ego: bool = False) -> Path:
    """A 3 s sensor log in `folder`: ego poses at 200 Hz, sweeps about every 0.1 s with +-3 ms jitter;
    a car at `CUBOID_OFFSET` in the ego frame, heading with it, seen on every sweep; a pedestrian
    seen on sweeps 0-9 and 15-29 (a 0.6 s gap). `with_ego` adds the ego's own cuboids."""
    (folder / "map").mkdir(parents=True, exist_ok=True)
    start = 315_966_000_000_000_000
    pose_ns = start - 50_000_000 + np.arange(0, 3_200_000_000, 5_000_000, dtype=np.int64)
    seconds = (pose_ns - start) / 1e9
    yaw = np.full(len(pose_ns), np.pi / 2)
    poses = {"timestamp_ns": pose_ns, **quaternions(yaw)}
    poses.update(tx_m=np.full(len(pose_ns), 100.0), ty_m=EGO_SPEED * seconds, tz_m=np.zeros(len(pose_ns)))
    feather.write_feather(pa.table(poses), folder / "city_SE3_egovehicle.feather")

    jitter = np.array([0, 3, -2, 1, -3, 2, 0, -1, 3, -2] * 3) * 1_000_000
    sweeps = start + np.arange(30, dtype=np.int64) * 100_000_000 + jitter
    rows: dict[str, list[Any]] = {
        name: [] for name in ("timestamp_ns", "track_uuid", "category", "length_m", "width_m", "height_m")
    }
    rows.update({name: [] for name in ("qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m", "num_interior_pts")})

    def add(stamp: int, uuid: str, category: str, size: tuple[float, float], xy: tuple[float, float]) -> None:
        for name, value in zip(
            ("timestamp_ns", "track_uuid", "category", "length_m", "width_m", "height_m"),
            (stamp, uuid, category, size[0], size[1], 1.5),
            strict=True,
        ):
            rows[name].append(value)
        for name, value in quaternions(np.array([0.0])).items():
            rows[name].append(float(value[0]))
        rows["tx_m"].append(xy[0])
        rows["ty_m"].append(xy[1])
        rows["tz_m"].append(0.0)
        rows["num_interior_pts"].append(10)

    for k, stamp in enumerate(sweeps.tolist()):
        add(stamp, "b7c1-car", "REGULAR_VEHICLE", (4.5, 1.9), CUBOID_OFFSET)
        if k < 10 or k >= 15:
            add(stamp, "0a2e-walker", "PEDESTRIAN", (0.6, 0.6), (20.0, -6.0))
        if with_ego:
            add(stamp, "e90-ego", "EGO_VEHICLE", (4.877, 2.0), (0.0, 0.0))
    name = "annotations_with_ego.feather" if with_ego else "annotations.feather"
    feather.write_feather(pa.table(rows), folder / name)
    (folder / "map" / "log_map_archive_test____PIT_city_1.json").write_text(
        json.dumps(road_map(along_y=True))
    )
    (folder / "map" / "test___img_Sim2_city.json").write_text(
        json.dumps({"R": [1, 0, 0, 1], "t": [0, 0], "s": 3})
    )
    return folder
