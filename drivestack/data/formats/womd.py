"""Waymo Open Motion Dataset reader: `Scenario` protos in TFRecord files, without TensorFlow.

A TFRecord file is a sequence of records, each an 8-byte little-endian payload length, the masked
CRC32C of those 8 bytes, the payload, and the masked CRC32C of the payload; both checksums are
verified (`google-crc32c`). Payloads are decoded with the `protobuf` package from the message
layouts in `womd.proto` (the dataset's published field numbers), turned into descriptors at runtime
(`_proto.message_classes`). A file may hold many scenarios: `members` lists their records' byte
offsets without decoding them and `read` decodes one.

Converted: tracks on the 10 Hz grid (`timestamps_seconds`) with valid masks, types (vehicle → car,
pedestrian, cyclist → bicycle, other → unknown) and median box sizes; the map (`_waymo_map`: lanes
with inferred bounds, topology, speed limits, crosswalks, stop signs); traffic-signal states per
lane and step; the self-driving car (`sdc_track_index`) as the recorded ego of planning problem 1,
from `current_time_index` (`_log`). Dropped: heights and z, `objects_of_interest`,
`tracks_to_predict`, speed bumps, driveways, lidar data. Records in the flattened `tf.Example`
layout (the motion dataset's other release) read too (`_example_scenario`), unless their roadgraph
fills every sample slot: that map is cut off, and the record is rejected with that reason.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import google_crc32c
import numpy as np
from google.protobuf.message import DecodeError

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
from drivestack.data.formats._proto import fixed_fields, message_classes
from drivestack.data.formats._waymo_map import (
    LANE_STATE_BY_NUMBER,
    AreaFeature,
    LaneFeature,
    LineFeature,
    SignalFeature,
    SourceMap,
    StopSignFeature,
    build_map,
)

FORMAT = "womd"
MAX_RECORD_BYTES = 256 * 2**20
"""Largest record payload read [bytes] (WOMD scenarios are about 1 MB; with lidar, tens of MB)."""
MAX_TRACK_CELLS = DEFAULT_READER_LIMITS.max_track_cells
"""Largest tracks grid (agents x steps) built from one scenario."""
_PROTO = Path(__file__).with_name("womd.proto")
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_MPH = 0.44704  # [m/s] per mile per hour
_AGENT_TYPES = {1: AgentType.CAR, 2: AgentType.PEDESTRIAN, 3: AgentType.BICYCLE}
_LANE_KINDS = {1: "freeway", 2: "surface_street", 3: "bike_lane"}
_LINE_MARKINGS = (
    "unknown",
    "broken_single_white",
    "solid_single_white",
    "solid_double_white",
    "broken_single_yellow",
    "broken_double_yellow",
    "solid_single_yellow",
    "solid_double_yellow",
    "passing_double_yellow",
)
_EDGE_MARKINGS = ("road_edge", "road_edge", "median")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of `data` (32-bit)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@cache
def _classes() -> dict[str, Any]:
    """The WOMD message classes (built once per process)."""
    return message_classes(_PROTO)


def sniff(path: Path) -> bool:
    """Whether `path` starts like a TFRecord file (its first length field carries a valid CRC)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER.size)
    except OSError:
        return False
    if len(head) < _HEADER.size:
        return False
    _, crc = _HEADER.unpack(head)
    return masked_crc(head[:8]) == crc


def _header(handle: BinaryIO, path: Path, offset: int, size: int) -> int:
    """The payload length of the record at `offset`, its length CRC verified."""
    handle.seek(offset)
    head = handle.read(_HEADER.size)
    where = f"record at byte {offset}"
    if len(head) < _HEADER.size:
        raise InputError(path, where, f"truncated header ({len(head)} of {_HEADER.size} bytes)")
    length, crc = _HEADER.unpack(head)
    if masked_crc(head[:8]) != crc:
        raise InputError(path, where, "length checksum mismatch (not a TFRecord file, or corrupted)")
    if length > MAX_RECORD_BYTES:
        raise InputError(path, where, f"record of {length} bytes exceeds the limit of {MAX_RECORD_BYTES}")
    end = offset + _HEADER.size + length + _FOOTER.size
    if end > size:
        raise InputError(path, where, f"truncated record: needs {end} bytes, the file has {size}")
    return int(length)


