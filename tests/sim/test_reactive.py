"""Reactive agents: they replay their recordings while nothing differs, and react when something does
(a braking ego, a red light they now reach late, a vehicle standing in a pedestrian's way)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scenes

from drivestack.core.dynamics import Obstacles, VehicleParams
from drivestack.core.geometry import Polyline, box_corners, boxes_overlap
from drivestack.core.map import LaneGraph, StopLine
from drivestack.core.planner import Observation, PlannerInit
from drivestack.core.record import RunRecord
from drivestack.core.scenario import AgentType, LightColor, Scenario, TrafficLight, TrafficSign, Trajectory
from drivestack.metrics import evaluate
from drivestack.plan import make_planner
from drivestack.sim.agents import AgentStates
from drivestack.sim.reactive import ReactiveAgents, ReactiveParams
from drivestack.sim.runner import map_index, simulate
from drivestack.sim.world import SimConfig, agent_policy

STREAM_SIDE = (
    0.9 + 0.2
)  # [m] within this of the crossing's centre line a car's front is in a stream car's way


class Scripted:
    """Drives a fixed timed path (x, y over the scenario's steps), whatever happens."""

    name = "scripted"

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def initialize(self, init: PlannerInit) -> None:
        pass

    def plan(self, observation: Observation) -> Trajectory:
        steps = np.arange(len(self.x), dtype=np.int64)
        vx, vy = np.gradient(self.x, scenes.DT), np.gradient(self.y, scenes.DT)
        yaw = np.arctan2(vy, vx)
        return Trajectory(steps, self.x, self.y, yaw, np.hypot(vx, vy), observation.dt)


def _boxes(record: RunRecord) -> np.ndarray:
    """Agent boxes (A, T, 4, 2), NaN where absent."""
    agents = record.agents
    corners = box_corners(agents.x, agents.y, agents.yaw, agents.length[:, None], agents.width[:, None])
    corners[~agents.valid] = np.nan
    return corners


def _ego_hits(record: RunRecord) -> bool:
    ego = record.ego
    return bool(
        boxes_overlap(box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)[None], _boxes(record)).any()
    )


def _agents_collide(record: RunRecord) -> bool:
    boxes = _boxes(record)
    pairs = boxes_overlap(boxes[:, None], boxes[None, :])
    count = len(boxes)
    pairs[np.arange(count), np.arange(count)] = False
    return bool(pairs.any())


def _braking_ego_scene(num_steps: int = 120) -> Scenario:
    """One lane: a follower recorded 20 m behind the ego, both at 10 m/s; the ego is not recorded."""
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    follower = scenes.moving(2, 40.0, 0.0, 10.0, num_steps=num_steps)
    ego = scenes.Ego(
        scenes.moving(scenes.EGO_ID, 60.0, 0.0, 10.0, num_steps=num_steps), recorded=False, goal=(395.0, 0.0)
    )
    return scenes.scenario(graph, [follower], ego, num_steps=num_steps)


def _braking_ego(num_steps: int = 120) -> Scripted:
    """10 m/s braking at 4 m/s2 from 1 s on, to a stop."""
    t = np.arange(num_steps) * scenes.DT
    braking = np.clip(t - 1.0, 0.0, 2.5)
    x = 60.0 + 10.0 * np.minimum(t, 1.0) + 10.0 * braking - 2.0 * braking**2
    return Scripted(x, np.zeros(num_steps))


def test_follower_brakes_when_the_ego_brakes() -> None:
    scenario = _braking_ego_scene()
    record = simulate(scenario, scenes.EGO_ID, _braking_ego(), "reactive")
    assert not _ego_hits(record)
    follower = record.agents
    assert follower.speed[0, -1] < 0.05  # stopped behind the stopped ego
    gap = (record.ego.x[-1] - record.ego.length / 2) - (follower.x[0, -1] + follower.length[0] / 2)
    assert 0.5 < gap < 4.0
    assert follower.acceleration[0].min() > -ReactiveParams().max_braking - 1e-9
    # the recording drives on through the ego
    assert _ego_hits(simulate(scenario, scenes.EGO_ID, _braking_ego(), "log"))


