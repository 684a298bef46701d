"""The store's table layout: Arrow schemas, and the conversion of core types to rows and back.

Long format, keyed by `scenario_key`: `tracks` holds one row per (scenario, agent, valid step), the
other per-scenario tables one row per agent, obstacle, light, sign, planning problem, goal state or
recorded-ego step. Maps live in `maps`/`lanes`/`intersections` keyed by `map_key`, a content hash,
so scenarios recorded on the same map share one copy. Positions stay float64 [m]; steps are int32.
Shapes are a struct column (primitive fields plus one level of `parts` for shape groups).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from drivestack.core.map import (
    Intersection,
    IntersectionIncoming,
    Lane,
    LaneGraph,
    Neighbour,
    StopLine,
)
from drivestack.core.scenario import (
    AgentType,
    EgoState,
    FloatArray,
    Goal,
    GoalState,
    Interval,
    LightColor,
    Location,
    Occupancy,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Shape,
    ShapeKind,
    StaticObstacle,
    Tracks,
    TrafficLight,
    TrafficSign,
    Trajectory,
)

F64 = pa.float64()
I32 = pa.int32()
I64 = pa.int64()
STR = pa.string()
KEY = pa.field("scenario_key", STR, nullable=False)

_PRIMITIVE_FIELDS = [
    pa.field("kind", STR),
    pa.field("length", F64),
    pa.field("width", F64),
    pa.field("radius", F64),
    pa.field("center_x", F64),
    pa.field("center_y", F64),
    pa.field("orientation", F64),
    pa.field("vertices_x", pa.list_(F64)),
    pa.field("vertices_y", pa.list_(F64)),
]
PRIMITIVE = pa.struct(_PRIMITIVE_FIELDS)
SHAPE = pa.struct([*_PRIMITIVE_FIELDS, pa.field("parts", pa.list_(PRIMITIVE))])
"""A `Shape` as a struct: a primitive, or a group of primitives in `parts` (CommonRoad nests no deeper)."""

AGENT_COUNT_COLUMNS = {
    AgentType.CAR: "num_cars",
    AgentType.TRUCK: "num_trucks",
    AgentType.BUS: "num_buses",
    AgentType.MOTORCYCLE: "num_motorcycles",
    AgentType.BICYCLE: "num_bicycles",
    AgentType.PEDESTRIAN: "num_pedestrians",
}
"""Agent types counted in their own `scenarios` column; every other type is counted in `num_other_agents`."""

SCHEMAS: dict[str, pa.Schema] = {
    "scenarios": pa.schema(
        [
            KEY,
            pa.field("scenario_id", STR),
            pa.field("recording_group", STR),
            pa.field("format_version", STR),
            pa.field("source_format", STR),
            pa.field("source", STR),
            pa.field("author", STR),
            pa.field("affiliation", STR),
            pa.field("file", STR),
            pa.field("solution_files", pa.list_(STR)),
            pa.field("content_hash", STR),
            pa.field("batch", STR),
            pa.field("dt", F64),
            pa.field("num_steps", I32),
            pa.field("duration", F64),
            pa.field("num_agents", I32),
            *[pa.field(column, I32) for column in AGENT_COUNT_COLUMNS.values()],
            pa.field("num_other_agents", I32),
            pa.field("num_track_rows", I64),
            pa.field("num_static_obstacles", I32),
            pa.field("map_id", STR),
            pa.field("map_key", STR),
            pa.field("num_lanes", I32),
            pa.field("num_traffic_lights", I32),
            pa.field("num_traffic_signs", I32),
            pa.field("has_traffic_lights", pa.bool_()),
            pa.field("num_planning_problems", I32),
            pa.field("num_recorded_egos", I32),
            pa.field("has_recorded_ego", pa.bool_()),
            pa.field("tags", pa.list_(STR)),
            pa.field("geo_name_id", I64),
            pa.field("latitude", F64),
            pa.field("longitude", F64),
        ]
    ),
    "agents": pa.schema(
        [
            KEY,
            pa.field("agent_index", I32),
            pa.field("agent_id", I64),
            pa.field("agent_type", STR),
            pa.field("length", F64),
            pa.field("width", F64),
            pa.field("shape", SHAPE),
        ]
    ),
    "tracks": pa.schema(
        [
            KEY,
            pa.field("agent_id", I64),
            pa.field("agent_type", STR),
            pa.field("step", I32),
            pa.field("x", F64),
            pa.field("y", F64),
            pa.field("yaw", F64),
            pa.field("speed", F64),
            pa.field("vx", F64),
            pa.field("vy", F64),
            pa.field("acceleration", F64),
            pa.field("yaw_rate", F64),
        ]
    ),
    "static_obstacles": pa.schema(
        [
            KEY,
            pa.field("obstacle_id", I64),
            pa.field("agent_type", STR),
            pa.field("x", F64),
            pa.field("y", F64),
            pa.field("yaw", F64),
            pa.field("shape", SHAPE),
        ]
    ),
    "occupancies": pa.schema(
        [
            KEY,
            pa.field("obstacle_id", I64),
            pa.field("agent_type", STR),
            pa.field("phantom", pa.bool_()),
            pa.field("step", I32),
            pa.field("shape", SHAPE),
        ]
    ),
    "traffic_lights": pa.schema(
        [
            KEY,
            pa.field("light_id", I64),
            pa.field("x", F64),
            pa.field("y", F64),
            pa.field("cycle", pa.list_(pa.struct([("color", STR), ("duration", I64)]))),
            pa.field("offset", I64),
            pa.field("direction", STR),
            pa.field("active", pa.bool_()),
        ]
    ),
    "traffic_signs": pa.schema(
        [
            KEY,
            pa.field("sign_id", I64),
            pa.field("x", F64),
            pa.field("y", F64),
            pa.field("elements", pa.list_(pa.struct([("sign", STR), ("values", pa.list_(STR))]))),
            pa.field("virtual", pa.bool_()),
        ]
    ),
    "planning_problems": pa.schema(
        [
            KEY,
            pa.field("planning_problem_id", I64),
            pa.field("step", I32),
            pa.field("x", F64),
            pa.field("y", F64),
            pa.field("yaw", F64),
            pa.field("speed", F64),
            pa.field("acceleration", F64),
            pa.field("yaw_rate", F64),
            pa.field("slip_angle", F64),
            pa.field("steering_angle", F64),
        ]
    ),
    "goals": pa.schema(
        [
            KEY,
            pa.field("planning_problem_id", I64),
            pa.field("goal_index", I32),
            pa.field("time_start", F64),
            pa.field("time_end", F64),
            pa.field("regions", pa.list_(SHAPE)),
            pa.field("lanelet_ids", pa.list_(I64)),
            pa.field("velocity_start", F64),
            pa.field("velocity_end", F64),
            pa.field("orientation_start", F64),
            pa.field("orientation_end", F64),
        ]
    ),
    "recorded_egos": pa.schema(
        [
            KEY,
            pa.field("ego_index", I32),
            pa.field("planning_problem_id", I64),
            pa.field("step", I32),
            pa.field("x", F64),
            pa.field("y", F64),
            pa.field("yaw", F64),
            pa.field("speed", F64),
            pa.field("acceleration", F64),
            pa.field("steering_angle", F64),
            pa.field("dt", F64),
            pa.field("vehicle_model", STR),
            pa.field("vehicle_type", I64),
            pa.field("cost_function", STR),
            pa.field("source_file", STR),
        ]
    ),
    "maps": pa.schema(
        [
            pa.field("map_key", STR, nullable=False),
            pa.field("map_id", STR),
            pa.field("num_lanes", I32),
            pa.field("num_intersections", I32),
        ]
    ),
    "lanes": pa.schema(
        [
            pa.field("map_key", STR, nullable=False),
            pa.field("lane_index", I32),
            pa.field("lane_id", I64),
            pa.field("left_x", pa.list_(F64)),
            pa.field("left_y", pa.list_(F64)),
            pa.field("right_x", pa.list_(F64)),
            pa.field("right_y", pa.list_(F64)),
            pa.field("center_x", pa.list_(F64)),
            pa.field("center_y", pa.list_(F64)),
            pa.field("predecessors", pa.list_(I64)),
            pa.field("successors", pa.list_(I64)),
            pa.field("left_neighbour", I64),
            pa.field("left_same_direction", pa.bool_()),
            pa.field("right_neighbour", I64),
            pa.field("right_same_direction", pa.bool_()),
            pa.field("lane_types", pa.list_(STR)),
            pa.field("users_one_way", pa.list_(STR)),
            pa.field("users_bidirectional", pa.list_(STR)),
            pa.field("speed_limit", F64),
            pa.field("left_marking", STR),
            pa.field("right_marking", STR),
            pa.field(
                "stop_line",
                pa.struct(
                    [
                        ("start_x", F64),
                        ("start_y", F64),
                        ("end_x", F64),
                        ("end_y", F64),
                        ("marking", STR),
                        ("traffic_sign_ids", pa.list_(I64)),
                        ("traffic_light_ids", pa.list_(I64)),
                    ]
                ),
            ),
            pa.field("traffic_sign_ids", pa.list_(I64)),
            pa.field("traffic_light_ids", pa.list_(I64)),
        ]
    ),
    "intersections": pa.schema(
        [
            pa.field("map_key", STR, nullable=False),
            pa.field("intersection_index", I32),
            pa.field("intersection_id", I64),
            pa.field(
                "incomings",
                pa.list_(
                    pa.struct(
                        [
                            ("id", I64),
                            ("incoming_lane_ids", pa.list_(I64)),
                            ("successors_right", pa.list_(I64)),
                            ("successors_straight", pa.list_(I64)),
                            ("successors_left", pa.list_(I64)),
                            ("is_left_of", I64),
                        ]
                    )
                ),
            ),
        ]
    ),
    "tags": pa.schema(
        [
            KEY,
            pa.field("tag", STR),
            pa.field("agent_id", I64),
            pa.field("step_start", I32),
            pa.field("step_end", I32),
            pa.field("value", F64),
            pa.field("planning_problem_id", I64),
            pa.field("detector", STR),
            pa.field("version", I32),
        ]
    ),
    "mined": pa.schema([KEY, pa.field("detector", STR), pa.field("version", I32)]),
    "sets": pa.schema([pa.field("set_name", STR, nullable=False), KEY]),
    "set_definitions": pa.schema(
        [
            pa.field("set_name", STR, nullable=False),
            pa.field("size", I64),
            pa.field("where_sql", STR),
            pa.field("tags", pa.list_(STR)),
            pa.field("limit", I64),
            pa.field("seed", I64),
            pa.field("split_of", STR),
            pa.field("split_by", STR),
            pa.field("ratio", F64),
        ]
    ),
    "rejected": pa.schema(
        [
            pa.field("file", STR, nullable=False),
            pa.field("kind", STR),
            pa.field("content_hash", STR),
            pa.field("scenario_key", STR),
            pa.field("reason", STR),
        ]
    ),
}
"""Schema of every table in the store: ingested data, mined tags (`mined`: which scenarios a detector
version has processed, tags or not), scenario sets and rejected input files."""

_EMPTY = {name: schema.empty_table() for name, schema in SCHEMAS.items()}

SCENARIO_TABLES = (
    "scenarios",
    "agents",
    "tracks",
    "static_obstacles",
    "occupancies",
    "traffic_lights",
    "traffic_signs",
    "planning_problems",
    "goals",
    "recorded_egos",
)
"""Tables with rows per scenario, written once per ingest batch and partitioned by dataset."""

MAP_TABLES = ("maps", "lanes", "intersections")
"""Tables with rows per map, keyed by `map_key` and written only for maps not stored yet."""


@dataclass(frozen=True)
class Provenance:
    """Where a scenario came from and how the store keys it (`scenarios` columns not in `Scenario`)."""

    scenario_key: str
    recording_group: str
    content_hash: str
    solution_files: tuple[str, ...]
    batch: str
    source_format: str
    """The format the scenario was read from (`formats.registry`: "commonroad", "womd", ...)."""


def _table(name: str, columns: Mapping[str, Any]) -> pa.Table:
    """A table of schema `name` from column values (lists or arrays, in schema order)."""
    schema = SCHEMAS[name]
    if all(len(values) == 0 for values in columns.values()):
        return _EMPTY[name]
    return pa.Table.from_arrays([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)


def _repeat(value: str, rows: int) -> pa.Array:
    """A string column holding `value` on `rows` rows."""
    return pa.repeat(pa.scalar(value, STR), rows)


# ---------------------------------------------------------------------------- shapes


def _primitive_row(shape: Shape) -> dict[str, Any]:
    """The primitive fields of `shape` as a struct row."""
    vertices = np.asarray(shape.vertices, dtype=np.float64).reshape(-1, 2)
    return {
        "kind": shape.kind.value,
        "length": shape.length,
        "width": shape.width,
        "radius": shape.radius,
        "center_x": shape.center[0],
        "center_y": shape.center[1],
        "orientation": shape.orientation,
        "vertices_x": vertices[:, 0],
        "vertices_y": vertices[:, 1],
    }


def shape_row(shape: Shape) -> dict[str, Any]:
    """`shape` as a SHAPE struct row; raises ValueError for a group nested inside a group."""
    if any(part.kind is ShapeKind.GROUP for part in shape.parts):
        raise ValueError("shape groups nested inside shape groups cannot be stored")
    return {**_primitive_row(shape), "parts": [_primitive_row(part) for part in shape.parts]}


def shape_from_row(row: Mapping[str, Any]) -> Shape:
    """The `Shape` a SHAPE (or PRIMITIVE) struct row holds."""
    return Shape(
        kind=ShapeKind(row["kind"]),
        length=row["length"],
        width=row["width"],
        radius=row["radius"],
        center=(row["center_x"], row["center_y"]),
        orientation=row["orientation"],
        vertices=_points(row["vertices_x"], row["vertices_y"]),
        parts=tuple(shape_from_row(part) for part in row.get("parts") or ()),
    )


def _points(xs: Sequence[float], ys: Sequence[float]) -> FloatArray:
    """(P, 2) float64 points from parallel coordinate lists."""
    return np.column_stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)]).reshape(
        -1, 2
    )


# ---------------------------------------------------------------------------- maps


def map_key(graph: LaneGraph) -> str:
    """The map's storage key: its `map_id` and a hash of every field of every lane and intersection.

    Equal keys mean equal `lanes`/`intersections` rows, so scenarios on one map share one stored copy.
    """
    digest = hashlib.sha256(graph.map_id.encode())
    for lane in graph.lanes.values():
        for item in dataclasses.fields(lane):
            value = getattr(lane, item.name)
            if isinstance(value, np.ndarray):
                digest.update(repr(value.shape).encode())
                digest.update(np.ascontiguousarray(value, dtype=np.float64).tobytes())
            else:
                digest.update(repr(value).encode())
    digest.update(repr(graph.intersections).encode())
    return f"{graph.map_id}#{digest.hexdigest()[:16]}"


def map_tables(graph: LaneGraph, key: str) -> dict[str, pa.Table]:
    """The `maps`, `lanes` and `intersections` rows of a lane graph stored under `key` (see `map_key`)."""
    lanes = list(graph.lanes.values())
    lane_columns: dict[str, Any] = {
        "map_key": _repeat(key, len(lanes)),
        "lane_index": np.arange(len(lanes), dtype=np.int32),
        "lane_id": [lane.id for lane in lanes],
        **{
            f"{bound}_{axis}": column
            for bound in ("left", "right", "center")
            for axis, column in zip(
                "xy", _polyline_columns([getattr(lane, bound) for lane in lanes]), strict=True
            )
        },
        "predecessors": [lane.predecessors for lane in lanes],
        "successors": [lane.successors for lane in lanes],
        **{
            f"{side}_{part}": [
                None if (n := getattr(lane, f"{side}_neighbour")) is None else getattr(n, attribute)
                for lane in lanes
            ]
            for side in ("left", "right")
            for part, attribute in (("neighbour", "lane_id"), ("same_direction", "same_direction"))
        },
        "lane_types": [lane.lane_types for lane in lanes],
        "users_one_way": [lane.users_one_way for lane in lanes],
        "users_bidirectional": [lane.users_bidirectional for lane in lanes],
        "speed_limit": [lane.speed_limit for lane in lanes],
        "left_marking": [lane.left_marking for lane in lanes],
        "right_marking": [lane.right_marking for lane in lanes],
        "stop_line": [None if lane.stop_line is None else _stop_line_row(lane.stop_line) for lane in lanes],
        "traffic_sign_ids": [lane.traffic_sign_ids for lane in lanes],
        "traffic_light_ids": [lane.traffic_light_ids for lane in lanes],
    }
    intersection_columns: dict[str, Any] = {
        "map_key": _repeat(key, len(graph.intersections)),
        "intersection_index": np.arange(len(graph.intersections), dtype=np.int32),
        "intersection_id": [item.id for item in graph.intersections],
        "incomings": [
            [
                {
                    "id": incoming.id,
                    "incoming_lane_ids": incoming.incoming_lane_ids,
                    "successors_right": incoming.successors_right,
                    "successors_straight": incoming.successors_straight,
                    "successors_left": incoming.successors_left,
                    "is_left_of": incoming.is_left_of,
                }
                for incoming in item.incomings
            ]
            for item in graph.intersections
        ],
    }
    return {
        "maps": _table(
            "maps",
            {
                "map_key": [key],
                "map_id": [graph.map_id],
                "num_lanes": [len(lanes)],
                "num_intersections": [len(graph.intersections)],
            },
        ),
        "lanes": _table("lanes", lane_columns),
        "intersections": _table("intersections", intersection_columns),
    }


def _polyline_columns(lines: Sequence[FloatArray]) -> tuple[pa.ListArray, pa.ListArray]:
    """(x lists, y lists) of polylines (P_i, 2) [m], built from one concatenated buffer."""
    offsets = pa.array(np.r_[0, np.cumsum([len(line) for line in lines])].astype(np.int32))
    points = np.concatenate(
        [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines] or [np.zeros((0, 2))]
    )
    return (
        pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(points[:, 0]))),
        pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(points[:, 1]))),
    )


def table_digest(tables: Iterable[pa.Table], salt: str = "") -> str:
    """sha256 (hex) over `salt` and the Arrow IPC serialisation of `tables`: equal rows, equal digest."""
    digest = hashlib.sha256(salt.encode())
    for table in tables:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue())
    return digest.hexdigest()


def set_string_column(table: pa.Table, column: str, value: str) -> pa.Table:
    """`table` with string `column` set to `value` on every row."""
    index = table.schema.get_field_index(column)
    return table.set_column(index, table.schema.field(index), _repeat(value, table.num_rows))


def _stop_line_row(line: StopLine) -> dict[str, Any]:
    start = line.start or (None, None)
    end = line.end or (None, None)
    return {
        "start_x": start[0],
        "start_y": start[1],
        "end_x": end[0],
        "end_y": end[1],
        "marking": line.marking,
        "traffic_sign_ids": line.traffic_sign_ids,
        "traffic_light_ids": line.traffic_light_ids,
    }


def _point_or_none(x: float | None, y: float | None) -> tuple[float, float] | None:
    return None if x is None or y is None else (x, y)


def lane_graph_from_tables(map_row: Mapping[str, Any], lanes: pa.Table, intersections: pa.Table) -> LaneGraph:
    """Rebuild a `LaneGraph` from its `maps` row and its `lanes` and `intersections` rows."""
    graph_lanes: dict[int, Lane] = {}
    for row in lanes.sort_by("lane_index").to_pylist():
        line = row["stop_line"]
        graph_lanes[row["lane_id"]] = Lane(
            id=row["lane_id"],
            left=_points(row["left_x"], row["left_y"]),
            right=_points(row["right_x"], row["right_y"]),
            center=_points(row["center_x"], row["center_y"]),
            predecessors=tuple(row["predecessors"]),
            successors=tuple(row["successors"]),
            left_neighbour=_neighbour(row["left_neighbour"], row["left_same_direction"]),
            right_neighbour=_neighbour(row["right_neighbour"], row["right_same_direction"]),
            lane_types=tuple(row["lane_types"]),
            users_one_way=tuple(row["users_one_way"]),
            users_bidirectional=tuple(row["users_bidirectional"]),
            speed_limit=row["speed_limit"],
            left_marking=row["left_marking"],
            right_marking=row["right_marking"],
            stop_line=None
            if line is None
            else StopLine(
                start=_point_or_none(line["start_x"], line["start_y"]),
                end=_point_or_none(line["end_x"], line["end_y"]),
                marking=line["marking"],
                traffic_sign_ids=tuple(line["traffic_sign_ids"]),
                traffic_light_ids=tuple(line["traffic_light_ids"]),
            ),
            traffic_sign_ids=tuple(row["traffic_sign_ids"]),
            traffic_light_ids=tuple(row["traffic_light_ids"]),
        )
    return LaneGraph(
        map_id=map_row["map_id"],
        lanes=graph_lanes,
        intersections=tuple(
            Intersection(
                id=row["intersection_id"],
                incomings=tuple(
                    IntersectionIncoming(
                        id=incoming["id"],
                        incoming_lane_ids=tuple(incoming["incoming_lane_ids"]),
                        successors_right=tuple(incoming["successors_right"]),
                        successors_straight=tuple(incoming["successors_straight"]),
                        successors_left=tuple(incoming["successors_left"]),
                        is_left_of=incoming["is_left_of"],
                    )
                    for incoming in row["incomings"]
                ),
            )
            for row in intersections.sort_by("intersection_index").to_pylist()
        ),
    )


def _neighbour(lane_id: int | None, same_direction: bool | None) -> Neighbour | None:
    return None if lane_id is None else Neighbour(lane_id=lane_id, same_direction=bool(same_direction))


# ---------------------------------------------------------------------------- scenarios


def scenario_tables(scenario: Scenario, provenance: Provenance, map_key: str) -> dict[str, pa.Table]:
    """All per-scenario rows of `scenario` (tables of SCENARIO_TABLES), keyed by `provenance.scenario_key`.

    Raises ValueError when the scenario cannot be stored faithfully (duplicate agent ids, empty
    recorded-ego trajectories, nested shape groups).
    """
    key = provenance.scenario_key
    tracks = scenario.tracks
    if len(np.unique(tracks.ids)) != tracks.num_agents:
        raise ValueError("dynamic obstacle ids are not unique")
    if tracks.num_steps != scenario.num_steps:
        raise ValueError(f"tracks cover {tracks.num_steps} steps, the scenario {scenario.num_steps}")
    tables = {
        "scenarios": _scenarios_row(scenario, provenance, map_key),
        "agents": _agents_rows(key, tracks),
        "tracks": _track_rows(key, tracks),
        "static_obstacles": _table(
            "static_obstacles",
            {
                "scenario_key": [key] * len(scenario.static_obstacles),
                "obstacle_id": [item.id for item in scenario.static_obstacles],
                "agent_type": [item.agent_type.value for item in scenario.static_obstacles],
                "x": [item.x for item in scenario.static_obstacles],
                "y": [item.y for item in scenario.static_obstacles],
                "yaw": [item.yaw for item in scenario.static_obstacles],
                "shape": [shape_row(item.shape) for item in scenario.static_obstacles],
            },
        ),
        "occupancies": _occupancy_rows(key, scenario.occupancies),
        "traffic_lights": _table(
            "traffic_lights",
            {
                "scenario_key": [key] * len(scenario.traffic_lights),
                "light_id": [light.id for light in scenario.traffic_lights],
                "x": [light.x for light in scenario.traffic_lights],
                "y": [light.y for light in scenario.traffic_lights],
                "cycle": [
                    [{"color": color.value, "duration": duration} for color, duration in light.cycle]
                    for light in scenario.traffic_lights
                ],
                "offset": [light.offset for light in scenario.traffic_lights],
                "direction": [light.direction for light in scenario.traffic_lights],
                "active": [light.active for light in scenario.traffic_lights],
            },
        ),
        "traffic_signs": _table(
            "traffic_signs",
            {
                "scenario_key": [key] * len(scenario.traffic_signs),
                "sign_id": [sign.id for sign in scenario.traffic_signs],
                "x": [sign.x for sign in scenario.traffic_signs],
                "y": [sign.y for sign in scenario.traffic_signs],
                "elements": [
                    [{"sign": sign_id, "values": values} for sign_id, values in sign.elements]
                    for sign in scenario.traffic_signs
                ],
                "virtual": [sign.virtual for sign in scenario.traffic_signs],
            },
        ),
        "planning_problems": _planning_problem_rows(key, scenario.planning_problems),
        "goals": _goal_rows(key, scenario.planning_problems),
        "recorded_egos": _recorded_ego_rows(key, scenario.recorded_egos),
    }
    return tables


def _scenarios_row(scenario: Scenario, provenance: Provenance, map_key: str) -> pa.Table:
    tracks = scenario.tracks
    counts = {
        column: sum(t is agent_type for t in tracks.agent_type)
        for agent_type, column in AGENT_COUNT_COLUMNS.items()
    }
    location = scenario.location
    return _table(
        "scenarios",
        {
            "scenario_key": [provenance.scenario_key],
            "scenario_id": [scenario.scenario_id],
            "recording_group": [provenance.recording_group],
            "format_version": [scenario.format_version],
            "source_format": [provenance.source_format],
            "source": [scenario.source],
            "author": [scenario.author],
            "affiliation": [scenario.affiliation],
            "file": [scenario.source_file],
            "solution_files": [list(provenance.solution_files)],
            "content_hash": [provenance.content_hash],
            "batch": [provenance.batch],
            "dt": [scenario.dt],
            "num_steps": [scenario.num_steps],
            "duration": [scenario.duration],
            "num_agents": [tracks.num_agents],
            **{column: [count] for column, count in counts.items()},
            "num_other_agents": [tracks.num_agents - sum(counts.values())],
            "num_track_rows": [int(np.count_nonzero(tracks.valid))],
            "num_static_obstacles": [len(scenario.static_obstacles)],
            "map_id": [scenario.lane_graph.map_id],
            "map_key": [map_key],
            "num_lanes": [len(scenario.lane_graph)],
            "num_traffic_lights": [len(scenario.traffic_lights)],
            "num_traffic_signs": [len(scenario.traffic_signs)],
            "has_traffic_lights": [bool(scenario.traffic_lights)],
            "num_planning_problems": [len(scenario.planning_problems)],
            "num_recorded_egos": [len(scenario.recorded_egos)],
            "has_recorded_ego": [bool(scenario.recorded_egos)],
            "tags": [list(scenario.tags)],
            "geo_name_id": [location.geo_name_id],
            "latitude": [location.latitude],
            "longitude": [location.longitude],
        },
    )


def _occupancy_rows(key: str, occupancies: Sequence[Occupancy]) -> pa.Table:
    """One row per (set-based or phantom obstacle, step): its type, whether a phantom, its shape there."""
    rows = [
        (occupancy, int(step), shape)
        for occupancy in occupancies
        for step, shape in zip(occupancy.steps, occupancy.shapes, strict=True)
    ]
    return _table(
        "occupancies",
        {
            "scenario_key": _repeat(key, len(rows)),
            "obstacle_id": [occupancy.id for occupancy, _, _ in rows],
            "agent_type": [occupancy.agent_type.value for occupancy, _, _ in rows],
            "phantom": [occupancy.phantom for occupancy, _, _ in rows],
            "step": [step for _, step, _ in rows],
            "shape": [shape_row(shape) for _, _, shape in rows],
        },
    )


def _occupancies_from_rows(rows: pa.Table) -> tuple[Occupancy, ...]:
    """The occupancies the `occupancies` rows hold, in stored order (rows of one obstacle together)."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows.to_pylist():
        grouped.setdefault(row["obstacle_id"], []).append(row)
    return tuple(
        Occupancy(
            id=obstacle_id,
            agent_type=AgentType(group[0]["agent_type"]),
            steps=np.array([row["step"] for row in group], dtype=np.int64),
            shapes=tuple(shape_from_row(row["shape"]) for row in group),
            phantom=bool(group[0]["phantom"]),
        )
        for obstacle_id, group in grouped.items()
    )


