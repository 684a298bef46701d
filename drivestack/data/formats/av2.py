"""Argoverse 2 reader: motion-forecasting scenarios and sensor-dataset annotation logs into core types.

A unit is a folder, recognised by its files' content (Parquet/Arrow magic and column names, a JSON
object with AV2 map keys), never by file names alone:
- forecasting: a scenario Parquet (one row per track and time step: position, heading, velocity,
  object type, `focal_track_id`, `city`) and its map JSON (`log_map_archive_<id>.json`);
- sensor log: an annotations Feather (`annotations.feather` / `annotations_with_ego.feather`: cuboids
  in the ego frame per lidar sweep, keyed by track uuid), the ego's city poses
  (`city_SE3_egovehicle.feather`, quaternion + translation per timestamp [ns]) and `map/<map JSON>`.

Conventions of this reader:
- Time grid: `DT` = 0.1 s. Forecasting rows sit on it already (`timestep`); sensor-log cuboids are
  placed in the city frame with the ego pose at their own timestamp (translation interpolated
  linearly, rotation by slerp), then resampled per track onto steps t0 + k * DT (t0: the first sweep).
  A track is valid at a grid time between two of its samples at most `MAX_GAP` apart, or within
  `HOLD` of one sample (sweeps jitter by a few ms); values there are interpolated linearly (yaw
  along the shorter arc), and extrapolated along the end segment within `HOLD` of a track's ends.
  Position and yaw use the cuboid's centre and its rotation composed with the ego's (roll and
  pitch dropped); height, z and `num_interior_pts` are dropped.
- Kinematics (`_log.log_tracks`): forecasting velocities are the file's; sensor-log velocities are
  the positions' rate of change. speed = velocity along the heading; acceleration and yaw rate are
  finite differences over consecutive valid steps (central, one-sided at a track's ends).
- Track ids: a name that is a canonical decimal integer keeps its value; other names (the
  forecasting AV's "AV", sensor uuids) get the next integers after the largest, in sorted order.
- Types and sizes: see `FORECAST_TYPES` (AV2 forecasting gives no sizes: per-type defaults, the
  median cuboid of that kind in AV2 sensor annotations) and `SENSOR_TYPES` (sizes from the cuboids,
  each track's median). Unknown type names become `AgentType.UNKNOWN`.
- The recorded ego (`_log.problem_from_track`): in forecasting the focal track, from the last
  observed step of its history (step 49 in AV2); its track leaves the traffic, the AV stays in it.
  In sensor logs the ego vehicle from its poses (`EGO_SIZE`, or the size its `EGO_VEHICLE` cuboids
  give), from `SENSOR_HISTORY` after the first sweep; `EGO_VEHICLE` cuboids are not traffic.
- Map: lane segments become lanes (left/right bounds, centre = midpoints of the bounds resampled by
  arc length, predecessors, successors, left/right neighbours with their direction compared,
  `is_intersection` -> lane type "intersection", lane type VEHICLE/BUS/BIKE -> CommonRoad's
  urban/busLane/bicycleLane with users vehicle/bus/bicycle, lane marks -> CommonRoad line markings).
  Pedestrian crossings become "crosswalk" lanes between their two edges, for pedestrians both ways
  (one whose id a lane segment has is dropped with a warning). A reference to a lane the map does
  not hold (AV2 maps are crops) is dropped with one warning per map. Dropped: drivable areas (core
  keeps the lanes' union as the road), z coordinates, the forecasting map's own centerlines, the
  sensor log's raster alignment (`*_Sim2_city.json`), AV2's track categories
  (fragment/unscored/scored) and timestamps. AV2 has no traffic lights, signs or speed limits.
- Bounds: files larger than `MAX_FILE_BYTES`, tables of more than `MAX_ROWS` rows, grids of more than
  `MAX_TRACK_CELLS` cells are rejected before they are read (or gridded).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation, Slerp

from drivestack.core.errors import InputError, InputWarning
from drivestack.core.limits import DEFAULT_READER_LIMITS
from drivestack.core.map import FloatArray, Lane, LaneGraph, Neighbour
from drivestack.core.scenario import AgentType, BoolArray, IntArray, Scenario, Tracks
from drivestack.data.formats._log import MAX_COORDINATE, drop_agent, log_tracks, problem_from_track, step_rate
from drivestack.data.formats._waymo_map import AreaFeature, LineFeature, SourceMap
from drivestack.data.formats.commonroad import centerline_between

FORMAT = "av2"
DT = 0.1
"""Time step [s] of every AV2 scenario this reader produces (AV2 forecasting and sweeps: 10 Hz)."""
MAX_GAP = 0.35
"""Longest gap [s] between two samples of a sensor-log track that is interpolated (two missed sweeps)."""
HOLD = 0.25 * DT
"""How far [s] beyond a sensor-log track's end samples it still covers a grid time (sweep jitter)."""
SENSOR_HISTORY = 1.0
"""History [s] before a sensor log's planning problem starts (WOMD's is 1.1 s, AV2 forecasting's 5 s)."""
EGO_SIZE = (4.877, 2.0)
"""(length, width) [m] of the AV2 ego vehicle, as its `EGO_VEHICLE` cuboids give it."""
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_MAP_BYTES = 64 * 1024 * 1024
"""Largest map JSON read (parsed JSON takes several times its size; AV2 log maps are 0.1-3 MB)."""
MAX_ROWS = 5_000_000
MAX_STEPS = 1_000_000
MAX_TRACK_CELLS = DEFAULT_READER_LIMITS.max_track_cells
SNIFF_BYTES = 4096

