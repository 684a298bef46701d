"""CommonRoad 2020a XML writer: drivestack's core types back to files that `commonroad.read_scenario`
and commonroad-io both read.

`scenario_element` / `solution_element` build lxml trees; `write_scenario` / `write_solution`
write them atomically (temporary file + rename; gzip when the name ends in `.gz`). What the core
types keep is written as it is: lanes with their bounds, topology, stop lines, sign and light
references; signs, lights and intersections; every dynamic obstacle's states on its valid steps
(position, orientation, velocity, acceleration, yaw rate); static obstacles; planning problems with
their goals. Speed limits are carried by the maximum-speed signs the lanes reference (2020a has no
`<speedLimit>`), so a lane's `speed_limit` is not written on its own. Floats are written in
Python's shortest round-trip form, so reading a written file gives the same numbers back.

Solutions hold one KS trajectory per recorded ego (`<ksTrajectory>`: x, y, steering angle,
velocity, orientation, time), as CommonRoad's KS vehicle model states.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from lxml import etree

from drivestack.core.errors import InputError
from drivestack.core.files import as_new_file
from drivestack.core.map import Lane, LaneGraph
from drivestack.core.scenario import (
    GoalState,
    Interval,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Shape,
    ShapeKind,
    Tracks,
    TrafficLight,
    TrafficSign,
)

FORMAT_VERSION = "2020a"
DEFAULT_DATE = "2026-01-01"
"""The `date` attribute written when none is given: a constant, so equal inputs give equal bytes."""

_Element = etree._Element


def _number(value: float) -> str:
    """`value` as text: integers without a fraction, other floats in shortest round-trip form."""
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"cannot write the non-finite value {value}")
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _child(parent: _Element, tag: str, text: str | None = None, **attributes: str) -> _Element:
    node = etree.SubElement(parent, tag, attributes)
    if text is not None:
        node.text = text
    return node


def _point(parent: _Element, x: float, y: float, tag: str = "point") -> None:
    point = _child(parent, tag)
    _child(point, "x", _number(x))
    _child(point, "y", _number(y))


def _points(parent: _Element, xy: np.ndarray) -> None:
    for x, y in np.asarray(xy, dtype=np.float64).tolist():
        _point(parent, x, y)


def _exact(parent: _Element, tag: str, value: float) -> None:
    _child(_child(parent, tag), "exact", _number(value))


def _interval(parent: _Element, tag: str, interval: Interval, integer: bool = False) -> None:
    node = _child(parent, tag)
    text = (lambda v: str(int(v))) if integer else _number
    if interval.start == interval.end:
        _child(node, "exact", text(interval.start))
    else:
        _child(node, "intervalStart", text(interval.start))
        _child(node, "intervalEnd", text(interval.end))


# --- map ---------------------------------------------------------------------------------------------


def _bound(parent: _Element, tag: str, xy: np.ndarray, marking: str) -> None:
    bound = _child(parent, tag)
    _points(bound, xy)
    if marking:
        _child(bound, "lineMarking", marking)


def _lanelet(root: _Element, lane: Lane) -> None:
    node = _child(root, "lanelet", id=str(lane.id))
    _bound(node, "leftBound", lane.left, lane.left_marking)
    _bound(node, "rightBound", lane.right, lane.right_marking)
    for ref in lane.predecessors:
        _child(node, "predecessor", ref=str(ref))
    for ref in lane.successors:
        _child(node, "successor", ref=str(ref))
    for tag, neighbour in (("adjacentLeft", lane.left_neighbour), ("adjacentRight", lane.right_neighbour)):
        if neighbour is not None:
            direction = "same" if neighbour.same_direction else "opposite"
            _child(node, tag, ref=str(neighbour.lane_id), drivingDir=direction)
    stop = lane.stop_line
    if stop is not None:
        line = _child(node, "stopLine")
        if stop.start is not None and stop.end is not None:
            _point(line, *stop.start)
            _point(line, *stop.end)
        _child(line, "lineMarking", stop.marking or "solid")
        for ref in stop.traffic_sign_ids:
            _child(line, "trafficSignRef", ref=str(ref))
        for ref in stop.traffic_light_ids:
            _child(line, "trafficLightRef", ref=str(ref))
    for lane_type in lane.lane_types or ("unknown",):
        _child(node, "laneletType", lane_type)
    for user in lane.users_one_way:
        _child(node, "userOneWay", user)
    for user in lane.users_bidirectional:
        _child(node, "userBidirectional", user)
    for ref in lane.traffic_sign_ids:
        _child(node, "trafficSignRef", ref=str(ref))
    for ref in lane.traffic_light_ids:
        _child(node, "trafficLightRef", ref=str(ref))


def _traffic_sign(root: _Element, sign: TrafficSign) -> None:
    node = _child(root, "trafficSign", id=str(sign.id))
    for kind, values in sign.elements:
        element = _child(node, "trafficSignElement")
        _child(element, "trafficSignID", kind)
        for value in values:
            _child(element, "additionalValue", value)
    if sign.x is not None and sign.y is not None:
        _point(_child(node, "position"), sign.x, sign.y)
    _child(node, "virtual", "true" if sign.virtual else "false")


def _traffic_light(root: _Element, light: TrafficLight) -> None:
    node = _child(root, "trafficLight", id=str(light.id))
    cycle = _child(node, "cycle")
    for color, duration in light.cycle:
        element = _child(cycle, "cycleElement")
        _child(element, "duration", str(int(duration)))
        _child(element, "color", color.value)
    if light.offset:
        _child(cycle, "timeOffset", str(int(light.offset)))
    _point(_child(node, "position"), light.x, light.y)
    _child(node, "direction", light.direction)
    _child(node, "active", "true" if light.active else "false")


def _intersections(root: _Element, graph: LaneGraph) -> None:
    for intersection in graph.intersections:
        node = _child(root, "intersection", id=str(intersection.id))
        for incoming in intersection.incomings:
            part = _child(node, "incoming", id=str(incoming.id))
            for tag, refs in (
                ("incomingLanelet", incoming.incoming_lane_ids),
                ("successorsRight", incoming.successors_right),
                ("successorsStraight", incoming.successors_straight),
                ("successorsLeft", incoming.successors_left),
            ):
                for ref in refs:
                    _child(part, tag, ref=str(ref))
            if incoming.is_left_of is not None:
                _child(part, "isLeftOf", ref=str(incoming.is_left_of))


# --- obstacles and planning problems -----------------------------------------------------------------


def _shape(parent: _Element, shape: Shape) -> None:
    """One shape primitive (groups write each part) in the element's frame."""
    if shape.kind is ShapeKind.GROUP:
        for part in shape.parts:
            _shape(parent, part)
    elif shape.kind is ShapeKind.RECTANGLE:
        node = _child(parent, "rectangle")
        _child(node, "length", _number(shape.length))
        _child(node, "width", _number(shape.width))
        if shape.orientation != 0.0:
            _child(node, "orientation", _number(shape.orientation))
        if shape.center != (0.0, 0.0):
            _point(node, *shape.center, tag="center")
    elif shape.kind is ShapeKind.CIRCLE:
        node = _child(parent, "circle")
        _child(node, "radius", _number(shape.radius))
        if shape.center != (0.0, 0.0):
            _point(node, *shape.center, tag="center")
    else:
        _points(_child(parent, "polygon"), shape.vertices)


