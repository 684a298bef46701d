"""CommonRoad XML reader (format versions 2018b and 2020a, `.xml` or `.xml.gz`) into drivestack's core types.

Untrusted input: loading goes through `_xml` (no DTD, no entities, no network, bounded size) and
every problem becomes an `InputError` naming the file, the element (e.g. ``lanelet 61 /
adjacentLeft``) and what was expected. Bulk values (bounds, trajectory states) are pulled out with
compiled XPath queries per lanelet / obstacle and converted to numpy arrays in one go.

Conventions of this reader:
- Tracks live on a grid of `num_steps` = (last time step of any dynamic obstacle or occupancy) + 1
  steps (with neither: last planning-problem initial step + 1). Yaw is the file's orientation, wrapped
  to [-pi, pi) only where it lies outside. `vx`, `vy` = speed * (cos yaw, sin yaw) (no slip angle).
- Where a state omits velocity, yawRate or acceleration, the value is derived per obstacle by finite
  differences over its own states on the time grid (central, one-sided at the ends, 0 for a single
  state): speed = d(x, y)/dt projected on the heading, yaw rate = wrapped d(yaw)/dt, acceleration =
  d(speed)/dt.
- Lane centerlines are the midpoints of the left and right bounds; bounds with different point counts
  are first resampled at the same arc-length fractions (as many points as the longer bound).
- Speed limits [m/s]: 2018b's `<speedLimit>`; in 2020a the maximum-speed traffic signs a lanelet
  references (`MAX_SPEED_SIGN_IDS`: German/Chinese '274', German zone '274.1', US 'R2-1'), whose first
  `additionalValue` is in m/s in the data (highD '33.33' = 120 km/h, NGSIM 'R2-1' '13.4112' = 30 mph;
  the NGSIM drives stored in both versions give the same value per lanelet in 2018b's `<speedLimit>`).
  The lowest applicable value wins.
- A stop line without points spans the ends of the lanelet's bounds (as commonroad-io does). Its sign
  and light references only point back at what its lanelet references; dangling ones are dropped.
- Field values are matched to states by counting: a field is taken when every state (or every trajectory
  state) has exactly as many values as states; a state missing a field while another state of the same
  obstacle repeats it goes unnoticed.
- Location placeholders (geoNameId -999, coordinates outside +-90/+-180 deg or exactly (0, 0)) become None.
- Uncertain state values (intervals, position regions) read as midpoints and region centres
  (`_exact_states`); point-mass states (`velocityY`, no orientation) head along their motion
  (`_derived`); set-based and phantom obstacles become `Scenario.occupancies` (`_occupancy`); a
  lanelet's reference to an absent sign or light is dropped with an `InputWarning`.
- Solution files holding input vectors instead of states are rejected: they need a forward
  simulation of the vehicle model.
- Resources and ranges are bounded by `core.limits.ReaderLimits` (document bytes and elements, time
  steps, track grid cells; |coordinates|, time step size, speeds, accelerations, yaw rates, shape
  sizes): a value beyond its bound is refused naming its element and the limit's field.
- Solution files carry no time step size: `read_solution` leaves `Trajectory.dt` NaN and
  `attach_solution` / `read_scenario` set it to the scenario's `dt`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Container, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from lxml import etree

from drivestack.core.errors import DrivestackError, InputError, InputWarning
from drivestack.core.geometry import wrap_angle
from drivestack.core.limits import DEFAULT_READER_LIMITS, Bound, ReaderLimits
from drivestack.core.map import (
    FloatArray,
    Intersection,
    IntersectionIncoming,
    Lane,
    LaneGraph,
    Neighbour,
    StopLine,
)
from drivestack.core.names import display_text
from drivestack.core.scenario import (
    AgentType,
    EgoState,
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
from drivestack.data.formats import _xml
from drivestack.data.formats._xml import Count, Reader, Texts

SUPPORTED_VERSIONS = ("2018b", "2020a")
MAX_SPEED_SIGN_IDS = frozenset({"274", "274.1", "R2-1"})
"""Traffic sign ids whose first additional value is a maximum speed [m/s]."""
_MOVING_SPEED = 0.1
"""[m/s] above it a state's motion gives its heading (point-mass states without orientation)."""
MAX_OCCUPANCY_STEPS = 100_000
"""Most (obstacle, step) occupancies a file may spread its occupancy sets over."""

LIGHT_DIRECTIONS = frozenset(
    {"right", "straight", "left", "leftStraight", "straightRight", "leftRight", "all"}
)
VEHICLE_MODELS = ("PM", "ST", "STD", "KS", "KST", "MB")
"""CommonRoad vehicle model ids; a solution's trajectory element is `<model lower-case>Trajectory`."""

_T = TypeVar("_T")
_SHAPE_TAGS = frozenset({"rectangle", "circle", "polygon", "shapeGroup"})
_UNKNOWN_LOCATION = -999

_POINT_X = Texts("point/x/text()")
_POINT_Y = Texts("point/y/text()")
_POINT_COUNT = Count("point")
_STATE_COUNT = Count("trajectory/state")

# Obstacle state fields: name -> (path inside a state, required).
_STATE_FIELDS = {
    "x": ("position/point/x", True),
    "y": ("position/point/y", True),
    "yaw": ("orientation/exact", False),
    "step": ("time/exact", True),
    "speed": ("velocity/exact", False),
    "velocity_y": ("velocityY/exact", False),
    "acceleration": ("acceleration/exact", False),
    "yaw_rate": ("yawRate/exact", False),
}
_STATES_XPATHS = {  # one query over the initial state and the trajectory states, in document order
    name: Texts(f"initialState/{path}/text() | trajectory/state/{path}/text()")
    for name, (path, _) in _STATE_FIELDS.items()
}
_TRAJECTORY_XPATHS = {
    name: Texts(f"trajectory/state/{path}/text()") for name, (path, _) in _STATE_FIELDS.items()
}
_STATE_XPATHS = {name: Texts(f"{path}/text()") for name, (path, _) in _STATE_FIELDS.items()}
_SOLUTION_XPATHS = {
    name: Texts(f"*/{name}/text()")
    for name in ("x", "y", "time", "orientation", "velocity", "xVelocity", "yVelocity", "steeringAngle")
}
_VEHICLE_ID = re.compile(rf"^({'|'.join(sorted(VEHICLE_MODELS, key=len, reverse=True))})([1-9][0-9]*)$")
_COST_ID = re.compile(r"^[A-Za-z0-9_]+$")


def read_scenario(
    path: str | Path,
    solution_paths: Iterable[str | Path] = (),
    limits: ReaderLimits = DEFAULT_READER_LIMITS,
) -> Scenario:
    """Read the CommonRoad scenario at `path` and attach the recorded egos of `solution_paths`.

    Raises `InputError` (file, element, expectation) for anything that is not a valid scenario or
    exceeds `limits` (size, elements, track grid, physical ranges).
    """
    scenario = _guarded(Path(path), functools.partial(_read_scenario, limits=limits))
    for solution in solution_paths:
        scenario = attach_solution(scenario, solution, limits)
    return scenario


def read_solution(
    path: str | Path, limits: ReaderLimits = DEFAULT_READER_LIMITS
) -> tuple[str, tuple[RecordedEgo, ...]]:
    """Read a CommonRoad solution file: (scenario id from its benchmark_id, the recorded egos).

    The egos' trajectories have `dt` NaN (solution files do not say it); `attach_solution` sets it.
    """
    return _guarded(Path(path), functools.partial(_read_solution, limits=limits))


def attach_solution(
    scenario: Scenario, path: str | Path, limits: ReaderLimits = DEFAULT_READER_LIMITS
) -> Scenario:
    """`scenario` with the recorded egos of the solution file at `path` added (their `dt` set).

    Raises `InputError` when the solution names another scenario or an unknown planning problem.
    """
    scenario_id, egos = read_solution(path, limits)
    if scenario_id != scenario.scenario_id:
        raise InputError(
            path,
            "CommonRoadSolution / benchmark_id",
            f"names scenario {scenario_id!r}, expected {scenario.scenario_id!r} (the scenario given)",
        )
    problems = {problem.id for problem in scenario.planning_problems}
    taken = {ego.planning_problem_id for ego in scenario.recorded_egos}
    attached = []
    for ego in egos:
        where = f"trajectory of planningProblem {ego.planning_problem_id}"
        if ego.planning_problem_id not in problems:
            raise InputError(
                path, where, f"scenario {scenario_id} has no such planning problem (has {sorted(problems)})"
            )
        if ego.planning_problem_id in taken:
            raise InputError(path, where, "this planning problem already has a recorded ego")
        taken.add(ego.planning_problem_id)
        trajectory = dataclasses.replace(ego.trajectory, dt=scenario.dt)
        attached.append(dataclasses.replace(ego, trajectory=trajectory))
    return dataclasses.replace(scenario, recorded_egos=scenario.recorded_egos + tuple(attached))


