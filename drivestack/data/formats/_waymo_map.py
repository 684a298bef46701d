"""Waymo-style vector maps (WOMD protos, ScenarioNet pickles) to drivestack lane graphs.

Both formats describe a map as features: lane centerlines (with entry/exit lanes, neighbours and
the road lines beside them where the source has them), road lines, road edges, stop signs and
polygons (crosswalks, speed bumps, driveways), plus per-step traffic-signal states per lane. The
readers translate their encoding into the neutral `SourceMap` here; `build_map` makes the core
`LaneGraph`, traffic lights and traffic signs from it.

Lanes: each centerline (simplified within `MapConfig.simplify` m) becomes a lane. Its half-widths
left and right, at every vertex, are where a sideways ray first meets a road line or road edge
(rays cast against the lane's own outline when the source gives one, as ScenarioNet's nuScenes lanes
do), half the distance to a declared neighbour lane's centerline, clamped to
[`min_half_width`, `max_half_width`], and `default_half_width` (1.75 m: a 3.5 m lane) where a ray
meets nothing within `max_half_width`. Bike lanes get half those bounds.

Topology: entry/exit lanes become predecessors/successors; declared neighbours (WOMD: lanes one may
change into, same direction) become left/right neighbours (the one beside the longest part of the
lane). Where the source declares no topology (ScenarioNet's nuScenes maps), lanes are linked when one
ends within `MapConfig.join_distance` of where the other starts and their headings there agree within
45 degrees, and same-direction lanes are neighbours when a sideways ray from the middle of one meets
the other's centerline within 2 `max_half_width` at a heading within 20 degrees.

Traffic signals: one `TrafficLight` per controlled lane (id = the lane's id) at its stop point, whose
colour per step is the recorded state (run-length encoded as the light's cycle, its last state held
after the recording); the controlled lane gets a stop line across it there. Stop signs become US stop
signs ("R1-1") on the lanes they control. Crosswalks become lanes of type "crosswalk" for pedestrians
(along their longer side). Speed bumps and driveways are dropped (the core map has no area types for
them). `speed_limit` [m/s] where the source gives one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.core.geometry import angle_diff
from drivestack.core.limits import DEFAULT_READER_LIMITS
from drivestack.core.map import Lane, LaneGraph, Neighbour, StopLine
from drivestack.core.scenario import LightColor, TrafficLight, TrafficSign

FloatArray = NDArray[np.float64]

US_STOP_SIGN = "R1-1"
"""MUTCD stop sign id (CommonRoad's US sign vocabulary); WOMD and ScenarioNet maps are in the USA or
Singapore, whose stop signs mean the same."""
MAX_COORDINATE = DEFAULT_READER_LIMITS.max_coordinate
"""Largest map coordinate [m] kept (points beyond it, or not finite, are dropped)."""
_MAX_STATIONS = 5000  # width stations per lane at most (a lane longer than 10 km is malformed)
_HELD_STEPS = 1_000_000  # the last recorded light state holds this long after the recording


@dataclass(frozen=True)
class MapConfig:
    """Lane-width inference bounds [m] (see the module docstring) and geometric tolerances [m]."""

    min_half_width: float = 1.5
    max_half_width: float = 2.5
    default_half_width: float = 1.75
    simplify: float = 0.05
    join_distance: float = 1.0
    width_station: float = 2.0


@dataclass(frozen=True, eq=False)
class LaneFeature:
    """A lane centerline `center` (P, 2) [m] in driving direction, with what the source says of it.

    `kind`: "freeway", "surface_street", "bike_lane" or "undefined"; `speed_limit` [m/s] or None;
    `entry`/`exit` lane ids (None: the source declares no topology); `left`/`right` neighbours as
    (lane id, number of this lane's points beside it); `boundaries` ids of road lines/edges beside
    it; `outline` (K, 2) [m] where the source gives the lane's polygon.
    """

    id: int
    center: FloatArray
    kind: str = "undefined"
    speed_limit: float | None = None
    entry: tuple[int, ...] | None = None
    exit: tuple[int, ...] | None = None
    left: tuple[tuple[int, int], ...] = ()
    right: tuple[tuple[int, int], ...] = ()
    boundaries: tuple[int, ...] = ()
    outline: FloatArray | None = None


@dataclass(frozen=True, eq=False)
class LineFeature:
    """A road line or road edge: `points` (P, 2) [m]; `marking` e.g. "broken_single_white", "road_edge"."""

    id: int
    points: FloatArray
    marking: str
    is_edge: bool


@dataclass(frozen=True, eq=False)
class AreaFeature:
    """A polygon feature: `kind` "crosswalk", "speed_bump" or "driveway"; `polygon` (K, 2) [m]."""

    id: int
    kind: str
    polygon: FloatArray


@dataclass(frozen=True)
class StopSignFeature:
    """A stop sign at `position` (x, y) [m] controlling `lanes`."""

    id: int
    lanes: tuple[int, ...]
    position: tuple[float, float]


@dataclass(frozen=True, eq=False)
class SignalFeature:
    """A recorded traffic signal of lane `lane`: `stop_point` (x, y) [m], `colors` (T,) one per step."""

    lane: int
    stop_point: tuple[float, float]
    colors: tuple[LightColor, ...]


@dataclass(frozen=True, eq=False)
class SourceMap:
    """A map in the neutral Waymo-style vocabulary, before conversion."""

    lanes: tuple[LaneFeature, ...]
    lines: tuple[LineFeature, ...] = ()
    areas: tuple[AreaFeature, ...] = ()
    stop_signs: tuple[StopSignFeature, ...] = ()

    def polylines(self) -> list[tuple[str, FloatArray]]:
        """Every source polyline as (kind, (P, 2) [m]): "lane", a line's marking, an area's kind
        (closed rings) — what a picture of the source map draws."""
        found: list[tuple[str, FloatArray]] = [("lane", lane.center) for lane in self.lanes]
        found += [("road_edge" if line.is_edge else "road_line", line.points) for line in self.lines]
        found += [(area.kind, np.concatenate([area.polygon, area.polygon[:1]])) for area in self.areas]
        return found


LANE_STATE_COLORS = {
    "LANE_STATE_UNKNOWN": LightColor.INACTIVE,
    "LANE_STATE_ARROW_STOP": LightColor.RED,
    "LANE_STATE_ARROW_CAUTION": LightColor.YELLOW,
    "LANE_STATE_ARROW_GO": LightColor.GREEN,
    "LANE_STATE_STOP": LightColor.RED,
    "LANE_STATE_CAUTION": LightColor.YELLOW,
    "LANE_STATE_GO": LightColor.GREEN,
    "LANE_STATE_FLASHING_STOP": LightColor.RED,
    "LANE_STATE_FLASHING_CAUTION": LightColor.YELLOW,
}
"""WOMD's signal states (ScenarioNet keeps their names) as colours: arrows as their colour, flashing
red as red (stop first), flashing yellow as yellow, unknown as inactive."""
LANE_STATE_BY_NUMBER = tuple(LANE_STATE_COLORS.values())
"""The same by WOMD's enum number (0 unknown ... 8 flashing caution)."""


def feature_id(key: object) -> int:
    """An integer id for a source id: decimal ids as themselves, others (UUIDs, "boundary_3") as a
    stable 48-bit hash (collisions are checked by `build_map`)."""
    text = str(key)
    if text.isdigit() and len(text) < 18:
        return int(text)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=6).digest(), "big")