_MAP_KEYS = ("lane_segments", "pedestrian_crossings", "drivable_areas")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")

# AV2 forecasting object types: (core type, (length, width) [m]).
FORECAST_TYPES: dict[str, tuple[AgentType, tuple[float, float]]] = {
    "vehicle": (AgentType.CAR, (4.2, 1.9)),
    "bus": (AgentType.BUS, (11.6, 2.9)),
    "motorcyclist": (AgentType.MOTORCYCLE, (1.8, 0.6)),
    "cyclist": (AgentType.BICYCLE, (1.6, 0.6)),
    "riderless_bicycle": (AgentType.BICYCLE, (1.6, 0.6)),
    "pedestrian": (AgentType.PEDESTRIAN, (0.7, 0.7)),
    "construction": (AgentType.CONSTRUCTION_ZONE, (0.5, 0.5)),
    "static": (AgentType.UNKNOWN, (0.5, 0.5)),
    "background": (AgentType.UNKNOWN, (0.5, 0.5)),
    "unknown": (AgentType.UNKNOWN, (0.5, 0.5)),
}
_FORECAST_DEFAULT = (AgentType.UNKNOWN, (0.5, 0.5))

# AV2 sensor annotation categories (upper case) -> core type; sizes come from the cuboids.
SENSOR_TYPES: dict[str, AgentType] = {
    "REGULAR_VEHICLE": AgentType.CAR,
    "LARGE_VEHICLE": AgentType.TRUCK,
    "BOX_TRUCK": AgentType.TRUCK,
    "TRUCK": AgentType.TRUCK,
    "TRUCK_CAB": AgentType.TRUCK,
    "VEHICULAR_TRAILER": AgentType.TRUCK,
    "MESSAGE_BOARD_TRAILER": AgentType.TRUCK,
    "TRAFFIC_LIGHT_TRAILER": AgentType.TRUCK,
    "BUS": AgentType.BUS,
    "SCHOOL_BUS": AgentType.BUS,
    "ARTICULATED_BUS": AgentType.BUS,
    "RAILED_VEHICLE": AgentType.TRAIN,
    "MOTORCYCLE": AgentType.MOTORCYCLE,
    "MOTORCYCLIST": AgentType.MOTORCYCLE,
    "BICYCLE": AgentType.BICYCLE,
    "BICYCLIST": AgentType.BICYCLE,
    "WHEELED_RIDER": AgentType.BICYCLE,
    "WHEELED_DEVICE": AgentType.BICYCLE,
    "PEDESTRIAN": AgentType.PEDESTRIAN,
    "OFFICIAL_SIGNALER": AgentType.PEDESTRIAN,
    "STROLLER": AgentType.PEDESTRIAN,
    "WHEELCHAIR": AgentType.PEDESTRIAN,
    "BOLLARD": AgentType.PILLAR,
    "CONSTRUCTION_CONE": AgentType.CONSTRUCTION_ZONE,
    "CONSTRUCTION_BARREL": AgentType.CONSTRUCTION_ZONE,
    "MOBILE_PEDESTRIAN_CROSSING_SIGN": AgentType.CONSTRUCTION_ZONE,
}
_EGO_CATEGORY = "EGO_VEHICLE"

# AV2 lane types -> (CommonRoad lanelet type, users).
_LANE_TYPES = {"VEHICLE": ("urban", "vehicle"), "BUS": ("busLane", "bus"), "BIKE": ("bicycleLane", "bicycle")}
# AV2 lane mark types -> CommonRoad line markings, by the mark's pattern (colour dropped).
_MARKINGS = (("NONE", "no_marking"), ("DASH_SOLID", "solid"), ("SOLID", "solid"), ("DASH", "dashed"))

_Check = Callable[[pa.DataType], bool]


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type))
    )


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_floating(kind) or pa.types.is_integer(kind))


FORECAST_COLUMNS: dict[str, _Check] = {
    "track_id": _is_text,
    "object_type": _is_text,
    "timestep": pa.types.is_integer,
    "position_x": _is_number,
    "position_y": _is_number,
    "heading": _is_number,
    "velocity_x": _is_number,
    "velocity_y": _is_number,
    "observed": pa.types.is_boolean,
    "scenario_id": _is_text,
    "focal_track_id": _is_text,
    "city": _is_text,
}
_QUATERNION: dict[str, _Check] = {
    name: _is_number for name in ("qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m")
}
POSE_COLUMNS: dict[str, _Check] = {"timestamp_ns": pa.types.is_integer, **_QUATERNION}
ANNOTATION_COLUMNS: dict[str, _Check] = {
    "timestamp_ns": pa.types.is_integer,
    "track_uuid": _is_text,
    "category": _is_text,
    "length_m": _is_number,
    "width_m": _is_number,
    **_QUATERNION,
}


# Columns that identify a table's kind when sniffing (the others are checked, and named, on reading).
_FORECAST_KEYS = ("scenario_id", "track_id", "timestep", "focal_track_id")
_ANNOTATION_KEYS = ("timestamp_ns", "track_uuid", "category")
_POSE_KEYS = ("timestamp_ns", "qw", "tx_m")
_DAMAGED = "damaged"
_RASTER_KEYS = ("R", "t", "s")  # the sensor log's `*_Sim2_city.json` raster alignment