def _guarded(path: Path, read: Callable[[Path], _T]) -> _T:
    """`read(path)`, with any non-drivestack exception (a last line of defence) turned into `InputError`."""
    try:
        return read(path)
    except DrivestackError:
        raise
    except Exception as error:
        raise InputError(path, None, f"could not be read ({type(error).__name__}: {error})") from error


# ---------------------------------------------------------------------------------------------------
# Scenario


def _read_scenario(path: Path, limits: ReaderLimits) -> Scenario:
    root = _xml.load(path, limits)
    doc = Reader(path, limits)
    if root.tag != "commonRoad":
        raise doc.error(str(root.tag), "expected a CommonRoad scenario (root element <commonRoad>)")
    version = doc.attribute(root, "commonRoadVersion", "commonRoad")
    if version not in SUPPORTED_VERSIONS:
        raise doc.error(
            "commonRoad / commonRoadVersion",
            f"unsupported format version {version!r} (expected one of {', '.join(SUPPORTED_VERSIONS)})",
        )
    scenario_id = doc.attribute(root, "benchmarkID", "commonRoad")
    dt = doc.number(doc.attribute(root, "timeStepSize", "commonRoad"), "commonRoad / timeStepSize")
    if not limits.min_time_step_size <= dt <= limits.max_time_step_size:
        raise doc.error(
            "commonRoad / timeStepSize",
            f"expected a time step in [{limits.min_time_step_size:g}, {limits.max_time_step_size:g}] s "
            f"(ReaderLimits.min_time_step_size, max_time_step_size), got {dt:g}",
        )

    warnings: list[InputWarning] = []
    _exact_states(doc, root)
    signs, sign_limits = _traffic_signs(doc, root.findall("trafficSign"))
    light_nodes = root.findall("trafficLight")
    light_ids = _ids(doc, light_nodes, "trafficLight")
    lanes = _lanes(doc, root.findall("lanelet"), signs, sign_limits, set(light_ids), warnings)
    lights = _traffic_lights(doc, light_nodes, light_ids, lanes)
    intersections = _intersections(doc, root.findall("intersection"), lanes)
    lane_graph = LaneGraph(map_id=_map_id(lanes), lanes=lanes, intersections=intersections)

    dynamic, static, phantoms = _obstacle_nodes(doc, root, version)
    problems = tuple(_planning_problem(doc, node, lanes) for node in root.findall("planningProblem"))
    _check_unique(doc, [problem.id for problem in problems], "planningProblem")
    fallback_steps = max((problem.initial.step for problem in problems), default=0) + 1
    set_based = [(node, False) for node in dynamic if _has_occupancy(node)]
    set_based += [(node, True) for node in phantoms]
    occupancies: list[Occupancy] = []
    spread = 0  # occupied steps so far, against MAX_OCCUPANCY_STEPS
    for node, phantom in set_based:
        occupancies.append(_occupancy(doc, node, phantom, MAX_OCCUPANCY_STEPS - spread))
        spread += len(occupancies[-1].steps)
    occupied = max((int(occupancy.steps[-1]) + 1 for occupancy in occupancies), default=0)
    tracks = _tracks(doc, dynamic, dt, fallback_steps, occupied)
    occupancies = [_outside_track(occupancy, tracks) for occupancy in occupancies]
    static_obstacles = tuple(_static_obstacle(doc, node, kind) for node, kind in static)
    _check_unique(
        doc,
        [int(i) for i in tracks.ids]
        + [obstacle.id for obstacle in static_obstacles]
        + [occupancy.id for occupancy in occupancies if occupancy.phantom],
        "obstacle",
    )
    return Scenario(
        scenario_id=scenario_id,
        dt=dt,
        num_steps=tracks.num_steps,
        lane_graph=lane_graph,
        tracks=tracks,
        static_obstacles=static_obstacles,
        traffic_lights=lights,
        traffic_signs=tuple(signs.values()),
        planning_problems=problems,
        format_version=version,
        source=root.get("source", ""),
        author=root.get("author", ""),
        affiliation=root.get("affiliation", ""),
        tags=_tags(root, version),
        location=_location(doc, root),
        source_file=display_text(path),
        occupancies=tuple(occupancies),
        warnings=tuple(warnings),
    )


def _state_of(node: etree._Element | None) -> bool:
    """Whether `node` is an obstacle's or planning problem's state (`initialState`, `trajectory/state`)."""
    if node is None:
        return False
    if node.tag == "initialState":
        return True
    parent = node.getparent()
    return node.tag == "state" and parent is not None and parent.tag == "trajectory"


def _uncertain(root: etree._Element) -> tuple[list[etree._Element], list[etree._Element]]:
    """(state fields holding an interval, state positions holding a region), in document order.

    One pass over the tree by tag (lxml's `iter` in C) rather than path queries over every state."""
    fields: dict[etree._Element, None] = {}
    positions: dict[etree._Element, None] = {}
    for node in root.iter("intervalStart", "intervalEnd", *_SHAPE_TAGS):
        parent = node.getparent()
        if parent is None:
            continue
        if node.tag in ("intervalStart", "intervalEnd"):
            if _state_of(parent.getparent()):
                fields[parent] = None
        elif parent.tag == "position" and _state_of(parent.getparent()):
            positions[parent] = None
    return list(fields), list(positions)


def _locator(node: etree._Element) -> str:
    """Where `node` sits, for messages: its ancestors below the root, with their ids where they have one."""
    parts = []
    current: etree._Element | None = node
    while current is not None and current.getparent() is not None:
        name = str(current.tag)
        parts.append(f"{name} {current.get('id')}" if current.get("id") is not None else name)
        current = current.getparent()
    return " / ".join(reversed(parts))


def _set_children(node: etree._Element, values: dict[str, str]) -> list[etree._Element]:
    """Replace the children of `node` with `<name>value</name>` elements, in order; returns them."""
    for child in list(node):
        node.remove(child)
    made = []
    for name, value in values.items():
        made.append(etree.SubElement(node, name))
        made[-1].text = value
    return made


def _exact_states(doc: Reader, root: etree._Element) -> None:
    """Turn uncertain state values (obstacles' and planning problems' initial and trajectory states)
    into exact ones, in place, before anything is read: an interval-valued field becomes its
    midpoint, a position given as a region (rectangle, circle, polygon or a group of them; 2018b
    obstacle states give a rectangle of position uncertainty) the centre of the region's bounding
    box. Time steps must stay exact."""
    fields, positions = _uncertain(root)
    for node in fields:
        where = _locator(node)
        if node.tag == "time":
            raise doc.error(where, "is an interval (expected an exact time step)")
        interval = _interval(doc, node, where, integer=False)
        _set_children(node, {"exact": repr(0.5 * (interval.start + interval.end))})
    for node in positions:
        where = _locator(node)
        parts = []
        for child in node:
            if child.tag not in _SHAPE_TAGS:
                raise doc.error(
                    f"{where} / {child.tag}",
                    "unsupported state position (expected a point, rectangle, circle, polygon or shapeGroup)",
                )
            parts += _shape_parts(doc, child, where)
        if not parts:
            raise doc.error(where, "is empty (expected a point or a region)")
        outline = np.concatenate([part.outline() for part in parts])
        centre = 0.5 * (outline.min(axis=0) + outline.max(axis=0))
        (point,) = _set_children(node, {"point": ""})
        _set_children(point, {"x": repr(float(centre[0])), "y": repr(float(centre[1]))})


def _ids(doc: Reader, nodes: Sequence[etree._Element], kind: str) -> list[int]:
    """The integer `id` attributes of `nodes` (elements of type `kind`), checked to be unique."""
    ids = [doc.integer(doc.attribute(node, "id", kind), f"{kind} / id") for node in nodes]
    _check_unique(doc, ids, kind)
    return ids


