"""ScenarioNet reader: the scenario pickles ScenarioNet converts nuScenes, nuPlan, WOMD, AV2 and Lyft into.

A ScenarioNet file is a Python pickle of one dict (`id`, `length`, `metadata` with `sdc_id`, `ts`
and for some sources `current_time_index`; `tracks`, `map_features`, `dynamic_map_states`) of
builtins and numpy arrays. Pickles can run any code while loading, so `plain pickle.load` never
touches one: `_SafeUnpickler.find_class` admits exactly numpy's array and scalar reconstruction,
`numpy.ndarray`, `numpy.dtype`, `collections.defaultdict` and the builtin containers and numbers;
any other global is refused, naming it, before anything is called. Files over `MAX_FILE_BYTES`
are refused unread, which also bounds what the unpickler can build to a small multiple of that
(every array's data is in the file; shared references cost a pointer each).

Converted: tracks (position, heading, velocity, box size per step, valid mask) on the file's grid;
types from ScenarioNet's (VEHICLE, PEDESTRIAN, CYCLIST, TRAFFIC_CONE/BARRIER → construction zone,
others unknown), refined by the source's own type where it names one (nuScenes
`vehicle.truck` → truck, `vehicle.motorcycle` → motorcycle ...). A vehicle whose box is wider
than long has length and width swapped (ScenarioNet's nuScenes ego is stored so). The map
(`_waymo_map`, the same feature types as WOMD: lanes with polylines and, for nuScenes, polygons;
road lines, road edges, crosswalks, stop signs; topology inferred where not given); traffic
lights from `dynamic_map_states`; the `sdc_id` track as the recorded ego of planning problem 1
from `metadata.current_time_index` (0 where the source has none, e.g. nuScenes). Dropped: z,
heights, object summaries, speed bumps, driveways.
"""

from __future__ import annotations

import builtins
import collections
import io
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from drivestack.core.errors import InputError
from drivestack.core.limits import DEFAULT_READER_LIMITS
from drivestack.core.scenario import AgentType, LightColor, Scenario
from drivestack.data.formats._log import (
    MAX_TIME_STEP,
    MIN_TIME_STEP,
    drop_agent,
    log_tracks,
    problem_from_track,
)
from drivestack.data.formats._waymo_map import (
    LANE_STATE_COLORS,
    AreaFeature,
    LaneFeature,
    LineFeature,
    SignalFeature,
    SourceMap,
    StopSignFeature,
    build_map,
    feature_id,
)

FORMAT = "scenarionet"
MAX_FILE_BYTES = 128 * 2**20
"""Largest file read [bytes] (ScenarioNet scenarios are 0.5-10 MB)."""
MAX_TRACK_CELLS = DEFAULT_READER_LIMITS.max_track_cells
"""Largest tracks grid (agents x steps) built from one scenario."""
_SNIFF_BYTES = 16384
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")
_KMH = 1.0 / 3.6  # [m/s] per km/h
_MPH = 0.44704  # [m/s] per mile per hour

_ARRAY_REBUILD = np.zeros(1).__reduce__()[0]  # numpy's _reconstruct, wherever this numpy keeps it
_SCALAR_REBUILD = np.float64(0.0).__reduce__()[0]  # numpy's scalar constructor
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _ARRAY_REBUILD,
    ("numpy._core.multiarray", "_reconstruct"): _ARRAY_REBUILD,
    ("numpy.core.multiarray", "scalar"): _SCALAR_REBUILD,
    ("numpy._core.multiarray", "scalar"): _SCALAR_REBUILD,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "defaultdict"): collections.defaultdict,
    **{
        ("builtins", name): getattr(builtins, name)
        for name in ("list", "dict", "set", "frozenset", "tuple", "int", "float", "str", "bool", "complex")
    },
}
"""Every global a ScenarioNet pickle may name, and the object it gets."""