@dataclass(frozen=True)
class _Forecast:
    """A forecasting unit: its scenario Parquet files and its map JSON."""

    scenarios: tuple[Path, ...]
    map_json: Path


@dataclass(frozen=True)
class _SensorLog:
    """A sensor-log unit: annotations, ego poses and map JSON."""

    annotations: Path
    poses: Path
    map_json: Path


# ---------------------------------------------------------------------------------------------- unit


def sniff(path: Path) -> bool:
    """True when `path` is an AV2 forecasting scenario folder or sensor-log folder (reads a few kB)."""
    return _unit(Path(path)) is not None


def members(path: Path) -> list[str]:
    """The scenarios of the unit: [""] for one, else one token (the Parquet file name) per scenario."""
    unit = _require_unit(Path(path))
    if isinstance(unit, _Forecast) and len(unit.scenarios) > 1:
        return [scenario.name for scenario in unit.scenarios]
    return [""]


def read(path: Path, member: str | None = None) -> Scenario:
    """Read one scenario of the AV2 unit at `path` (`member` from `members`, "" or None for the only one).

    Raises InputError naming the file and the problem for anything the reader cannot take.
    """
    folder = Path(path)
    unit = _require_unit(folder)
    if isinstance(unit, _SensorLog):
        if member:
            raise InputError(folder, None, f"a sensor log holds one scenario; unknown member {member[:40]!r}")
        return _read_sensor_log(folder, unit)
    if member:
        chosen = [scenario for scenario in unit.scenarios if scenario.name == member]
        if not chosen:
            raise InputError(folder, None, f"no forecasting scenario {member[:40]!r} in this folder")
        return _read_forecast(chosen[0], unit.map_json)
    if len(unit.scenarios) > 1:
        raise InputError(folder, None, f"holds {len(unit.scenarios)} scenarios: name one of them")
    return _read_forecast(unit.scenarios[0], unit.map_json)


def _require_unit(folder: Path) -> _Forecast | _SensorLog:
    unit = _unit(folder)
    if unit is None:
        raise InputError(
            folder,
            None,
            "not an Argoverse 2 unit (expected a scenario Parquet + map JSON, or annotations + "
            "city_SE3_egovehicle Feather files + map/<map JSON>)",
        )
    return unit


def _unit(folder: Path) -> _Forecast | _SensorLog | None:
    """The AV2 unit in `folder`, recognised by its files' content, or None.

    A table whose footer cannot be read but whose magic bytes are right counts as damaged and is
    claimed where the layout leaves it one role (its reading then names the damage); a map JSON that
    does not parse is claimed where it is the only JSON file of its place (see `_map_file`).
    """
    if not folder.is_dir():
        return None
    files = sorted(entry for entry in folder.iterdir() if entry.is_file())
    parquets = {f: _role(f, {"scenario": _FORECAST_KEYS}, _parquet_schema, b"PAR1") for f in files}
    scenarios = tuple(f for f, role in parquets.items() if role in ("scenario", _DAMAGED))
    if scenarios:
        map_json = _map_file(files)
        return _Forecast(scenarios, map_json) if map_json is not None else None
    roles: dict[str, tuple[str, ...]] = {"annotations": _ANNOTATION_KEYS, "poses": _POSE_KEYS}
    tables = {f: _role(f, roles, _feather_schema, b"ARROW1") for f in files}
    found = {role: [f for f, kind in tables.items() if kind == role] for role in (*roles, _DAMAGED)}
    missing = [role for role in roles if not found[role]]
    if len(missing) == 1 and len(found[_DAMAGED]) == 1:
        found[missing[0]] = found[_DAMAGED]
    map_folder = folder / "map"
    if len(found["annotations"]) != 1 or len(found["poses"]) != 1 or not map_folder.is_dir():
        return None
    map_json = _map_file(sorted(entry for entry in map_folder.iterdir() if entry.is_file()))
    return _SensorLog(found["annotations"][0], found["poses"][0], map_json) if map_json is not None else None


def _map_file(files: Iterable[Path]) -> Path | None:
    """The map among `files`: the one JSON whose first bytes hold an object with an AV2 map key, else
    the only JSON file that is not a raster alignment (`{"R", "t", "s"}`); None when ambiguous."""
    maps, others = [], []
    for file in files:
        if file.suffix != ".json":
            continue
        with file.open("rb") as handle:
            head = handle.read(SNIFF_BYTES).lstrip()
        if head.startswith(b"{") and any(f'"{key}"'.encode() in head for key in _MAP_KEYS):
            maps.append(file)
        elif not (head.startswith(b"{") and all(f'"{key}"'.encode() in head for key in _RASTER_KEYS)):
            others.append(file)
    candidates = maps or others
    return candidates[0] if len(candidates) == 1 else None


def _parquet_schema(path: Path) -> pa.Schema:
    return pq.read_schema(path)


def _feather_schema(path: Path) -> pa.Schema:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).schema


def _role(
    path: Path, roles: dict[str, tuple[str, ...]], schema_of: Callable[[Path], pa.Schema], magic: bytes
) -> str | None:
    """The role whose key columns `path`'s table schema names; `_DAMAGED` for a file that starts with
    the format's `magic` but whose schema cannot be read; None for anything else."""
    try:
        names = schema_of(path).names
    except (pa.ArrowException, OSError, ValueError):  # ValueError: also names that are not UTF-8
        with path.open("rb") as handle:
            return _DAMAGED if handle.read(len(magic)) == magic else None
    return next((role for role, keys in roles.items() if all(name in names for name in keys)), None)