def _agents_rows(key: str, tracks: Tracks) -> pa.Table:
    return _table(
        "agents",
        {
            "scenario_key": _repeat(key, tracks.num_agents),
            "agent_index": np.arange(tracks.num_agents, dtype=np.int32),
            "agent_id": tracks.ids,
            "agent_type": [agent_type.value for agent_type in tracks.agent_type],
            "length": tracks.length,
            "width": tracks.width,
            "shape": [shape_row(shape) for shape in tracks.shapes],
        },
    )


_TYPE_CODES = {agent_type: code for code, agent_type in enumerate(AgentType)}
_TYPE_NAMES = pa.array([agent_type.value for agent_type in AgentType])
_TRACK_VALUES = ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate")


def _track_rows(key: str, tracks: Tracks) -> pa.Table:
    """One row per valid (agent, step), ordered by agent row then step."""
    rows, steps = np.nonzero(tracks.valid)
    type_codes = np.array([_TYPE_CODES[t] for t in tracks.agent_type], dtype=np.int32)
    agent_type = pa.DictionaryArray.from_arrays(pa.array(type_codes[rows]), _TYPE_NAMES).cast(STR)
    return _table(
        "tracks",
        {
            "scenario_key": _repeat(key, len(rows)),
            "agent_id": tracks.ids[rows],
            "agent_type": agent_type,
            "step": steps.astype(np.int32),
            **{name: getattr(tracks, name)[rows, steps] for name in _TRACK_VALUES},
        },
    )