def members(path: Path) -> list[str]:
    """Byte offsets (as strings) of the file's records, framing and length checksums verified."""
    path = Path(path)
    offsets = []
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            offset = 0
            while offset < size:
                length = _header(handle, path, offset, size)
                offsets.append(str(offset))
                offset += _HEADER.size + length + _FOOTER.size
    except OSError as error:
        raise InputError(path, None, f"cannot read: {error.strerror or error}") from None
    return offsets


def read_record(path: Path, offset: int) -> bytes:
    """The verified payload of the record at byte `offset`."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            length = _header(handle, path, offset, size)
            payload = handle.read(length)
            (crc,) = _FOOTER.unpack(handle.read(_FOOTER.size))
    except OSError as error:
        raise InputError(path, None, f"cannot read: {error.strerror or error}") from None
    if masked_crc(payload) != crc:
        raise InputError(path, f"record at byte {offset}", "payload checksum mismatch (corrupted record)")
    return payload


def _is_example(payload: bytes) -> bool:
    """Whether a payload is one length-delimited field 1 spanning it all: a `tf.Example`
    (`features`), not a `Scenario` (whose field 1, the timestamps, is a short part of it)."""
    if not payload or payload[0] != 0x0A:
        return False
    length, shift, at = 0, 0, 1
    while at < len(payload) and at < 11:
        byte = payload[at]
        length |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return at + length == len(payload)
        shift += 7
    return False


def read(path: Path, member: str | None = None) -> Scenario:
    """The scenario in the record at byte offset `member` (None: the first record)."""
    path = Path(path)
    if member is not None and not member.isdigit():
        raise InputError(path, None, f"member {member[:40]!r} is not a record byte offset")
    offset = int(member) if member is not None else 0
    payload = read_record(path, offset)
    where = f"record at byte {offset}"
    if _is_example(payload):
        return _example_scenario(payload, path, where)
    try:
        message = _classes()["Scenario"].FromString(payload)
        bulk = _classes()["ScenarioPoints"].FromString(payload)
        return _scenario(message, bulk, path, where)
    except DecodeError as error:
        raise InputError(path, where, f"not a WOMD Scenario protobuf ({error})") from None


def _polylines(bulk: Any, kinds: list[str | None]) -> list[np.ndarray]:
    """(P, 2) [m] x, y of each map feature's polyline or polygon (none for a stop sign), all
    decoded in one pass from the `ScenarioPoints` view `bulk` of the same record."""
    point_lists = []
    for feature, kind in zip(bulk.map_features, kinds, strict=True):
        if kind in ("lane", "road_line", "road_edge"):
            point_lists.append(getattr(feature, kind).polyline)
        elif kind in ("crosswalk", "speed_bump", "driveway"):
            point_lists.append(getattr(feature, kind).polygon)
        else:
            point_lists.append(())
    counts = [len(points) for points in point_lists]
    columns = fixed_fields([point for points in point_lists for point in points], _classes()["MapPoint"])
    xy = np.stack([columns["x"], columns["y"]], axis=1)
    return np.split(xy, np.cumsum(counts)[:-1]) if counts else []


def _source_map(message: Any, bulk: Any) -> SourceMap:
    """The neutral map of a Scenario's map features (`bulk`: its `ScenarioPoints` view)."""
    lanes, lines, areas, signs = [], [], [], []
    kinds = [_feature_kind(feature) for feature in message.map_features]
    polylines = _polylines(bulk, kinds)
    for feature, kind, points in zip(message.map_features, kinds, polylines, strict=True):
        if kind == "lane":
            lane = feature.lane
            lanes.append(
                LaneFeature(
                    id=int(feature.id),
                    center=points,
                    kind=_LANE_KINDS.get(lane.type, "undefined"),
                    speed_limit=lane.speed_limit_mph * _MPH if lane.speed_limit_mph > 0 else None,
                    entry=tuple(int(i) for i in lane.entry_lanes),
                    exit=tuple(int(i) for i in lane.exit_lanes),
                    left=tuple(
                        (int(n.feature_id), int(n.self_end_index - n.self_start_index + 1))
                        for n in lane.left_neighbors
                    ),
                    right=tuple(
                        (int(n.feature_id), int(n.self_end_index - n.self_start_index + 1))
                        for n in lane.right_neighbors
                    ),
                    boundaries=tuple(
                        int(b.boundary_feature_id) for b in (*lane.left_boundaries, *lane.right_boundaries)
                    ),
                )
            )
        elif kind == "road_line":
            marking = _LINE_MARKINGS[feature.road_line.type] if 0 <= feature.road_line.type < 9 else "unknown"
            lines.append(LineFeature(int(feature.id), points, marking, False))
        elif kind == "road_edge":
            edge = feature.road_edge
            marking = _EDGE_MARKINGS[edge.type] if 0 <= edge.type < 3 else "road_edge"
            lines.append(LineFeature(int(feature.id), points, marking, True))
        elif kind == "stop_sign":
            position = feature.stop_sign.position
            signs.append(
                StopSignFeature(
                    int(feature.id), tuple(int(i) for i in feature.stop_sign.lane), (position.x, position.y)
                )
            )
        elif kind in ("crosswalk", "speed_bump", "driveway"):
            areas.append(AreaFeature(int(feature.id), kind, points))
    return SourceMap(tuple(lanes), tuple(lines), tuple(areas), tuple(signs))