def _check_unique(doc: Reader, ids: Sequence[int], kind: str) -> None:
    if len(set(ids)) != len(ids):
        duplicate = next(i for i, n in Counter(ids).items() if n > 1)
        raise doc.error(
            f"{kind} {duplicate}", f"id {duplicate} is used by more than one {kind} (expected unique ids)"
        )


def _ref(doc: Reader, node: etree._Element, where: str, known: Container[int], target: str) -> int:
    """The `ref` attribute of `node` as an id that must be among `known` ids of `target` elements."""
    ref = doc.integer(doc.attribute(node, "ref", where), f"{where} / ref")
    if ref not in known:
        raise doc.error(where, f"refers to {target} {ref}, which does not exist")
    return ref


def _refs(
    doc: Reader, parent: etree._Element, tag: str, where: str, known: Container[int], target: str
) -> tuple[int, ...]:
    """The `ref`s of every `tag` child of `parent`, each checked against the `known` ids."""
    return tuple(_ref(doc, node, f"{where} / {tag}", known, target) for node in parent.findall(tag))


def _present_refs(
    doc: Reader,
    parent: etree._Element,
    tag: str,
    where: str,
    known: Container[int],
    target: str,
    warnings: list[InputWarning],
) -> tuple[int, ...]:
    """The `ref`s of every `tag` child of `parent` that name one of the `known` ids; each other one is
    dropped with a warning appended to `warnings`."""
    kept = []
    for node in parent.findall(tag):
        ref = doc.integer(doc.attribute(node, "ref", f"{where} / {tag}"), f"{where} / {tag} / ref")
        if ref in known:
            kept.append(ref)
        else:
            problem = f"refers to {target} {ref}, which does not exist: dropped"
            warnings.append(InputWarning(str(doc.path), f"{where} / {tag}", problem))
    return tuple(kept)


def _texts(doc: Reader, parent: etree._Element, tag: str, where: str) -> tuple[str, ...]:
    """The non-empty texts of every `tag` child of `parent`, in file order."""
    values = tuple((node.text or "").strip() for node in parent.findall(tag))
    if not all(values):
        raise doc.error(f"{where} / {tag}", "is empty (expected a value)")
    return values


def _boolean(doc: Reader, parent: etree._Element, tag: str, where: str, default: bool) -> bool:
    """The optional child `tag` as 'true' / 'false' (`default` when absent)."""
    node = doc.optional(parent, tag, where)
    if node is None:
        return default
    value = (node.text or "").strip()
    if value not in ("true", "false"):
        raise doc.error(f"{where} / {tag}", f"expected 'true' or 'false', got {value!r}")
    return value == "true"


def _wrap(angles: FloatArray) -> FloatArray:
    """(N,) angles [rad] wrapped to [-pi, pi) (unchanged where already inside), as an array."""
    return np.asarray(wrap_angle(angles), dtype=np.float64)


def _points(doc: Reader, parent: etree._Element, where: str, minimum: int) -> FloatArray:
    """The `<point>` children of `parent` as a (P, 2) float64 array [m], at least `minimum` of them."""
    xs, ys = _POINT_X(parent), _POINT_Y(parent)
    count = _POINT_COUNT(parent)
    if not len(xs) == len(ys) == count:
        for i, point in enumerate(parent.findall("point")):
            for axis in ("x", "y"):
                doc.text(point, axis, f"{where} / point[{i}]")
        raise doc.error(where, "every point needs one <x> and one <y> holding a single number")
    if count < minimum:
        raise doc.error(where, f"has {count} points (expected at least {minimum})")
    xy = np.empty((count, 2))
    xy[:, 0] = doc.numbers(xs, lambda i: f"{where} / point[{i}] / x", doc.limits.coordinate)
    xy[:, 1] = doc.numbers(ys, lambda i: f"{where} / point[{i}] / y", doc.limits.coordinate)
    return xy


def _point(doc: Reader, parent: etree._Element, tag: str, where: str) -> tuple[float, float]:
    """The single required point `parent/tag` (a `<point>`, `<center>` or similar with x and y) [m]."""
    node = doc.child(parent, tag, where)
    coordinate = doc.limits.coordinate
    return (
        doc.number_of(node, "x", f"{where} / {tag}", coordinate),
        doc.number_of(node, "y", f"{where} / {tag}", coordinate),
    )


def _exact(doc: Reader, state: etree._Element, tag: str, where: str, bound: Bound | None = None) -> float:
    """The required `state/tag/exact` value (within `bound` when given)."""
    return doc.number_of(doc.child(state, tag, where), "exact", f"{where} / {tag}", bound)


def _optional_exact(
    doc: Reader, state: etree._Element, tag: str, where: str, default: float, bound: Bound | None = None
) -> float:
    node = doc.optional(state, tag, where)
    return default if node is None else doc.number_of(node, "exact", f"{where} / {tag}", bound)


# --- map ---------------------------------------------------------------------------------------------


def _traffic_signs(
    doc: Reader, nodes: Sequence[etree._Element]
) -> tuple[dict[int, TrafficSign], dict[int, float]]:
    """Traffic signs by id, and the maximum speed [m/s] each speed-limit sign sets."""
    signs: dict[int, TrafficSign] = {}
    limits: dict[int, float] = {}
    for sign_id, node in zip(_ids(doc, nodes, "trafficSign"), nodes, strict=True):
        where = f"trafficSign {sign_id}"
        elements = []
        for j, element in enumerate(node.findall("trafficSignElement")):
            element_where = f"{where} / trafficSignElement[{j}]"
            kind = doc.text(element, "trafficSignID", element_where)
            values = tuple((value.text or "").strip() for value in element.findall("additionalValue"))
            if kind in MAX_SPEED_SIGN_IDS:
                if not values:
                    raise doc.error(
                        element_where, f"speed-limit sign {kind} has no additionalValue (expected m/s)"
                    )
                limit = doc.number(values[0], f"{element_where} / additionalValue", doc.limits.speed)
                if limit <= 0.0:
                    raise doc.error(
                        f"{element_where} / additionalValue", f"expected a positive speed, got {limit}"
                    )
                limits[sign_id] = min(limit, limits.get(sign_id, np.inf))
            elements.append((kind, values))
        if not elements:
            raise doc.error(where, "has no trafficSignElement (expected at least one)")
        position = doc.optional(node, "position", where)
        x, y = (None, None) if position is None else _point(doc, position, "point", f"{where} / position")
        virtual = _boolean(doc, node, "virtual", where, default=False)
        signs[sign_id] = TrafficSign(id=sign_id, x=x, y=y, elements=tuple(elements), virtual=virtual)
    return signs, limits


def _lanes(
    doc: Reader,
    nodes: Sequence[etree._Element],
    signs: dict[int, TrafficSign],
    sign_limits: dict[int, float],
    light_ids: set[int],
    warnings: list[InputWarning],
) -> dict[int, Lane]:
    """Every lanelet as a `Lane`, with all its references checked against the ids that exist.

    A reference to a traffic sign or light that does not exist is dropped with a warning (appended
    to `warnings`): the lanelet itself is sound, only that rule is unknown.
    """
    ids = _ids(doc, nodes, "lanelet")
    known = set(ids)
    lanes: dict[int, Lane] = {}
    for lanelet_id, node in zip(ids, nodes, strict=True):
        where = f"lanelet {lanelet_id}"
        left_bound = doc.child(node, "leftBound", where)
        right_bound = doc.child(node, "rightBound", where)
        left = _points(doc, left_bound, f"{where} / leftBound", minimum=2)
        right = _points(doc, right_bound, f"{where} / rightBound", minimum=2)
        sign_ids = _present_refs(doc, node, "trafficSignRef", where, signs, "trafficSign", warnings)
        limits = [sign_limits[i] for i in sign_ids if i in sign_limits]
        speed_limit = doc.optional(node, "speedLimit", where)
        if speed_limit is not None:
            limits.append(doc.number(speed_limit.text, f"{where} / speedLimit", doc.limits.speed))
        if any(limit <= 0.0 for limit in limits):
            raise doc.error(f"{where} / speedLimit", f"expected a positive speed [m/s], got {min(limits)}")
        lanes[lanelet_id] = Lane(
            id=lanelet_id,
            left=left,
            right=right,
            center=centerline_between(left, right),
            predecessors=_refs(doc, node, "predecessor", where, known, "lanelet"),
            successors=_refs(doc, node, "successor", where, known, "lanelet"),
            left_neighbour=_neighbour(doc, node, "adjacentLeft", where, known),
            right_neighbour=_neighbour(doc, node, "adjacentRight", where, known),
            lane_types=_texts(doc, node, "laneletType", where),
            users_one_way=_texts(doc, node, "userOneWay", where),
            users_bidirectional=_texts(doc, node, "userBidirectional", where),
            speed_limit=min(limits) if limits else None,
            left_marking=_line_marking(doc, left_bound, f"{where} / leftBound"),
            right_marking=_line_marking(doc, right_bound, f"{where} / rightBound"),
            stop_line=_stop_line(doc, node, where, left, right, signs, light_ids),
            traffic_sign_ids=sign_ids,
            traffic_light_ids=_present_refs(
                doc, node, "trafficLightRef", where, light_ids, "trafficLight", warnings
            ),
        )
    return lanes