def _state(parent: _Element, tag: str, tracks: Tracks, row: int, step: int) -> None:
    state = _child(parent, tag)
    _exact(state, "time", step)
    position = _child(state, "position")
    _point(position, tracks.x[row, step], tracks.y[row, step])
    _exact(state, "orientation", tracks.yaw[row, step])
    _exact(state, "velocity", tracks.speed[row, step])
    _exact(state, "acceleration", tracks.acceleration[row, step])
    _exact(state, "yawRate", tracks.yaw_rate[row, step])


def _dynamic_obstacles(root: _Element, tracks: Tracks) -> None:
    for row in range(tracks.num_agents):
        steps = np.flatnonzero(tracks.valid[row])
        if len(steps) == 0:
            continue
        node = _child(root, "dynamicObstacle", id=str(int(tracks.ids[row])))
        _child(node, "type", tracks.agent_type[row].value)
        _shape(_child(node, "shape"), tracks.shapes[row])
        _state(node, "initialState", tracks, row, int(steps[0]))
        if len(steps) > 1:
            trajectory = _child(node, "trajectory")
            for step in steps[1:].tolist():
                _state(trajectory, "state", tracks, row, step)


def _goal_state(parent: _Element, goal: GoalState) -> None:
    node = _child(parent, "goalState")
    _interval(node, "time", goal.time, integer=True)
    if goal.has_position:
        position = _child(node, "position")
        for region in goal.regions:
            _shape(position, region)
        for ref in goal.lanelet_ids:
            _child(position, "lanelet", ref=str(ref))
    if goal.orientation is not None:
        _interval(node, "orientation", goal.orientation)
    if goal.velocity is not None:
        _interval(node, "velocity", goal.velocity)


def _planning_problem(root: _Element, problem: PlanningProblem) -> None:
    node = _child(root, "planningProblem", id=str(problem.id))
    initial = problem.initial
    state = _child(node, "initialState")
    _exact(state, "time", initial.step)
    _point(_child(state, "position"), initial.x, initial.y)
    _exact(state, "orientation", initial.yaw)
    _exact(state, "velocity", initial.speed)
    _exact(state, "acceleration", initial.acceleration)
    _exact(state, "yawRate", initial.yaw_rate)
    _exact(state, "slipAngle", initial.slip_angle)
    for goal in problem.goal.states:
        _goal_state(node, goal)