def test_a_seed_gives_the_same_run_and_other_seeds_other_drivers() -> None:
    scenario = _braking_ego_scene()
    runs = [
        simulate(
            scenario, scenes.EGO_ID, _braking_ego(), "reactive", SimConfig(reactive=ReactiveParams(seed=seed))
        )
        for seed in (3, 3, 4)
    ]
    np.testing.assert_array_equal(runs[0].agents.x, runs[1].agents.x)
    np.testing.assert_array_equal(runs[0].agents.speed, runs[1].agents.speed)
    assert not np.array_equal(runs[0].agents.x, runs[2].agents.x)  # another headway, another stop
    policies = [
        agent_policy(
            scenario, "reactive", map_index(scenario.lane_graph), SimConfig(reactive=ReactiveParams(seed=s))
        )
        for s in (3, 4)
    ]
    assert isinstance(policies[0], ReactiveAgents) and isinstance(policies[1], ReactiveAgents)
    assert policies[0].drivers.headway[0] != policies[1].drivers.headway[0]


def _red_light_scene(num_steps: int = 420) -> Scenario:
    """Two lanes; lane 0 meets a stop line at x = 250 m whose light is green for 23 s, red for 10 s,
    then green. Three cars recorded at 10 m/s cross it on green; a slow ego (not recorded) ahead of
    them in lane 0 holds them up, then leaves to lane 1, so they now reach the line on red."""
    graph = scenes.straight_road(num_lanes=2, length=500.0, segments=2)
    first = scenes.lane_id(0, 0)
    line = StopLine(start=(250.0, -1.75), end=(250.0, 1.75), traffic_light_ids=(7,))
    lanes = dict(graph.lanes)
    lanes[first] = dataclasses.replace(lanes[first], stop_line=line, traffic_light_ids=(7,))
    graph = dataclasses.replace(graph, lanes=lanes)
    cycle = ((LightColor.GREEN, 230), (LightColor.RED, 100), (LightColor.GREEN, 1000))
    light = TrafficLight(7, 250.0, -3.0, cycle)
    queue = [scenes.moving(2 + k, 55.0 - 15.0 * k, 0.0, 10.0, num_steps=num_steps) for k in range(3)]
    ego = scenes.Ego(
        scenes.moving(scenes.EGO_ID, 75.0, 0.0, 3.0, num_steps=num_steps), recorded=False, goal=(495.0, 3.5)
    )
    return scenes.scenario(graph, queue, ego, num_steps=num_steps, lights=(light,))


def _slow_then_aside(num_steps: int = 420) -> Scripted:
    """3 m/s in lane 0 from x = 75 m, moving to lane 1 between 12 s and 16 s."""
    t = np.arange(num_steps) * scenes.DT
    shift = np.clip((t - 12.0) / 4.0, 0.0, 1.0)
    return Scripted(75.0 + 3.0 * t, scenes.LANE_WIDTH * (3 * shift**2 - 2 * shift**3))


def test_a_queue_held_up_until_red_stops_behind_the_line_and_goes_on_green() -> None:
    scenario = _red_light_scene()
    recorded_front = scenario.tracks.x + scenario.tracks.length[:, None] / 2
    assert (recorded_front[:, 229] > 250.0).all()  # the recording crossed on green
    record = simulate(scenario, scenes.EGO_ID, _slow_then_aside(), "reactive")
    assert not _ego_hits(record) and not _agents_collide(record)
    agents = record.agents
    front = agents.x + agents.length[:, None] / 2
    red = slice(230, 330)
    assert (front[:, red] <= 250.0).all()  # nobody crosses on red
    assert agents.speed[0, 329] < 0.2  # the first has come to the line when red ends ...
    assert 245.0 < front[0, 329] <= 250.0
    assert (np.diff(agents.x[:, 329]) < -5.0).all()  # ... the others queue behind in order
    assert (front[:, -1] > 250.0).all()  # and all go on green