def _planning_problem_rows(key: str, problems: Sequence[PlanningProblem]) -> pa.Table:
    initial = [problem.initial for problem in problems]
    return _table(
        "planning_problems",
        {
            "scenario_key": [key] * len(problems),
            "planning_problem_id": [problem.id for problem in problems],
            **{
                name: [getattr(state, name) for state in initial]
                for name in (
                    "step",
                    "x",
                    "y",
                    "yaw",
                    "speed",
                    "acceleration",
                    "yaw_rate",
                    "slip_angle",
                    "steering_angle",
                )
            },
        },
    )


def _goal_rows(key: str, problems: Sequence[PlanningProblem]) -> pa.Table:
    goals = [
        (problem.id, index, state) for problem in problems for index, state in enumerate(problem.goal.states)
    ]

    def bound(interval: Interval | None, end: str) -> float | None:
        return None if interval is None else float(getattr(interval, end))

    return _table(
        "goals",
        {
            "scenario_key": [key] * len(goals),
            "planning_problem_id": [problem_id for problem_id, _, _ in goals],
            "goal_index": [index for _, index, _ in goals],
            "time_start": [state.time.start for _, _, state in goals],
            "time_end": [state.time.end for _, _, state in goals],
            "regions": [[shape_row(region) for region in state.regions] for _, _, state in goals],
            "lanelet_ids": [state.lanelet_ids for _, _, state in goals],
            **{
                f"{name}_{end}": [bound(getattr(state, name), end) for _, _, state in goals]
                for name in ("velocity", "orientation")
                for end in ("start", "end")
            },
        },
    )