def build_map(
    source: SourceMap, map_id: str, signals: tuple[SignalFeature, ...] = (), config: MapConfig = MapConfig()
) -> tuple[LaneGraph, tuple[TrafficLight, ...], tuple[TrafficSign, ...]]:
    """The lane graph, traffic lights and traffic signs of `source` (module docstring)."""
    cleaned = _distinct_all([lane.center for lane in source.lanes])
    lanes = [lane for lane, points in zip(source.lanes, cleaned, strict=True) if len(points) >= 2]
    centers = dict(
        zip(
            [lane.id for lane in lanes],
            _simplified([p for p in cleaned if len(p) >= 2], config.simplify),
            strict=True,
        )
    )
    known = set(centers)
    declared = any(lane.entry or lane.exit for lane in lanes)
    predecessors, successors = (
        _declared_links(lanes, known) if declared else _inferred_links(centers, config.join_distance)
    )
    left_of, right_of = _declared_neighbours(lanes, known)
    if not any(lane.left or lane.right for lane in lanes):
        left_of, right_of = _inferred_neighbours(centers, 2.0 * config.max_half_width)
    half_widths = _half_widths(lanes, centers, source.lines, left_of, right_of, config)
    signs = _signs(source.stop_signs)
    signed: dict[int, list[int]] = {}
    for sign in source.stop_signs:
        for lane_id in sign.lanes:
            signed.setdefault(lane_id, []).append(sign.id)
    lights, stop_lines = _lights(signals, centers, half_widths)
    graph_lanes: dict[int, Lane] = {}
    normals = _vertex_normals([centers[lane.id] for lane in lanes])
    for lane, normal in zip(lanes, normals, strict=True):
        center = centers[lane.id]
        left_width, right_width = half_widths[lane.id]
        light_ids = (lane.id,) if lane.id in stop_lines else ()
        graph_lanes[lane.id] = Lane(
            id=lane.id,
            left=center + normal * left_width[:, None],
            right=center - normal * right_width[:, None],
            center=center,
            predecessors=predecessors.get(lane.id, ()),
            successors=successors.get(lane.id, ()),
            left_neighbour=Neighbour(left_of[lane.id], True) if lane.id in left_of else None,
            right_neighbour=Neighbour(right_of[lane.id], True) if lane.id in right_of else None,
            lane_types=_lane_types(lane.kind),
            users_one_way=("bicycle",) if lane.kind == "bike_lane" else ("vehicle",),
            speed_limit=lane.speed_limit,
            stop_line=stop_lines.get(lane.id),
            traffic_sign_ids=tuple(signed.get(lane.id, ())),
            traffic_light_ids=light_ids,
        )
    for area in source.areas:
        if area.kind == "crosswalk" and area.id not in graph_lanes:
            crossing = _crosswalk_lane(area)
            if crossing is not None:
                graph_lanes[area.id] = crossing
    return LaneGraph(map_id=map_id, lanes=graph_lanes), lights, signs