def test_pedestrian_stops_for_a_vehicle_standing_in_its_way() -> None:
    num_steps = 120
    graph = scenes.straight_road(num_lanes=2, length=200.0)
    walker = scenes.moving(
        2, 50.0, -6.0, 0.0, 1.4, num_steps=num_steps, kind=AgentType.PEDESTRIAN, length=0.6, width=0.6
    )
    ego = scenes.Ego(
        scenes.moving(scenes.EGO_ID, 50.0, 0.0, 0.0, num_steps=num_steps), recorded=False, goal=(190.0, 0.0)
    )
    scenario = scenes.scenario(graph, [walker], ego, num_steps=num_steps)
    standing = Scripted(np.full(num_steps, 50.0), np.zeros(num_steps))
    record = simulate(scenario, scenes.EGO_ID, standing, "reactive")
    assert not _ego_hits(record)
    assert record.agents.speed[0, -1] < 0.05
    assert -2.5 < record.agents.y[0, -1] < -1.0  # waits a little before the car's side
    np.testing.assert_allclose(record.agents.x[0], 50.0)  # on its recorded path
    assert _ego_hits(simulate(scenario, scenes.EGO_ID, standing, "log"))


@pytest.mark.parametrize("fixture", ["highd", "sind"])
def test_replayed_human_among_reactive_agents_is_their_recording(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    scenario: Scenario = request.getfixturevalue(fixture)
    problem = scenario.planning_problems[0]
    human = scenario.recorded_ego(problem.id)
    runs = {
        mode: simulate(scenario, problem.id, make_planner("log-replay"), mode) for mode in ("log", "reactive")
    }
    logged, reactive = runs["log"].agents, runs["reactive"].agents
    np.testing.assert_array_equal(reactive.valid, logged.valid)
    np.testing.assert_allclose(reactive.x[reactive.valid], logged.x[logged.valid])
    np.testing.assert_allclose(reactive.y[reactive.valid], logged.y[logged.valid])
    metrics = evaluate(scenario, problem, runs["reactive"], human)
    assert metrics.score == pytest.approx(evaluate(scenario, problem, runs["log"], human).score)


def test_reactive_vehicles_keep_to_their_matched_lanes(highd: Scenario) -> None:
    problem = highd.planning_problems[0]
    index = map_index(highd.lane_graph)
    record = simulate(highd, problem.id, make_planner("constant-velocity"), "reactive")
    policy = agent_policy(highd, "reactive", index)
    assert isinstance(policy, ReactiveAgents)
    agents = record.agents
    inside, total = 0, 0
    for mover, route in zip(policy.movers, policy.routes, strict=True):
        assert route, "a moving highD vehicle drives on lanes"
        present = np.flatnonzero(agents.valid[mover])
        xy = np.column_stack([agents.x[mover, present], agents.y[mover, present]])
        on_route = [bool(set(found) & set(route)) for found in index.lanes_at(xy)]
        inside += sum(on_route)
        total += len(on_route)
    assert inside / total > 0.999


def _rolled(policy: ReactiveAgents, first: AgentStates, start: int, num_steps: int) -> list[AgentStates]:
    """The agents' states after `first` (at step `start`) up to the last step, with the ego far away."""
    far = Obstacles(*(np.array([v]) for v in (-500.0, -500.0, 0.0, 0.0, 4.5, 1.8)), np.ones(1, dtype=bool))
    states = [first]
    for step in range(start, num_steps - 1):
        states.append(policy.step(states[-1], step, far))
    return states[1:]


def _crossing_run(late: float, yield_sign: bool = False) -> tuple[np.ndarray, ...]:
    """A side-road car (row 0, northbound at x = 150 m) recorded crossing a stream (rows 1-5, 10 m/s,
    6 s apart) in a gap, started `late` metres behind its recording at step 80 (held up before),
    its road with a yield sign 5 m before the crossing when `yield_sign`: (x, y, yaw, speed) (6, T)."""
    num_steps, start = 300, 80
    side_lane = scenes.lane_between(2, (150.0, -100.0), (150.0, 100.0))
    signs: tuple[TrafficSign, ...] = ()
    if yield_sign:
        line = StopLine(start=(148.25, -5.0), end=(151.75, -5.0), traffic_sign_ids=(9,))
        side_lane = dataclasses.replace(side_lane, stop_line=line)
        signs = (TrafficSign(9, 153.0, -5.0, (("205", ()),)),)
    graph = LaneGraph("crossing", {1: scenes.lane_between(1, (0.0, 0.0), (400.0, 0.0)), 2: side_lane})
    side = scenes.moving(2, 150.0, -80.0, 0.0, 6.0, num_steps=num_steps)
    stream = [scenes.moving(10 + k, 100.0 - 60.0 * k, 0.0, 10.0, num_steps=num_steps) for k in range(5)]
    scenario = scenes.scenario(graph, [side, *stream], None, num_steps=num_steps)
    scenario = dataclasses.replace(scenario, traffic_signs=signs)
    policy = agent_policy(scenario, "reactive", map_index(graph))
    assert isinstance(policy, ReactiveAgents) and len(policy.crossings.first) == 5
    states = [policy.initial(start)]
    states[0].progress[0] -= late
    states[0].y[0] -= late
    states += _rolled(policy, states[0], start, num_steps)
    x, y, yaw, speed = (np.array([getattr(s, name) for s in states]).T for name in ("x", "y", "yaw", "speed"))
    corners = box_corners(x, y, yaw, 4.5, 1.8)
    assert not any(boxes_overlap(corners[0], corners[k]).any() for k in range(1, 6))
    return x, y, yaw, speed


def test_side_road_car_held_up_waits_for_a_gap_in_crossing_traffic_then_goes() -> None:
    """35 m late, the side-road car is due at the crossing after a stream car: it waits for it."""
    x, y, _, speed = _crossing_run(35.0)
    entered = int(np.argmax(y[0] + 2.25 > -STREAM_SIDE))
    assert x[3, entered] - 2.25 > 150.0 + 0.9  # the stream car due first (row 3) passed first
    assert speed[0, :entered].min() < 4.0  # it slowed down for it ...
    assert y[0, -1] > 50.0  # ... and went on
    assert speed[1:, :].min() > 8.0  # the stream hardly brakes


def test_a_yield_sign_gives_the_stream_right_of_way() -> None:
    """20 m late, the side-road car arrives first: without a sign the stream car gives way; with a
    yield sign on the side road, the side-road car does and the stream keeps its speed."""
    _, _, _, speed = _crossing_run(20.0)
    assert speed[1:, :].min() < 9.0  # arrival order: a stream car yields
    x, y, _, speed = _crossing_run(20.0, yield_sign=True)
    entered = int(np.argmax(y[0] + 2.25 > -STREAM_SIDE))
    assert x[3, entered] - 2.25 > 150.0 + 0.9  # the stream car passed first ...
    assert speed[3].min() > 9.99  # ... without braking
    assert speed[0, :entered].min() < 0.5  # the side-road car waited
    assert speed[1:, :].min() > 8.0
    assert y[0, -1] > 50.0


def test_on_ramp_car_held_up_yields_at_the_merge_and_merges_into_a_gap() -> None:
    """A ramp car recorded merging (x = 150 m) between stream cars 6 s apart reaches the merge 30 m
    late: it waits for the stream car due there first and merges behind it."""
    num_steps, start, late = 300, 80, 30.0
    graph = LaneGraph(
        "ramp",
        {
            1: scenes.lane_between(1, (0.0, 0.0), (500.0, 0.0)),
            2: scenes.lane_between(2, (0.0, -20.0), (150.0, 0.0)),
        },
    )
    path = Polyline(np.array([[0.0, -20.0], [150.0, 0.0], [500.0, 0.0]]))
    xy = path.interpolate(11.3 + 10.0 * np.arange(num_steps) * scenes.DT)
    ramp = scenes.Agent(2, xy[:, 0], xy[:, 1])
    stream = [scenes.moving(10 + k, 100.0 - 60.0 * k, 0.0, 10.0, num_steps=num_steps) for k in range(5)]
    scenario = scenes.scenario(graph, [ramp, *stream], None, num_steps=num_steps)
    policy = agent_policy(scenario, "reactive", map_index(graph))
    assert isinstance(policy, ReactiveAgents)
    states = [policy.initial(start)]
    states[0].progress[0] -= late
    x0, y0, yaw0 = policy.paths.at(np.array([0]), states[0].progress[:1])
    states[0].x[0], states[0].y[0], states[0].yaw[0] = x0[0], y0[0], yaw0[0]
    states += _rolled(policy, states[0], start, num_steps)
    x, y, yaw, speed = (np.array([getattr(s, name) for s in states]).T for name in ("x", "y", "yaw", "speed"))
    corners = box_corners(x, y, yaw, 4.5, 1.8)
    assert not any(boxes_overlap(corners[0], corners[k]).any() for k in range(1, 6))
    merged = int(np.argmax(y[0] > -1.0))
    assert speed[0, :merged].min() < 3.0  # it waited on the ramp ...
    assert x[3, merged] - 2.25 > x[0, merged] + 2.25 + 5.0  # ... and merged behind the car due first
    assert y[0, -1] > -0.1 and x[0, -1] > 200.0  # then drove on in the main lane
    assert speed[1:, :].min() > 5.0  # the stream brakes moderately at most


@pytest.mark.parametrize("fixture", ["highd", "sind"])
def test_reactive_traffic_around_a_planner_stays_near_its_log_without_collisions(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    scenario: Scenario = request.getfixturevalue(fixture)
    problem = scenario.planning_problems[0]
    record = simulate(scenario, problem.id, make_planner("constant-velocity"), "reactive")
    agents, steps = record.agents, record.steps
    tracks = scenario.tracks
    moved = np.hypot(agents.x - tracks.x[:, steps], agents.y - tracks.y[:, steps])[agents.valid]
    assert np.mean(moved < 0.01) > 0.75  # what the ego does not disturb stays where it was recorded
    vehicles = np.array([kind.is_vehicle for kind in agents.agent_type])
    boxes = _boxes(record)[vehicles]
    recorded = box_corners(
        tracks.x[:, steps],
        tracks.y[:, steps],
        tracks.yaw[:, steps],
        tracks.length[:, None],
        tracks.width[:, None],
    )[vehicles]
    simulated_contacts = boxes_overlap(boxes[:, None], boxes[None, :]).any(axis=2)
    recorded_contacts = boxes_overlap(recorded[:, None], recorded[None, :]).any(axis=2)
    np.fill_diagonal(simulated_contacts, False)
    assert not (simulated_contacts & ~recorded_contacts).any()  # no collision the recording does not have


def test_car_reaching_a_stop_sign_late_stops_there_then_goes() -> None:
    """A car recorded rolling through a stop sign at x = 150 m reaches it 30 m late (the recording is
    past it by then): it comes to a stop at the line, then drives on."""
    num_steps, start, late = 320, 40, 30.0
    graph = scenes.straight_road(num_lanes=1, length=400.0, segments=2)
    first = scenes.lane_id(0, 0)
    lanes = dict(graph.lanes)
    line = StopLine(start=(200.0, -1.75), end=(200.0, 1.75), traffic_sign_ids=(5,))
    lanes[first] = dataclasses.replace(lanes[first], stop_line=line)
    car = scenes.moving(2, 40.0, 0.0, 10.0, num_steps=num_steps)
    scenario = scenes.scenario(dataclasses.replace(graph, lanes=lanes), [car], None, num_steps=num_steps)
    scenario = dataclasses.replace(scenario, traffic_signs=(TrafficSign(5, 200.0, -3.0, (("206", ()),)),))
    policy = agent_policy(scenario, "reactive", map_index(scenario.lane_graph))
    assert isinstance(policy, ReactiveAgents) and len(policy.stops.mover) == 1
    states = [policy.initial(start)]
    states[0].progress[0] -= late
    states[0].x[0] -= late
    states += _rolled(policy, states[0], start, num_steps)
    front = np.array([s.x[0] for s in states]) + 2.25
    speed = np.array([s.speed[0] for s in states])
    at_line = (front > 198.0) & (front <= 200.0)
    assert at_line.any() and speed[at_line].min() < 0.3  # all but stopped at the line ...
    assert front[-1] > 230.0  # ... then went on
    assert speed[front <= 200.0].min() == speed[at_line].min()  # slowest there, not before


def test_route_is_matched_from_the_lanes_the_path_drove() -> None:
    """A path that drives east, then turns north at x = 50 m, matches the turning lane, not the
    straight one that also leaves there."""
    graph = LaneGraph(
        "junction",
        {
            1: scenes.lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2, 3)),
            2: scenes.lane_between(2, (50.0, 0.0), (100.0, 0.0), predecessors=(1,)),
            3: scenes.lane_between(3, (50.0, 0.0), (50.0, 50.0), predecessors=(1,)),
        },
    )
    east = np.column_stack([np.linspace(5.0, 50.0, 10), np.zeros(10)])
    north = np.column_stack([np.full(10, 50.0), np.linspace(5.0, 45.0, 10)])
    xy = np.concatenate([east, north])
    yaw = np.r_[np.zeros(10), np.full(10, np.pi / 2)]
    num_steps = len(xy)
    car = scenes.Agent(2, xy[:, 0], xy[:, 1], yaw=yaw, speed=np.full(num_steps, 5.0))
    scenario = scenes.scenario(graph, [car], None, num_steps=num_steps)
    policy = agent_policy(scenario, "reactive", map_index(graph))
    assert isinstance(policy, ReactiveAgents)
    assert policy.routes == ((1, 3),)