def _line_marking(doc: Reader, parent: etree._Element, where: str) -> str:
    node = doc.optional(parent, "lineMarking", where)
    return "" if node is None else (node.text or "").strip()


def _neighbour(doc: Reader, node: etree._Element, tag: str, where: str, known: set[int]) -> Neighbour | None:
    """The adjacent lanelet named by child `tag` (adjacentLeft / adjacentRight), if any."""
    adjacent = doc.optional(node, tag, where)
    if adjacent is None:
        return None
    lane_id = _ref(doc, adjacent, f"{where} / {tag}", known, "lanelet")
    direction = adjacent.get("drivingDir")
    if direction not in ("same", "opposite"):
        raise doc.error(f"{where} / {tag}", f"drivingDir is {direction!r} (expected 'same' or 'opposite')")
    return Neighbour(lane_id=lane_id, same_direction=direction == "same")


def _stop_line(
    doc: Reader,
    node: etree._Element,
    where: str,
    left: FloatArray,
    right: FloatArray,
    signs: dict[int, TrafficSign],
    light_ids: set[int],
) -> StopLine | None:
    stop = doc.optional(node, "stopLine", where)
    if stop is None:
        return None
    where = f"{where} / stopLine"
    if _POINT_COUNT(stop) == 0:
        ends = (float(left[-1, 0]), float(left[-1, 1])), (float(right[-1, 0]), float(right[-1, 1]))
    else:
        points = _points(doc, stop, where, minimum=2)
        ends = (float(points[0, 0]), float(points[0, 1])), (float(points[-1, 0]), float(points[-1, 1]))
    return StopLine(
        start=ends[0],
        end=ends[1],
        marking=_line_marking(doc, stop, where),
        traffic_sign_ids=_back_refs(doc, stop, "trafficSignRef", where, signs),
        traffic_light_ids=_back_refs(doc, stop, "trafficLightRef", where, light_ids),
    )


def _back_refs(
    doc: Reader, parent: etree._Element, tag: str, where: str, known: Container[int]
) -> tuple[int, ...]:
    """A stop line's sign / light `ref`s that exist; refs to absent ones are dropped.

    A stop line only points back at the sign or light that its lanelet references itself, so a dangling
    one carries nothing; inD's conversions reference an absent sign 4000 from the stop lines of 27 of
    their 28 files, which would otherwise all be rejected.
    """
    refs = (
        doc.integer(doc.attribute(node, "ref", f"{where} / {tag}"), f"{where} / {tag} / ref")
        for node in parent.findall(tag)
    )
    return tuple(ref for ref in refs if ref in known)


def _arc_fractions(line: FloatArray) -> FloatArray:
    """Cumulative arc length of a (P, 2) polyline as fractions in [0, 1], (P,)."""
    cumulative = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
    total = cumulative[-1]
    return cumulative / total if total > 0.0 else np.linspace(0.0, 1.0, len(line))


def _resample(line: FloatArray, fractions: FloatArray) -> FloatArray:
    """Points of the (P, 2) polyline at the given arc-length `fractions` (K,), (K, 2) [m]."""
    own = _arc_fractions(line)
    return np.stack([np.interp(fractions, own, line[:, 0]), np.interp(fractions, own, line[:, 1])], axis=1)


def centerline_between(left: FloatArray, right: FloatArray) -> FloatArray:
    """Midpoints of the bounds (P, 2) [m]; bounds of unequal length are resampled by arc length first."""
    if len(left) != len(right):
        fractions = np.linspace(0.0, 1.0, max(len(left), len(right)))
        left, right = _resample(left, fractions), _resample(right, fractions)
    return 0.5 * (left + right)


def _traffic_lights(
    doc: Reader, nodes: Sequence[etree._Element], ids: Sequence[int], lanes: dict[int, Lane]
) -> tuple[TrafficLight, ...]:
    lights = []
    for light_id, node in zip(ids, nodes, strict=True):
        where = f"trafficLight {light_id}"
        cycle_node = doc.child(node, "cycle", where)
        cycle = []
        for j, element in enumerate(cycle_node.findall("cycleElement")):
            element_where = f"{where} / cycle / cycleElement[{j}]"
            color = doc.text(element, "color", element_where)
            if color not in LightColor._value2member_map_:
                allowed = ", ".join(c.value for c in LightColor)
                raise doc.error(
                    f"{element_where} / color", f"unknown colour {color!r} (expected one of {allowed})"
                )
            duration = doc.integer_of(element, "duration", element_where)
            if duration <= 0:
                raise doc.error(
                    f"{element_where} / duration", f"expected a positive number of steps, got {duration}"
                )
            cycle.append((LightColor(color), duration))
        if not cycle:
            raise doc.error(f"{where} / cycle", "has no cycleElement (expected at least one)")
        offset_node = doc.optional(cycle_node, "timeOffset", f"{where} / cycle")
        offset = 0 if offset_node is None else doc.integer(offset_node.text, f"{where} / cycle / timeOffset")
        direction_node = doc.optional(node, "direction", where)
        direction = "all" if direction_node is None else (direction_node.text or "").strip()
        if direction not in LIGHT_DIRECTIONS:
            allowed = ", ".join(sorted(LIGHT_DIRECTIONS))
            raise doc.error(
                f"{where} / direction", f"unknown direction {direction!r} (expected one of {allowed})"
            )
        position = doc.optional(node, "position", where)
        if position is not None:
            x, y = _point(doc, position, "point", f"{where} / position")
        else:
            x, y = _light_position(doc, light_id, where, lanes)
        lights.append(
            TrafficLight(
                id=light_id,
                x=x,
                y=y,
                cycle=tuple(cycle),
                offset=offset,
                direction=direction,
                active=_boolean(doc, node, "active", where, default=True),
            )
        )
    return tuple(lights)


def _light_position(doc: Reader, light_id: int, where: str, lanes: dict[int, Lane]) -> tuple[float, float]:
    """Where a light without `<position>` stands: the end of the right bound of a lanelet referencing it."""
    for lane in lanes.values():
        if light_id in lane.traffic_light_ids:
            return float(lane.right[-1, 0]), float(lane.right[-1, 1])
    raise doc.error(where, "has no position and no lanelet references it (expected a <position>)")


def _intersections(
    doc: Reader, nodes: Sequence[etree._Element], lanes: dict[int, Lane]
) -> tuple[Intersection, ...]:
    intersections = []
    for intersection_id, node in zip(_ids(doc, nodes, "intersection"), nodes, strict=True):
        where = f"intersection {intersection_id}"
        incoming_nodes = node.findall("incoming")
        incoming_ids = _ids(doc, incoming_nodes, f"{where} / incoming")
        incomings = []
        for incoming_id, incoming in zip(incoming_ids, incoming_nodes, strict=True):
            incoming_where = f"{where} / incoming {incoming_id}"
            left_of = doc.optional(incoming, "isLeftOf", incoming_where)
            incomings.append(
                IntersectionIncoming(
                    id=incoming_id,
                    incoming_lane_ids=_refs(
                        doc, incoming, "incomingLanelet", incoming_where, lanes, "lanelet"
                    ),
                    successors_right=_refs(
                        doc, incoming, "successorsRight", incoming_where, lanes, "lanelet"
                    ),
                    successors_straight=_refs(
                        doc, incoming, "successorsStraight", incoming_where, lanes, "lanelet"
                    ),
                    successors_left=_refs(doc, incoming, "successorsLeft", incoming_where, lanes, "lanelet"),
                    is_left_of=None
                    if left_of is None
                    else _ref(doc, left_of, f"{incoming_where} / isLeftOf", incoming_ids, "incoming"),
                )
            )
        intersections.append(Intersection(id=intersection_id, incomings=tuple(incomings)))
    return tuple(intersections)


