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
`tracks_to_predict`, speed bumps, driveways, lidar data. Files in the flattened `tf.Example` layout
(the motion dataset's other release) are rejected with that reason.
"""

from __future__ import annotations

import re
import struct
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import google_crc32c
import numpy as np
from google.protobuf.message import DecodeError

from drivestack.core.errors import InputError
from drivestack.core.scenario import AgentType, LightColor, Scenario
from drivestack.data.formats._log import (
    MAX_TIME_STEP,
    MIN_TIME_STEP,
    drop_agent,
    log_tracks,
    problem_from_track,
)
from drivestack.data.formats._proto import message_classes
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
MAX_TRACK_CELLS = 20_000_000
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
        raise InputError(
            path,
            where,
            "a tf.Example (the flattened motion layout), not a Scenario proto: "
            "drivestack reads WOMD's scenario/*.tfrecord files",
        )
    try:
        message = _classes()["Scenario"].FromString(payload)
    except DecodeError as error:
        raise InputError(path, where, f"not a WOMD Scenario protobuf ({error})") from None
    return _scenario(message, path, where)


def _points(points: Any) -> np.ndarray:
    """(P, 2) [m] x, y of repeated MapPoints."""
    return np.array([(point.x, point.y) for point in points], dtype=np.float64).reshape(-1, 2)


def _source_map(message: Any) -> SourceMap:
    """The neutral map of a Scenario's map features."""
    lanes, lines, areas, signs = [], [], [], []
    for feature in message.map_features:
        kind = _feature_kind(feature)
        if kind == "lane":
            lane = feature.lane
            lanes.append(
                LaneFeature(
                    id=int(feature.id),
                    center=_points(lane.polyline),
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
            lines.append(LineFeature(int(feature.id), _points(feature.road_line.polyline), marking, False))
        elif kind == "road_edge":
            edge = feature.road_edge
            marking = _EDGE_MARKINGS[edge.type] if 0 <= edge.type < 3 else "road_edge"
            lines.append(LineFeature(int(feature.id), _points(edge.polyline), marking, True))
        elif kind == "stop_sign":
            position = feature.stop_sign.position
            signs.append(
                StopSignFeature(
                    int(feature.id), tuple(int(i) for i in feature.stop_sign.lane), (position.x, position.y)
                )
            )
        elif kind in ("crosswalk", "speed_bump", "driveway"):
            areas.append(AreaFeature(int(feature.id), kind, _points(getattr(feature, kind).polygon)))
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


def _state_grid(message: Any, num_steps: int, path: Path, where: str) -> dict[str, np.ndarray]:
    """The tracks' object states as (agents, steps) arrays; every track must have one state per step."""
    names = ("center_x", "center_y", "heading", "velocity_x", "velocity_y", "length", "width", "valid")
    rows = []
    for index, track in enumerate(message.tracks):
        if len(track.states) != num_steps:
            raise InputError(
                path, f"{where} / track {index}", f"{len(track.states)} states for {num_steps} timestamps"
            )
        rows.append(
            [
                (s.center_x, s.center_y, s.heading, s.velocity_x, s.velocity_y, s.length, s.width, s.valid)
                for s in track.states
            ]
        )
    table = np.array(rows, dtype=np.float64).reshape(len(rows), num_steps, len(names))
    return {name: table[:, :, k] for k, name in enumerate(names)}


def _scenario(message: Any, path: Path, where: str) -> Scenario:
    """The core scenario of a decoded WOMD Scenario message."""
    timestamps = np.array(message.timestamps_seconds, dtype=np.float64)
    num_steps, num_agents = len(timestamps), len(message.tracks)
    if num_steps == 0:
        raise InputError(path, where, "no timestamps")
    if num_agents * num_steps > MAX_TRACK_CELLS:
        raise InputError(
            path,
            where,
            f"{num_agents} tracks x {num_steps} steps exceed the limit of {MAX_TRACK_CELLS} cells",
        )
    steps = np.diff(timestamps)
    if len(steps) and not (np.isfinite(steps).all() and (steps > 0).all()):
        raise InputError(path, where, "timestamps are not increasing")
    dt = round(float(np.median(steps)), 3) if len(steps) else 0.1
    if not MIN_TIME_STEP <= dt <= MAX_TIME_STEP:
        raise InputError(path, where, f"time step {dt:.3g} s outside [{MIN_TIME_STEP}, {MAX_TIME_STEP}] s")
    raw_id = message.scenario_id  # protobuf hands over invalid UTF-8 as bytes
    raw_id = raw_id.decode("utf-8", "replace") if isinstance(raw_id, bytes) else raw_id
    scenario_id = _SAFE_ID.sub("_", raw_id)[:128] or f"womd-{path.stem}-{where.split()[-1]}"
    sdc, current = int(message.sdc_track_index), int(message.current_time_index)
    if not 0 <= sdc < num_agents:
        raise InputError(path, where, f"sdc_track_index {sdc} is not one of the {num_agents} tracks")
    if not 0 <= current < num_steps:
        raise InputError(path, where, f"current_time_index {current} is outside the {num_steps} steps")
    ids = np.array([track.id for track in message.tracks], dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise InputError(path, where, "two tracks share an id")
    grid = _state_grid(message, num_steps, path, where)
    tracks = log_tracks(
        ids=ids,
        agent_type=tuple(_AGENT_TYPES.get(track.object_type, AgentType.UNKNOWN) for track in message.tracks),
        x=grid["center_x"],
        y=grid["center_y"],
        yaw=grid["heading"],
        vx=grid["velocity_x"],
        vy=grid["velocity_y"],
        length=grid["length"],
        width=grid["width"],
        valid=grid["valid"] > 0.5,
        dt=dt,
    )
    graph, lights, signs = build_map(
        _source_map(message), f"womd-{scenario_id}", _signals(message, num_steps)
    )
    problem, recorded = problem_from_track(tracks, sdc, current, graph, dt, source=path)
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
        source=FORMAT,
        source_file=str(path),
    )


def source_map(path: Path, member: str | None = None) -> SourceMap:
    """The record's map as the source draws it (for pictures next to the converted lane graph)."""
    path = Path(path)
    offset = int(member) if member is not None and member.isdigit() else 0
    try:
        message = _classes()["Scenario"].FromString(read_record(path, offset))
    except DecodeError as error:
        raise InputError(
            path, f"record at byte {offset}", f"not a WOMD Scenario protobuf ({error})"
        ) from None
    return _source_map(message)