_FEATURE_KINDS = ("lane", "road_line", "road_edge", "stop_sign", "crosswalk", "speed_bump", "driveway")


def _feature_kind(feature: Any) -> str | None:
    """Which of the map feature's alternatives is set (the proto's oneof)."""
    return next((kind for kind in _FEATURE_KINDS if feature.HasField(kind)), None)


def _signals(message: Any, num_steps: int) -> tuple[SignalFeature, ...]:
    """Per controlled lane, its colour at each step (INACTIVE where not reported) and stop point."""
    colors: dict[int, list[LightColor]] = {}
    stops: dict[int, tuple[float, float]] = {}
    for step, state in enumerate(message.dynamic_map_states[:num_steps]):
        for lane_state in state.lane_states:
            lane = int(lane_state.lane)
            if lane not in colors:
                colors[lane] = [LightColor.INACTIVE] * num_steps
                stops[lane] = (lane_state.stop_point.x, lane_state.stop_point.y)
            number = lane_state.state
            colors[lane][step] = LANE_STATE_BY_NUMBER[number] if 0 <= number < 9 else LightColor.INACTIVE
    return tuple(SignalFeature(lane, stops[lane], tuple(colors[lane])) for lane in sorted(colors))


def _state_grid(bulk: Any, num_steps: int, path: Path, where: str) -> dict[str, np.ndarray]:
    """The tracks' object states as (agents, steps) arrays, decoded in bulk from the `ScenarioPoints`
    view of the record; every track must have one state per step."""
    names = ("center_x", "center_y", "heading", "velocity_x", "velocity_y", "length", "width", "valid")
    states = [track.states for track in bulk.tracks]
    for index, track_states in enumerate(states):
        if len(track_states) != num_steps:
            raise InputError(
                path, f"{where} / track {index}", f"{len(track_states)} states for {num_steps} timestamps"
            )
    columns = fixed_fields(
        [state for track_states in states for state in track_states], _classes()["ObjectState"]
    )
    return {name: columns[name].reshape(len(states), num_steps) for name in names}


def _time_step(timestamps: np.ndarray, path: Path, where: str) -> float:
    """The grid's step [s]: the median difference of increasing `timestamps` [s] (0.1 s for one)."""
    steps = np.diff(timestamps)
    if len(steps) and not (np.isfinite(steps).all() and (steps > 0).all()):
        raise InputError(path, where, "timestamps are not increasing")
    dt = round(float(np.median(steps)), 3) if len(steps) else 0.1
    if not MIN_TIME_STEP <= dt <= MAX_TIME_STEP:
        raise InputError(path, where, f"time step {dt:.3g} s outside [{MIN_TIME_STEP}, {MAX_TIME_STEP}] s")
    return dt