def _recorded_ego_rows(key: str, egos: Sequence[RecordedEgo]) -> pa.Table:
    if any(len(ego.trajectory) == 0 for ego in egos):
        raise ValueError("a recorded ego trajectory has no states")
    sizes = [len(ego.trajectory) for ego in egos]

    def per_ego(values: Sequence[Any]) -> list[Any]:
        return [value for value, size in zip(values, sizes, strict=True) for _ in range(size)]

    def optional_series(name: str) -> pa.Array:
        parts = [
            pa.nulls(size, F64)
            if getattr(ego.trajectory, name) is None
            else pa.array(getattr(ego.trajectory, name))
            for ego, size in zip(egos, sizes, strict=True)
        ]
        return pa.concat_arrays(parts) if parts else pa.array([], F64)

    def series(name: str) -> Any:
        return np.concatenate([getattr(ego.trajectory, name) for ego in egos]) if egos else []

    return _table(
        "recorded_egos",
        {
            "scenario_key": _repeat(key, sum(sizes)),
            "ego_index": per_ego(list(range(len(egos)))),
            "planning_problem_id": per_ego([ego.planning_problem_id for ego in egos]),
            "step": np.concatenate([ego.trajectory.steps for ego in egos]).astype(np.int32) if egos else [],
            **{name: series(name) for name in ("x", "y", "yaw", "speed")},
            "acceleration": optional_series("acceleration"),
            "steering_angle": optional_series("steering_angle"),
            "dt": per_ego([ego.trajectory.dt for ego in egos]),
            "vehicle_model": per_ego([ego.vehicle_model for ego in egos]),
            "vehicle_type": per_ego([ego.vehicle_type for ego in egos]),
            "cost_function": per_ego([ego.cost_function for ego in egos]),
            "source_file": per_ego([ego.source_file for ego in egos]),
        },
    )