def _distinct_all(polylines: list[FloatArray]) -> list[FloatArray]:
    """`_distinct` of each polyline (P, 2), computed for all at once."""
    if not polylines:
        return []
    counts = np.array([len(line) for line in polylines])
    points = np.concatenate([np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in polylines])
    owner = np.repeat(np.arange(len(polylines)), counts)
    usable = (np.abs(points) <= MAX_COORDINATE).all(axis=1)
    points, owner = points[usable], owner[usable]
    repeat = np.zeros(len(points), dtype=bool)
    repeat[1:] = (owner[1:] == owner[:-1]) & (points[1:] == points[:-1]).all(axis=1)
    points, owner = points[~repeat], owner[~repeat]
    return np.split(points, np.searchsorted(owner, np.arange(1, len(polylines))))


def _distinct(points: FloatArray) -> FloatArray:
    """`points` (P, 2) without rows that are not finite or beyond `MAX_COORDINATE`, and without
    consecutive repeats."""
    points = points[(np.abs(points) <= MAX_COORDINATE).all(axis=1)]
    if len(points) < 2:
        return points
    keep = np.concatenate([[True], np.any(np.diff(points, axis=0) != 0.0, axis=1)])
    return points[keep]


def _simplified(polylines: list[FloatArray], tolerance: float) -> list[FloatArray]:
    """Each polyline (P, 2) [m] (at least two distinct points) simplified within `tolerance` [m],
    end points kept; one shapely call for all."""
    if not polylines:
        return []
    counts = [len(points) for points in polylines]
    lines = shapely.linestrings(
        np.concatenate(polylines), indices=np.repeat(np.arange(len(polylines)), counts)
    )
    coordinates, index = shapely.get_coordinates(
        shapely.simplify(lines, tolerance, preserve_topology=False), return_index=True
    )
    return np.split(coordinates, np.flatnonzero(np.diff(index)) + 1)