def _safe_id(raw: str | bytes, path: Path, where: str) -> str:
    """A scenario id safe for paths and terminals (protobuf hands over invalid UTF-8 as bytes)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return _SAFE_ID.sub("_", text)[:128] or f"womd-{path.stem}-{where.split()[-1]}"


def _check_size(num_agents: int, num_steps: int, path: Path, where: str) -> None:
    """Refuse an empty grid or one over `MAX_TRACK_CELLS`."""
    if num_steps == 0:
        raise InputError(path, where, "no timestamps")
    if num_agents * num_steps > MAX_TRACK_CELLS:
        raise InputError(
            path,
            where,
            f"{num_agents} tracks x {num_steps} steps exceed the limit of {MAX_TRACK_CELLS} cells",
        )


def _scenario(message: Any, bulk: Any, path: Path, where: str) -> Scenario:
    """The core scenario of a decoded WOMD Scenario message (`bulk`: its `ScenarioPoints` view)."""
    timestamps = np.array(message.timestamps_seconds, dtype=np.float64)
    num_steps, num_agents = len(timestamps), len(message.tracks)
    _check_size(num_agents, num_steps, path, where)
    dt = _time_step(timestamps, path, where)
    scenario_id = _safe_id(message.scenario_id, path, where)
    sdc, current = int(message.sdc_track_index), int(message.current_time_index)
    if not 0 <= sdc < num_agents:
        raise InputError(path, where, f"sdc_track_index {sdc} is not one of the {num_agents} tracks")
    if not 0 <= current < num_steps:
        raise InputError(path, where, f"current_time_index {current} is outside the {num_steps} steps")
    ids = np.array([track.id for track in message.tracks], dtype=np.int64)
    grid = _state_grid(bulk, num_steps, path, where)
    kinds = tuple(_AGENT_TYPES.get(track.object_type, AgentType.UNKNOWN) for track in message.tracks)
    return _assemble(
        _LogGrid(scenario_id, dt, ids, kinds, grid, sdc, current),
        _source_map(message, bulk),
        _signals(message, num_steps),
        path,
        where,
    )


@dataclass(frozen=True, eq=False)
class _LogGrid:
    """What both layouts yield: tracks as (agents, steps) arrays named as `ObjectState`'s fields
    (`center_x`, `heading`, ..., `valid`), their ids and types, the SDC's row and the current step."""

    scenario_id: str
    dt: float
    ids: np.ndarray
    kinds: tuple[AgentType, ...]
    grid: dict[str, np.ndarray]
    sdc: int
    current: int


def _assemble(
    log: _LogGrid, source: SourceMap, signals: tuple[SignalFeature, ...], path: Path, where: str
) -> Scenario:
    """The core scenario: tracks, map, lights and the SDC's planning problem."""
    if len(np.unique(log.ids)) != len(log.ids):
        raise InputError(path, where, "two tracks share an id")
    grid = log.grid
    tracks = log_tracks(
        ids=log.ids,
        agent_type=log.kinds,
        x=grid["center_x"],
        y=grid["center_y"],
        yaw=grid["heading"],
        vx=grid["velocity_x"],
        vy=grid["velocity_y"],
        length=grid["length"],
        width=grid["width"],
        valid=grid["valid"] > 0.5,
        dt=log.dt,
    )
    graph, lights, signs = build_map(source, f"womd-{log.scenario_id}", signals)
    if not graph.lanes:
        raise InputError(path, where, "the map has no usable lane")
    problem, recorded = problem_from_track(tracks, log.sdc, log.current, graph, log.dt, source=path)
    return Scenario(
        scenario_id=log.scenario_id,
        dt=log.dt,
        num_steps=tracks.num_steps,
        lane_graph=graph,
        tracks=drop_agent(tracks, log.sdc),
        traffic_lights=lights,
        traffic_signs=signs,
        planning_problems=(problem,),
        recorded_egos=(recorded,),
        source=FORMAT,
        source_file=str(path),
    )


def source_map(path: Path, member: str | None = None) -> SourceMap:
    """The record's map as the source draws it (for pictures next to the converted lane graph)."""
    path = Path(path)
    offset = int(member) if member is not None and member.isdigit() else 0
    payload = read_record(path, offset)
    where = f"record at byte {offset}"
    try:
        if _is_example(payload):
            return _roadgraph(_Features(_classes()["Example"].FromString(payload), path, where))
        classes = _classes()
        return _source_map(
            classes["Scenario"].FromString(payload), classes["ScenarioPoints"].FromString(payload)
        )
    except DecodeError as error:
        raise InputError(path, where, f"not a WOMD protobuf ({error})") from None


