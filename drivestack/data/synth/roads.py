"""Lane maps for generated scenarios: a multi-lane highway, a highway with an on-ramp merge, and a
four-way signalised intersection with crosswalks and sidewalks.

Each builder returns a `Layout`: the lanes (CommonRoad lanelets with bounds, predecessors and
successors, same- and opposite-direction neighbours, line markings, lane types and users), the
maximum-speed signs the lanes reference, traffic lights with their cycles and the stop lines that
refer to them, the intersection with its incomings, and the `Route`s vehicles drive: the lane
chains from each entry, their centerline path sampled every `SPACING` metres, the speed limit per
path point, and where the path crosses a stop line. Geometry is built in the Frenet frame of a
reference line (`core.geometry.FrenetFrame`), so adjacent lanes share their bound points exactly.

Conventions: right-hand traffic; lane widths 3.5 m (urban) and 3.75 m (highway); the speed-limit
sign is German 274 with its value in m/s (as the recorded highD files give it).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivestack.core.geometry import FrenetFrame, Polyline
from drivestack.core.map import (
    Intersection,
    IntersectionIncoming,
    Lane,
    Neighbour,
    StopLine,
)
from drivestack.core.scenario import LightColor, TrafficLight, TrafficSign

FloatArray = NDArray[np.float64]

SPACING = 0.5
"""Distance [m] between the points of a route's path."""
BOUND_SPACING = 2.0
"""Distance [m] between lane bound points along straight-ish roads."""
HIGHWAY_LANE_WIDTH = 3.75
URBAN_LANE_WIDTH = 3.5
SPEED_SIGN = "274"
LATERAL_COMFORT = 2.5
"""Lateral acceleration [m/s2] drivers accept in curves; it caps the speed along a path."""


class Ids:
    """Hands out unique element ids (CommonRoad wants lanelets, signs, lights, intersections,
    incomings, obstacles and planning problems to share one id space)."""

    def __init__(self, first: int = 1) -> None:
        self._counter = itertools.count(first)

    def __call__(self) -> int:
        """The next unused id."""
        return next(self._counter)


@dataclass(frozen=True, eq=False)
class Route:
    """A way through the map: the lanes in driving order and their centerline `path` (P, 2) [m]
    sampled every SPACING m, with the speed limit `limits` (P,) [m/s] per point.

    `stops` are (station [m] along the path, index into `Layout.lights`) of the stop lines it
    crosses; `movement` is "lane" on roads, "right" / "straight" / "left" through an
    intersection; `conflict` the (start, end) stations [m] where it crosses other traffic. A route
    whose lane ends (an on-ramp) must change into the entry `merge_into` between the stations
    `merge_window` [m].
    """

    lanes: tuple[int, ...]
    path: FloatArray
    limits: FloatArray
    stops: tuple[tuple[float, int], ...] = ()
    movement: str = "lane"
    conflict: tuple[float, float] = (0.0, 0.0)
    merge_into: str = ""
    merge_window: tuple[float, float] = (0.0, 0.0)

    @property
    def length(self) -> float:
        """Path length [m]."""
        return SPACING * (len(self.path) - 1)

    def station(self, xy: FloatArray) -> float:
        """Station [m] of the path point nearest to `xy` (2,) [m]."""
        return SPACING * float(np.argmin(np.hypot(*(self.path - xy).T)))


@dataclass(frozen=True, eq=False)
class Crossing:
    """A crosswalk pedestrians walk: their `path` (P, 2) [m] from a sidewalk over the road to the
    other sidewalk, the station [m] of the kerb where they wait, the crossing length [m], and the
    lights (indices into `Layout.lights`) whose green lets them walk."""

    path: FloatArray
    kerb: float
    length: float
    lights: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Layout:
    """A generated map: lanes by id, signs, lights, intersections, and the routes and crossings.

    `entries` maps an entry name (a lane where traffic comes in) to the routes that start there.
    """

    lanes: dict[int, Lane]
    signs: tuple[TrafficSign, ...]
    lights: tuple[TrafficLight, ...] = ()
    intersections: tuple[Intersection, ...] = ()
    entries: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    crossings: tuple[Crossing, ...] = ()