def _lane_types(kind: str) -> tuple[str, ...]:
    """CommonRoad lanelet types of a source lane kind."""
    return {"freeway": ("highway",), "surface_street": ("urban",), "bike_lane": ("bicycleLane",)}.get(
        kind, ()
    )


def _declared_links(
    lanes: list[LaneFeature], known: set[int]
) -> tuple[dict[int, tuple[int, ...]], dict[int, tuple[int, ...]]]:
    """Predecessors and successors from the declared entry/exit lanes (both directions merged)."""
    before: dict[int, set[int]] = {lane.id: set() for lane in lanes}
    after: dict[int, set[int]] = {lane.id: set() for lane in lanes}
    for lane in lanes:
        for other in lane.entry or ():
            if other in known and other != lane.id:
                before[lane.id].add(other)
                after[other].add(lane.id)
        for other in lane.exit or ():
            if other in known and other != lane.id:
                after[lane.id].add(other)
                before[other].add(lane.id)
    return {k: tuple(sorted(v)) for k, v in before.items()}, {k: tuple(sorted(v)) for k, v in after.items()}


def _end_heading(points: FloatArray, at_start: bool) -> float:
    """Heading [rad] of the polyline's first (or last) segment."""
    a, b = (points[0], points[1]) if at_start else (points[-2], points[-1])
    return float(np.arctan2(b[1] - a[1], b[0] - a[0]))


def _inferred_links(
    centers: dict[int, FloatArray], join_distance: float
) -> tuple[dict[int, tuple[int, ...]], dict[int, tuple[int, ...]]]:
    """Successor links between lanes whose end and start meet (within `join_distance` [m], 45 deg)."""
    ids = np.array(sorted(centers), dtype=np.int64)
    before: dict[int, list[int]] = {int(k): [] for k in ids}
    after: dict[int, list[int]] = {int(k): [] for k in ids}
    if len(ids) == 0:
        return {}, {}
    starts = np.array([centers[int(k)][0] for k in ids])
    ends = np.array([centers[int(k)][-1] for k in ids])
    start_heading = np.array([_end_heading(centers[int(k)], True) for k in ids])
    end_heading = np.array([_end_heading(centers[int(k)], False) for k in ids])
    tree = shapely.STRtree(shapely.points(starts))
    pairs = tree.query(shapely.points(ends), predicate="dwithin", distance=join_distance)
    for a, b in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        if a != b and abs(float(angle_diff(end_heading[a], start_heading[b]))) <= np.pi / 4:
            after[int(ids[a])].append(int(ids[b]))
            before[int(ids[b])].append(int(ids[a]))
    return {k: tuple(sorted(v)) for k, v in before.items()}, {k: tuple(sorted(v)) for k, v in after.items()}


