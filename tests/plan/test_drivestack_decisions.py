"""The drivestack planner's decisions on small hand-built scenes, run closed-loop in the simulator:
following a braking leader, passing a stopped car, a red light, a crossing pedestrian, a goal in
the next lane. Each test checks the outcome (no collision, where the ego ends up) and that the
run record states the decision taken."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scenes

from drivestack.core.geometry import box_corners, box_distance
from drivestack.core.map import Lane, LaneGraph, StopLine
from drivestack.core.planner import PlannerInit
from drivestack.core.record import RunRecord
from drivestack.core.scenario import (
    AgentType,
    EgoState,
    Goal,
    GoalState,
    Interval,
    LightColor,
    PlanningProblem,
    Scenario,
    Shape,
    ShapeKind,
    TrafficLight,
)
from drivestack.metrics import evaluate
from drivestack.plan import make_planner
from drivestack.plan.drivestack import DrivestackPlanner
from drivestack.plan.drivestack.scoring import Scores
from drivestack.sim.runner import simulate


def _run(scenario: Scenario) -> tuple[RunRecord, DrivestackPlanner]:
    planner = DrivestackPlanner()
    record = simulate(scenario, scenes.EGO_ID, planner)
    assert record.failures == ()
    return record, planner


def _clearance(record: RunRecord) -> float:
    """Smallest gap [m] between the ego's box and any agent's over the run."""
    ego, agents = record.ego, record.agents
    a = box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)
    b = box_corners(agents.x, agents.y, agents.yaw, agents.length[:, None], agents.width[:, None])
    gaps = box_distance(np.broadcast_to(a, b.shape), b)
    return float(np.nanmin(np.where(agents.valid, gaps, np.inf)))


def _actions(record: RunRecord) -> set[str]:
    return {decision.action for decision in record.decisions if decision is not None}


def _scene(
    graph: LaneGraph,
    agents: list[scenes.Agent],
    x0: float,
    y0: float,
    v0: float,
    goal: tuple[float, float],
    steps: int,
    lights: tuple[TrafficLight, ...] = (),
    goal_size: tuple[float, float] = (10.0, 3.0),
) -> Scenario:
    scenario = scenes.scenario(graph, agents, None, num_steps=steps, lights=lights)
    region = Shape(ShapeKind.RECTANGLE, length=goal_size[0], width=goal_size[1], center=goal)
    problem = PlanningProblem(
        scenes.EGO_ID,
        EgoState(step=0, x=x0, y=y0, yaw=0.0, speed=v0),
        Goal((GoalState(time=Interval(0, steps - 1), regions=(region,)),)),
    )
    return Scenario(
        scenario_id=scenario.scenario_id,
        dt=scenario.dt,
        num_steps=steps,
        lane_graph=graph,
        tracks=scenario.tracks,
        traffic_lights=lights,
        planning_problems=(problem,),
    )


def _with_goal(scenario: Scenario, **fields: Any) -> Scenario:
    """`scenario` with `fields` of its only problem's only goal state replaced."""
    problem = scenario.planning_problems[0]
    state = dataclasses.replace(problem.goal.states[0], **fields)
    problem = dataclasses.replace(problem, goal=Goal((state,)))
    return dataclasses.replace(scenario, planning_problems=(problem,))


def test_follows_a_braking_leader_and_stops_behind_it() -> None:
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    leader = scenes.braking(2, 45.0, 0.0, 15.0, 4.0, num_steps=120)
    record, planner = _run(_scene(graph, [leader], 10.0, 0.0, 15.0, (390.0, 0.0), 120))
    assert _clearance(record) > 1.0
    assert record.ego.speed[-1] < 0.3
    assert {"follow_lead", "stop"} & _actions(record)
    # it takes the leader's braking into account within the first half second
    assert "follow_lead" in {decision.action for decision in planner.decisions[:5]}
    scenario = _scene(graph, [leader], 10.0, 0.0, 15.0, (390.0, 0.0), 120)
    assert not evaluate(scenario, scenario.planning_problems[0], record).any_collision