class _Builder:
    """Collects lanes and their topology, then freezes them into `Lane`s."""

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.fields: dict[int, dict[str, Any]] = {}

    def lane(
        self,
        left: FloatArray,
        right: FloatArray,
        types: tuple[str, ...],
        markings: tuple[str, str] = ("dashed", "dashed"),
        signs: tuple[int, ...] = (),
        pedestrian: bool = False,
    ) -> int:
        """Add a lane with bounds `left`, `right` (P, 2) [m] (same point count); returns its id."""
        lane_id = self.ids()
        self.fields[lane_id] = {
            "id": lane_id,
            "left": left,
            "right": right,
            "center": 0.5 * (left + right),
            "predecessors": [],
            "successors": [],
            "lane_types": types,
            "users_one_way": () if pedestrian else ("vehicle",),
            "users_bidirectional": ("pedestrian",) if pedestrian else (),
            "left_marking": markings[0],
            "right_marking": markings[1],
            "traffic_sign_ids": signs,
        }
        return lane_id

    def link(self, *chain: int) -> None:
        """Make each lane of `chain` the predecessor of the next."""
        for first, second in itertools.pairwise(chain):
            self.fields[first]["successors"].append(second)
            self.fields[second]["predecessors"].append(first)

    def beside(self, right: int, left: int) -> None:
        """`left` is the same-direction neighbour on the left of `right`."""
        self.fields[right]["left_neighbour"] = Neighbour(left, True)
        self.fields[left]["right_neighbour"] = Neighbour(right, True)

    def opposite(self, a: int, b: int) -> None:
        """`a` and `b` are each other's left neighbour, driven in opposite directions."""
        self.fields[a]["left_neighbour"] = Neighbour(b, False)
        self.fields[b]["left_neighbour"] = Neighbour(a, False)

    def set(self, lane_id: int, **values: Any) -> None:
        """Set further `Lane` fields (stop line, light references)."""
        self.fields[lane_id].update(values)

    def center(self, lane_id: int) -> FloatArray:
        """The centerline (P, 2) [m] of a lane added so far."""
        return np.asarray(self.fields[lane_id]["center"])

    def finish(self, signs: tuple[TrafficSign, ...]) -> dict[int, Lane]:
        """The lanes, topology as tuples, speed limits [m/s] from the maximum-speed `signs` they
        reference (the lowest, as a reader takes them)."""
        limits = {sign.id: sign_limit(sign) for sign in signs}
        lanes = {}
        for lane_id, values in self.fields.items():
            frozen = dict(values)
            frozen["predecessors"] = tuple(values["predecessors"])
            frozen["successors"] = tuple(values["successors"])
            own = [limits[sign] for sign in values["traffic_sign_ids"] if sign in limits]
            frozen["speed_limit"] = min(own) if own else None
            lanes[lane_id] = Lane(**frozen)
        return lanes


def _speed_sign(ids: Ids, limit: float, at: FloatArray) -> TrafficSign:
    """A maximum-speed sign of `limit` [m/s] (written to 2 decimals) standing at `at` (2,) [m]."""
    return TrafficSign(id=ids(), x=float(at[0]), y=float(at[1]), elements=((SPEED_SIGN, (f"{limit:.2f}",)),))


def sign_limit(sign: TrafficSign) -> float:
    """The speed [m/s] a maximum-speed sign sets, as a reader parses it."""
    return float(sign.elements[0][1][0])


def _band(
    frame: FrenetFrame,
    start: float,
    end: float,
    right: float | Callable[[FloatArray], FloatArray],
    left: float | Callable[[FloatArray], FloatArray],
) -> tuple[FloatArray, FloatArray]:
    """Left and right bounds (P, 2) [m] of the band between offsets `right` < `left` [m] (numbers
    or functions of the station) over stations [start, end] [m], a point every BOUND_SPACING m."""
    count = max(2, round((end - start) / BOUND_SPACING) + 1)
    s = np.linspace(start, end, count)
    d_right = right(s) if callable(right) else np.full(count, right)
    d_left = left(s) if callable(left) else np.full(count, left)
    return frame.from_frenet(s, d_left), frame.from_frenet(s, d_right)