def scenario_from_tables(tables: Mapping[str, pa.Table], lane_graph: LaneGraph) -> Scenario:
    """Rebuild the `Scenario` whose rows `tables` hold (one scenario's slice of each SCENARIO_TABLE)."""
    index = tables["scenarios"].to_pylist()[0]
    num_steps = index["num_steps"]
    return Scenario(
        scenario_id=index["scenario_id"],
        dt=index["dt"],
        num_steps=num_steps,
        lane_graph=lane_graph,
        tracks=_tracks_from_rows(tables["agents"], tables["tracks"], num_steps),
        static_obstacles=tuple(
            StaticObstacle(
                id=row["obstacle_id"],
                agent_type=AgentType(row["agent_type"]),
                x=row["x"],
                y=row["y"],
                yaw=row["yaw"],
                shape=shape_from_row(row["shape"]),
            )
            for row in tables["static_obstacles"].to_pylist()
        ),
        occupancies=_occupancies_from_rows(tables["occupancies"]),
        traffic_lights=tuple(
            TrafficLight(
                id=row["light_id"],
                x=row["x"],
                y=row["y"],
                cycle=tuple((LightColor(phase["color"]), phase["duration"]) for phase in row["cycle"]),
                offset=row["offset"],
                direction=row["direction"],
                active=row["active"],
            )
            for row in tables["traffic_lights"].to_pylist()
        ),
        traffic_signs=tuple(
            TrafficSign(
                id=row["sign_id"],
                x=row["x"],
                y=row["y"],
                elements=tuple((item["sign"], tuple(item["values"])) for item in row["elements"]),
                virtual=row["virtual"],
            )
            for row in tables["traffic_signs"].to_pylist()
        ),
        planning_problems=_planning_problems_from_rows(tables["planning_problems"], tables["goals"]),
        recorded_egos=_recorded_egos_from_rows(tables["recorded_egos"]),
        format_version=index["format_version"],
        source=index["source"],
        author=index["author"],
        affiliation=index["affiliation"],
        tags=tuple(index["tags"]),
        location=Location(
            geo_name_id=index["geo_name_id"], latitude=index["latitude"], longitude=index["longitude"]
        ),
        source_file=index["file"],
    )