# tf.Example layout: roadgraph sample types, and the state fields by their ObjectState names
_SAMPLE_LANES = {1: "freeway", 2: "surface_street", 3: "bike_lane"}
_SAMPLE_LINES = {6 + k: marking for k, marking in enumerate(_LINE_MARKINGS[1:])}  # 6..13
_SAMPLE_EDGES = {15: "road_edge", 16: "median"}
_SAMPLE_AREAS = {18: "crosswalk", 19: "speed_bump"}
_STOP_SIGN_SAMPLE = 17
_EXAMPLE_STATES = {
    "center_x": "x",
    "center_y": "y",
    "heading": "bbox_yaw",
    "velocity_x": "velocity_x",
    "velocity_y": "velocity_y",
    "length": "length",
    "width": "width",
    "valid": "valid",
}
_PERIODS = ("past", "current", "future")


class _Features:
    """The named feature lists of a tf.Example, as checked numpy arrays."""

    def __init__(self, example: Any, path: Path, where: str) -> None:
        self.values = {entry.key: entry.value for entry in example.features.feature}
        self.path, self.where = path, where

    def array(self, key: str, columns: int | None = None, required: bool = True) -> np.ndarray:
        """Feature `key` as float64, (N,) or (N / columns, columns); empty when absent and optional."""
        feature = self.values.get(key)
        if feature is None:
            if required:
                raise InputError(self.path, self.where, f"tf.Example lacks the feature {key[:60]!r}")
            return np.zeros((0,) if columns is None else (0, columns))
        if feature.HasField("float_list"):
            values = np.array(feature.float_list.value, dtype=np.float64)
        elif feature.HasField("int64_list"):
            values = np.array(feature.int64_list.value, dtype=np.float64)
        else:
            raise InputError(self.path, self.where, f"tf.Example feature {key[:60]!r} holds no numbers")
        if columns is not None:
            if len(values) % columns:
                raise InputError(
                    self.path,
                    self.where,
                    f"tf.Example feature {key[:60]!r}: {len(values)} values, not rows of {columns}",
                )
            values = values.reshape(-1, columns)
        return values


def _example_scenario(payload: bytes, path: Path, where: str) -> Scenario:
    """The core scenario of a record in the flattened tf.Example layout: agents' past (P steps),
    current (1) and future (F) states side by side (current step = P); the map from roadgraph
    samples grouped by id (no topology: `build_map` infers it); lights from the per-step states."""
    try:
        example = _classes()["Example"].FromString(payload)
    except DecodeError as error:
        raise InputError(path, where, f"not a tf.Example protobuf ({error})") from None
    features = _Features(example, path, where)
    ids = features.array("state/id")
    num_agents = len(ids)
    grid: dict[str, np.ndarray] = {}
    for name, key in _EXAMPLE_STATES.items():
        parts = [features.array(f"state/{period}/{key}") for period in _PERIODS]
        if num_agents == 0 or any(len(part) % num_agents for part in parts):
            raise InputError(path, where, f"tf.Example state/*/{key}: not {num_agents} agents x steps")
        grid[name] = np.concatenate([part.reshape(num_agents, -1) for part in parts], axis=1)
    past = grid["valid"].shape[1] - 1 - features.array("state/future/valid").size // num_agents
    num_steps = grid["valid"].shape[1]
    _check_size(num_agents, num_steps, path, where)
    if len({values.shape for values in grid.values()}) != 1:
        raise InputError(path, where, "tf.Example state fields differ in their number of steps")
    per_agent = {key: features.array(f"state/{key}") for key in ("is_sdc", "type")}
    times = [features.array(f"state/{period}/timestamp_micros") for period in _PERIODS]
    if (
        any(len(values) != num_agents for values in per_agent.values())
        or sum(map(len, times)) != grid["valid"].size
    ):
        raise InputError(path, where, f"tf.Example per-agent fields do not all hold {num_agents} agents")
    rows = np.flatnonzero((grid["valid"] > 0.5).any(axis=1))  # padding rows hold no state
    sdc_rows = np.flatnonzero(per_agent["is_sdc"][rows] > 0.5)
    if len(sdc_rows) != 1:
        raise InputError(path, where, f"tf.Example marks {len(sdc_rows)} valid agents as the SDC, not one")
    sdc_row = int(rows[sdc_rows[0]])
    timestamps = np.concatenate([t.reshape(num_agents, -1)[sdc_row] for t in times]) / 1e6
    types = np.nan_to_num(per_agent["type"], nan=-1.0, posinf=-1.0, neginf=-1.0)
    raw_id = features.values.get("scenario/id")
    scenario_id = _safe_id(
        raw_id.bytes_list.value[0] if raw_id is not None and raw_id.bytes_list.value else b"", path, where
    )
    log = _LogGrid(
        scenario_id,
        _time_step(timestamps, path, where),
        ids[rows].astype(np.int64),
        tuple(_AGENT_TYPES.get(int(kind), AgentType.UNKNOWN) for kind in types[rows]),
        {name: values[rows] for name, values in grid.items()},
        int(sdc_rows[0]),
        past,
    )
    return _assemble(log, _roadgraph(features), _example_signals(features, num_steps), path, where)