def _route(builder: _Builder, lanes: tuple[int, ...], limits: dict[int, float], **values: Any) -> Route:
    """The route along `lanes`: their joined centerlines resampled every SPACING m, with limits."""
    pieces = [builder.center(lanes[0])] + [builder.center(lane)[1:] for lane in lanes[1:]]
    line = Polyline(np.concatenate(pieces)).resample(SPACING)
    # which lane each path point lies on: by cumulative centerline length
    ends = np.cumsum([Polyline(builder.center(lane)).length for lane in lanes])
    stations = SPACING * np.arange(len(line.points))
    owner = np.minimum(np.searchsorted(ends, stations * ends[-1] / line.length), len(lanes) - 1)
    lane_limits = np.array([limits[lane] for lane in lanes])[owner]
    return Route(lanes=lanes, path=np.asarray(line.points), limits=lane_limits, **values)


def curve_speed(path: FloatArray) -> FloatArray:
    """Highest comfortable speed (P,) [m/s] at each point of a path (P, 2) sampled every SPACING m:
    sqrt(LATERAL_COMFORT / |curvature|), curvature smoothed over 4 m."""
    line = Polyline(path)
    curvature = np.abs(line.curvature_at(SPACING * np.arange(len(path)), window=4.0))
    return np.sqrt(LATERAL_COMFORT / np.maximum(curvature, 1e-6))


def _reference(rng: np.random.Generator, length: float) -> FrenetFrame:
    """A gently curving reference line of `length` [m] from the origin: heading h0 + A sin(2 pi s /
    wavelength + phase), radii above ~1 km, as a Frenet frame."""
    s = np.arange(0.0, length + BOUND_SPACING, BOUND_SPACING)
    amplitude, wavelength = rng.uniform(0.02, 0.07), rng.uniform(700.0, 1500.0)
    heading = rng.uniform(-0.4, 0.4) + amplitude * np.sin(
        2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi)
    )
    steps = BOUND_SPACING * np.stack([np.cos(heading[:-1]), np.sin(heading[:-1])], axis=1)
    return FrenetFrame(Polyline(np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])))


def _markings(index: int, count: int) -> tuple[str, str]:
    """(left, right) line markings of lane `index` of `count` lanes counted from the right."""
    return ("solid" if index == count - 1 else "dashed", "solid" if index == 0 else "dashed")


def _carriageway(
    builder: _Builder,
    frame: FrenetFrame,
    stations: list[float],
    lanes: int,
    width: float,
    types: tuple[str, ...],
    sign: int,
) -> list[list[int]]:
    """`lanes` parallel lanes left of the reference, split at `stations` [m]: ids [lane][segment],
    lane 0 the rightmost, linked along and beside each other."""
    grid = []
    for k in range(lanes):
        row = [
            builder.lane(
                *_band(frame, start, end, k * width, (k + 1) * width), types, _markings(k, lanes), (sign,)
            )
            for start, end in itertools.pairwise(stations)
        ]
        builder.link(*row)
        grid.append(row)
    for k in range(lanes - 1):
        for right, left in zip(grid[k], grid[k + 1], strict=True):
            builder.beside(right, left)
    return grid


def highway(rng: np.random.Generator, ids: Ids, length: float = 1000.0) -> Layout:
    """A 2-4 lane one-way highway of `length` [m] in 150-200 m segments, 100 or 120 km/h."""
    frame = _reference(rng, length)
    builder = _Builder(ids)
    limit = float(rng.choice([27.78, 33.33]))
    sign = _speed_sign(ids, limit, frame.from_frenet(0.0, -2.0))
    segment = rng.uniform(150.0, 200.0)
    stations = [*np.arange(0.0, length - 50.0, segment).tolist(), length]
    grid = _carriageway(
        builder, frame, stations, int(rng.integers(2, 5)), HIGHWAY_LANE_WIDTH, ("interstate",), sign.id
    )
    limits = dict.fromkeys(builder.fields, sign_limit(sign))
    entries = {f"lane{k}": (_route(builder, tuple(row), limits),) for k, row in enumerate(grid)}
    return Layout(lanes=builder.finish((sign,)), signs=(sign,), entries=entries)