def _tracks_from_rows(agents: pa.Table, rows: pa.Table, num_steps: int) -> Tracks:
    """Scatter the long-format track rows back onto the (agents, steps) grid; NaN where invalid."""
    agents = agents.sort_by("agent_index")
    ids = agents.column("agent_id").to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    row_ids = rows.column("agent_id").to_numpy()
    agent_rows = order[np.searchsorted(ids, row_ids, sorter=order)]
    steps = rows.column("step").to_numpy().astype(np.int64)
    shape = (len(ids), num_steps)
    valid = np.zeros(shape, dtype=bool)
    valid[agent_rows, steps] = True
    grids: dict[str, FloatArray] = {}
    for name in _TRACK_VALUES:
        grid = np.full(shape, np.nan)
        grid[agent_rows, steps] = rows.column(name).to_numpy()
        grids[name] = grid
    return Tracks(
        ids=ids,
        agent_type=tuple(AgentType(value) for value in agents.column("agent_type").to_pylist()),
        valid=valid,
        length=agents.column("length").to_numpy().astype(np.float64),
        width=agents.column("width").to_numpy().astype(np.float64),
        shapes=tuple(shape_from_row(row) for row in agents.column("shape").to_pylist()),
        **grids,
    )


def _planning_problems_from_rows(problems: pa.Table, goals: pa.Table) -> tuple[PlanningProblem, ...]:
    states: dict[int, list[tuple[int, GoalState]]] = {}
    for row in goals.to_pylist():
        states.setdefault(row["planning_problem_id"], []).append(
            (
                row["goal_index"],
                GoalState(
                    time=Interval(row["time_start"], row["time_end"]),
                    regions=tuple(shape_from_row(region) for region in row["regions"]),
                    lanelet_ids=tuple(row["lanelet_ids"]),
                    velocity=_interval(row["velocity_start"], row["velocity_end"]),
                    orientation=_interval(row["orientation_start"], row["orientation_end"]),
                ),
            )
        )
    return tuple(
        PlanningProblem(
            id=row["planning_problem_id"],
            initial=EgoState(**{name: row[name] for name in EgoState.__dataclass_fields__}),
            goal=Goal(
                states=tuple(
                    state
                    for _, state in sorted(
                        states.get(row["planning_problem_id"], []), key=lambda item: item[0]
                    )
                )
            ),
        )
        for row in problems.to_pylist()
    )