def test_changes_lane_to_pass_a_stopped_car() -> None:
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    stopped = scenes.moving(2, 90.0, 0.0, 0.0, num_steps=160)
    goal = (300.0, 0.5 * scenes.LANE_WIDTH)
    record, _ = _run(_scene(graph, [stopped], 10.0, 0.0, 12.0, goal, 160, goal_size=(10.0, 7.0)))
    assert _clearance(record) > 0.5
    assert record.ego.x.max() > 110.0  # passed the stopped car
    assert "lane_change_left" in _actions(record)
    passing = np.flatnonzero(np.abs(record.ego.x - 90.0) < 3.0)
    assert (record.ego.y[passing] > 0.5 * scenes.LANE_WIDTH).all()  # in the left lane alongside it


def _signal_road() -> LaneGraph:
    """One lane along +x: lane 1 to a stop line at x = 100 with light 7, then lane 2 to x = 300."""
    stop = StopLine(start=(100.0, -1.75), end=(100.0, 1.75), traffic_light_ids=(7,))
    first = scenes.lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(2,), traffic_light_ids=(7,))
    second = scenes.lane_between(2, (100.0, 0.0), (300.0, 0.0), predecessors=(1,))
    return LaneGraph("signal", {1: Lane(**{**first.__dict__, "stop_line": stop}), 2: second})


def test_stops_at_a_red_light_and_goes_on_green() -> None:
    light = TrafficLight(7, 101.0, 3.0, ((LightColor.RED, 140), (LightColor.GREEN, 1000)))
    record, planner = _run(_scene(_signal_road(), [], 20.0, 0.0, 10.0, (280.0, 0.0), 240, (light,)))
    front = record.ego.x + 0.5 * record.ego.length
    red = record.steps < 140
    assert front[red].max() < 100.0  # stopped before the line while red
    assert record.ego.speed[red][-1] < 0.2
    assert front.max() > 130.0  # and drove on when it turned green
    stops = [d for d in planner.decisions if d.action == "stop" and "red light 7" in d.reason]
    assert stops
    # crawling up to the line, less than a metre short of it: still stops (at the line, jerk-limited)
    length = record.ego.length
    record, planner = _run(
        _scene(_signal_road(), [], 99.3 - 0.5 * length, 0.0, 1.1, (280.0, 0.0), 60, (light,))
    )
    assert (record.ego.x + 0.5 * length).max() < 100.5 and record.ego.speed[-1] < 0.05


def _right_turn_at_a_light() -> LaneGraph:
    """Lane 1 along +x to a stop line at x = 100 (light 7), lane 2 turning right through an
    intersection on a circle of radius 12 m, lane 3 straight on toward -y."""
    stop = StopLine(start=(100.0, -1.75), end=(100.0, 1.75), traffic_light_ids=(7,))
    first = scenes.lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(2,), traffic_light_ids=(7,))
    angles = np.linspace(np.pi / 2, 0.0, 30)
    arc = np.column_stack([100.0 + 12.0 * np.cos(angles), -12.0 + 12.0 * np.sin(angles)])
    normal = np.column_stack([np.cos(angles), np.sin(angles)]) * 0.5 * scenes.LANE_WIDTH
    turn = Lane(
        2, left=arc + normal, right=arc - normal, center=arc, predecessors=(1,), successors=(3,),
        lane_types=("intersection",),
    )  # fmt: skip
    down = scenes.lane_between(3, (112.0, -12.0), (112.0, -150.0), predecessors=(2,))
    return LaneGraph("turn", {1: Lane(**{**first.__dict__, "stop_line": stop}), 2: turn, 3: down})


def test_turns_right_on_red_where_the_rules_allow_it() -> None:
    light = TrafficLight(7, 101.0, 3.0, ((LightColor.RED, 1000),))
    scenario = _scene(_right_turn_at_a_light(), [], 60.0, 0.0, 8.0, (112.0, -40.0), 300, (light,))
    runs = {
        country: _run(dataclasses.replace(scenario, scenario_id=f"{country}_Turn-1_1_T-1"))
        for country in ("DEU", "CHN", "USA")
    }
    # Germany: no turn on red; China: turns on red without stopping; the USA: after a full stop
    germany, _ = runs["DEU"]
    assert (germany.ego.x + 0.5 * germany.ego.length).max() < 100.0 and germany.ego.speed[-1] < 0.1
    china, _ = runs["CHN"]
    assert china.termination == "goal_reached" and china.ego.speed.min() > 1.0
    usa, planner = runs["USA"]
    assert usa.termination == "goal_reached"
    before_line = usa.ego.x + 0.5 * usa.ego.length < 100.0
    assert usa.ego.speed[before_line].min() < 0.1
    assert any("turning right on red" in decision.reason for decision in planner.decisions)