def merge(rng: np.random.Generator, ids: Ids, length: float = 900.0) -> Layout:
    """A two-lane highway with an on-ramp from the right: the ramp curves in, runs on as an
    acceleration lane beside the right lane and tapers out (a lane drop, no successor)."""
    frame = _reference(rng, length)
    builder = _Builder(ids)
    width = HIGHWAY_LANE_WIDTH
    main_limit, ramp_limit = float(rng.choice([27.78, 33.33])), 22.22
    main_sign = _speed_sign(ids, main_limit, frame.from_frenet(0.0, -2.0))
    ramp_start, joins = 60.0, 220.0
    taper = joins + rng.uniform(140.0, 200.0)
    ends = taper + 60.0
    ramp_sign = _speed_sign(ids, ramp_limit, frame.from_frenet(ramp_start, -34.0))
    stations = [0.0, joins, taper, ends, (ends + length) / 2, length]
    grid = _carriageway(builder, frame, stations, 2, width, ("interstate",), main_sign.id)
    offset = rng.uniform(22.0, 32.0)  # how far right of the road the ramp starts [m]

    def ramp_center(s: FloatArray) -> FloatArray:
        return -width / 2 - offset * (1.0 + np.cos(np.pi * (s - ramp_start) / (joins - ramp_start))) / 2

    ramp = builder.lane(
        *_band(
            frame,
            ramp_start,
            joins,
            lambda s: ramp_center(s) - width / 2,
            lambda s: ramp_center(s) + width / 2,
        ),
        ("accessRamp",),
        ("solid", "solid"),
        (ramp_sign.id,),
    )
    accel = builder.lane(
        *_band(frame, joins, taper, -width, 0.0), ("accessRamp",), ("dashed", "solid"), (main_sign.id,)
    )
    tail = builder.lane(
        *_band(frame, taper, ends, lambda s: -width + (width - 0.2) * (s - taper) / (ends - taper), 0.0),
        ("accessRamp",),
        ("dashed", "solid"),
        (main_sign.id,),
    )
    builder.link(ramp, accel, tail)
    builder.beside(accel, grid[0][1])
    builder.beside(tail, grid[0][2])
    limits = {lane: main_limit for lane in builder.fields} | {ramp: ramp_limit}
    entries = {f"lane{k}": (_route(builder, tuple(row), limits),) for k, row in enumerate(grid)}
    ramp_route = _route(builder, (ramp, accel, tail), limits)
    window = (
        ramp_route.station(frame.from_frenet(joins + 5.0, -width / 2)),
        ramp_route.station(frame.from_frenet(ends - 10.0, -width / 2)),
    )
    entries["ramp"] = (dataclasses.replace(ramp_route, merge_into="lane0", merge_window=window),)
    return Layout(lanes=builder.finish((main_sign, ramp_sign)), signs=(main_sign, ramp_sign), entries=entries)


# --- intersection ------------------------------------------------------------------------------------

_TURNS = {"right": 1, "straight": 2, "left": 3}  # arm index offset of the exit (arms counter-clockwise)


def _rotation(arm: int) -> FloatArray:
    """Exact rotation by arm x 90 degrees counter-clockwise (arm 0 points north, +y)."""
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][arm % 4]
    return np.array([[c, -s], [s, c]], dtype=np.float64)


def _bezier(p0: FloatArray, h0: FloatArray, p1: FloatArray, h1: FloatArray, reach: float) -> FloatArray:
    """Points (64, 2) [m] of the cubic Bezier from p0 heading h0 (unit) to p1 heading h1 with control
    arms `reach` [m] (0.5523 r approximates a quarter circle of radius r)."""
    t = np.linspace(0.0, 1.0, 64)[:, None]
    c0, c1 = p0 + reach * h0, p1 - reach * h1
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c0 + 3 * (1 - t) * t**2 * c1 + t**3 * p1


def offset_line(center: FloatArray, by: float) -> FloatArray:
    """The line `by` [m] left of the polyline `center` (P, 2) (normals from neighbouring points)."""
    tangent = np.gradient(center, axis=0)
    tangent /= np.hypot(*tangent.T)[:, None]
    return center + by * np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