def _stopped_ego_ahead(num_lanes: int, others: list[scenes.Agent] | None = None) -> RunRecord:
    """A car (row 0) recorded at 10 m/s in lane 0 from x = 20 m through where the ego (not recorded)
    stands at x = 100 m; `others` join the traffic."""
    num_steps = 250
    graph = scenes.straight_road(num_lanes=num_lanes, length=500.0)
    car = scenes.moving(2, 20.0, 0.0, 10.0, num_steps=num_steps)
    ego = scenes.Ego(
        scenes.moving(scenes.EGO_ID, 100.0, 0.0, 0.0, num_steps=num_steps), recorded=False, goal=(495.0, 0.0)
    )
    scenario = scenes.scenario(graph, [car, *(others or [])], ego, num_steps=num_steps)
    standing = Scripted(np.full(num_steps, 100.0), np.zeros(num_steps))
    return simulate(scenario, scenes.EGO_ID, standing, "reactive")


def test_car_changes_lanes_around_a_stopped_vehicle_and_back() -> None:
    record = _stopped_ego_ahead(2)
    assert not _ego_hits(record)
    x, y = record.agents.x[0], record.agents.y[0]
    assert y.max() > scenes.LANE_WIDTH - 0.2 and y.max() < scenes.LANE_WIDTH + 0.2  # into the left lane
    beside = np.abs(x - 100.0) < 5.0
    assert beside.any() and (y[beside] > scenes.LANE_WIDTH - 0.5).all()  # passes the ego there
    assert abs(y[-1]) < 0.1 and x[-1] > 150.0  # and returns to its recorded lane
    assert np.abs(np.diff(y) / scenes.DT).max() <= ReactiveParams().max_lateral_speed + 1e-9  # smoothly
    # with one lane it waits behind the ego instead
    alone = _stopped_ego_ahead(1)
    assert (
        not _ego_hits(alone) and np.abs(alone.agents.y[0]).max() < 1e-9 and alone.agents.speed[0, -1] < 0.05
    )