def test_yields_to_a_crossing_pedestrian() -> None:
    graph = scenes.straight_road(num_lanes=1, length=300.0)
    walker = scenes.moving(2, 60.0, -6.0, 0.0, 1.2, num_steps=150, kind=AgentType.PEDESTRIAN)
    walker.length, walker.width = 0.6, 0.6
    record, planner = _run(_scene(graph, [walker], 10.0, 0.0, 10.0, (280.0, 0.0), 150))
    assert _clearance(record) > 0.5
    yields = [d for d in planner.decisions if d.action == "yield" and "pedestrian 2" in d.reason]
    assert yields
    assert record.ego.x.max() > 80.0  # went on once the pedestrian had crossed


def test_changes_into_the_goal_lane_in_time() -> None:
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    record, planner = _run(_scene(graph, [], 10.0, 0.0, 15.0, (200.0, scenes.LANE_WIDTH), 150))
    assert record.termination == "goal_reached"
    assert planner.decisions[0].action == "lane_change_left"
    assert "route" in planner.decisions[0].reason


def test_falls_back_to_make_room_for_a_lane_change_the_route_needs() -> None:
    # a car in the goal lane drives alongside, 3 m ahead, at the ego's speed; the goal lane ends in
    # a short goal region 170 m on, reached in time only by dropping back behind that car
    graph = scenes.straight_road(num_lanes=2, length=400.0)
    alongside = scenes.moving(2, 17.5, scenes.LANE_WIDTH, 15.0, num_steps=150)
    scenario = _scene(
        graph, [alongside], 10.0, 0.0, 15.0, (190.0, scenes.LANE_WIDTH), 150, goal_size=(10.0, 3.0)
    )
    record, planner = _run(scenario)
    assert record.termination == "goal_reached"
    assert _clearance(record) > 0.5
    making_room = [d for d in planner.decisions if "making room to change lanes behind agent 2" in d.reason]
    assert making_room and making_room[0].step == 0
    changed = next(d.step for d in planner.decisions if d.action == "lane_change_left")
    assert changed > making_room[0].step
    ahead = record.agents.x[0, changed] - record.ego.x[changed]  # it changed lanes behind the car
    assert ahead > 0.5 * (record.ego.length + 4.5)


def test_meets_a_goal_orientation_its_lane_does_not_have() -> None:
    # the region was drawn where the recorded driver still turned: it allows headings of 0.08 to
    # 0.4 rad only, on a straight lane heading 0; the ego swerves gently to cross it at that heading
    graph = scenes.straight_road(num_lanes=1, length=300.0)
    scenario = _with_goal(
        _scene(graph, [], 60.0, 0.0, 10.0, (150.0, 0.0), 120), orientation=Interval(0.08, 0.4)
    )
    record, _ = _run(scenario)
    assert record.termination == "goal_reached"
    assert 0.08 <= record.ego.yaw[-1] <= 0.4
    metrics = evaluate(scenario, scenario.planning_problems[0], record, None)
    assert metrics.goal_reached and metrics.drivable_area == 1.0 and metrics.comfort == 1.0


def test_reaches_a_goal_region_that_reaches_into_its_lane_from_beside() -> None:
    # the region lies mostly on the next lane, which the ego may not change into (no lane-change
    # link), and reaches 0.5 m into the ego's lane: a path offset within the lane gets there
    graph = scenes.straight_road(num_lanes=2, length=300.0)
    right, left = scenes.lane_id(0), scenes.lane_id(1)
    lanes = dict(graph.lanes)
    lanes[right] = dataclasses.replace(lanes[right], left_neighbour=None)
    lanes[left] = dataclasses.replace(lanes[left], right_neighbour=None)
    graph = dataclasses.replace(graph, lanes=lanes)
    goal = (150.0, scenes.LANE_WIDTH - 0.5)
    record, _ = _run(_scene(graph, [], 60.0, 0.0, 10.0, goal, 150, goal_size=(10.0, 3.5)))
    assert record.termination == "goal_reached"
    assert record.ego.y[-1] >= 1.25 and record.ego.y.max() < 2.1  # within reach of its own lane