def _map_id(lanes: dict[int, Lane]) -> str:
    """A short stable content hash (blake2b, 16 hex digits) of the lanes' geometry and topology."""
    digest = hashlib.blake2b(digest_size=8)
    for lane_id in sorted(lanes):
        lane = lanes[lane_id]
        neighbours = [
            (n.lane_id, n.same_direction) if n else None for n in (lane.left_neighbour, lane.right_neighbour)
        ]
        digest.update(repr((lane_id, lane.predecessors, lane.successors, neighbours)).encode())
        digest.update(np.ascontiguousarray(lane.left, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(lane.right, dtype="<f8").tobytes())
    return digest.hexdigest()


# --- metadata ----------------------------------------------------------------------------------------


def _tags(root: etree._Element, version: str) -> tuple[str, ...]:
    """Scenario tags: 2018b's space-separated `tags` attribute, 2020a's `<scenarioTags>` children."""
    if version == "2018b":
        return tuple(root.get("tags", "").split())
    return tuple(str(node.tag) for node in root.findall("scenarioTags/*"))


def _location(doc: Reader, root: etree._Element) -> Location:
    node = doc.optional(root, "location", "commonRoad")
    if node is None:
        return Location()
    where = "location"
    geo = doc.optional(node, "geoNameId", where)
    geo_name_id = None if geo is None else doc.integer(geo.text, f"{where} / geoNameId")
    lat = doc.optional(node, "gpsLatitude", where)
    lon = doc.optional(node, "gpsLongitude", where)
    latitude = None if lat is None else doc.number(lat.text, f"{where} / gpsLatitude")
    longitude = None if lon is None else doc.number(lon.text, f"{where} / gpsLongitude")
    placeholder = (
        latitude is None
        or longitude is None
        or abs(latitude) > 90.0
        or abs(longitude) > 180.0
        or (latitude == 0.0 and longitude == 0.0)
    )
    if placeholder:
        latitude = longitude = None
    return Location(
        geo_name_id=None if geo_name_id == _UNKNOWN_LOCATION else geo_name_id,
        latitude=latitude,
        longitude=longitude,
    )


# --- obstacles ---------------------------------------------------------------------------------------


def _obstacle_nodes(
    doc: Reader, root: etree._Element, version: str
) -> tuple[list[etree._Element], list[tuple[etree._Element, str]], list[etree._Element]]:
    """(dynamic obstacle elements, (static obstacle element, its tag), phantom obstacle elements) in
    file order."""
    if version == "2018b":
        dynamic, static = [], []
        for node in root.findall("obstacle"):
            role = doc.text(node, "role", f"obstacle {node.get('id')}")
            if role == "dynamic":
                dynamic.append(node)
            elif role == "static":
                static.append((node, "staticObstacle"))
            else:
                raise doc.error(
                    f"obstacle {node.get('id')} / role", f"expected 'static' or 'dynamic', got {role!r}"
                )
        return dynamic, static, []
    static = [(node, "staticObstacle") for node in root.findall("staticObstacle")]
    static += [(node, "environmentObstacle") for node in root.findall("environmentObstacle")]
    return root.findall("dynamicObstacle"), static, root.findall("phantomObstacle")


def _has_occupancy(node: etree._Element) -> bool:
    """Whether a dynamic obstacle element has a set-based prediction."""
    return node.find("occupancySet") is not None


def _occupancy(doc: Reader, node: etree._Element, phantom: bool, budget: int) -> Occupancy:
    """A dynamic or phantom obstacle's `occupancySet` as an `Occupancy` (steps sorted, one shape each).

    An occupancy over a time interval stands at each of its steps; several at one step form a group.
    At most `budget` steps are expanded (the file's share left of `MAX_OCCUPANCY_STEPS`).
    """
    tag = str(node.tag)
    obstacle_id = doc.integer(doc.attribute(node, "id", tag), f"{tag} / id")
    where = f"{tag} {obstacle_id}"
    kind = AgentType.UNKNOWN if node.find("type") is None else _agent_type(doc, node, where)
    occupancy_set = doc.child(node, "occupancySet", where)
    by_step: dict[int, list[Shape]] = {}
    for i, occupancy in enumerate(occupancy_set.findall("occupancy")):
        occupancy_where = f"{where} / occupancySet / occupancy[{i}]"
        shape_where = f"{occupancy_where} / shape"
        shape_node = doc.child(occupancy, "shape", occupancy_where)
        parts = [part for child in shape_node for part in _shape_parts(doc, child, shape_where)]
        if not parts:
            raise doc.error(shape_where, "is empty (expected a rectangle, circle or polygon)")
        time_node = doc.child(occupancy, "time", occupancy_where)
        time = _interval(doc, time_node, f"{occupancy_where} / time", integer=True)
        start, end = int(time.start), int(time.end)
        if start < 0 or end > doc.limits.max_time_step:
            raise doc.error(
                f"{occupancy_where} / time",
                f"time steps must lie in [0, {doc.limits.max_time_step}] (ReaderLimits.max_time_step)",
            )
        if end - start + 1 + len(by_step) > budget:
            raise doc.error(
                f"{occupancy_where} / time",
                f"occupancy sets spread over more than {MAX_OCCUPANCY_STEPS} steps per file (the limit)",
            )
        for step in range(start, end + 1):
            by_step.setdefault(step, []).extend(parts)
    if not by_step:
        raise doc.error(f"{where} / occupancySet", "has no occupancy (expected at least one)")
    steps = sorted(by_step)
    shapes = tuple(
        by_step[step][0] if len(by_step[step]) == 1 else Shape(ShapeKind.GROUP, parts=tuple(by_step[step]))
        for step in steps
    )
    return Occupancy(
        id=obstacle_id, agent_type=kind, steps=np.array(steps, dtype=np.int64), shapes=shapes, phantom=phantom
    )


def _outside_track(occupancy: Occupancy, tracks: Tracks) -> Occupancy:
    """`occupancy` without the steps where its obstacle's own track (its initial state) stands, as
    commonroad-io's `occupancy_at_time` gives the initial state's shape there."""
    if occupancy.phantom:
        return occupancy
    row = tracks.index_of(occupancy.id)
    keep = ~tracks.valid[row, occupancy.steps]
    if keep.all():
        return occupancy
    return dataclasses.replace(
        occupancy,
        steps=occupancy.steps[keep],
        shapes=tuple(shape for shape, kept in zip(occupancy.shapes, keep, strict=True) if kept),
    )


def _agent_type(doc: Reader, node: etree._Element, where: str) -> AgentType:
    kind = doc.text(node, "type", where)
    if kind not in AgentType._value2member_map_:
        allowed = ", ".join(t.value for t in AgentType)
        raise doc.error(f"{where} / type", f"unknown obstacle type {kind!r} (expected one of {allowed})")
    return AgentType(kind)


def _shape_parts(doc: Reader, node: etree._Element, where: str) -> list[Shape]:
    """The shapes one shape element stands for (a `shapeGroup` gives each of its members)."""
    tag = node.tag
    where = f"{where} / {tag}"
    if tag == "rectangle":
        length = _positive(doc, node, "length", where)
        width = _positive(doc, node, "width", where)
        center = _point(doc, node, "center", where) if node.find("center") is not None else (0.0, 0.0)
        orientation_node = doc.optional(node, "orientation", where)
        orientation = (
            0.0 if orientation_node is None else doc.number(orientation_node.text, f"{where} / orientation")
        )
        return [
            Shape(ShapeKind.RECTANGLE, length=length, width=width, center=center, orientation=orientation)
        ]
    if tag == "circle":
        radius = _positive(doc, node, "radius", where)
        center = _point(doc, node, "center", where) if node.find("center") is not None else (0.0, 0.0)
        return [Shape(ShapeKind.CIRCLE, radius=radius, center=center)]
    if tag == "polygon":
        return [Shape(ShapeKind.POLYGON, vertices=_points(doc, node, where, minimum=3))]
    if tag == "shapeGroup":
        parts = [part for child in node for part in _shape_parts(doc, child, where)]
        if not parts:
            raise doc.error(where, "is empty (expected rectangles, circles or polygons)")
        return parts
    raise doc.error(where, "unknown shape (expected rectangle, circle, polygon or shapeGroup)")


def _positive(doc: Reader, node: etree._Element, tag: str, where: str) -> float:
    """The required child `tag` as a positive size [m] within `ReaderLimits.max_size`."""
    value = doc.number_of(node, tag, where, doc.limits.size)
    if value <= 0.0:
        raise doc.error(f"{where} / {tag}", f"expected a positive length [m], got {value}")
    return value


def _shape(doc: Reader, node: etree._Element, where: str) -> Shape:
    """An obstacle's `<shape>`: one primitive, or a group when it holds several."""
    shape_node = doc.child(node, "shape", where)
    parts = [part for child in shape_node for part in _shape_parts(doc, child, f"{where} / shape")]
    if not parts:
        raise doc.error(f"{where} / shape", "is empty (expected a rectangle, circle or polygon)")
    return parts[0] if len(parts) == 1 else Shape(ShapeKind.GROUP, parts=tuple(parts))


def _static_obstacle(doc: Reader, node: etree._Element, tag: str) -> StaticObstacle:
    obstacle_id = doc.integer(doc.attribute(node, "id", tag), f"{tag} / id")
    where = f"{tag} {obstacle_id}"
    kind = _agent_type(doc, node, where)
    shape = _shape(doc, node, where)
    if tag == "environmentObstacle":  # its shape is in world coordinates
        return StaticObstacle(id=obstacle_id, agent_type=kind, x=0.0, y=0.0, yaw=0.0, shape=shape)
    state = doc.child(node, "initialState", where)
    state_where = f"{where} / initialState"
    x, y = _point(doc, doc.child(state, "position", state_where), "point", f"{state_where} / position")
    yaw = float(wrap_angle(_exact(doc, state, "orientation", state_where)))
    return StaticObstacle(id=obstacle_id, agent_type=kind, x=x, y=y, yaw=yaw, shape=shape)


def _state_name(index: int) -> str:
    """Locator of an obstacle's state: 0 is its initial state, then its trajectory states."""
    return "initialState" if index == 0 else f"trajectory / state[{index - 1}]"


def _field_texts(
    doc: Reader, node: etree._Element, initial: etree._Element, where: str, name: str, count: int
) -> tuple[list[str], np.ndarray | None]:
    """The texts of state field `name` over an obstacle's `count` states and which states give it.

    Returns (texts, None) when every state gives the field, else (texts, (count,) bool mask). Counts
    decide: one query per field and obstacle (optional fields: one for the trajectory, a lookup in the
    `initial` state, as recordings often give acceleration or yaw rate only there). States are visited
    one by one only when some trajectory states give the field and others not, or to name the state a
    required field is missing from.
    """
    path, required = _STATE_FIELDS[name]
    if required:
        texts = _STATES_XPATHS[name](node)
        if len(texts) == count:
            return texts, None
    else:
        trajectory = _TRAJECTORY_XPATHS[name](node)
        found = initial.findall(path)
        if len(trajectory) in (0, count - 1) and len(found) <= 1:
            first = [found[0].text] if found and found[0].text is not None else []
            if len(first) + len(trajectory) == count:
                return first + trajectory, None
            given = np.zeros(count, dtype=bool)
            given[0], given[1:] = bool(first), bool(trajectory)
            return first + trajectory, given
    given = np.zeros(count, dtype=bool)
    texts = []
    for i, state in enumerate([initial, *node.findall("trajectory/state")]):
        found_texts = _STATE_XPATHS[name](state)
        if len(found_texts) > 1:
            raise doc.error(f"{where} / {_state_name(i)} / {path}", "appears more than once (expected once)")
        if found_texts:
            texts.append(found_texts[0])
            given[i] = True
        elif required:
            raise doc.error(f"{where} / {_state_name(i)}", f"is missing {path} (expected an exact value)")
    return texts, given


def _segment_rate(
    values: FloatArray, seconds: FloatArray, same_next: np.ndarray, angular: bool
) -> FloatArray:
    """d(values)/dt (N,) over concatenated per-agent series; `same_next[i]`: states i, i+1 share an agent.

    Central differences inside a series, one-sided at its ends, 0 for a series of one state; `angular`
    wraps the increments to [-pi, pi).
    """
    increments = np.diff(values)
    if angular:
        increments = _wrap(increments)
    gaps = np.where(same_next, np.diff(seconds), 1.0)
    rate = np.where(same_next, increments / gaps, 0.0)
    forward = np.append(rate, 0.0)
    backward = np.insert(rate, 0, 0.0)
    has_forward = np.append(same_next, False)
    has_backward = np.insert(same_next, 0, False)
    count = has_forward.astype(np.int64) + has_backward
    return np.where(count > 0, (forward * has_forward + backward * has_backward) / np.maximum(count, 1), 0.0)


@dataclasses.dataclass(frozen=True)
class _States:
    """Every dynamic obstacle's states concatenated (obstacle i owns states starts[i]:starts[i + 1]).

    `columns` maps x, y, yaw, speed, acceleration, yaw_rate to (N,) arrays, NaN where the file omits them.
    """

    ids: list[int]
    kinds: list[AgentType]
    shapes: list[Shape]
    starts: np.ndarray
    steps: np.ndarray
    columns: dict[str, FloatArray]

    @property
    def agent(self) -> np.ndarray:
        """(N,) obstacle index of every state."""
        return np.repeat(np.arange(len(self.ids)), np.diff(self.starts))


def _read_states(doc: Reader, nodes: Sequence[etree._Element]) -> _States:
    """The dynamic obstacles' ids, types, shapes and states, checked and converted to arrays.

    Point-mass `velocityY` fields are looked up only in documents that have any (one pass by tag)."""
    ids, kinds, shapes, counts, wheres = [], [], [], [], []
    point_mass = bool(nodes) and next(nodes[0].getroottree().getroot().iter("velocityY"), None) is not None
    names = [name for name in _STATE_FIELDS if point_mass or name != "velocity_y"]
    texts: dict[str, list[str]] = {name: [] for name in names}
    masks: dict[str, list[np.ndarray | None]] = {name: [] for name in names}  # None: all given
    for node in nodes:
        tag = str(node.tag)
        obstacle_id = doc.integer(doc.attribute(node, "id", tag), f"{tag} / id")
        where = f"{tag} {obstacle_id}"
        initial = doc.child(node, "initialState", where)
        trajectory = doc.optional(node, "trajectory", where)
        if trajectory is not None and node.index(trajectory) < node.index(initial):
            raise doc.error(f"{where} / trajectory", "comes before initialState (expected it after)")
        count = 1 + _STATE_COUNT(node)
        ids.append(obstacle_id)
        kinds.append(_agent_type(doc, node, where))
        shapes.append(_shape(doc, node, where))
        counts.append(count)
        wheres.append(where)
        for name in names:
            field, given = _field_texts(doc, node, initial, where, name, count)
            texts[name] += field
            masks[name].append(given)

    starts = np.cumsum([0, *counts])

    def locate(path: str, given: np.ndarray) -> Callable[[int], str]:
        """Locator of the i-th given value of field `path` (obstacle and state) for messages."""
        positions = np.flatnonzero(given)

        def element_of(i: int) -> str:
            k = int(positions[i])
            agent = int(np.searchsorted(starts, k, side="right")) - 1
            return f"{wheres[agent]} / {_state_name(k - int(starts[agent]))} / {path}"

        return element_of

    columns: dict[str, FloatArray] = {"velocity_y": np.full(int(starts[-1]), np.nan)}
    steps = np.zeros(0, dtype=np.int64)
    for name in names:
        path = _STATE_FIELDS[name][0]
        pieces = masks[name]
        if any(piece is not None for piece in pieces):
            given = np.concatenate(
                [
                    np.ones(n, dtype=bool) if piece is None else piece
                    for n, piece in zip(counts, pieces, strict=True)
                ]
            )
        else:
            given = np.ones(int(starts[-1]), dtype=bool)
        if name == "step":
            steps = doc.integers(texts[name], locate(path, given))
            continue
        column = np.full(int(starts[-1]), np.nan)
        column[given] = doc.numbers(texts[name], locate(path, given), _field_bound(doc.limits, name))
        columns[name] = column
    states = _States(ids, kinds, shapes, starts, steps, columns)
    _check_steps(doc, states, wheres)
    return states


def _field_bound(limits: ReaderLimits, name: str) -> Bound | None:
    """The physical range of obstacle state field `name` (None: unbounded, e.g. yaw, which is wrapped)."""
    bounds = {
        "x": limits.coordinate,
        "y": limits.coordinate,
        "speed": limits.speed,
        "acceleration": limits.acceleration,
        "yaw_rate": limits.yaw_rate,
    }
    return bounds.get(name)


def _derived(states: _States, dt: float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(yaw, speed, acceleration, yaw_rate), each (N,): yaw wrapped, missing values by finite differences.

    A point-mass state gives `velocity` (x) and `velocityY` (y) and no orientation: its speed is the
    velocity's magnitude; a missing orientation is the velocity's direction, else that of the
    position differences, wherever the obstacle moves faster than `_MOVING_SPEED`; at standstill the
    heading of the nearest moving state before it (else after it) is held, 0 when it never moves.
    """
    agent = states.agent
    same_next = agent[1:] == agent[:-1]
    seconds: FloatArray = states.steps.astype(np.float64) * dt
    columns = states.columns
    velocity, velocity_y = columns["speed"], columns["velocity_y"]
    point_mass = ~np.isnan(velocity_y)
    velocity = np.where(point_mass, np.hypot(velocity, velocity_y), velocity)

    def fill(values: FloatArray, derive: Callable[[], FloatArray]) -> FloatArray:
        missing = np.isnan(values)
        return np.where(missing, derive(), values) if missing.any() else values

    def position_rates() -> tuple[FloatArray, FloatArray]:
        return (
            _segment_rate(columns["x"], seconds, same_next, angular=False),
            _segment_rate(columns["y"], seconds, same_next, angular=False),
        )

    def motion_heading() -> FloatArray:
        moving = point_mass & (velocity > _MOVING_SPEED)
        heading = np.where(moving, np.arctan2(velocity_y, columns["speed"]), np.nan)
        vx, vy = position_rates()
        shifted = ~moving & (np.hypot(vx, vy) > _MOVING_SPEED)
        heading = np.where(shifted, np.arctan2(vy, vx), heading)
        return _held(heading, agent)

    yaw = _wrap(fill(columns["yaw"], motion_heading))

    def along_heading() -> FloatArray:
        vx, vy = position_rates()
        return np.cos(yaw) * vx + np.sin(yaw) * vy

    speed = fill(velocity, along_heading)
    acceleration = fill(
        columns["acceleration"], lambda: _segment_rate(speed, seconds, same_next, angular=False)
    )
    yaw_rate = fill(columns["yaw_rate"], lambda: _segment_rate(yaw, seconds, same_next, angular=True))
    return yaw, speed, acceleration, yaw_rate


def _held(values: FloatArray, agent: np.ndarray) -> FloatArray:
    """(N,) `values` with each NaN replaced by the agent's last finite value before it, else its
    first one after it, else 0 (`agent` (N,): the owner of each value, in runs)."""
    count = len(values)
    out = values.copy()
    for order in (np.arange(count), np.arange(count)[::-1]):
        ordered = out[order]
        known = np.where(np.isfinite(ordered), np.arange(count), -1)
        source = np.maximum.accumulate(known) if count else known
        same = (source >= 0) & (agent[order][np.maximum(source, 0)] == agent[order])
        out[order] = np.where(np.isnan(ordered) & same, ordered[np.maximum(source, 0)], ordered)
    return np.where(np.isnan(out), 0.0, out)


def _tracks(
    doc: Reader, nodes: Sequence[etree._Element], dt: float, fallback_steps: int, occupied: int
) -> Tracks:
    """All dynamic obstacles on the scenario's time grid (agents, steps), which also covers the
    first `occupied` steps (those of set-based occupancies)."""
    states = _read_states(doc, nodes)
    num_agents = len(states.ids)
    num_steps = int(states.steps.max()) + 1 if len(states.steps) else fallback_steps
    num_steps = max(num_steps, occupied)
    if num_agents * num_steps > doc.limits.max_track_cells:
        raise doc.error(
            None,
            f"{num_agents} obstacles over {num_steps} steps exceed the limit of "
            f"{doc.limits.max_track_cells} grid cells (ReaderLimits.max_track_cells)",
        )
    yaw, speed, acceleration, yaw_rate = _derived(states, dt)
    cells = (states.agent, states.steps)

    def grid(column: FloatArray) -> FloatArray:
        out = np.full((num_agents, num_steps), np.nan)
        out[cells] = column
        return out

    valid = np.zeros((num_agents, num_steps), dtype=bool)
    valid[cells] = True
    extents = np.array([shape.extent() for shape in states.shapes]).reshape(-1, 2)
    return Tracks(
        ids=np.array(states.ids, dtype=np.int64),
        agent_type=tuple(states.kinds),
        x=grid(states.columns["x"]),
        y=grid(states.columns["y"]),
        yaw=grid(yaw),
        speed=grid(speed),
        vx=grid(speed * np.cos(yaw)),
        vy=grid(speed * np.sin(yaw)),
        acceleration=grid(acceleration),
        yaw_rate=grid(yaw_rate),
        valid=valid,
        length=extents[:, 0].copy(),
        width=extents[:, 1].copy(),
        shapes=tuple(states.shapes),
    )


def _check_steps(doc: Reader, states: _States, wheres: Sequence[str]) -> None:
    """Time steps must be in [0, `ReaderLimits.max_time_step`] and strictly increasing per obstacle."""
    steps, agent, starts = states.steps, states.agent, states.starts
    last = doc.limits.max_time_step

    def where(k: int) -> str:
        return f"{wheres[agent[k]]} / {_state_name(k - int(starts[agent[k]]))} / time"

    out_of_range = (steps < 0) | (steps > last)
    if out_of_range.any():
        k = int(np.argmax(out_of_range))
        raise doc.error(where(k), f"time step {steps[k]} outside [0, {last}] (ReaderLimits.max_time_step)")
    backwards = (np.diff(steps) <= 0) & (agent[1:] == agent[:-1])
    if backwards.any():
        k = int(np.argmax(backwards)) + 1
        raise doc.error(
            where(k), f"time step {steps[k]} does not follow {steps[k - 1]} (expected increasing steps)"
        )


# --- planning problems -------------------------------------------------------------------------------


def _planning_problem(doc: Reader, node: etree._Element, lanes: dict[int, Lane]) -> PlanningProblem:
    problem_id = doc.integer(doc.attribute(node, "id", "planningProblem"), "planningProblem / id")
    where = f"planningProblem {problem_id}"
    state = doc.child(node, "initialState", where)
    state_where = f"{where} / initialState"
    x, y = _point(doc, doc.child(state, "position", state_where), "point", f"{state_where} / position")
    step = doc.integer_of(doc.child(state, "time", state_where), "exact", f"{state_where} / time")
    limits = doc.limits
    if not 0 <= step <= limits.max_time_step:
        raise doc.error(
            f"{state_where} / time",
            f"time step {step} outside [0, {limits.max_time_step}] (ReaderLimits.max_time_step)",
        )
    speed = _exact(doc, state, "velocity", state_where, limits.speed)
    velocity_y = doc.optional(state, "velocityY", state_where)
    if velocity_y is None:
        yaw = _exact(doc, state, "orientation", state_where)
    else:  # a point-mass state: velocity is the x component; heading along the velocity if not given
        vy = doc.number_of(velocity_y, "exact", f"{state_where} / velocityY")
        yaw = _optional_exact(doc, state, "orientation", state_where, float(np.arctan2(vy, speed)))
        speed = float(np.hypot(speed, vy))
        if speed > limits.max_speed:
            raise doc.error(f"{state_where} / velocityY", f"speed {speed:g} m/s above {limits.max_speed:g}")
    initial = EgoState(
        step=step,
        x=x,
        y=y,
        yaw=float(wrap_angle(yaw)),
        speed=speed,
        acceleration=_optional_exact(doc, state, "acceleration", state_where, 0.0, limits.acceleration),
        yaw_rate=_optional_exact(doc, state, "yawRate", state_where, 0.0, limits.yaw_rate),
        slip_angle=_optional_exact(doc, state, "slipAngle", state_where, 0.0),
    )
    goal_nodes = node.findall("goalState")
    if not goal_nodes:
        raise doc.error(where, "has no goalState (expected at least one)")
    states = tuple(
        _goal_state(doc, goal, f"{where} / goalState[{i}]", lanes) for i, goal in enumerate(goal_nodes)
    )
    return PlanningProblem(id=problem_id, initial=initial, goal=Goal(states=states))


def _interval(doc: Reader, node: etree._Element, where: str, integer: bool) -> Interval:
    """`<exact>` or `<intervalStart>`/`<intervalEnd>` as a closed interval (integers for time steps)."""
    read = doc.integer_of if integer else doc.number_of
    if node.find("exact") is not None:
        value = read(node, "exact", where)
        return Interval(float(value), float(value))
    start, end = read(node, "intervalStart", where), read(node, "intervalEnd", where)
    if start > end:
        raise doc.error(where, f"interval [{start}, {end}] is empty (expected intervalStart <= intervalEnd)")
    return Interval(float(start), float(end))


def _goal_state(doc: Reader, node: etree._Element, where: str, lanes: dict[int, Lane]) -> GoalState:
    time = _interval(doc, doc.child(node, "time", where), f"{where} / time", integer=True)
    velocity = doc.optional(node, "velocity", where)
    orientation = doc.optional(node, "orientation", where)
    regions: list[Shape] = []
    lanelet_ids: tuple[int, ...] = ()
    position = doc.optional(node, "position", where)
    if position is not None:
        position_where = f"{where} / position"
        lanelet_ids = _refs(doc, position, "lanelet", position_where, lanes, "lanelet")
        for child in position:
            if child.tag in _SHAPE_TAGS:
                regions += _shape_parts(doc, child, position_where)
            elif child.tag != "lanelet":
                raise doc.error(
                    f"{position_where} / {child.tag}",
                    "unsupported goal position (expected rectangle, circle, polygon, shapeGroup or lanelet)",
                )
        if not regions and not lanelet_ids:
            raise doc.error(position_where, "is empty (expected shapes or lanelet references)")
    return GoalState(
        time=time,
        regions=tuple(regions),
        lanelet_ids=lanelet_ids,
        velocity=None if velocity is None else _interval(doc, velocity, f"{where} / velocity", integer=False),
        orientation=None
        if orientation is None
        else _interval(doc, orientation, f"{where} / orientation", integer=False),
    )


# ---------------------------------------------------------------------------------------------------
# Solutions


def _read_solution(path: Path, limits: ReaderLimits) -> tuple[str, tuple[RecordedEgo, ...]]:
    root = _xml.load(path, limits)
    doc = Reader(path, limits)
    if root.tag != "CommonRoadSolution":
        raise doc.error(str(root.tag), "expected a CommonRoad solution (root element <CommonRoadSolution>)")
    benchmark_id = doc.attribute(root, "benchmark_id", "CommonRoadSolution")
    parts = benchmark_id.replace(" ", "").split(":")
    if len(parts) != 4 or not all(parts):
        raise doc.error(
            "CommonRoadSolution / benchmark_id",
            f"expected '<vehicle>:<cost function>:<scenario id>:<version>', got {benchmark_id!r}",
        )
    vehicles = parts[0].strip("[]").split(",")
    costs = parts[1].strip("[]").split(",")
    trajectories = list(root)
    if not trajectories:
        raise doc.error("CommonRoadSolution", "has no trajectory (expected one per planning problem)")
    for name, listed in (("vehicle", vehicles), ("cost function", costs)):
        if len(listed) not in (1, len(trajectories)):
            raise doc.error(
                "CommonRoadSolution / benchmark_id",
                f"lists {len(listed)} {name} ids for {len(trajectories)} trajectories (expected 1 or 1 each)",
            )
    egos = []
    for i, node in enumerate(trajectories):
        vehicle, cost = vehicles[min(i, len(vehicles) - 1)], costs[min(i, len(costs) - 1)]
        match = _VEHICLE_ID.match(vehicle)
        if match is None:
            raise doc.error(
                "CommonRoadSolution / benchmark_id",
                f"vehicle id {vehicle!r} is not a model ({', '.join(VEHICLE_MODELS)}) and a vehicle type",
            )
        if _COST_ID.match(cost) is None:
            raise doc.error(
                "CommonRoadSolution / benchmark_id", f"cost function id {cost!r} is not an identifier"
            )
        model = match.group(1)
        problem_id, trajectory = _solution_trajectory(doc, node, model, f"{node.tag}[{i}]")
        egos.append(
            RecordedEgo(
                planning_problem_id=problem_id,
                trajectory=trajectory,
                vehicle_model=model,
                vehicle_type=int(match.group(2)),
                cost_function=cost,
                source_file=display_text(path),
            )
        )
    return parts[2], tuple(egos)


def _solution_trajectory(doc: Reader, node: etree._Element, model: str, where: str) -> tuple[int, Trajectory]:
    """One `<xxTrajectory planningProblem=...>` of states, sorted by time step."""
    if node.tag in ("inputVector", "pmInputVector"):
        raise doc.error(
            where,
            "input vectors need a forward simulation of the vehicle model (expected a state trajectory)",
        )
    expected = f"{model.lower()}Trajectory"
    if node.tag != expected:
        raise doc.error(
            where, f"does not match vehicle model {model} of the benchmark_id (expected <{expected}>)"
        )
    problem_id = doc.integer(doc.attribute(node, "planningProblem", where), f"{where} / planningProblem")
    where = f"{where} of planningProblem {problem_id}"
    state_tag = f"{model.lower()}State"
    count = len(node)
    if count == 0:
        raise doc.error(where, f"has no <{state_tag}> (expected at least one state)")
    for i, state in enumerate(node):
        if state.tag != state_tag:
            raise doc.error(f"{where} / {state.tag}[{i}]", f"unexpected element (expected <{state_tag}>)")

    def texts(name: str) -> list[str]:
        found = _SOLUTION_XPATHS[name](node)
        if len(found) != count:
            for i, state in enumerate(node):
                doc.text(state, name, f"{where} / {state_tag}[{i}]")
            raise doc.error(where, f"every <{state_tag}> needs one <{name}> holding a single value")
        return found

    def numbers(name: str, bound: Bound | None = None) -> FloatArray:
        return doc.numbers(texts(name), lambda i: f"{where} / {state_tag}[{i}] / {name}", bound)

    limits = doc.limits
    x, y = numbers("x", limits.coordinate), numbers("y", limits.coordinate)
    steps = doc.integers(texts("time"), lambda i: f"{where} / {state_tag}[{i}] / time")
    if model == "PM":
        vx, vy = numbers("xVelocity", limits.speed), numbers("yVelocity", limits.speed)
        yaw, speed, steering = np.arctan2(vy, vx), np.hypot(vx, vy), None
    else:
        has_steering = bool(_SOLUTION_XPATHS["steeringAngle"](node))
        yaw, speed = _wrap(numbers("orientation")), numbers("velocity", limits.speed)
        steering = numbers("steeringAngle") if has_steering else None
    order = np.argsort(steps, kind="stable")
    steps = steps[order]
    if steps[0] < 0 or steps[-1] > limits.max_time_step:
        last = limits.max_time_step
        raise doc.error(f"{where} / time", f"time steps must lie in [0, {last}] (ReaderLimits.max_time_step)")
    if (np.diff(steps) == 0).any():
        repeated = int(steps[1:][np.diff(steps) == 0][0])
        raise doc.error(
            f"{where} / time", f"time step {repeated} appears twice (expected one state per step)"
        )
    trajectory = Trajectory(
        steps=steps,
        x=x[order],
        y=y[order],
        yaw=yaw[order],
        speed=speed[order],
        dt=float("nan"),
        steering_angle=None if steering is None else steering[order],
    )
    return problem_id, trajectory