# -------------------------------------------------------------------------------------------- tables


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _check_size(path: Path, limit: int = MAX_FILE_BYTES) -> None:
    size = path.stat().st_size
    if size > limit:
        raise InputError(path, None, f"{size} bytes exceed the limit of {limit}")


def _table(path: Path, columns: dict[str, _Check], kind: str) -> dict[str, np.ndarray]:
    """The `columns` of the Parquet or Feather (Arrow IPC) file `path` as numpy arrays, checked.

    Raises InputError for an unreadable file, missing columns, wrong types, nulls or too many rows.
    """
    _check_size(path)
    try:
        if kind == "Parquet":
            parquet = pq.ParquetFile(path)
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
            load: Callable[[], pa.Table] = lambda: parquet.read(columns=list(columns))  # noqa: E731
        else:
            reader = ipc.open_file(pa.memory_map(str(path)))
            schema, rows = reader.schema, reader.count_rows()
            load = lambda: reader.read_all().select(list(columns))  # noqa: E731
        missing = [name for name in columns if name not in schema.names]
        if missing:
            raise InputError(path, None, f"missing columns {', '.join(missing)} (not an AV2 {kind} table)")
        wrong = [name for name, check in columns.items() if not check(schema.field(name).type)]
        if wrong:
            kinds = ", ".join(f"{name} is {schema.field(name).type}" for name in wrong)
            raise InputError(path, None, f"columns of the wrong type: {kinds}")
        if rows > MAX_ROWS:
            raise InputError(path, None, f"{rows} rows exceed the limit of {MAX_ROWS}")
        table = load()
        table.validate(full=True)  # offsets, UTF-8: a damaged body fails here, not in numpy
        columns_read = {name: _column(path, name, table.column(name)) for name in columns}
    except (pa.ArrowException, OSError, ValueError) as error:
        raise InputError(path, None, f"not a readable {kind} file ({_first_line(error)})") from None
    return columns_read


def _column(path: Path, name: str, column: pa.ChunkedArray) -> np.ndarray:
    """A checked column as a numpy array: no nulls, finite floats (strings as objects)."""
    if column.null_count:
        raise InputError(path, name, f"{column.null_count} missing values")
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, pa.string())
    values = column.to_numpy()
    if values.dtype.kind == "f" and not (np.abs(values) <= MAX_COORDINATE).all():
        raise InputError(path, name, f"holds NaN, infinite or values beyond +-{MAX_COORDINATE:g}")
    return values


def _read_json(path: Path) -> Any:
    _check_size(path, MAX_MAP_BYTES)
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError) as error:
        raise InputError(path, None, f"not valid JSON ({_first_line(error)})") from None


def _single(path: Path, values: np.ndarray, name: str) -> str:
    """The one value every row of column `name` holds."""
    distinct = np.unique(values)
    if len(distinct) != 1:
        raise InputError(
            path, name, f"holds {len(distinct)} different values (expected one scenario per file)"
        )
    return str(distinct[0])


def _safe_id(path: Path, value: str, element: str) -> str:
    if not _SAFE_ID.match(value):
        raise InputError(path, element, f"{value[:40]!r} is not an id (letters, digits, '_', '.', '-')")
    return value


def _integer_ids(names: np.ndarray) -> IntArray:
    """Stable integer ids for unique track `names` (K,): canonical decimal integers keep their value,
    the others follow the largest in sorted order."""
    numeric = np.array(
        [name.isdigit() and str(int(name)) == name and len(name) < 16 for name in names], dtype=bool
    )
    ids = np.zeros(len(names), dtype=np.int64)
    ids[numeric] = [int(name) for name in names[numeric]]
    start = int(ids[numeric].max()) + 1 if numeric.any() else 1
    others = np.flatnonzero(~numeric)
    ids[others[np.argsort(names[others], kind="stable")]] = start + np.arange(len(others))
    return ids


# ------------------------------------------------------------------------------------------- tracks


def _tracks(
    ids: IntArray,
    kinds: list[AgentType],
    sizes: FloatArray,
    valid: BoolArray,
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    velocity: tuple[FloatArray, FloatArray] | None = None,
) -> Tracks:
    """Tracks (`_log.log_tracks`) from (agents, steps) grids of positions [m] and yaw [rad], NaN
    where not `valid`, and `sizes` (agents, 2) [m]; `velocity` (vx, vy) [m/s] grids where the file
    gives them, else the positions' rate of change over consecutive valid steps."""
    vx, vy = (
        velocity
        if velocity is not None
        else (step_rate(x, valid, DT, angular=False), step_rate(y, valid, DT, angular=False))
    )
    length, width = (np.repeat(sizes[:, k : k + 1], valid.shape[1], axis=1) for k in (0, 1))
    return log_tracks(ids, tuple(kinds), x, y, yaw, vx, vy, length, width, valid, DT)


def _check_cells(path: Path, agents: int, steps: int) -> None:
    if steps > MAX_STEPS or agents * steps > MAX_TRACK_CELLS:
        raise InputError(
            path, None, f"{agents} tracks over {steps} steps exceed the limit of {MAX_TRACK_CELLS} grid cells"
        )


# --------------------------------------------------------------------------------------- forecasting