_TRACK_TYPES = {
    "VEHICLE": AgentType.CAR,
    "PEDESTRIAN": AgentType.PEDESTRIAN,
    "CYCLIST": AgentType.BICYCLE,
    "TRAFFIC_CONE": AgentType.CONSTRUCTION_ZONE,
    "TRAFFIC_BARRIER": AgentType.CONSTRUCTION_ZONE,
}
_SOURCE_TYPES = (  # (prefix of the source's own type, type), first match wins
    ("vehicle.bus", AgentType.BUS),
    ("vehicle.truck", AgentType.TRUCK),
    ("vehicle.trailer", AgentType.TRUCK),
    ("vehicle.construction", AgentType.TRUCK),
    ("vehicle.emergency", AgentType.PRIORITY_VEHICLE),
    ("vehicle.motorcycle", AgentType.MOTORCYCLE),
    ("vehicle.bicycle", AgentType.BICYCLE),
)
_LANE_KINDS = {
    "LANE_FREEWAY": "freeway",
    "LANE_SURFACE_STREET": "surface_street",
    "LANE_BIKE_LANE": "bike_lane",
}
_LIGHT_COLORS = {
    **LANE_STATE_COLORS,
    "TRAFFIC_LIGHT_RED": LightColor.RED,
    "TRAFFIC_LIGHT_YELLOW": LightColor.YELLOW,
    "TRAFFIC_LIGHT_GREEN": LightColor.GREEN,
    "TRAFFIC_LIGHT_UNKNOWN": LightColor.INACTIVE,
}


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in `_ALLOWED` and refuses everything else."""

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(io.BytesIO(data))
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for `module.name`; InputError naming any other global."""
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            shown = f"{module}.{name}"[:80].encode("unicode_escape").decode("ascii")
            raise InputError(
                self.path, None, f"pickle refers to {shown}, which is not allowed (never executed)"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        """Persistent references are refused."""
        raise InputError(self.path, None, "pickle uses persistent references, which are not allowed")


def load(path: Path) -> Any:
    """The object in the pickle at `path`, through the restricted unpickler (size-bounded)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(path, None, f"file of {size} bytes exceeds the limit of {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except OSError as error:
        raise InputError(path, None, f"cannot read: {error.strerror or error}") from None
    try:
        return _SafeUnpickler(data, path).load()
    except InputError:
        raise
    except Exception as error:  # a malformed stream raises anything from deep inside pickle
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise InputError(path, None, f"not a readable pickle ({type(error).__name__}: {reason})") from None


def sniff(path: Path) -> bool:
    """Whether `path` starts like a ScenarioNet scenario: a pickle (protocol 2-5) whose head names
    `metadata` and `sdc_id`."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return (
        len(head) > 2 and head[0] == 0x80 and 2 <= head[1] <= 5 and b"metadata" in head and b"sdc_id" in head
    )


def members(path: Path) -> list[str]:
    """A ScenarioNet file holds one scenario: ["0"]."""
    return ["0"]


def read(path: Path, member: str | None = None) -> Scenario:
    """The scenario of the pickle at `path` (`member` None or "0")."""
    path = Path(path)
    if member not in (None, "0"):
        raise InputError(
            path, None, f"member {str(member)[:40]!r}: a ScenarioNet file holds one scenario ('0')"
        )
    data = load(path)
    if not isinstance(data, dict) or not all(key in data for key in ("tracks", "metadata", "map_features")):
        raise InputError(
            path, None, "not a ScenarioNet scenario (a dict with tracks, metadata and map_features)"
        )
    return _Converter(path).scenario(data)


def source_map(path: Path, member: str | None = None) -> SourceMap:
    """The file's map as the source draws it (for pictures next to the converted lane graph)."""
    data = load(Path(path))
    features = data.get("map_features") if isinstance(data, dict) else None
    return _Converter(Path(path)).source_map(features)


