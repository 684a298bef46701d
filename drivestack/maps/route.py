"""A minimal lane route: the ego's lane and its successors toward the goal, as one reference path.

`route_lanes` starts at the lane the ego is in (heading-aware; the nearest aligned lane when it
is on none), searches the successor graph (shortest by centerline length) for a lane of the goal
(its goal lanelets, or lanes touching its goal regions) and then extends the route along the best
aligned successors until it reaches `RouteConfig.min_length` ahead of the ego. When no goal lane is
reachable through successors, every step takes the successor whose end lies nearest the goal (or,
without a goal position, the best aligned one). Lane changes are not planned here.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import shapely

from drivestack.core.geometry import Polyline, angle_diff
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import Goal
from drivestack.maps.goal import goal_check
from drivestack.maps.index import MapIndex


@dataclass(frozen=True)
class RouteConfig:
    """`min_length` [m] of route ahead of the ego; `max_search` [m] of successor search for the goal;
    `max_heading_error` [rad] for a lane to count as aligned with the ego off the map."""

    min_length: float = 300.0
    max_search: float = 3000.0
    max_heading_error: float = np.pi / 3.0


def _goal_geometry(goal: Goal | None, index: MapIndex) -> shapely.Geometry | None:
    """Union of the goal's regions and goal lanelets' polygons; None when the goal gives no position."""
    return None if goal is None else goal_check(goal, index).position


def _start_lane(index: MapIndex, x: float, y: float, yaw: float, config: RouteConfig) -> int:
    """The lane the ego at (x, y) [m] heading `yaw` [rad] drives in; off the map, the nearest lane
    aligned with it (else the nearest lane); -1 for a map without lanes."""
    lane = int(index.assign(np.array([[x, y]]), np.array([yaw]))[0])
    if lane >= 0 or len(index) == 0:
        return lane
    distance = shapely.distance(index.polygons, shapely.Point(x, y))
    _, _, heading = index.project(index.lane_ids, np.tile([x, y], (len(index), 1)))
    aligned = np.abs(np.asarray(angle_diff(heading, yaw))) <= config.max_heading_error
    order = np.lexsort((distance, ~aligned))
    return int(index.lane_ids[order[0]])


def _shortest_to_goal(
    graph: LaneGraph, index: MapIndex, start: int, goal_lanes: set[int], config: RouteConfig
) -> list[int] | None:
    """Lanes from `start` to the nearest goal lane along successors (Dijkstra on lane length)."""
    length = dict(zip(index.lane_ids.tolist(), index.lengths.tolist(), strict=True))
    queue: list[tuple[float, int]] = [(0.0, start)]
    parent: dict[int, int] = {}
    best = {start: 0.0}
    while queue:
        cost, lane = heapq.heappop(queue)
        if lane in goal_lanes:
            path = [lane]
            while path[-1] != start:
                path.append(parent[path[-1]])
            return path[::-1]
        if cost > best.get(lane, np.inf) or cost > config.max_search:
            continue
        for successor in graph.lanes[lane].successors:
            total = cost + length[lane]
            if successor in graph.lanes and total < best.get(successor, np.inf):
                best[successor] = total
                parent[successor] = lane
                heapq.heappush(queue, (total, successor))
    return None


def _next_lane(graph: LaneGraph, lane: int, target: shapely.Point | None, visited: set[int]) -> int | None:
    """The successor of `lane` to continue on: ending nearest `target`, else turning least."""
    options = [s for s in graph.lanes[lane].successors if s in graph.lanes and s not in visited]
    if not options:
        return None
    center = graph.lanes[lane].center
    heading = np.arctan2(*(center[-1] - center[-2])[::-1])

    def cost(successor: int) -> float:
        line = graph.lanes[successor].center
        if target is not None:
            return float(shapely.distance(shapely.Point(line[-1]), target))
        return abs(float(angle_diff(np.arctan2(*(line[-1] - line[0])[::-1]), heading)))

    return min(options, key=cost)


def route_lanes(
    graph: LaneGraph,
    x: float,
    y: float,
    yaw: float,
    goal: Goal | None = None,
    index: MapIndex | None = None,
    config: RouteConfig = RouteConfig(),
) -> tuple[int, ...]:
    """Lane ids from the ego's lane at (x, y) [m], heading `yaw` [rad], toward `goal` and on.

    Empty for a map without lanes. `index` may pass a prebuilt `MapIndex` of `graph`.
    """
    index = index if index is not None else MapIndex(graph)
    start = _start_lane(index, x, y, yaw, config)
    if start < 0:
        return ()
    geometry = _goal_geometry(goal, index)
    goal_lanes: set[int] = set()
    if geometry is not None:
        goal_lanes = set(index.lane_ids[shapely.intersects(index.polygons, geometry)].tolist())
    route = _shortest_to_goal(graph, index, start, goal_lanes, config) or [start]
    # past the goal (or without one) keep going straight on; short of it, head for it
    target = None if geometry is None or route[-1] in goal_lanes else shapely.centroid(geometry)
    s_ego, _, _ = index.project(np.array([start]), np.array([[x, y]]))
    length = dict(zip(index.lane_ids.tolist(), index.lengths.tolist(), strict=True))
    ahead = sum(length[lane] for lane in route) - float(s_ego[0])
    visited = set(route)
    while ahead < config.min_length:
        following = _next_lane(graph, route[-1], target, visited)
        if following is None:
            break
        route.append(following)
        visited.add(following)
        ahead += length[following]
    return tuple(route)


def route_path(graph: LaneGraph, lanes: tuple[int, ...], x: float, y: float, yaw: float) -> Polyline:
    """The concatenated centerlines of `lanes` as one Polyline [m]; without lanes, a straight line
    along the heading `yaw` [rad] from 10 m behind (x, y) [m] to `RouteConfig.min_length` ahead."""
    if lanes:
        return Polyline(np.concatenate([graph.lanes[lane].center for lane in lanes]))
    along = np.array([-10.0, RouteConfig().min_length])
    return Polyline(np.column_stack([x + along * np.cos(yaw), y + along * np.sin(yaw)]))


def reference_path(
    lane_graph: LaneGraph,
    x: float,
    y: float,
    yaw: float,
    goal: Goal | None = None,
    index: MapIndex | None = None,
) -> Polyline:
    """The centerline the ego at (x, y) [m], heading `yaw` [rad], should follow toward `goal`
    (`route_lanes`, then `route_path`: a straight line on a map without lanes)."""
    return route_path(lane_graph, route_lanes(lane_graph, x, y, yaw, goal, index), x, y, yaw)