def _declared_neighbours(lanes: list[LaneFeature], known: set[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Left and right neighbour of each lane: the declared one beside the most of its points."""
    left: dict[int, int] = {}
    right: dict[int, int] = {}
    for lane in lanes:
        for side, found in ((lane.left, left), (lane.right, right)):
            candidates = [(span, other) for other, span in side if other in known and other != lane.id]
            if candidates:
                found[lane.id] = max(candidates)[1]
    return left, right


def _inferred_neighbours(
    centers: dict[int, FloatArray], reach: float
) -> tuple[dict[int, int], dict[int, int]]:
    """Same-direction neighbours found by sideways rays from each lane's middle (module docstring):
    the nearest other lane crossed farther than 0.5 m away whose segment there runs within 20
    degrees of the lane's direction."""
    ids = sorted(centers)
    if not ids:
        return {}, {}
    polylines = [centers[k] for k in ids]
    lines = shapely.linestrings(
        np.concatenate(polylines), indices=np.repeat(np.arange(len(ids)), [len(p) for p in polylines])
    )
    middle = 0.5 * shapely.length(lines)
    points = shapely.get_coordinates(shapely.line_interpolate_point(lines, middle))
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(lines, 2.0 * middle * 0.55))
    behind = shapely.get_coordinates(shapely.line_interpolate_point(lines, 2.0 * middle * 0.45))
    heading = np.arctan2(ahead[:, 1] - behind[:, 1], ahead[:, 0] - behind[:, 0])
    normal = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
    segments = _Segments.of(polylines)
    found: tuple[dict[int, int], dict[int, int]] = ({}, {})
    for side, sign in enumerate((1.0, -1.0)):
        ray, segment, distance = segments.hits(points, points + sign * reach * normal)
        direction = segments.end[segment] - segments.start[segment]
        turn = np.abs(np.asarray(angle_diff(np.arctan2(direction[:, 1], direction[:, 0]), heading[ray])))
        keep = (segments.owner[segment] != ray) & (turn <= np.deg2rad(20)) & (distance > 0.5)
        ray, segment, distance = ray[keep], segment[keep], distance[keep]
        order = np.lexsort((distance, ray))
        first = order[np.unique(ray[order], return_index=True)[1]]
        for k, row in zip(ray[first].tolist(), segments.owner[segment[first]].tolist(), strict=True):
            found[side][ids[k]] = ids[row]
    return found


def _point_and_heading(line: shapely.LineString, s: float) -> tuple[FloatArray, float]:
    """The point (2,) [m] at arc length `s` of `line` and the line's heading [rad] there."""
    ahead = line.interpolate(min(s + 0.5, line.length))
    behind = line.interpolate(max(s - 0.5, 0.0))
    point = line.interpolate(s)
    return np.array([point.x, point.y]), float(np.arctan2(ahead.y - behind.y, ahead.x - behind.x))


def _vertex_normals(polylines: list[FloatArray]) -> list[FloatArray]:
    """Unit left normals (P, 2) at the vertices of each polyline (mean of the adjacent segments'
    directions; at a reversal, the incoming segment's), computed for all polylines at once."""
    if not polylines:
        return []
    points = np.concatenate(polylines)
    ends = np.cumsum([len(line) for line in polylines])
    starts = ends - np.array([len(line) for line in polylines])
    segments = np.diff(points, axis=0)
    segments /= np.maximum(np.linalg.norm(segments, axis=1, keepdims=True), 1e-12)
    incoming = np.concatenate([segments[:1], segments])  # segment ending at each vertex
    outgoing = np.concatenate([segments, segments[-1:]])  # segment starting at each vertex
    incoming[starts] = outgoing[starts]  # a polyline's first vertex has no incoming segment
    outgoing[ends - 1] = incoming[ends - 1]  # nor its last an outgoing one
    tangents = incoming + outgoing
    norms = np.linalg.norm(tangents, axis=1, keepdims=True)
    tangents = np.where(norms > 1e-9, tangents / np.maximum(norms, 1e-9), incoming)
    return np.split(np.stack([-tangents[:, 1], tangents[:, 0]], axis=1), ends[:-1])


def _half_widths(
    lanes: list[LaneFeature],
    centers: dict[int, FloatArray],
    lines: tuple[LineFeature, ...],
    left_of: dict[int, int],
    right_of: dict[int, int],
    config: MapConfig,
) -> dict[int, tuple[FloatArray, FloatArray]]:
    """Left and right half-widths (P,) [m] at each vertex of each lane (module docstring), from
    sideways rays at stations every `config.width_station` m of all lanes at once."""
    if not lanes:
        return {}
    owner, stations, origins, normals = _stations([centers[lane.id] for lane in lanes], config.width_station)
    scale = np.array([0.5 if lane.kind == "bike_lane" else 1.0 for lane in lanes])[owner]
    low, high = scale * config.min_half_width, scale * config.max_half_width
    outlines = _distinct_all(
        [lane.outline if lane.outline is not None else np.zeros((0, 2)) for lane in lanes]
    )
    outlined = np.array([len(outline) >= 3 for outline in outlines])
    rings = _Segments.of([np.concatenate([ring, ring[:1]]) if len(ring) else ring for ring in outlines])
    road_lines = _Segments.of(_distinct_all([line.points for line in lines]))
    center_lines = _Segments.of([centers[lane.id] for lane in lanes])
    row_of = {lane.id: row for row, lane in enumerate(lanes)}
    ray_outline = np.where(outlined[owner], owner, -1)
    sides = []
    for sign, neighbours in ((1.0, left_of), (-1.0, right_of)):
        ends = origins + sign * 2.0 * high[:, None] * normals
        to_lines = road_lines.crossings(origins, ends)
        to_outline = rings.crossings(origins, ends, ray_outline)
        neighbour = np.array([row_of.get(neighbours.get(lane.id, -1), -1) for lane in lanes])[owner]
        to_neighbour = 0.5 * center_lines.crossings(origins, ends, neighbour)
        # outlined lanes: their own outline, out to the road's line where nothing is beside them
        outer = outlined[owner] & (neighbour < 0) & np.isfinite(to_lines)
        from_outline = np.where(
            outer, np.fmax(np.where(np.isfinite(to_outline), to_outline, 0.0), to_lines), to_outline
        )
        found = np.where(outlined[owner], from_outline, np.minimum(to_lines, to_neighbour))
        width = np.where(
            np.isfinite(found),
            np.clip(found, low, np.where(outlined[owner], 2.0 * high, high)),
            scale * config.default_half_width,
        )
        sides.append(width)
    return _at_vertices(
        [centers[lane.id] for lane in lanes], owner, stations, sides, [lane.id for lane in lanes]
    )


def _at_vertices(
    polylines: list[FloatArray],
    owner: NDArray[np.int64],
    stations: FloatArray,
    values: list[FloatArray],
    keys: list[int],
) -> dict[int, tuple[FloatArray, FloatArray]]:
    """Station values (N,) of the polylines (station `owner`, arc length `stations` [m]), two
    series in `values`, interpolated linearly to every vertex of each polyline, keyed by `keys`."""
    vertex_s = _arc_lengths(polylines)
    spread = 2.0 * max(float(s[-1]) for s in vertex_s) + 1.0  # lanes laid end to end, apart
    lengths = np.array([s[-1] for s in vertex_s])
    first = np.searchsorted(owner, np.arange(len(polylines)))
    last = np.searchsorted(owner, np.arange(len(polylines)), side="right") - 1
    # each lane's first and last station value held to its ends, so one interp serves all lanes
    xp = np.concatenate(
        [
            stations + owner * spread,
            np.arange(len(polylines)) * spread,
            np.arange(len(polylines)) * spread + lengths,
        ]
    )
    order = np.argsort(xp, kind="stable")
    x = np.concatenate([s + k * spread for k, s in enumerate(vertex_s)])
    counts = [len(s) for s in vertex_s]
    series = []
    for value in values:
        fp = np.concatenate([value, value[first], value[last]])
        series.append(np.split(np.interp(x, xp[order], fp[order]), np.cumsum(counts)[:-1]))
    return {key: (series[0][k], series[1][k]) for k, key in enumerate(keys)}


@dataclass(frozen=True, eq=False)
class _Segments:
    """The straight pieces of many polylines: `start`, `end` (M, 2) [m], `owner` (M,) the index of
    the polyline each belongs to, and an STRtree over their bounding boxes (None when M = 0)."""

    start: FloatArray
    end: FloatArray
    owner: NDArray[np.int64]
    tree: shapely.STRtree | None

    @staticmethod
    def of(polylines: list[FloatArray]) -> _Segments:
        """The segments of `polylines`, each (P, 2) [m] (fewer than two points: none)."""
        starts = [line[:-1] for line in polylines if len(line) >= 2]
        ends = [line[1:] for line in polylines if len(line) >= 2]
        owners = [np.full(len(line) - 1, k) for k, line in enumerate(polylines) if len(line) >= 2]
        if not starts:
            empty = np.zeros((0, 2))
            return _Segments(empty, empty, np.zeros(0, dtype=np.int64), None)
        start, end = np.concatenate(starts), np.concatenate(ends)
        tree = shapely.STRtree(_pieces(start, end))
        return _Segments(start, end, np.concatenate(owners).astype(np.int64), tree)

    def crossings(
        self, origins: FloatArray, ends: FloatArray, wanted: NDArray[np.int64] | None = None
    ) -> FloatArray:
        """Distance (N,) [m] from each ray's origin (N, 2) towards its end (N, 2) to the nearest
        segment it crosses (inf: none); with `wanted` (N,), only segments of polyline `wanted[i]`
        count for ray i (-1: none)."""
        distance = np.full(len(origins), np.inf)
        rays = np.arange(len(origins)) if wanted is None else np.flatnonzero(wanted >= 0)
        ray, segment, found = self.hits(origins[rays], ends[rays])
        ray = rays[ray]
        if wanted is not None:
            keep = self.owner[segment] == wanted[ray]
            ray, found = ray[keep], found[keep]
        np.minimum.at(distance, ray, found)
        return distance

    def hits(
        self, origins: FloatArray, ends: FloatArray
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray]:
        """Every (ray, segment, distance [m] from the ray's origin) where a ray from `origins`
        (N, 2) to `ends` (N, 2) crosses a segment."""
        none = np.zeros(0, dtype=np.int64)
        if self.tree is None or len(origins) == 0:
            return none, none, np.zeros(0)
        ray, segment = self.tree.query(_pieces(origins, ends))
        p, r = origins[ray], ends[ray] - origins[ray]
        q, s = self.start[segment], self.end[segment] - self.start[segment]
        denominator = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
        offset = q - p
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (offset[:, 0] * s[:, 1] - offset[:, 1] * s[:, 0]) / denominator
            u = (offset[:, 0] * r[:, 1] - offset[:, 1] * r[:, 0]) / denominator
        hit = (np.abs(denominator) > 1e-12) & (t >= 0.0) & (t <= 1.0) & (u >= 0.0) & (u <= 1.0)
        return ray[hit], segment[hit], t[hit] * np.linalg.norm(r[hit], axis=1)


def _pieces(start: FloatArray, end: FloatArray) -> NDArray[np.object_]:
    """Two-point linestrings from `start` to `end` (N, 2) [m], whose envelopes an STRtree indexes
    (cheaper to build than the equal boxes)."""
    return shapely.linestrings(np.stack([start, end], axis=1))


def _arc_lengths(polylines: list[FloatArray]) -> list[FloatArray]:
    """Cumulative arc lengths (P,) [m] of each polyline (P, 2), computed for all at once."""
    if not polylines:
        return []
    counts = np.array([len(line) for line in polylines])
    points = np.concatenate(polylines)
    steps = np.concatenate([[0.0], np.linalg.norm(np.diff(points, axis=0), axis=1)])
    starts = np.cumsum(counts) - counts
    steps[starts[counts > 0]] = 0.0  # no step into a polyline's first point
    total = np.cumsum(steps)
    return np.split(total - np.repeat(total[starts[counts > 0]], counts[counts > 0]), np.cumsum(counts)[:-1])


def _arc_length(points: FloatArray) -> FloatArray:
    """Cumulative arc length (P,) [m] of a polyline."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _stations(
    polylines: list[FloatArray], spacing: float
) -> tuple[NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
    """Stations every about `spacing` m along each polyline (ends inset by 0.1 m), for all at once:
    their polyline index (N,), arc length (N,) [m], points (N, 2) [m] and left unit normals (N, 2)."""
    vertex_s = _arc_lengths(polylines)
    lengths = np.array([s[-1] for s in vertex_s])
    counts = np.clip(np.ceil(lengths / spacing).astype(np.int64) + 1, 2, _MAX_STATIONS)
    owner = np.repeat(np.arange(len(polylines)), counts)
    inset = np.minimum(0.1, 0.25 * lengths)[owner]
    fraction = (np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)) / (counts[owner] - 1)
    stations = inset + fraction * (lengths[owner] - 2.0 * inset)
    # the polylines laid end to end along one axis, apart, so one np.interp serves them all
    spread = 2.0 * float(lengths.max()) + 1.0
    xp = np.concatenate([s + k * spread for k, s in enumerate(vertex_s)])
    points = np.concatenate(polylines)

    def at(s: FloatArray) -> FloatArray:
        x = np.clip(s, 0.0, lengths[owner]) + owner * spread
        return np.stack([np.interp(x, xp, points[:, 0]), np.interp(x, xp, points[:, 1])], axis=1)

    direction = at(stations + 0.05) - at(stations - 0.05)
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    return owner, stations, at(stations), np.stack([-direction[:, 1], direction[:, 0]], axis=1)


def _lights(
    signals: tuple[SignalFeature, ...],
    centers: dict[int, FloatArray],
    half_widths: dict[int, tuple[FloatArray, FloatArray]],
) -> tuple[tuple[TrafficLight, ...], dict[int, StopLine]]:
    """One light per signalled lane (id = lane id) with its recorded colours, and its stop line."""
    lights, stop_lines = [], {}
    for signal in signals:
        if signal.lane not in centers or not signal.colors or signal.lane in stop_lines:
            continue
        runs: list[tuple[LightColor, int]] = []
        for color in signal.colors:
            if runs and runs[-1][0] is color:
                runs[-1] = (color, runs[-1][1] + 1)
            else:
                runs.append((color, 1))
        runs[-1] = (runs[-1][0], runs[-1][1] + _HELD_STEPS)
        x, y = signal.stop_point
        if not _in_bounds(x, y):  # no usable stop point: the start of the lane
            x, y = (float(value) for value in centers[signal.lane][0])
        lights.append(TrafficLight(id=signal.lane, x=x, y=y, cycle=tuple(runs)))
        center = shapely.LineString(centers[signal.lane])
        s = center.project(shapely.Point(x, y))
        point, heading = _point_and_heading(center, s)
        normal = np.array([-np.sin(heading), np.cos(heading)])
        left, right = half_widths[signal.lane]
        vertex = int(np.argmin(np.abs(_arc_length(centers[signal.lane]) - s)))
        stop_lines[signal.lane] = StopLine(
            start=tuple((point + left[vertex] * normal).tolist()),
            end=tuple((point - right[vertex] * normal).tolist()),
            marking="solid",
            traffic_light_ids=(signal.lane,),
        )
    return tuple(lights), stop_lines


def _in_bounds(x: float, y: float) -> bool:
    """Whether (x, y) [m] is a usable map position (finite, within `MAX_COORDINATE`)."""
    return bool(abs(x) <= MAX_COORDINATE and abs(y) <= MAX_COORDINATE)


def _signs(stop_signs: tuple[StopSignFeature, ...]) -> tuple[TrafficSign, ...]:
    """US stop signs at their positions (None where the source's position is unusable)."""
    return tuple(
        TrafficSign(
            id=sign.id,
            x=sign.position[0] if _in_bounds(*sign.position) else None,
            y=sign.position[1] if _in_bounds(*sign.position) else None,
            elements=((US_STOP_SIGN, ()),),
        )
        for sign in stop_signs
    )


def _crosswalk_lane(area: AreaFeature) -> Lane | None:
    """A crosswalk polygon as a pedestrian lane along its longer side (None when degenerate)."""
    polygon = (
        shapely.make_valid(shapely.Polygon(_distinct(area.polygon)))
        if len(_distinct(area.polygon)) >= 3
        else None
    )
    if polygon is None or polygon.is_empty or polygon.area <= 0.0:
        return None
    box = shapely.minimum_rotated_rectangle(polygon)
    corners = np.asarray(shapely.get_coordinates(box))[:4]
    edges = np.diff(np.concatenate([corners, corners[:1]]), axis=0)
    if (
        edges[0, 0] * edges[1, 1] - edges[0, 1] * edges[1, 0] < 0.0
    ):  # counter-clockwise, so the interior is left of each side
        corners = corners[::-1]
    edges = np.diff(np.concatenate([corners, corners[:1]]), axis=0)
    first = int(np.argmax(np.linalg.norm(edges[:2], axis=1)))  # a long side starts at corner `first`
    a, b = corners[first], corners[(first + 1) % 4]
    c, d = corners[(first + 2) % 4], corners[(first + 3) % 4]
    right = np.array([a, b])
    left = np.array([d, c])
    return Lane(
        id=area.id,
        left=left,
        right=right,
        center=0.5 * (left + right),
        lane_types=("crosswalk",),
        users_bidirectional=("pedestrian",),
    )