def test_lane_change_waits_for_a_safe_gap() -> None:
    """A car in the left lane alongside keeps the held-up car in its lane until it has passed."""
    alongside = scenes.moving(3, 30.0, scenes.LANE_WIDTH, 8.0, num_steps=250)
    record = _stopped_ego_ahead(2, [alongside])
    assert not _ego_hits(record) and not _agents_collide(record)
    x, y = record.agents.x, record.agents.y
    moving_over = np.flatnonzero(y[0] > 0.5)
    assert len(moving_over) and x[1, moving_over[0]] - 2.25 > x[0, moving_over[0]] + 2.25  # after it passed


def _changing_lanes(record: RunRecord) -> tuple[np.ndarray, ...]:
    """(x, y, yaw, speed, yaw rate) of agent row 0 where it is off its recorded lane's centre (y = 0)."""
    agents = record.agents
    aside = agents.valid[0] & (np.abs(agents.y[0]) > 1e-9)
    return tuple(
        values[0, aside] for values in (agents.x, agents.y, agents.yaw, agents.speed, agents.yaw_rate)
    )


def test_lane_change_is_driven_by_the_bicycle_within_its_limits() -> None:
    """Around a stopped vehicle, with its lane blocked for 100 m: the heading turns smoothly with the
    motion (yaw rate, lateral acceleration and curvature bounded, no jumps), the car settles centred
    in the target lane, and after returning, centred in its own."""
    blocked = [scenes.moving(10 + k, 110.0 + 10.0 * k, 0.0, 0.0, num_steps=250) for k in range(10)]
    record = _stopped_ego_ahead(2, blocked)
    assert not _ego_hits(record) and not _agents_collide(record)
    x, y, yaw, speed, yaw_rate = _changing_lanes(record)
    vehicle = VehicleParams()
    moving = speed > 0.5
    assert moving.sum() > 50
    curvature = np.abs(yaw_rate[moving]) / speed[moving]
    assert curvature.max() <= vehicle.max_curvature  # within the bicycle's steering limit
    assert curvature.max() <= ReactiveParams().max_lateral_bend * 1.5  # and near the planned bend
    assert np.abs(yaw_rate).max() < 0.5  # [rad/s]
    assert np.abs(speed * yaw_rate).max() < 2.0 * ReactiveParams().max_lateral_accel  # [m/s2]
    assert np.abs(np.diff(yaw_rate) / scenes.DT).max() < 1.0  # [rad/s2] the heading turns smoothly
    heading = np.arctan2(np.diff(y), np.diff(x))
    assert np.abs(heading - yaw[1:])[moving[1:]].max() < 0.05  # it moves where it points
    passing = (x > 150.0) & (x < 190.0)
    assert passing.any() and np.abs(y[passing] - scenes.LANE_WIDTH).max() < 0.02  # centred in the target lane
    assert np.abs(yaw[passing]).max() < 0.005
    agents = record.agents
    assert agents.x[0, -1] > 230.0 and abs(agents.y[0, -1]) < 0.05  # back to its recorded lane