def test_counts_on_no_arrival_after_the_recording_ends() -> None:
    # the goal's window stays open long after the 4 s recording; reaching it would take 5 s
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    scenario = _with_goal(_scene(graph, [], 60.0, 0.0, 20.0, (170.0, 0.0), 40), time=Interval(0, 400))
    arrivals: list[bool] = []

    class Watched(DrivestackPlanner):
        def initialize(self, init: PlannerInit) -> None:
            super().initialize(init)
            assert self._run is not None
            scorer = self._run.scorer

            class Watching:
                def score(self, *args: Any) -> Scores:
                    scores = scorer.score(*args)
                    arrivals.append(bool(scores.goal.any()))
                    return scores

            self._run = dataclasses.replace(self._run, scorer=Watching())

    record = simulate(scenario, scenes.EGO_ID, Watched())
    assert record.termination == "recording_end"
    assert len(arrivals) == record.num_steps - 1 and not any(arrivals)


def test_keeps_its_speed_toward_a_map_end_the_run_never_reaches() -> None:
    # the map ends 5 m past a goal the ego cannot reach before the recording ends: beyond the run's
    # end nothing is judged, so the ego does not slow down for the edge it would meet later
    graph = scenes.straight_road(num_lanes=1, length=200.0)
    record, _ = _run(_scene(graph, [], 100.0, 0.0, 15.0, (190.0, 0.0), 40))
    assert record.termination == "recording_end"
    assert record.ego.speed.min() > 14.5


def test_hurries_over_the_limit_only_for_an_arrival() -> None:
    # 130 m to the goal with 6 s left at a 10 m/s limit: out of reach, so no reason to speed
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    limited = {key: dataclasses.replace(lane, speed_limit=10.0) for key, lane in graph.lanes.items()}
    graph = dataclasses.replace(graph, lanes=limited)
    record, _ = _run(_scene(graph, [], 20.0, 0.0, 10.0, (150.0, 0.0), 60))
    assert record.termination == "recording_end"
    assert record.ego.speed.max() < 10.2
    # within reach (90 m in 8 s at most 2 m/s over the limit), it hurries and arrives
    record, _ = _run(_scene(graph, [], 20.0, 0.0, 10.0, (110.0, 0.0), 80))
    assert record.termination == "goal_reached" and record.ego.speed.max() > 10.5


def test_registered_and_records_its_decisions() -> None:
    graph = scenes.straight_road(num_lanes=1, length=300.0)
    scenario = _scene(graph, [], 10.0, 0.0, 10.0, (250.0, 0.0), 30)
    record = simulate(scenario, scenes.EGO_ID, make_planner("drivestack"))
    assert record.planner == "drivestack"
    assert all(
        decision is not None and decision.action == "follow_lane" for decision in record.decisions[:-1]
    )
    assert record.decisions[0] is not None and record.decisions[0].proposals > 0


def test_drives_into_a_goal_at_the_end_of_the_map_without_slowing() -> None:
    # the map ends 6 m past the goal region: what the ego would do after reaching it never happens
    graph = scenes.straight_road(num_lanes=1, length=200.0)
    record, _ = _run(_scene(graph, [], 60.0, 0.0, 20.0, (189.0, 0.0), 80))
    assert record.termination == "goal_reached"
    assert record.ego.speed.min() > 19.0


def test_stops_at_the_end_of_the_map_and_stays_there() -> None:
    # the goal lies beyond the mapped road: the ego stops before the end and does not roll off it
    graph = scenes.straight_road(num_lanes=1, length=200.0)
    scenario = _scene(graph, [], 100.0, 0.0, 15.0, (260.0, 0.0), 200)
    record, _ = _run(scenario)
    front = record.ego.x + 0.5 * record.ego.length
    assert front.max() < 200.0 and record.ego.speed[-1] < 0.05
    assert evaluate(scenario, scenario.planning_problems[0], record, None).drivable_area == 1.0
    # too fast to stop before the end: it stops as soon as it can and stays stopped
    record, planner = _run(_scene(graph, [], 175.0, 0.0, 20.0, (260.0, 0.0), 150))
    first = planner.decisions[0]
    assert first.action == "emergency_brake" and "leaves the drivable area" in first.reason
    front = record.ego.x + 0.5 * record.ego.length
    stopped = int(np.argmax(record.ego.speed < 0.05))
    assert stopped > 0 and front[stopped:].max() - front[stopped] < 0.5 and front.max() < 215.0
