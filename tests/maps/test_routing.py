"""Routing: cost-to-go with lane changes, goal spans, reach mode, corridors and routes, on small
hand-built maps with known answers, and on recorded maps (the human's last lane is on the route)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scenes
import shapely

from drivestack.bench.sources import find_sources
from drivestack.core.geometry import Polyline
from drivestack.core.map import Lane, LaneGraph, Neighbour, StopLine
from drivestack.core.scenario import Goal, GoalState, Interval, Shape, ShapeKind
from drivestack.maps.index import MapIndex
from drivestack.maps.routing import Router, RoutingConfig, goal_spans, smooth


def _goal(x: float, y: float, length: float = 10.0, width: float = 3.0) -> Goal:
    region = Shape(ShapeKind.RECTANGLE, length=length, width=width, center=(x, y))
    return Goal((GoalState(time=Interval(0, 100), regions=(region,)),))


def _router(graph: LaneGraph, goal: Goal | None, config: RoutingConfig | None = None) -> Router:
    return Router(graph, MapIndex(graph), goal, config or RoutingConfig())


def test_goal_spans_cover_the_centerline_inside_the_region() -> None:
    graph = scenes.straight_road(num_lanes=2, length=200.0)
    spans, beside = goal_spans(_goal(150.0, 0.2), MapIndex(graph))
    assert beside == ()  # the region lies within one lane
    assert [span.lane_id for span in spans] == [scenes.lane_id(0)]
    assert spans[0].s_in == pytest.approx(145.0) and spans[0].s_out == pytest.approx(155.0)
    assert spans[0].offset == pytest.approx(0.2)
    lanelet = Goal((GoalState(time=Interval(0, 10), lanelet_ids=(scenes.lane_id(1),)),))
    (whole,) = goal_spans(lanelet, MapIndex(graph)).routed
    assert (whole.s_in, whole.s_out) == (0.0, pytest.approx(200.0))


def test_goal_spans_beside_mark_where_a_region_reaches_into_a_lane_it_does_not_route_to() -> None:
    # the region crosses the left lane's centerline and reaches 0.75 m into the right lane
    graph = scenes.straight_road(num_lanes=2, length=200.0)
    index = MapIndex(graph)
    goal = _goal(150.0, scenes.LANE_WIDTH - 0.5, length=8.0, width=4.0)
    routed, (beside,) = goal_spans(goal, index)
    assert [span.lane_id for span in routed] == [scenes.lane_id(1)]
    assert beside.lane_id == scenes.lane_id(0)
    assert (beside.s_in, beside.s_out) == (pytest.approx(146.0), pytest.approx(154.0))
    # the overlap's middle: from y = 1.0 to the lanes' shared border at 1.75
    assert beside.offset == pytest.approx(1.375)
    router = _router(graph, goal)
    assert router.corridor(scenes.lane_id(0)).goal_beside == (beside,)
    assert router.corridor(scenes.lane_id(0)).goal == ()  # the route still asks for the left lane
    # a region inside one lane is beside no other
    assert goal_spans(_goal(150.0, 0.0, width=2.0), index).beside == ()


def test_goal_in_the_next_lane_costs_a_lane_change_until_its_end() -> None:
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    router = _router(graph, _goal(300.0, scenes.LANE_WIDTH))
    right, left = scenes.lane_id(0), scenes.lane_id(1)
    s = np.array([0.0, 100.0, 290.0, 320.0])
    cost_left = np.interp(s, router.stations(left), router.cost[left])
    cost_right = np.interp(s, router.stations(right), router.cost[right])
    np.testing.assert_allclose(cost_left[:3], 295.0 - s[:3], atol=1e-6)
    np.testing.assert_allclose(cost_right[:3], 295.0 - s[:3] + RoutingConfig().lane_change_cost, atol=1e-6)
    assert np.isinf(cost_right[3]) and np.isinf(cost_left[3])  # past the goal there is no way back
    # the right lane's excess is the lane change it still needs; the goal lane has none
    np.testing.assert_allclose(router.excess(right, s[:3]), RoutingConfig().lane_change_cost)
    np.testing.assert_allclose(router.excess(left, s[:3]), 0.0)
    route = router.route(20.0, 0.0, 0.0)
    assert route.lane_ids == (right, left) and route.lane_changes == (True,) and route.reaches_goal


def _fork() -> LaneGraph:
    """Lane 1 (x 0..50) forks into 2 (straight to x 200) and 3 (turning up to (90, 40), then 4 to
    (90, 60): a dead end 45 m later)."""
    lanes = {
        1: scenes.lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2, 3)),
        2: scenes.lane_between(2, (50.0, 0.0), (200.0, 0.0), predecessors=(1,)),
        3: scenes.lane_between(3, (50.0, 0.0), (90.0, 40.0), predecessors=(1,), successors=(4,)),
        4: scenes.lane_between(4, (90.0, 40.0), (90.0, 60.0), predecessors=(3,)),
    }
    return LaneGraph("fork", lanes)


def test_corridor_heads_for_the_goal_else_the_longest_continuation() -> None:
    to_goal = _router(_fork(), _goal(90.0, 50.0, 6.0, 6.0))
    assert to_goal.corridor(1).lane_ids == (1, 3, 4)
    assert to_goal.best_successor(1) == 3
    free = _router(_fork(), None, RoutingConfig(reach_horizon=400.0))
    assert free.corridor(1).lane_ids == (1, 2)  # 150 m on beat 76 m to a dead end
    assert free.route(10.0, 0.0, 0.0).lane_ids == (1, 2)


def test_where_a_straight_and_a_turn_lane_overlap_the_route_starts_on_the_one_to_the_goal() -> None:
    """Lanes 2 (straight on) and 3 (bending left from x 60) both start at lane 1's end, drawn over
    each other for their first metres, as intersection lanes are."""
    bend = np.array([[50.0, 0.0], [60.0, 0.0], [70.0, 2.0], [80.0, 10.0], [85.0, 30.0]])
    half = np.array([0.0, 1.75])
    turn = Lane(id=3, left=bend + half, right=bend - half, center=bend, predecessors=(1,))
    lanes = {
        1: scenes.lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2, 3)),
        2: scenes.lane_between(2, (50.0, 0.0), (150.0, 0.0), predecessors=(1,)),
        3: turn,
    }
    graph = LaneGraph("junction", lanes)
    straight_goal, turn_goal = _goal(140.0, 0.0), _goal(85.0, 28.0, 6.0, 6.0)
    assert set(MapIndex(graph).lanes_at(np.array([[54.0, 0.0]]))[0]) == {2, 3}
    assert _router(graph, straight_goal).start_lane(54.0, 0.0, 0.0) == 2
    assert _router(graph, turn_goal).start_lane(54.0, 0.0, 0.0) == 3
    assert _router(graph, turn_goal).route(54.0, 0.0, 0.0).reaches_goal


def test_reach_mode_pays_for_leaving_a_dropping_lane() -> None:
    """Two lanes side by side; the right one (101) ends after 100 m, the left one (201) goes on."""
    right = scenes.lane_between(101, (0.0, 0.0), (100.0, 0.0), left_neighbour=Neighbour(201, True))
    left = scenes.lane_between(
        201, (0.0, 3.5), (100.0, 3.5), right_neighbour=Neighbour(101, True), successors=(202,)
    )
    on = scenes.lane_between(202, (100.0, 3.5), (400.0, 3.5), predecessors=(201,))
    router = _router(LaneGraph("drop", {101: right, 201: left, 202: on}), None)
    assert router.excess(101, np.array([10.0]))[0] == pytest.approx(RoutingConfig().lane_change_cost)
    assert router.excess(201, np.array([10.0]))[0] == pytest.approx(0.0)
    corridor = router.corridor(101)
    assert corridor.dead_end and corridor.excess[-1] > 0.0
    route = router.route(10.0, 0.0, 0.0)
    assert route.lane_ids[:2] == (101, 201) and route.lane_changes[0]


def test_corridor_tables_stop_lines_and_widths() -> None:
    stop = StopLine(start=(60.0, -1.75), end=(60.0, 1.75), traffic_light_ids=(7,))
    first = scenes.lane_between(1, (0.0, 0.0), (60.0, 0.0), successors=(2,), speed_limit=13.9)
    first = Lane(**{**first.__dict__, "stop_line": stop})
    second = scenes.lane_between(2, (60.0, 0.0), (160.0, 0.0), predecessors=(1,))
    corridor = _router(LaneGraph("stop", {1: first, 2: second}), _goal(150.0, 0.0)).corridor(1)
    assert corridor.lane_ids == (1, 2)
    np.testing.assert_allclose(corridor.lane_starts, [0.0, 60.0], atol=1e-6)
    assert [(line.s, line.traffic_light_ids) for line in corridor.stop_lines] == [(pytest.approx(60.0), (7,))]
    stations = np.arange(len(corridor.lane_index)) * corridor.spacing
    assert corridor.lane_at(30.0) == 1 and corridor.lane_at(100.0) == 2
    np.testing.assert_allclose(corridor.speed_limit[stations < 59.0], 13.9)
    assert np.isnan(corridor.speed_limit[stations > 61.0]).all()
    np.testing.assert_allclose(corridor.half_left, 0.5 * scenes.LANE_WIDTH, rtol=1e-6)
    np.testing.assert_allclose(corridor.half_right, 0.5 * scenes.LANE_WIDTH, rtol=1e-6)
    assert corridor.goal[0].s_in == pytest.approx(145.0)
    assert corridor.dead_end


def test_smoothing_removes_kinks_and_keeps_curves() -> None:
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 200.0, 60)
    kinked = Polyline(np.column_stack([x, rng.normal(0.0, 0.05, len(x))]))
    raw = np.abs(kinked.resample(1.0).turns[10:-10]).max()  # [rad per metre]: kinks a tracker feels
    assert np.abs(smooth(kinked, 1.0, 9.0).turns[10:-10]).max() < 0.3 * raw
    angles = np.linspace(0.0, np.pi / 2, 40)
    arc = Polyline(np.column_stack([15.0 * np.cos(angles), 15.0 * np.sin(angles)]))
    kept = smooth(arc, 1.0, 9.0)
    radius = np.hypot(*kept.points.T)
    np.testing.assert_allclose(radius, 15.0, atol=0.05)


@pytest.mark.slow
def test_routes_on_recorded_maps_reach_the_lane_the_human_ends_in(commonroad_root: Path) -> None:
    """On recorded highD and SinD problems the route from the start enters the goal, and the lane the
    recorded human ends in is on it or beside it (goal regions straddle lane borders)."""
    checked = 0
    for dataset in ("highd", "sind"):
        for source in find_sources(str(commonroad_root / dataset))[::40]:
            scenario = source.load()
            index = MapIndex(scenario.lane_graph)
            for problem in scenario.planning_problems:
                human = scenario.recorded_ego(problem.id)
                assert human is not None
                router = Router(scenario.lane_graph, index, problem.goal)
                start = problem.initial
                route = router.route(start.x, start.y, start.yaw)
                end = human.trajectory.state(len(human.trajectory) - 1)
                last = int(index.assign(np.array([[end.x, end.y]]), np.array([end.yaw]))[0])
                if router.cost[route.lane_ids[0]][0] == np.inf or last < 0:
                    continue  # starts in the goal, or the human ends off the lanes
                assert route.reaches_goal, scenario.scenario_id
                region = shapely.union_all(
                    [index.polygons[index.rows(np.array([lane]))[0]] for lane in route.lane_ids]
                )
                assert shapely.distance(region, shapely.Point(end.x, end.y)) < 4.0, scenario.scenario_id
                checked += 1
    assert checked >= 10


def test_goal_spans_leave_out_lanes_running_against_the_goal_orientation() -> None:
    """A goal region over a two-way road, facing east: the eastbound lane is routed to, the
    westbound one (which cannot end a drive facing east) is not; without an orientation, both."""
    east = scenes.lane_between(1, (0.0, 0.0), (200.0, 0.0))
    west = scenes.lane_between(2, (200.0, scenes.LANE_WIDTH), (0.0, scenes.LANE_WIDTH))
    index = MapIndex(LaneGraph("two-way", {1: east, 2: west}))
    region = Shape(ShapeKind.RECTANGLE, length=10.0, width=8.0, center=(100.0, scenes.LANE_WIDTH / 2))
    facing = GoalState(time=Interval(0, 100), regions=(region,), orientation=Interval(-0.5, 0.5))
    assert [span.lane_id for span in goal_spans(Goal((facing,)), index).routed] == [1]
    anyway = GoalState(time=Interval(0, 100), regions=(region,))
    assert sorted(span.lane_id for span in goal_spans(Goal((anyway,)), index).routed) == [1, 2]
    westward = GoalState(time=Interval(0, 100), regions=(region,), orientation=Interval(2.8, 3.5))
    assert [span.lane_id for span in goal_spans(Goal((westward,)), index).routed] == [2]  # wraps past pi


def test_womd_goal_at_a_fork_routes_only_to_lanes_along_its_orientation() -> None:
    """WOMD sample whose human ends at a fork next to oncoming lanes: the goal's routed spans are the
    two branches (and their continuations), never the oncoming lanes crossing the region."""
    from recorded_data import DATA_ROOT

    from drivestack.core.geometry import angle_diff
    from drivestack.data.formats import womd

    path = DATA_ROOT / "womd" / "womd_scenario_input.tfrecord"
    if not path.exists():
        pytest.skip(f"WOMD sample not found at {path}")
    scenario = womd.read(path)
    (state,) = scenario.planning_problems[0].goal.states
    assert state.orientation is not None
    index = MapIndex(scenario.lane_graph)
    middle = 0.5 * (state.orientation.start + state.orientation.end)
    region = shapely.Polygon(state.regions[0].outline())
    crossing = [
        int(i) for i, line in zip(index.lane_ids, index.centerlines, strict=True) if line.intersects(region)
    ]
    routed = {span.lane_id for span in goal_spans(scenario.planning_problems[0].goal, index).routed}
    assert routed and routed < set(crossing)  # some crossing lanes are left out
    for lane_id in crossing:
        line = index.centerlines[index.rows(np.array([lane_id]))[0]]
        inside = shapely.intersection(line, region)
        point = shapely.get_coordinates(shapely.centroid(inside))
        _, _, heading = index.project(np.array([lane_id]), point)
        against = abs(float(angle_diff(heading[0], middle))) > np.pi / 2 + 0.5 * (
            state.orientation.end - state.orientation.start
        )
        assert (lane_id in routed) != against, (lane_id, heading)


def test_station_of_one_arc_length_equals_the_array_path() -> None:
    """`Corridor.station` of a single float (its scalar path) equals the array path's station,
    ties rounding to even, NaN and arc lengths beyond either end included."""
    corridor = _router(scenes.straight_road(num_lanes=1, length=200.0), None).corridor(scenes.lane_id(0))
    spacing, last = corridor.spacing, len(corridor.lane_index) - 1
    values = [-3.0, -0.0, 0.0, 0.5 * spacing, 1.5 * spacing, 2.5 * spacing, 1e6, 1e300, float("nan")]
    values += list(np.linspace(-1.0, corridor.length + 1.0, 101))
    stations = corridor.station(np.array(values))
    for value, expected in zip(values, stations.tolist(), strict=True):
        found = corridor.station(float(value))
        assert isinstance(found, np.integer) and 0 <= found <= last
        assert found == expected, value