class _Converter:
    """Turns one unpickled ScenarioNet dict into a `Scenario`, checking every value it uses."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, problem: str) -> InputError:
        """An InputError at `where` in this file."""
        return InputError(self.path, where[:120], problem)

    def mapping(self, value: Any, where: str) -> dict[Any, Any]:
        """`value` as a dict, else an error."""
        if not isinstance(value, dict):
            raise self.error(where, f"expected a dict, found {type(value).__name__}")
        return value

    def array(
        self, value: Any, where: str, columns: int | None = None, rows: int | None = None
    ) -> np.ndarray:
        """`value` as a finite-or-NaN float64 array of `rows` x `columns` (None: any; 1-D without columns)."""
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.error(where, "expected numbers") from None
        if columns is None:
            array = array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
            ok = array.ndim == 1
        else:
            ok = array.ndim == 2 and array.shape[1] >= columns
            array = array[:, :columns] if ok else array
        if not ok or (rows is not None and array.shape[0] != rows):
            raise self.error(
                where, f"array of shape {array.shape}, expected ({rows or 'N'}, {columns or ''})"
            )
        return array

    def scenario(self, data: dict[Any, Any]) -> Scenario:
        """The core scenario."""
        metadata = self.mapping(data["metadata"], "metadata")
        tracks_in = self.mapping(data["tracks"], "tracks")
        ts = metadata.get("ts")
        timestamps = self.array(ts, "metadata / ts") if ts is not None else None
        num_steps = len(timestamps) if timestamps is not None else int(data.get("length", 0) or 0)
        if num_steps <= 0:
            raise self.error("metadata / ts", "no time steps")
        if len(tracks_in) * num_steps > MAX_TRACK_CELLS:
            raise self.error(
                "tracks", f"{len(tracks_in)} tracks x {num_steps} steps exceed {MAX_TRACK_CELLS} cells"
            )
        dt = self.time_step(metadata, timestamps)
        if not MIN_TIME_STEP <= dt <= MAX_TIME_STEP:
            raise self.error(
                "metadata / ts", f"time step {dt:.3g} s outside [{MIN_TIME_STEP}, {MAX_TIME_STEP}] s"
            )
        sdc_key = metadata.get("sdc_id")
        if sdc_key not in tracks_in:
            raise self.error("metadata / sdc_id", f"{str(sdc_key)[:40]!r} is not one of the tracks")
        current = metadata.get("current_time_index", 0)
        if not isinstance(current, int | np.integer) or not 0 <= int(current) < num_steps:
            raise self.error(
                "metadata / current_time_index", f"{str(current)[:20]} is outside the {num_steps} steps"
            )
        keys = list(tracks_in)
        ids = np.array([feature_id(key) for key in keys], dtype=np.int64)
        if len(np.unique(ids)) != len(ids):
            raise self.error("tracks", "two track ids map to the same integer id")
        tracks = self.tracks(tracks_in, keys, ids, num_steps, dt)
        raw_id = str(data.get("id", metadata.get("scenario_id", ""))) or self.path.stem
        scenario_id = _SAFE_ID.sub("_", raw_id)[:128]
        dataset = _SAFE_ID.sub("_", str(metadata.get("dataset", "")))[:40]
        map_name = _SAFE_ID.sub("_", str(metadata.get("map", "")))[:80]
        graph, lights, signs = build_map(
            self.source_map(data["map_features"]),
            f"scenarionet-{dataset}-{map_name or scenario_id}",
            self.signals(data.get("dynamic_map_states") or {}, num_steps),
        )
        if not graph.lanes:
            raise self.error("map_features", "the map has no usable lane")
        sdc = keys.index(sdc_key)
        problem, recorded = problem_from_track(tracks, sdc, int(current), graph, dt, source=self.path)
        return Scenario(
            scenario_id=scenario_id,
            dt=dt,
            num_steps=num_steps,
            lane_graph=graph,
            tracks=drop_agent(tracks, sdc),
            traffic_lights=lights,
            traffic_signs=signs,
            planning_problems=(problem,),
            recorded_egos=(recorded,),
            source=f"{FORMAT}/{dataset}" if dataset else FORMAT,
            source_file=str(self.path),
        )

    def time_step(self, metadata: dict[Any, Any], timestamps: np.ndarray | None) -> float:
        """The grid's step [s]: the median timestamp difference, else `sample_rate`, else 0.1 s."""
        if timestamps is not None and len(timestamps) > 1:
            steps = np.diff(timestamps)
            if not (np.isfinite(steps).all() and (steps > 0).all()):
                raise self.error("metadata / ts", "timestamps are not increasing")
            return round(float(np.median(steps)), 3)
        rate = metadata.get("sample_rate")
        return float(rate) if isinstance(rate, float | int) and 0 < rate < 10 else 0.1

    def tracks(
        self, tracks_in: dict[Any, Any], keys: list[Any], ids: np.ndarray, num_steps: int, dt: float
    ) -> Any:
        """The tracks (agents, steps), ego included."""
        shape = (len(keys), num_steps)
        columns = {name: np.full(shape, np.nan) for name in ("x", "y", "yaw", "vx", "vy", "length", "width")}
        valid = np.zeros(shape, dtype=bool)
        kinds = []
        for row, key in enumerate(keys):
            where = f"tracks / {str(key)[:40]}"
            track = self.mapping(tracks_in[key], where)
            state = self.mapping(track.get("state"), f"{where} / state")
            position = self.array(state.get("position"), f"{where} / position", 2, num_steps)
            velocity = self.array(state.get("velocity"), f"{where} / velocity", 2, num_steps)
            columns["x"][row], columns["y"][row] = position[:, 0], position[:, 1]
            columns["vx"][row], columns["vy"][row] = velocity[:, 0], velocity[:, 1]
            for name, column in (("heading", "yaw"), ("length", "length"), ("width", "width")):
                values = self.array(state.get(name), f"{where} / {name}")
                if len(values) != num_steps:
                    raise self.error(f"{where} / {name}", f"{len(values)} values for {num_steps} steps")
                columns[column][row] = values
            valid[row] = self.array(state.get("valid"), f"{where} / valid") > 0.5
            kinds.append(self.agent_type(track))
        vehicles = np.array([kind.is_vehicle for kind in kinds], dtype=bool)
        swapped = vehicles[:, None] & (columns["width"] > columns["length"])
        length = np.where(swapped, columns["width"], columns["length"])
        width = np.where(swapped, columns["length"], columns["width"])
        return log_tracks(
            ids=ids,
            agent_type=tuple(kinds),
            x=columns["x"],
            y=columns["y"],
            yaw=columns["yaw"],
            vx=columns["vx"],
            vy=columns["vy"],
            length=length,
            width=width,
            valid=valid,
            dt=dt,
        )

    @staticmethod
    def agent_type(track: dict[Any, Any]) -> AgentType:
        """The track's type from ScenarioNet's type, refined by the source's own type name."""
        kind = _TRACK_TYPES.get(str(track.get("type", "")), AgentType.UNKNOWN)
        metadata = track.get("metadata")
        source_type = str(metadata.get("type", "")) if isinstance(metadata, dict) else ""
        if kind in (AgentType.CAR, AgentType.BICYCLE):
            return next(
                (refined for prefix, refined in _SOURCE_TYPES if source_type.startswith(prefix)), kind
            )
        return kind

    def points(self, value: Any, where: str) -> np.ndarray:
        """A polyline or polygon (P, 2) [m] (z and further columns dropped)."""
        return self.array(value, where, 2)

    def ids(self, value: Any) -> tuple[int, ...]:
        """Feature ids of a list of ids or of neighbour dicts."""
        if not isinstance(value, list | tuple | np.ndarray):
            return ()
        return tuple(
            feature_id(item.get("feature_id") if isinstance(item, dict) else item)
            for item in value
            if not isinstance(item, dict) or "feature_id" in item
        )

    def neighbours(self, value: Any) -> tuple[tuple[int, int], ...]:
        """(lane id, points beside it) of declared neighbours (1 where the span is not given)."""
        if not isinstance(value, list | tuple | np.ndarray):
            return ()
        found = []
        for item in value:
            if isinstance(item, dict):
                if "feature_id" not in item:
                    continue
                span = item.get("self_end_index", 0) - item.get("self_start_index", 0) + 1
                found.append(
                    (feature_id(item["feature_id"]), int(span) if isinstance(span, int | np.integer) else 1)
                )
            else:
                found.append((feature_id(item), 1))
        return tuple(found)

    def source_map(self, features: Any) -> SourceMap:
        """The neutral map of the file's map features."""
        features = self.mapping(features, "map_features")
        lanes, lines, areas, signs = [], [], [], []
        for key, feature in features.items():
            where = f"map_features / {str(key)[:40]}"
            feature = self.mapping(feature, where)
            kind = str(feature.get("type", ""))
            fid = feature_id(key)
            if kind.startswith("LANE"):
                limit = feature.get("speed_limit_mph")
                scale = _MPH
                if limit is None:
                    limit, scale = feature.get("speed_limit_kmh"), _KMH
                outline = feature.get("polygon")
                lanes.append(
                    LaneFeature(
                        id=fid,
                        center=self.points(feature.get("polyline"), f"{where} / polyline"),
                        kind=_LANE_KINDS.get(kind, "undefined"),
                        speed_limit=float(limit) * scale
                        if isinstance(limit, float | int) and np.isfinite(limit) and limit > 0
                        else None,
                        entry=self.ids(feature["entry_lanes"]) if "entry_lanes" in feature else None,
                        exit=self.ids(feature["exit_lanes"]) if "exit_lanes" in feature else None,
                        left=self.neighbours(feature.get("left_neighbor")),
                        right=self.neighbours(feature.get("right_neighbor")),
                        outline=self.points(outline, f"{where} / polygon") if outline is not None else None,
                    )
                )
            elif kind.startswith(("ROAD_LINE", "ROAD_EDGE")):
                edge = kind.startswith("ROAD_EDGE")
                marking = kind.removeprefix("ROAD_LINE_").lower() if not edge else kind.lower()
                lines.append(
                    LineFeature(
                        fid, self.points(feature.get("polyline"), f"{where} / polyline"), marking, edge
                    )
                )
            elif kind == "STOP_SIGN":
                position = self.array(feature.get("position"), f"{where} / position")
                if len(position) < 2:
                    raise self.error(f"{where} / position", "expected x, y")
                signs.append(
                    StopSignFeature(
                        fid, self.ids(feature.get("lane")), (float(position[0]), float(position[1]))
                    )
                )
            elif kind in ("CROSSWALK", "SPEED_BUMP", "DRIVEWAY"):
                areas.append(
                    AreaFeature(fid, kind.lower(), self.points(feature.get("polygon"), f"{where} / polygon"))
                )
        return SourceMap(tuple(lanes), tuple(lines), tuple(areas), tuple(signs))

    def signals(self, states: Any, num_steps: int) -> tuple[SignalFeature, ...]:
        """Traffic lights per lane from `dynamic_map_states` (state names per step)."""
        states = self.mapping(states, "dynamic_map_states")
        found = []
        for key, light in states.items():
            where = f"dynamic_map_states / {str(key)[:40]}"
            light = self.mapping(light, where)
            state = self.mapping(light.get("state", {}), f"{where} / state")
            names = state.get("object_state")
            if light.get("lane") is None or not isinstance(names, list | tuple | np.ndarray):
                continue
            colors = [_LIGHT_COLORS.get(str(name), LightColor.INACTIVE) for name in list(names)[:num_steps]]
            colors += [LightColor.INACTIVE] * (num_steps - len(colors))
            stop = self.array(light.get("stop_point"), f"{where} / stop_point")
            if len(stop) < 2:
                raise self.error(f"{where} / stop_point", "expected x, y")
            found.append(
                SignalFeature(feature_id(light["lane"]), (float(stop[0]), float(stop[1])), tuple(colors))
            )
        return tuple(found)