def test_lane_change_aborts_when_its_gap_closes_and_repeats_exactly() -> None:
    """A car that appears alongside in the target lane just after the change began sends the
    changing car back to its lane, without touching anyone; the same scene gives the same run."""
    free = _stopped_ego_ahead(2)
    began = int(np.flatnonzero(np.abs(free.agents.y[0]) > 1e-6)[0])
    appear = began + 3
    start, speed = float(free.agents.x[0, appear]), float(free.agents.speed[0, appear])
    beside = scenes.moving(3, start - speed * appear * scenes.DT, scenes.LANE_WIDTH, speed, num_steps=250)
    beside.x[:appear] = np.nan
    runs = [_stopped_ego_ahead(2, [beside]) for _ in range(2)]
    record = runs[0]
    assert not _ego_hits(record) and not _agents_collide(record)
    y, x = record.agents.y[0], record.agents.x[0]
    while_alongside = np.abs(record.agents.x[1] - x) < 6.0
    early = np.arange(len(y)) < appear + 20
    assert y[early].max() < 0.5 * scenes.LANE_WIDTH  # the change stopped short of the gap ...
    back = np.flatnonzero(early & while_alongside)[-1]
    assert y[back] < y[early].max()  # ... and turned back to the recorded lane
    assert abs(y[-1]) < 0.02 or y[-1] > scenes.LANE_WIDTH - 0.2  # settled in a lane in the end
    for field in ("x", "y", "yaw", "speed"):
        assert np.array_equal(getattr(runs[0].agents, field), getattr(runs[1].agents, field), equal_nan=True)