def _roadgraph(features: _Features) -> SourceMap:
    """The map of the roadgraph samples: consecutive valid samples of one id form a polyline."""
    xyz = features.array("roadgraph_samples/xyz", 3)
    kinds = features.array("roadgraph_samples/type")
    ids = features.array("roadgraph_samples/id")
    valid = features.array("roadgraph_samples/valid") > 0.5
    if not len(xyz) == len(kinds) == len(ids) == len(valid):
        raise InputError(
            features.path, features.where, "tf.Example roadgraph_samples fields differ in length"
        )
    if len(valid) and valid.all():
        raise InputError(
            features.path,
            features.where,
            f"tf.Example roadgraph uses all {len(valid)} sample slots, so its map is cut off: "
            "read this scenario from WOMD's Scenario protos (scenario/*.tfrecord)",
        )
    xy, kinds, ids = xyz[valid, :2], kinds[valid].astype(np.int64), ids[valid].astype(np.int64)
    lanes, lines, areas, signs = [], [], [], []
    starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]])) if len(ids) else np.zeros(0, int)
    for start, end in zip(starts, [*starts[1:], len(ids)], strict=True):
        feature, kind, points = int(ids[start]), int(kinds[start]), xy[start:end]
        if kind in _SAMPLE_LANES:
            lanes.append(LaneFeature(feature, points, _SAMPLE_LANES[kind]))
        elif kind in _SAMPLE_LINES or kind in _SAMPLE_EDGES:
            edge = kind in _SAMPLE_EDGES
            marking = _SAMPLE_EDGES[kind] if edge else _SAMPLE_LINES[kind]
            lines.append(LineFeature(feature, points, marking, edge))
        elif kind in _SAMPLE_AREAS:
            areas.append(AreaFeature(feature, _SAMPLE_AREAS[kind], points))
        elif kind == _STOP_SIGN_SAMPLE:
            signs.append(StopSignFeature(feature, (), (float(points[0, 0]), float(points[0, 1]))))
    return SourceMap(tuple(lanes), tuple(lines), tuple(areas), tuple(signs))


def _example_signals(features: _Features, num_steps: int) -> tuple[SignalFeature, ...]:
    """Per signalled lane its colour per step, from traffic_light_state/{past,current,future}."""
    fields = {}
    for name in ("id", "state", "valid", "x", "y"):
        parts = [
            features.array(f"traffic_light_state/{period}/{name}", required=False) for period in _PERIODS
        ]
        lights = len(parts[1])
        if lights == 0:
            return ()
        if any(len(part) % lights for part in parts):
            raise InputError(
                features.path, features.where, f"tf.Example traffic_light_state/*/{name}: ragged"
            )
        fields[name] = np.concatenate([part.reshape(-1, lights) for part in parts])[:num_steps]
    if len({values.shape for values in fields.values()}) != 1:
        raise InputError(
            features.path, features.where, "tf.Example traffic_light_state fields differ in shape"
        )
    colors: dict[int, list[LightColor]] = {}
    stops: dict[int, tuple[float, float]] = {}
    for step, column in zip(*np.nonzero(fields["valid"] > 0.5), strict=True):
        lane = int(fields["id"][step, column])
        if lane not in colors:
            colors[lane] = [LightColor.INACTIVE] * num_steps
            stops[lane] = (float(fields["x"][step, column]), float(fields["y"][step, column]))
        number = int(fields["state"][step, column])
        colors[lane][step] = LANE_STATE_BY_NUMBER[number] if 0 <= number < 9 else LightColor.INACTIVE
    return tuple(SignalFeature(lane, stops[lane], tuple(colors[lane])) for lane in sorted(colors))