# --- documents ---------------------------------------------------------------------------------------


def scenario_element(scenario: Scenario, date: str = DEFAULT_DATE) -> _Element:
    """The `<commonRoad>` tree (format 2020a) of `scenario` (recorded egos go to solution files)."""
    root = etree.Element(
        "commonRoad",
        {
            "timeStepSize": _number(scenario.dt),
            "commonRoadVersion": FORMAT_VERSION,
            "author": scenario.author,
            "affiliation": scenario.affiliation,
            "source": scenario.source,
            "benchmarkID": scenario.scenario_id,
            "date": date,
        },
    )
    location = _child(root, "location")
    where = scenario.location
    _child(location, "geoNameId", str(where.geo_name_id if where.geo_name_id is not None else -999))
    _child(location, "gpsLatitude", _number(where.latitude if where.latitude is not None else 0.0))
    _child(location, "gpsLongitude", _number(where.longitude if where.longitude is not None else 0.0))
    if scenario.tags:
        tags = _child(root, "scenarioTags")
        for tag in scenario.tags:
            _child(tags, tag)
    graph = scenario.lane_graph
    for lane_id in sorted(graph.lanes):
        _lanelet(root, graph.lanes[lane_id])
    for sign in scenario.traffic_signs:
        _traffic_sign(root, sign)
    for light in scenario.traffic_lights:
        _traffic_light(root, light)
    _intersections(root, graph)
    for obstacle in scenario.static_obstacles:
        node = _child(root, "staticObstacle", id=str(obstacle.id))
        _child(node, "type", obstacle.agent_type.value)
        _shape(_child(node, "shape"), obstacle.shape)
        state = _child(node, "initialState")
        _exact(state, "time", 0)
        _point(_child(state, "position"), obstacle.x, obstacle.y)
        _exact(state, "orientation", obstacle.yaw)
    _dynamic_obstacles(root, scenario.tracks)
    for problem in scenario.planning_problems:
        _planning_problem(root, problem)
    return root


def solution_element(scenario_id: str, egos: Iterable[RecordedEgo], date: str = DEFAULT_DATE) -> _Element:
    """The `<CommonRoadSolution>` tree holding each recorded ego as a KS trajectory.

    The benchmark id lists one vehicle (KS + vehicle type) and cost function per ego."""
    egos = tuple(egos)
    if not egos:
        raise ValueError("a solution needs at least one recorded ego")
    vehicles = ",".join(f"KS{ego.vehicle_type}" for ego in egos)
    costs = ",".join(ego.cost_function for ego in egos)
    if len(egos) > 1:
        vehicles, costs = f"[{vehicles}]", f"[{costs}]"
    root = etree.Element(
        "CommonRoadSolution",
        {"benchmark_id": f"{vehicles}:{costs}:{scenario_id}:{FORMAT_VERSION}", "date": f"{date}T00:00:00"},
    )
    for ego in egos:
        path = ego.trajectory
        steering = path.steering_angle if path.steering_angle is not None else np.zeros(len(path))
        node = _child(root, "ksTrajectory", planningProblem=str(ego.planning_problem_id))
        for i in range(len(path)):
            state = _child(node, "ksState")
            _child(state, "x", _number(path.x[i]))
            _child(state, "y", _number(path.y[i]))
            _child(state, "steeringAngle", _number(steering[i]))
            _child(state, "velocity", _number(path.speed[i]))
            _child(state, "orientation", _number(path.yaw[i]))
            _child(state, "time", str(int(path.steps[i])))
    return root


def write_xml(root: _Element, path: str | Path) -> Path:
    """Write the tree at `path` atomically (temporary file in the same folder, then rename); the file
    is gzip-compressed when its name ends in `.gz`. Raises InputError when the folder is not writable."""
    target = Path(path)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if target.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as sink:
                sink.write(data)
            as_new_file(temporary)  # mkstemp makes it private
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except OSError as error:
        raise InputError(target, None, f"cannot be written ({error.strerror or error})") from error
    return target


def write_scenario(scenario: Scenario, path: str | Path, date: str = DEFAULT_DATE) -> Path:
    """Write `scenario` as a CommonRoad 2020a file at `path` (atomic; gzip for `.gz`)."""
    return write_xml(scenario_element(scenario, date), path)


def write_solution(scenario: Scenario, path: str | Path, date: str = DEFAULT_DATE) -> Path:
    """Write the recorded egos of `scenario` as a CommonRoad solution file at `path` (atomic)."""
    return write_xml(solution_element(scenario.scenario_id, scenario.recorded_egos, date), path)