@dataclass(frozen=True)
class SignalPlan:
    """A signal plan with one phase per arm [steps]: arm after arm (counter-clockwise) gets `green`,
    `yellow`, then `all_red` before the next arm's green, so no two vehicle streams cross;
    red-yellow shows in the last `red_yellow` steps of red. `shift` is when arm 0's green starts."""

    green: int
    yellow: int
    all_red: int
    red_yellow: int
    shift: int

    @property
    def phase(self) -> int:
        """One arm's phase [steps]."""
        return self.green + self.yellow + self.all_red

    @property
    def period(self) -> int:
        """Cycle length [steps]."""
        return 4 * self.phase

    def cycle(self, arm: int) -> tuple[tuple[tuple[LightColor, int], ...], int]:
        """The (cycle, offset) of arm `arm`'s light."""
        red = self.period - self.green - self.yellow - self.red_yellow
        cycle = (
            (LightColor.GREEN, self.green),
            (LightColor.YELLOW, self.yellow),
            (LightColor.RED, red),
            (LightColor.RED_YELLOW, self.red_yellow),
        )
        return cycle, (self.shift + arm * self.phase) % self.period


def intersection(
    rng: np.random.Generator, ids: Ids, dt: float, green_arm: int, green_at: int, arm_length: float = 100.0
) -> Layout:
    """A four-way signalised crossing of two-lane urban roads (50 km/h): per arm an incoming and an
    outgoing lane in two segments, stop line, light, crosswalk and sidewalks on both sides; right,
    straight and left turning lanes through the box; one signal phase per arm (`SignalPlan`),
    timed so that arm `green_arm` turns green at step `green_at`. Pedestrians cross an arm while
    one of its two neighbours has green (whose vehicles turn into it and give way to them)."""
    builder = _Builder(ids)
    width, half_box = URBAN_LANE_WIDTH, 10.0
    limit = 13.89
    sign = _speed_sign(ids, limit, np.array([-width - 1.5, half_box + 12.0]))
    plan = SignalPlan(
        green=round(rng.uniform(8.0, 12.0) / dt),
        yellow=round(3.0 / dt),
        all_red=round(1.5 / dt),
        red_yellow=round(1.0 / dt),
        shift=0,
    )
    plan = dataclasses.replace(plan, shift=(green_at - green_arm * plan.phase) % plan.period)
    near, far, stop_at, walk = half_box, half_box + arm_length, half_box + 4.5, half_box + 2.0
    middle = half_box + arm_length / 2
    kerb = width + 1.0  # pedestrians wait this far from the road's centre [m]

    def straight(x: float, y0: float, y1: float) -> FloatArray:
        y = np.linspace(y0, y1, max(2, round(abs(y1 - y0) / BOUND_SPACING) + 1))
        return np.stack([np.full_like(y, x), y], axis=1)

    arms = []
    lights = []
    crossings = []
    for arm in range(4):
        turn = _rotation(arm).T  # row vectors: xy @ turn rotates

        def place(xy: FloatArray, turn: FloatArray = turn) -> FloatArray:
            return np.asarray(xy, dtype=np.float64) @ turn

        incoming = [
            builder.lane(
                place(straight(0.0, y0, y1)),
                place(straight(-width, y0, y1)),
                ("urban",),
                ("solid", "solid"),
                (sign.id,),
            )
            for y0, y1 in ((far, middle), (middle, near))
        ]
        outgoing = [
            builder.lane(
                place(straight(0.0, y0, y1)),
                place(straight(width, y0, y1)),
                ("urban",),
                ("solid", "solid"),
                (sign.id,),
            )
            for y0, y1 in ((near, middle), (middle, far))
        ]
        builder.link(*incoming)
        builder.link(*outgoing)
        for a, b in zip(incoming, outgoing[::-1], strict=True):
            builder.opposite(a, b)
        cycle, offset = plan.cycle(arm)
        light_xy = place(np.array([-width - 0.8, stop_at]))
        light = TrafficLight(id=ids(), x=float(light_xy[0]), y=float(light_xy[1]), cycle=cycle, offset=offset)
        lights.append(light)
        stop = StopLine(
            start=tuple(place(np.array([0.0, stop_at])).tolist()),
            end=tuple(place(np.array([-width, stop_at])).tolist()),
            marking="solid",
            traffic_light_ids=(light.id,),
        )
        builder.set(incoming[1], stop_line=stop, traffic_light_ids=(light.id,))
        builder.lane(
            place(np.array([[-width - 2.5, near + 3.5], [width + 2.5, near + 3.5]])),
            place(np.array([[-width - 2.5, near + 0.5], [width + 2.5, near + 0.5]])),
            ("crosswalk",),
            ("solid", "solid"),
            pedestrian=True,
        )
        for inner, outer in ((width + 0.5, width + 2.5), (-width - 2.5, -width - 0.5)):
            builder.lane(
                place(straight(inner, near + 0.5, far)),
                place(straight(outer, near + 0.5, far)),
                ("sidewalk",),
                ("solid", "solid"),
                pedestrian=True,
            )
        for side in (1.0, -1.0):  # the two walking directions keep to their right
            lane, there, back = walk + 0.6 * side, side * (width + 1.5) - 0.5, -side * (width + 1.5) + 0.5
            approach = straight(there, far - 40.0, lane)
            path = np.concatenate(
                [
                    approach,
                    np.linspace([there, lane], [back, lane], 20)[1:],
                    straight(back, lane, far - 40.0)[1:],
                ]
            )
            line = Polyline(place(path)).resample(SPACING)
            station = Polyline(path).s[len(approach) - 1] + (abs(there) - kerb)
            crossings.append(
                Crossing(np.asarray(line.points), station, 2 * kerb, ((arm + 1) % 4, (arm + 3) % 4))
            )
        arms.append((incoming, outgoing, place, stop_at))

    incomings, routes = [], {}
    limits: dict[int, float] = {}
    for arm, (incoming, _, place, _) in enumerate(arms):
        start = place(np.array([-width / 2, near]))
        heading = place(np.array([0.0, -1.0]))
        successors: dict[str, int] = {}
        arm_routes = []
        for movement, offset in _TURNS.items():
            _, exit_outgoing, exit_place, _ = arms[(arm + offset) % 4]
            end = exit_place(np.array([width / 2, near]))
            end_heading = exit_place(np.array([0.0, 1.0]))
            radius = float(np.hypot(*(end - start))) / np.sqrt(2.0)
            reach = 0.5523 * radius if movement != "straight" else float(np.hypot(*(end - start))) / 3
            center = _bezier(start, heading, end, end_heading, reach)
            lane = builder.lane(
                offset_line(center, width / 2),
                offset_line(center, -width / 2),
                ("intersection",),
                ("no_marking", "no_marking"),
                (sign.id,),
            )
            builder.link(incoming[1], lane, exit_outgoing[0])
            successors[movement] = lane
            chain = (*incoming, lane, *exit_outgoing)
            limits.update(dict.fromkeys(chain, limit))
            route = _route(builder, chain, limits, movement=movement)
            stop_station = route.station(place(np.array([-width / 2, stop_at])))
            box_exit = route.station(end)
            arm_routes.append(
                dataclasses.replace(
                    route, stops=((stop_station, arm),), conflict=(stop_station - 2.0, box_exit + 8.0)
                )
            )
        routes[f"arm{arm}"] = tuple(arm_routes)
        incomings.append(
            IntersectionIncoming(
                id=ids(),
                incoming_lane_ids=(incoming[1],),
                successors_right=(successors["right"],),
                successors_straight=(successors["straight"],),
                successors_left=(successors["left"],),
            )
        )
    incomings = [
        IntersectionIncoming(
            id=incoming.id,
            incoming_lane_ids=incoming.incoming_lane_ids,
            successors_right=incoming.successors_right,
            successors_straight=incoming.successors_straight,
            successors_left=incoming.successors_left,
            is_left_of=incomings[(arm + 1) % 4].id,  # the arm on a driver's right
        )
        for arm, incoming in enumerate(incomings)
    ]
    junction = Intersection(id=ids(), incomings=tuple(incomings))
    return Layout(
        lanes=builder.finish((sign,)),
        signs=(sign,),
        lights=tuple(lights),
        intersections=(junction,),
        entries=routes,
        crossings=tuple(crossings),
    )