def _interval(start: float | None, end: float | None) -> Interval | None:
    return None if start is None or end is None else Interval(start, end)


def _recorded_egos_from_rows(rows: pa.Table) -> tuple[RecordedEgo, ...]:
    egos = []
    ego_index = rows.column("ego_index").to_numpy()
    starts = np.flatnonzero(np.r_[True, ego_index[1:] != ego_index[:-1]]) if len(ego_index) else np.zeros(0)
    for start, end in zip(starts, np.r_[starts[1:], len(ego_index)] if len(starts) else [], strict=True):
        part = rows.slice(int(start), int(end - start))
        first = part.slice(0, 1).to_pylist()[0]
        egos.append(
            RecordedEgo(
                planning_problem_id=first["planning_problem_id"],
                trajectory=Trajectory(
                    steps=part.column("step").to_numpy().astype(np.int64),
                    x=part.column("x").to_numpy(),
                    y=part.column("y").to_numpy(),
                    yaw=part.column("yaw").to_numpy(),
                    speed=part.column("speed").to_numpy(),
                    dt=first["dt"],
                    acceleration=_all_null_as_none(part.column("acceleration")),
                    steering_angle=_all_null_as_none(part.column("steering_angle")),
                ),
                vehicle_model=first["vehicle_model"],
                vehicle_type=first["vehicle_type"],
                cost_function=first["cost_function"],
                source_file=first["source_file"],
            )
        )
    return tuple(egos)


def _all_null_as_none(column: pa.ChunkedArray) -> FloatArray | None:
    """None for an all-null column (the trajectory had no such series), else its float64 values."""
    return None if column.null_count == len(column) else column.to_numpy().astype(np.float64)