def _read_forecast(parquet: Path, map_json: Path) -> Scenario:
    """One forecasting scenario: tracks on the 10 Hz grid, the focal track as the recorded ego."""
    table = _table(parquet, FORECAST_COLUMNS, "Parquet")
    scenario_id = _safe_id(parquet, _single(parquet, table["scenario_id"], "scenario_id"), "scenario_id")
    focal = _single(parquet, table["focal_track_id"], "focal_track_id")
    city = _single(parquet, table["city"], "city")
    steps = table["timestep"].astype(np.int64)
    if len(steps) == 0:
        raise InputError(parquet, None, "holds no rows")
    if steps.min() < 0 or steps.max() >= MAX_STEPS:
        raise InputError(parquet, "timestep", f"values must lie in [0, {MAX_STEPS})")
    names, agent = np.unique(table["track_id"], return_inverse=True)
    num_steps = int(steps.max()) + 1
    _check_cells(parquet, len(names), num_steps)
    valid = np.zeros((len(names), num_steps), dtype=bool)
    valid[agent, steps] = True
    if valid.sum() != len(steps):
        raise InputError(parquet, "track_id, timestep", "a track has two rows for one time step")

    def grid(name: str) -> FloatArray:
        out = np.full(valid.shape, np.nan)
        out[agent, steps] = table[name]
        return out

    first_rows = np.unique(agent, return_index=True)[1]
    typed = [FORECAST_TYPES.get(str(kind), _FORECAST_DEFAULT) for kind in table["object_type"][first_rows]]
    ids = _integer_ids(names)
    tracks = _tracks(
        ids,
        [kind for kind, _ in typed],
        np.array([size for _, size in typed], dtype=np.float64).reshape(-1, 2),
        valid,
        grid("position_x"),
        grid("position_y"),
        grid("heading"),
        (grid("velocity_x"), grid("velocity_y")),
    )
    focal_rows = np.flatnonzero(names == focal)
    if len(focal_rows) == 0:
        raise InputError(parquet, "focal_track_id", f"names track {focal[:40]!r}, which has no rows")
    row = int(focal_rows[0])
    observed = steps[(agent == row) & table["observed"]]
    if len(observed) == 0:
        raise InputError(parquet, "observed", f"the focal track {focal[:40]!r} has no observed step")
    warnings: list[InputWarning] = []
    map_id = f"av2-{_safe_id(parquet, city, 'city')}-{scenario_id}"
    lane_graph = _read_map(map_json, map_id, warnings)
    problem, recorded = problem_from_track(tracks, row, int(observed.max()), lane_graph, DT, source=parquet)
    return Scenario(
        scenario_id=scenario_id,
        dt=DT,
        num_steps=num_steps,
        lane_graph=lane_graph,
        tracks=drop_agent(tracks, row),
        planning_problems=(problem,),
        recorded_egos=(recorded,),
        format_version=FORMAT,
        source=f"Argoverse 2 motion forecasting ({city})",
        source_file=str(parquet),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------- sensor log


def _rotations(columns: dict[str, np.ndarray]) -> Rotation:
    """Rotations of the (qw, qx, qy, qz) columns (scipy takes scalar-last quaternions)."""
    return Rotation.from_quat(np.stack([columns["qx"], columns["qy"], columns["qz"], columns["qw"]], axis=1))


@dataclass(frozen=True, eq=False)
class CityCuboids:
    """A sensor log's cuboids placed in the city frame, one row per annotation (N rows).

    `seconds` (N,) [s] after `start_ns` (the first sweep); `xy` (N, 2) [m] the cuboid centre; `yaw`
    (N,) [rad] of its x axis; `length`, `width` (N,) [m]; `uuid`, `category` (N,) strings.
    `ego_pose(seconds)` gives the ego's city position (M, 2) [m] and yaw (M,) [rad] at any time
    within its poses (translation interpolated linearly, rotation by slerp).
    """

    start_ns: int
    seconds: FloatArray
    xy: FloatArray
    yaw: FloatArray
    length: FloatArray
    width: FloatArray
    uuid: NDArray[np.str_]
    category: NDArray[np.str_]
    pose_seconds: FloatArray
    pose_translation: FloatArray
    pose_rotation: Slerp

    def ego_at(self, seconds: FloatArray) -> tuple[Rotation, FloatArray]:
        """The ego's rotation and translation (M, 3) [m] at `seconds` (M,)."""
        axes = [np.interp(seconds, self.pose_seconds, axis) for axis in self.pose_translation.T]
        return self.pose_rotation(seconds), np.stack(axes, axis=1)

    def ego_pose(self, seconds: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The ego's city position (M, 2) [m] and yaw (M,) [rad] at `seconds` (M,)."""
        rotation, translation = self.ego_at(seconds)
        return translation[:, :2], _yaw(rotation)


def _yaw(rotation: Rotation) -> FloatArray:
    """Heading [rad] of each rotation's x axis in the x-y plane."""
    matrix = rotation.as_matrix().reshape(-1, 3, 3)
    return np.arctan2(matrix[:, 1, 0], matrix[:, 0, 0])


def place_cuboids(annotations: Path, poses_file: Path) -> CityCuboids:
    """The cuboids of an AV2 annotations Feather (ego frame) in the city frame of the ego's poses
    (`city_SE3_egovehicle.feather`), each with the ego's pose at its own timestamp.

    Raises InputError for unreadable tables, bad rotations or cuboids outside the poses' time span.
    """
    cuboids = _table(annotations, ANNOTATION_COLUMNS, "Feather")
    poses = _table(poses_file, POSE_COLUMNS, "Feather")
    pose_ns = poses["timestamp_ns"].astype(np.int64)
    if len(pose_ns) < 2 or np.any(np.diff(pose_ns) <= 0):
        raise InputError(poses_file, "timestamp_ns", "needs two or more strictly increasing timestamps")
    stamps = cuboids["timestamp_ns"].astype(np.int64)
    if len(stamps) == 0:
        raise InputError(annotations, None, "holds no cuboids")
    outside = (stamps < pose_ns[0]) | (stamps > pose_ns[-1])
    if outside.any():
        raise InputError(
            annotations, "timestamp_ns", f"{int(outside.sum())} cuboids lie outside the ego poses' time span"
        )
    start = int(stamps.min())
    pose_seconds = (pose_ns - start) / 1e9
    try:
        pose_rotation = Slerp(pose_seconds, _rotations(poses))
    except ValueError as error:
        raise InputError(poses_file, "qw, qx, qy, qz", f"not rotations ({_first_line(error)})") from None
    try:
        object_rotation = _rotations(cuboids)
    except ValueError as error:
        raise InputError(annotations, "qw, qx, qy, qz", f"not rotations ({_first_line(error)})") from None
    translation = np.stack([poses["tx_m"], poses["ty_m"], poses["tz_m"]], axis=1)
    placed = CityCuboids(
        start_ns=start,
        seconds=(stamps - start) / 1e9,
        xy=np.zeros((0, 2)),
        yaw=np.zeros(0),
        length=cuboids["length_m"].astype(np.float64),
        width=cuboids["width_m"].astype(np.float64),
        uuid=cuboids["track_uuid"].astype(str),
        category=cuboids["category"].astype(str),
        pose_seconds=pose_seconds,
        pose_translation=translation,
        pose_rotation=pose_rotation,
    )
    rotation, offset = placed.ego_at(placed.seconds)
    local = np.stack([cuboids["tx_m"], cuboids["ty_m"], cuboids["tz_m"]], axis=1)
    xy = (rotation.apply(local) + offset)[:, :2]
    return dataclasses.replace(placed, xy=xy, yaw=_yaw(rotation * object_rotation))


def _read_sensor_log(folder: Path, unit: _SensorLog) -> Scenario:
    """One sensor log: cuboids placed in the city frame and resampled to `DT`, the ego from its poses."""
    placed = place_cuboids(unit.annotations, unit.poses)
    seconds, xy, yaw = placed.seconds, placed.xy, placed.yaw
    num_steps = int(np.floor(seconds.max() / DT + 0.5)) + 1

    is_ego = placed.category == _EGO_CATEGORY
    names, agent = np.unique(placed.uuid[~is_ego], return_inverse=True)
    _check_cells(unit.annotations, len(names) + 1, num_steps)
    order = np.lexsort((seconds[~is_ego], agent))
    per_agent = np.split(order, np.cumsum(np.bincount(agent, minlength=len(names)))[:-1])
    sample_xy, sample_yaw, sample_seconds = xy[~is_ego], yaw[~is_ego], seconds[~is_ego]
    grid_seconds = np.arange(num_steps, dtype=np.float64) * DT
    valid = np.zeros((len(names) + 1, num_steps), dtype=bool)
    x, y, heading = (np.full(valid.shape, np.nan) for _ in range(3))
    for row, rows in enumerate(per_agent):  # one pass of numpy interpolation per track
        at = sample_seconds[rows]
        if np.any(np.diff(at) <= 0):
            raise InputError(
                unit.annotations, f"track {names[row][:40]!r}", "has two cuboids at one timestamp"
            )
        inside = _resampled_steps(at, grid_seconds)
        valid[row, inside] = True
        x[row, inside] = _interpolated(grid_seconds[inside], at, sample_xy[rows, 0])
        y[row, inside] = _interpolated(grid_seconds[inside], at, sample_xy[rows, 1])
        heading[row, inside] = _interpolated(grid_seconds[inside], at, np.unwrap(sample_yaw[rows]))

    covered = grid_seconds <= placed.pose_seconds[-1]
    ego_xy, ego_yaw = placed.ego_pose(grid_seconds[covered])
    valid[-1, covered] = True
    x[-1, covered], y[-1, covered], heading[-1, covered] = ego_xy[:, 0], ego_xy[:, 1], ego_yaw

    lengths, widths = placed.length, placed.width
    ego_size = (np.median(lengths[is_ego]), np.median(widths[is_ego])) if is_ego.any() else EGO_SIZE
    sample_sizes = np.stack([lengths[~is_ego], widths[~is_ego]], axis=1)
    sizes = np.array([np.median(sample_sizes[rows], axis=0) for rows in per_agent] + [ego_size]).reshape(
        -1, 2
    )
    first_rows = np.unique(agent, return_index=True)[1]
    kinds = [SENSOR_TYPES.get(str(kind), AgentType.UNKNOWN) for kind in placed.category[~is_ego][first_rows]]
    ids = _integer_ids(names)
    ego_id = int(ids.max()) + 1 if len(ids) else 1
    tracks = _tracks(np.append(ids, ego_id), [*kinds, AgentType.CAR], sizes, valid, x, y, heading)

    log_id = re.sub(r"[^A-Za-z0-9_.\-]", "_", folder.resolve().name)[:128] or "av2-log"
    warnings: list[InputWarning] = []
    lane_graph = _read_map(unit.map_json, f"av2-{log_id}", warnings)
    ego_row = tracks.num_agents - 1
    current = min(round(SENSOR_HISTORY / DT), num_steps - 1)
    problem, recorded = problem_from_track(tracks, ego_row, current, lane_graph, DT, source=unit.poses)
    return Scenario(
        scenario_id=log_id,
        dt=DT,
        num_steps=num_steps,
        lane_graph=lane_graph,
        tracks=drop_agent(tracks, ego_row),
        planning_problems=(problem,),
        recorded_egos=(recorded,),
        format_version=FORMAT,
        source="Argoverse 2 sensor log",
        source_file=str(folder),
        warnings=tuple(warnings),
    )


def _interpolated(times: FloatArray, at: FloatArray, values: FloatArray) -> FloatArray:
    """`values` (K,) sampled at `at` (K,) [s], interpolated linearly at `times` (N,) [s]; before the
    first and after the last sample extrapolated along the end segment (a single sample is held)."""
    if len(at) < 2:
        return np.full(len(times), values[0])
    inner = np.interp(times, at, values)
    head = values[0] + (times - at[0]) * (values[1] - values[0]) / (at[1] - at[0])
    tail = values[-1] + (times - at[-1]) * (values[-1] - values[-2]) / (at[-1] - at[-2])
    return np.where(times < at[0], head, np.where(times > at[-1], tail, inner))


def _resampled_steps(at: FloatArray, grid: FloatArray) -> IntArray:
    """Grid indices a track sampled at times `at` (K,) [s] covers: between two samples at most
    `MAX_GAP` apart, or within `HOLD` of a sample."""
    lo, hi = np.searchsorted(grid, [at[0] - HOLD, at[-1] + HOLD + 1e-9])
    candidates = np.arange(lo, hi)
    times = grid[candidates]
    after = np.clip(np.searchsorted(at, times), 0, len(at) - 1)
    before = np.clip(after - 1, 0, len(at) - 1)
    near = np.minimum(np.abs(times - at[before]), np.abs(at[after] - times)) <= HOLD
    bridged = (at[after] - at[before] <= MAX_GAP) & (at[before] <= times) & (times <= at[after])
    return candidates[near | bridged]


# ----------------------------------------------------------------------------------------------- map


def source_map(path: Path, member: str | None = None) -> SourceMap:
    """The unit's map as the source draws it, for pictures next to the converted lane graph: every
    lane segment's two boundaries (road lines with their marking), pedestrian crossings (edge1 and
    edge2 as one ring) and drivable areas (which the conversion drops). InputError for a map that
    does not parse."""
    map_json = _require_unit(Path(path)).map_json
    data = _read_json(map_json)
    if not isinstance(data, dict):
        raise InputError(map_json, None, "is not a JSON object")
    lines, areas = [], []

    def entries(name: str) -> list[tuple[str, dict[str, Any]]]:
        found = data.get(name) or {}
        if not isinstance(found, dict):
            raise InputError(map_json, name, "is not an object by id")
        return [
            (f"{name} / {str(key)[:40]!r}", value) for key, value in found.items() if isinstance(value, dict)
        ]

    for where, segment in entries("lane_segments"):
        lane_id = _integer(map_json, segment.get("id"), f"{where} / id")
        for side in ("left", "right"):
            points = _polyline(
                map_json, segment.get(f"{side}_lane_boundary"), f"{where} / {side}_lane_boundary"
            )
            lines.append(LineFeature(lane_id, points, _marking(segment.get(f"{side}_lane_mark_type")), False))
    for where, crossing in entries("pedestrian_crossings"):
        first = _polyline(map_json, crossing.get("edge1"), f"{where} / edge1")
        second = _polyline(map_json, crossing.get("edge2"), f"{where} / edge2")
        ring = np.concatenate([first, second[::-1]])
        areas.append(AreaFeature(_integer(map_json, crossing.get("id"), f"{where} / id"), "crosswalk", ring))
    for where, area in entries("drivable_areas"):
        boundary = _polyline(map_json, area.get("area_boundary"), f"{where} / area_boundary")
        areas.append(
            AreaFeature(_integer(map_json, area.get("id"), f"{where} / id"), "drivable_area", boundary)
        )
    return SourceMap(lanes=(), lines=tuple(lines), areas=tuple(areas))


def _read_map(path: Path, map_id: str, warnings: list[InputWarning]) -> LaneGraph:
    """The lane graph of an AV2 map JSON; dangling lane references are dropped with one warning."""
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("lane_segments"), dict):
        raise InputError(path, "lane_segments", "missing (expected an object of lane segments by id)")
    segments = {}
    for key, segment in data["lane_segments"].items():
        where = f"lane_segments / {str(key)[:40]!r}"
        if not isinstance(segment, dict):
            raise InputError(path, where, "is not an object")
        segments[_integer(path, segment.get("id"), f"{where} / id")] = (where, segment)
    lanes: dict[int, Lane] = {}
    dangling: list[str] = []
    for lane_id, (where, segment) in segments.items():
        lanes[lane_id] = _lane(path, lane_id, where, segment, segments.keys(), dangling)
    lanes = {lane_id: _with_neighbour_directions(lane, lanes) for lane_id, lane in lanes.items()}
    crossings = data.get("pedestrian_crossings", {})
    if not isinstance(crossings, dict):
        raise InputError(path, "pedestrian_crossings", "is not an object of crossings by id")
    for key, crossing in crossings.items():
        where = f"pedestrian_crossings / {str(key)[:40]!r}"
        if not isinstance(crossing, dict):
            raise InputError(path, where, "is not an object")
        crossing_id = _integer(path, crossing.get("id"), f"{where} / id")
        if crossing_id in lanes:
            problem = f"{crossing_id} is also a lane segment's id: the crossing is dropped"
            warnings.append(InputWarning(str(path), f"{where} / id", problem))
            continue
        lanes[crossing_id] = _crosswalk(path, crossing_id, where, crossing)
    if dangling:
        shown = ", ".join(dangling[:3]) + (", ..." if len(dangling) > 3 else "")
        warnings.append(
            InputWarning(
                str(path),
                "lane_segments",
                f"dropped {len(dangling)} references to lanes not in the map ({shown})",
            )
        )
    return LaneGraph(map_id=map_id, lanes=lanes)


def _integer(path: Path, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise InputError(path, where, f"expected an integer id, got {str(value)[:40]!r}")
    return value


def _polyline(path: Path, value: Any, where: str) -> FloatArray:
    """(P, 2) [m] from a list of {"x", "y", "z"} points (z dropped); two or more finite points."""
    try:
        points = np.array([(point["x"], point["y"]) for point in value], dtype=np.float64)
    except (TypeError, KeyError, ValueError):
        raise InputError(path, where, "expected a list of points with numbers x and y") from None
    if points.ndim != 2 or len(points) < 2 or not (np.abs(points) <= MAX_COORDINATE).all():
        raise InputError(
            path, where, f"expected two or more points with coordinates within +-{MAX_COORDINATE:g} m"
        )
    return points


def _lane(
    path: Path, lane_id: int, where: str, segment: dict[str, Any], known: Container[int], dangling: list[str]
) -> Lane:
    """One lane segment as a core Lane; references to lanes outside `known` go to `dangling`."""
    left = _polyline(path, segment.get("left_lane_boundary"), f"{where} / left_lane_boundary")
    right = _polyline(path, segment.get("right_lane_boundary"), f"{where} / right_lane_boundary")

    def references(name: str) -> tuple[int, ...]:
        values = segment.get(name) or []
        if not isinstance(values, list):
            raise InputError(path, f"{where} / {name}", "expected a list of lane ids")
        ids = [_integer(path, value, f"{where} / {name}") for value in values]
        dangling.extend(f"lane {lane_id} {name} {value}" for value in ids if value not in known)
        return tuple(value for value in ids if value in known)

    def neighbour(name: str) -> Neighbour | None:
        value = segment.get(name)
        if value is None:
            return None
        other = _integer(path, value, f"{where} / {name}")
        if other not in known:
            dangling.append(f"lane {lane_id} {name} {other}")
            return None
        return Neighbour(other, same_direction=True)  # direction settled once every lane is read

    kind = str(segment.get("lane_type", ""))
    lane_type, user = _LANE_TYPES.get(kind, ("unknown", ""))
    types = (lane_type, "intersection") if segment.get("is_intersection") is True else (lane_type,)
    return Lane(
        id=lane_id,
        left=left,
        right=right,
        center=centerline_between(left, right),
        predecessors=references("predecessors"),
        successors=references("successors"),
        left_neighbour=neighbour("left_neighbor_id"),
        right_neighbour=neighbour("right_neighbor_id"),
        lane_types=types,
        users_one_way=(user,) if user else (),
        left_marking=_marking(segment.get("left_lane_mark_type")),
        right_marking=_marking(segment.get("right_lane_mark_type")),
    )


def _marking(value: Any) -> str:
    """CommonRoad's line marking for an AV2 lane mark type (e.g. DASHED_WHITE -> dashed)."""
    text = str(value).upper()
    return next((marking for pattern, marking in _MARKINGS if pattern in text), "unknown")


def _direction(lane: Lane) -> FloatArray:
    return lane.center[-1] - lane.center[0]


def _with_neighbour_directions(lane: Lane, lanes: dict[int, Lane]) -> Lane:
    """`lane` with each neighbour's `same_direction` set by comparing the two lanes' directions."""

    def settled(neighbour: Neighbour | None) -> Neighbour | None:
        if neighbour is None:
            return None
        same = float(np.dot(_direction(lane), _direction(lanes[neighbour.lane_id]))) >= 0.0
        return Neighbour(neighbour.lane_id, same)

    return dataclasses.replace(
        lane, left_neighbour=settled(lane.left_neighbour), right_neighbour=settled(lane.right_neighbour)
    )


def _crosswalk(path: Path, crossing_id: int, where: str, crossing: dict[str, Any]) -> Lane:
    """A pedestrian crossing as a crosswalk lane between its two edges (edge2 turned to run with edge1)."""
    first = _polyline(path, crossing.get("edge1"), f"{where} / edge1")
    second = _polyline(path, crossing.get("edge2"), f"{where} / edge2")
    along = first[-1] - first[0]
    if float(np.dot(along, second[-1] - second[0])) < 0.0:
        second = second[::-1]
    across = second.mean(axis=0) - first.mean(axis=0)
    left, right = (second, first) if along[0] * across[1] - along[1] * across[0] > 0.0 else (first, second)
    return Lane(
        id=crossing_id,
        left=left,
        right=right,
        center=centerline_between(left, right),
        lane_types=("crosswalk",),
        users_bidirectional=("pedestrian",),
    )
