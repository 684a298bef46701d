"""Dump what the reference devkit (`av2`) sees in Argoverse 2 units, one JSON for all inputs.

Run with the separate cross-check interpreter (`.venv-crosscheck-av2/bin/python`, see
av2-requirements.txt beside this file), never with drivestack's own: `av2` requires torch (and with
it CUDA wheels), so it is installed there with `--no-deps` next to the few packages the modules used
here import. It must not import drivestack, so it checks drivestack's reader independently.

Usage: dump_av2.py --out FILE UNIT [UNIT ...]

UNIT is a forecasting folder (`scenario_<id>.parquet` + `log_map_archive_<id>.json`) or a sensor-log
folder (`annotations*.feather`, `city_SE3_egovehicle.feather`, `map/log_map_archive_*.json`).
FILE maps each unit path to:
- kind: "forecasting" or "sensor";
- lanes {id: {left, right}} (the lane boundaries' [x, y] points [m]) and crossings {id: {edge1,
  edge2}}, from `ArgoverseStaticMap.from_json`;
- forecasting: focal_track_id, tracks {track_id: {timestep[], x[], y[], heading[], vx[], vy[]}} from
  `load_argoverse_scenario_parquet`;
- sensor: cuboids {uuid[], timestamp_ns[], x[], y[], yaw[]}: each annotation's pose composed with
  the ego's city pose at its timestamp (`read_city_SE3_ego`, `SE3.compose`), x/y the centre [m], yaw
  of the rotated x axis [rad]; poses {timestamp_ns[], x[], y[], yaw[]} the ego's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from av2.datasets.motion_forecasting.scenario_serialization import load_argoverse_scenario_parquet
from av2.geometry.geometry import quat_to_mat
from av2.geometry.se3 import SE3
from av2.map.map_api import ArgoverseStaticMap
from av2.utils.io import read_city_SE3_ego, read_feather


def yaw_of(rotation: np.ndarray) -> float:
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def map_dump(path: Path) -> dict[str, Any]:
    static_map = ArgoverseStaticMap.from_json(path)
    lanes = {
        str(lane_id): {
            "left": segment.left_lane_boundary.xyz[:, :2].tolist(),
            "right": segment.right_lane_boundary.xyz[:, :2].tolist(),
        }
        for lane_id, segment in static_map.vector_lane_segments.items()
    }
    crossings = {
        str(crossing_id): {
            "edge1": crossing.edge1.xyz[:, :2].tolist(),
            "edge2": crossing.edge2.xyz[:, :2].tolist(),
        }
        for crossing_id, crossing in static_map.vector_pedestrian_crossings.items()
    }
    return {"lanes": lanes, "crossings": crossings}


def forecasting_dump(folder: Path) -> dict[str, Any]:
    (parquet,) = folder.glob("scenario_*.parquet")
    (map_json,) = folder.glob("log_map_archive_*.json")
    scenario = load_argoverse_scenario_parquet(parquet)
    tracks = {}
    for track in scenario.tracks:
        states = track.object_states
        tracks[track.track_id] = {
            "timestep": [state.timestep for state in states],
            "x": [state.position[0] for state in states],
            "y": [state.position[1] for state in states],
            "heading": [state.heading for state in states],
            "vx": [state.velocity[0] for state in states],
            "vy": [state.velocity[1] for state in states],
        }
    return {
        "kind": "forecasting",
        "focal_track_id": scenario.focal_track_id,
        "tracks": tracks,
        **map_dump(map_json),
    }


def sensor_dump(folder: Path) -> dict[str, Any]:
    (annotations,) = folder.glob("annotations*.feather")
    (map_json,) = folder.glob("map/log_map_archive_*.json")
    city_SE3_ego = read_city_SE3_ego(folder)
    table = read_feather(annotations)
    rotations = quat_to_mat(table.loc[:, ["qw", "qx", "qy", "qz"]].to_numpy())
    translations = table.loc[:, ["tx_m", "ty_m", "tz_m"]].to_numpy()
    cuboids: dict[str, list[Any]] = {"uuid": [], "timestamp_ns": [], "x": [], "y": [], "yaw": []}
    for i, stamp in enumerate(table["timestamp_ns"].to_numpy()):
        city_SE3_object = city_SE3_ego[int(stamp)].compose(
            SE3(rotation=rotations[i], translation=translations[i])
        )
        cuboids["uuid"].append(str(table["track_uuid"].iloc[i]))
        cuboids["timestamp_ns"].append(int(stamp))
        cuboids["x"].append(float(city_SE3_object.translation[0]))
        cuboids["y"].append(float(city_SE3_object.translation[1]))
        cuboids["yaw"].append(yaw_of(city_SE3_object.rotation))
    stamps = sorted(city_SE3_ego)
    poses = {
        "timestamp_ns": [int(stamp) for stamp in stamps],
        "x": [float(city_SE3_ego[stamp].translation[0]) for stamp in stamps],
        "y": [float(city_SE3_ego[stamp].translation[1]) for stamp in stamps],
        "yaw": [yaw_of(city_SE3_ego[stamp].rotation) for stamp in stamps],
    }
    return {"kind": "sensor", "cuboids": cuboids, "poses": poses, **map_dump(map_json)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("units", type=Path, nargs="+")
    arguments = parser.parse_args()
    dumps = {}
    for unit in arguments.units:
        is_forecasting = any(unit.glob("scenario_*.parquet"))
        dumps[str(unit)] = forecasting_dump(unit) if is_forecasting else sensor_dump(unit)
    arguments.out.write_text(json.dumps(dumps))


if __name__ == "__main__":
    main()
