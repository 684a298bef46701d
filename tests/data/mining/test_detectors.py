"""Each detector on tiny built scenes: one where the finding is there, one near miss where it is not."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import (
    EGO_ID,
    LANE_WIDTH,
    Agent,
    Ego,
    braking,
    changing_lanes,
    lane_between,
    lane_id,
    moving,
    scenario,
    straight_road,
)

from drivestack.core.map import LaneGraph, Neighbour
from drivestack.core.scenario import AgentType, LightColor, TrafficLight
from drivestack.data.mining import REGISTRY, Scene
from drivestack.data.tags import Tag

ROAD = straight_road(num_lanes=2)


def found(name: str, agents: list[Agent], ego: Ego | None = None, **scene: object) -> list[Tag]:
    """The tags detector `name` finds in a scene on ROAD (or `graph=`) with `agents` and `ego`."""
    graph = scene.pop("graph", ROAD)
    built = scenario(graph, agents, ego if ego is not None else Ego(moving(0, 10.0, 0.0, 15.0)), **scene)  # type: ignore[arg-type]
    return REGISTRY[name].detect(Scene(built))


def agents_of(tags: list[Tag]) -> set[int]:
    """Agent ids named by `tags`."""
    return {tag.agent_id for tag in tags}


# --- hard_braking -------------------------------------------------------------------------------


def test_hard_braking_finds_a_vehicle_braking_at_5_mps2() -> None:
    tags = found("hard_braking", [braking(10, 30.0, LANE_WIDTH, 20.0, 5.0)])
    assert agents_of(tags) == {10}
    assert tags[0].value == pytest.approx(5.0, abs=0.3)


def test_hard_braking_ignores_2_mps2_and_noisy_constant_speed() -> None:
    noisy = moving(11, 30.0, 0.0, 20.0)
    noisy.speed = 20.0 + np.random.default_rng(0).normal(0.0, 0.2, 50)  # 0.2 m/s sensor noise
    assert found("hard_braking", [braking(10, 30.0, LANE_WIDTH, 20.0, 2.0), noisy]) == []


def test_hard_braking_ignores_speed_dips_of_tracking_artefacts() -> None:
    # a tracking artefact: the speed drops from 12 to 4 m/s and back within 1.2 s, jittering meanwhile
    glitch = moving(10, 30.0, 0.0, 12.0)
    t = np.arange(50) * 0.1
    glitch.speed = (
        12.0 - 8.0 * np.exp(-(((t - 2.5) / 0.35) ** 2)) + 1.5 * np.sin(t * 20.0) * (np.abs(t - 2.5) < 1.0)
    )
    snap_back = moving(12, 60.0, 0.0, 12.0)  # a smooth dip that regains 7 m/s within a second
    snap_back.speed = 12.0 - 7.0 * np.exp(-(((t - 2.5) / 0.5) ** 2))
    real = braking(11, 30.0, LANE_WIDTH, 12.0, 5.0)
    assert agents_of(found("hard_braking", [glitch, snap_back, real])) == {11}


def _along(
    agent_id: int, speeds: np.ndarray, y0: float, seconds: float, recorded: np.ndarray | None = None
) -> Agent:
    """An agent along +x at y0 whose positions follow `speeds` (steps,) [m/s], one step every `seconds`
    [s]; its recorded speed field is `recorded` (default: the same speeds)."""
    x = np.concatenate([[0.0], np.cumsum(0.5 * (speeds[1:] + speeds[:-1]) * seconds)])
    steps = len(speeds)
    return Agent(
        agent_id, x, np.full(steps, y0), yaw=np.zeros(steps), speed=speeds if recorded is None else recorded
    )


def test_hard_braking_on_a_coarse_grid_needs_positions_that_agree() -> None:
    # SinD moves its agents every 0.5 s (declared 0.1 s): 1.5 s is 3 samples there, which a quadratic
    # reproduces exactly; a speed field that drops to 0 while the positions move on is no brake
    cruise = 4.0 + 0.02 * np.arange(50)
    field = cruise.copy()
    field[25:] = -0.3
    field[25:28] = [4.3, 2.6, 0.3]
    stop = np.maximum(15.0 - 5.0 * np.clip(np.arange(50) * 0.5 - 5.0, 0.0, None), 0.0)  # 5 m/s2 from 15 m/s
    agents = [_along(10, cruise, 0.0, 0.5, recorded=field), _along(11, stop, LANE_WIDTH, 0.5)]
    tags = found("hard_braking", agents, graph=straight_road(num_lanes=2, length=2000.0))
    assert agents_of(tags) == {11}
    assert tags[0].value == pytest.approx(5.0, abs=0.3) and tags[0].step_end > tags[0].step_start


def test_hard_braking_not_beyond_what_tyres_can_do() -> None:
    # NGSIM boxes that stall and jump: 14 -> 5 m/s within 0.9 s (up to 16 m/s2) after accelerating,
    # smoothed to a believable 8 m/s2; the same drop over 2 s (up to 7 m/s2) is a brake
    t = np.arange(60) * 0.1

    def dropping(agent_id: int, y0: float, seconds: float) -> Agent:
        ramp = np.clip((t - 2.0) / seconds, 0.0, 1.0)
        return _along(agent_id, 14.0 - 4.5 * (1.0 - np.cos(np.pi * ramp)), y0, 0.1)

    agents = [dropping(10, 0.0, 0.9), dropping(11, LANE_WIDTH, 2.0)]
    assert agents_of(found("hard_braking", agents, num_steps=60)) == {11}


def test_hard_braking_finds_the_ego_itself() -> None:
    tags = found("hard_braking", [], Ego(braking(0, 0.0, 0.0, 20.0, 4.0)))
    assert agents_of(tags) == {EGO_ID}


# --- high_speed ----------------------------------------------------------------------------------


def test_high_speed_finds_a_vehicle_at_36_mps_and_not_one_at_32() -> None:
    tags = found("high_speed", [moving(10, 0.0, LANE_WIDTH, 36.0), moving(11, 0.0, 0.0, 32.0)])
    assert agents_of(tags) == {10}
    assert tags[0].value == pytest.approx(36.0)


# --- dense_traffic -------------------------------------------------------------------------------


def _crowd(count: int) -> list[Agent]:
    """`count` vehicles within 25 m of the ego (which starts at x = 10 and drives at 15 m/s)."""
    return [moving(10 + i, 10.0 + 5.0 * (i // 2) - 12.0, LANE_WIDTH * (i % 2), 15.0) for i in range(count)]


def test_dense_traffic_with_ten_vehicles_around_the_ego() -> None:
    tags = found("dense_traffic", _crowd(10))
    assert [(tag.agent_id, tag.step_start, tag.step_end, tag.value) for tag in tags] == [
        (EGO_ID, 0, 49, 10.0)
    ]


def test_dense_traffic_not_with_nine() -> None:
    assert found("dense_traffic", _crowd(9)) == []


# --- low_ttc -------------------------------------------------------------------------------------


def test_low_ttc_for_a_standing_vehicle_ahead() -> None:
    # ego at x = 10 driving 15 m/s; a standing car whose rear is 22.5 m ahead of the ego's front:
    # the boxes touch after 1.5 s.
    tags = found("low_ttc", [moving(10, 10.0 + 22.5 + 4.5, 0.0, 0.0)], num_steps=5)
    assert [(tag.agent_id, tag.step_start, tag.step_end) for tag in tags] == [(10, 0, 4)]
    assert tags[0].value == pytest.approx(1.1)  # the smallest TTC, at the last step


def test_low_ttc_not_for_a_vehicle_beyond_two_seconds_behind_or_alongside() -> None:
    agents = [
        moving(10, 10.0 + 33.0 + 4.5, 0.0, 0.0, num_steps=1),  # touches after 2.2 s: above threshold
        moving(11, -10.0, 0.0, 25.0, num_steps=1),  # behind and faster: nuPlan ignores it
        moving(12, 10.0, LANE_WIDTH, 15.0, num_steps=1),  # alongside in the next lane
    ]
    assert found("low_ttc", agents, num_steps=1) == []


def test_low_ttc_not_for_a_vehicle_the_recorded_ego_drives_through() -> None:
    # MONA's ego drives into a truck ahead (a vehicle tracked twice, or a box too long): the boxes
    # come to overlap 2.4 s later at similar speeds, a tracking artefact; a truck that pulls out to
    # the next lane first was a real near miss
    ego = Ego(moving(0, 10.0, 0.0, 6.0))
    ghost = moving(10, 10.0 + 9.4, 0.0, 4.5, length=7.2, width=2.4)
    leaving = changing_lanes(11, 10.0 + 9.4, 4.5, 0.0, LANE_WIDTH, start=8)
    leaving.length, leaving.width = 7.2, 2.4
    assert found("low_ttc", [ghost], ego) == []
    assert agents_of(found("low_ttc", [leaving], ego)) == {11}


def test_low_ttc_not_for_a_parked_car_beside_the_path_of_a_turning_ego() -> None:
    # inD: a turning ego's straight-line projection sweeps over a car parked off the road, which the
    # human drove past; a car creeping out of the same spot counts
    yaw = -0.3
    ego = Ego(moving(0, 10.0, 0.0, 10.0 * np.cos(yaw), 10.0 * np.sin(yaw), num_steps=5))
    spot = (10.0 + 13.0 * np.cos(yaw), 13.0 * np.sin(yaw))  # 13 m along the ego's heading, off the road
    parked = moving(12, *spot, 0.0, num_steps=5)
    parked.yaw = np.full(5, yaw)
    creeping = moving(13, *spot, 0.8 * np.cos(yaw), 0.8 * np.sin(yaw), num_steps=5)
    assert found("low_ttc", [parked], ego, num_steps=5) == []
    assert agents_of(found("low_ttc", [creeping], ego, num_steps=5)) == {13}


def test_time_to_collision_matches_the_propagation_grid() -> None:
    from drivestack.data.mining.interaction import LowTtcConfig, time_to_collision

    built = scenario(
        ROAD,
        [moving(10, 10.0 + 22.5 + 4.5, 0.0, 0.0, num_steps=1)],
        Ego(moving(0, 10.0, 0.0, 15.0)),
        num_steps=1,
    )
    scene = Scene(built)
    ttc = time_to_collision(scene, scene.egos[0], LowTtcConfig())
    # front gap 22.5 - (4.508 - 4.5) / 2 = 22.496 m at 15 m/s: contact within (1.4, 1.5] s
    assert ttc[0, 0] == pytest.approx(1.5)


# --- lane_change ---------------------------------------------------------------------------------


def test_lane_change_to_the_left_and_back_right() -> None:
    left = changing_lanes(10, 30.0, 15.0, 0.0, LANE_WIDTH, start=5)
    right = changing_lanes(11, 60.0, 15.0, LANE_WIDTH, 0.0, start=5)
    tags = found("lane_change", [left, right])
    assert {(tag.agent_id, tag.value) for tag in tags} == {(10, 1.0), (11, -1.0)}
    assert all(tag.step_start + 1 == tag.step_end for tag in tags)


def test_lane_change_not_for_weaving_or_a_brief_touch_of_the_next_lane() -> None:
    t = np.arange(50) * 0.1
    weaving = Agent(10, 30.0 + 15.0 * t, 1.2 * np.sin(t * 2.0))  # stays within its lane
    touch = Agent(11, 60.0 + 15.0 * t, np.where((t > 2.0) & (t < 2.3), LANE_WIDTH / 2 + 0.3, 0.5))
    assert found("lane_change", [weaving, touch]) == []


EXIT = LaneGraph(
    "exit",
    {
        1: lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2,)),
        2: lane_between(
            2, (50.0, 0.0), (80.0, 0.0), predecessors=(1,), successors=(3,), lane_types=("intersection",)
        ),
        3: lane_between(3, (80.0, 0.0), (300.0, 0.0), predecessors=(2,), left_neighbour=Neighbour(4, True)),
        4: lane_between(4, (80.0, LANE_WIDTH), (300.0, LANE_WIDTH), right_neighbour=Neighbour(3, True)),
    },
)
"""An intersection lane (2) leading into exit lane 3, beside which exit lane 4 runs (x from 80 m)."""


def test_lane_change_not_from_an_intersection_lane_into_an_exit_lane() -> None:
    # leaving turn lane 2 straight into lane 4, the neighbour of its successor, is choosing an exit
    # lane; the same move 1 s after the junction, from lane 3, is a lane change
    ego = Ego(moving(0, 0.0, -40.0, 15.0, num_steps=80))
    exiting = changing_lanes(10, 20.0, 15.0, 0.0, LANE_WIDTH, start=33, num_steps=80)
    after = changing_lanes(11, 20.0, 15.0, 0.0, LANE_WIDTH, start=42, num_steps=80)
    assert found("lane_change", [exiting], ego, graph=EXIT, num_steps=80) == []
    assert agents_of(found("lane_change", [after], ego, graph=EXIT, num_steps=80)) == {11}


def test_lane_change_not_while_finishing_a_turn() -> None:
    # SinD: a vehicle out of a turn drifts across the exit lanes, heading still 25 degrees off them
    t = np.arange(50) * 0.1
    turning = changing_lanes(10, 30.0, 15.0, 0.0, LANE_WIDTH, start=10)
    turning.yaw = np.deg2rad(25.0) * np.clip((3.0 - t) / 2.0, 0.0, 1.0)
    assert found("lane_change", [turning]) == []


def test_lane_change_of_the_ego() -> None:
    tags = found("lane_change", [], Ego(changing_lanes(0, 10.0, 15.0, 0.0, LANE_WIDTH, start=10)))
    assert [(tag.agent_id, tag.value) for tag in tags] == [(EGO_ID, 1.0)]


# --- cut_in --------------------------------------------------------------------------------------


def test_cut_in_from_the_next_lane_close_ahead() -> None:
    # ego at x = 10 in lane 0 at 15 m/s; a car 20 m ahead in lane 1 moves into lane 0
    tags = found("cut_in", [changing_lanes(10, 30.0, 15.0, LANE_WIDTH, 0.0, start=10)])
    assert agents_of(tags) == {10}
    assert tags[0].value == pytest.approx(20.0 - 4.504, abs=0.01)


def test_cut_in_not_when_far_ahead_or_into_the_other_lane() -> None:
    far = changing_lanes(10, 70.0, 15.0, LANE_WIDTH, 0.0, start=10)  # 60 m ahead: beyond the 30 m gap
    away = changing_lanes(11, 30.0, 15.0, 0.0, LANE_WIDTH, start=10)  # leaves the ego's lane
    assert found("cut_in", [far, away]) == []


# --- stopped_vehicle_in_lane -----------------------------------------------------------------------


def test_stopped_vehicle_in_the_ego_lane_ahead() -> None:
    tags = found("stopped_vehicle_in_lane", [moving(10, 120.0, 0.0, 0.0)], Ego(moving(0, 10.0, 0.0, 5.0)))
    assert agents_of(tags) == {10}
    assert (tags[0].step_start, tags[0].step_end) == (11, 49)  # from when the gap is within 100 m
    assert tags[0].value == pytest.approx(120.0 - 10.0 - 4.504 - 5.0 * 4.9, abs=0.01)  # gap at the end


def test_stopped_vehicle_not_in_the_next_lane_or_when_stopped_briefly() -> None:
    beside = moving(10, 120.0, LANE_WIDTH, 0.0)
    brief = braking(11, 60.0, 0.0, 3.0, 3.0, num_steps=25)  # stands still for 1.5 s only, then leaves
    assert found("stopped_vehicle_in_lane", [beside, brief], Ego(moving(0, 10.0, 0.0, 5.0))) == []


def test_stopped_vehicle_with_noise_headings_is_one_stop() -> None:
    # highD records headings of 0, +-90 and 180 degrees at standstill: the stop stays one finding
    stopping = braking(10, 60.0, 0.0, 5.0, 5.0)  # along +x, standing from 1 s on
    stopping.speed = np.gradient(stopping.x, 0.1)
    noise = np.array([np.pi / 2, -np.pi / 2, np.pi, 0.0, -np.pi / 2])[np.arange(50) % 5]
    stopping.yaw = np.where(stopping.speed < 0.01, noise, 0.0)
    tags = found("stopped_vehicle_in_lane", [stopping], Ego(moving(0, 10.0, 0.0, 5.0)))
    assert [(tag.agent_id, tag.step_start, tag.step_end) for tag in tags] == [(10, 10, 49)]


def test_stopped_vehicle_not_for_a_parked_ego() -> None:
    # inD cuts some planning problems from parked cars: standing behind a standing car is no event
    standing = moving(10, 30.0, 0.0, 0.0)
    assert found("stopped_vehicle_in_lane", [standing], Ego(moving(0, 10.0, 0.0, 0.0))) == []
    assert agents_of(found("stopped_vehicle_in_lane", [standing], Ego(moving(0, 10.0, 0.0, 2.0)))) == {10}


# --- vulnerable_road_user ---------------------------------------------------------------------------


def test_pedestrian_within_30_m_of_the_ego_path() -> None:
    standing = moving(10, 60.0, 25.0, 0.0, kind=AgentType.PEDESTRIAN, length=0.5, width=0.5)
    tags = found("vulnerable_road_user", [standing])  # the ego passes x = 60 after 3.3 s
    assert [(tag.agent_id, tag.step_start, tag.value) for tag in tags] == [
        (10, 0, pytest.approx(25.0, abs=0.01))
    ]
    assert tags[0].step_end == 44  # then the ego (x = 77.5 m) and all its path ahead are over 30 m away


def test_pedestrian_at_35_m_or_behind_the_ego_is_no_finding() -> None:
    far = moving(10, 100.0, 35.0, 0.0, kind=AgentType.PEDESTRIAN)
    behind = moving(11, -20.0, 10.0, 0.0, kind=AgentType.BICYCLE)  # 41 m behind the start, ego moves away
    tags = found("vulnerable_road_user", [far, behind], Ego(moving(0, 20.0, 0.0, 15.0)))
    assert tags == []


# --- red_light_ahead -----------------------------------------------------------------------------


def _light(color: LightColor) -> TrafficLight:
    return TrafficLight(id=900, x=100.0, y=-2.0, cycle=((color, 1000),))


def _lit_road() -> LaneGraph:
    graph = straight_road(num_lanes=1, segments=2)  # segments of 100 m; the light at the end of the first
    first = graph.lanes[lane_id(0, 0)]
    lanes = dict(graph.lanes)
    lanes[first.id] = type(first)(**{**first.__dict__, "traffic_light_ids": (900,)})
    return LaneGraph("lit", lanes)


def test_red_light_ahead_within_50_m() -> None:
    tags = found(
        "red_light_ahead",
        [],
        Ego(moving(0, 60.0, 0.0, 5.0)),
        graph=_lit_road(),
        lights=(_light(LightColor.RED),),
    )
    assert [(tag.agent_id, tag.step_start, tag.value) for tag in tags] == [
        (EGO_ID, 0, pytest.approx(40.0 - 5.0 * 4.9))
    ]


def test_no_red_light_when_green_or_farther_than_50_m() -> None:
    green = found(
        "red_light_ahead",
        [],
        Ego(moving(0, 60.0, 0.0, 5.0)),
        graph=_lit_road(),
        lights=(_light(LightColor.GREEN),),
    )
    far = found(
        "red_light_ahead",
        [],
        Ego(moving(0, 20.0, 0.0, 5.0)),
        graph=_lit_road(),
        lights=(_light(LightColor.RED),),
    )
    assert green == []
    # 80 m away at first: tagged only from the step the light comes within 50 m (x >= 50 after 6 s)
    assert far == []


# --- merge / intersection --------------------------------------------------------------------------

JUNCTION = LaneGraph(
    "junction",
    {
        1: lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(3,)),
        2: lane_between(2, (0.0, -30.0), (100.0, 0.0), successors=(3,)),
        3: lane_between(3, (100.0, 0.0), (300.0, 0.0), predecessors=(1, 2)),
        4: lane_between(4, (0.0, 40.0), (300.0, 40.0)),
    },
)


def test_merge_on_the_ego_path() -> None:
    tags = found("merge", [], Ego(moving(0, 10.0, 0.0, 15.0)), graph=JUNCTION)
    assert [(tag.agent_id, tag.step_start, tag.step_end, tag.value) for tag in tags] == [(EGO_ID, 0, 49, 0.0)]


def test_no_merge_on_a_separate_road() -> None:
    assert found("merge", [], Ego(moving(0, 10.0, 40.0, 15.0)), graph=JUNCTION) == []


def test_intersection_ahead_and_inside() -> None:
    graph = LaneGraph(
        "crossing",
        {
            1: lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(2,)),
            2: lane_between(
                2,
                (100.0, 0.0),
                (120.0, 0.0),
                predecessors=(1,),
                successors=(3,),
                lane_types=("intersection",),
            ),
            3: lane_between(3, (120.0, 0.0), (300.0, 0.0), predecessors=(2,)),
        },
    )
    tags = found("intersection", [], Ego(moving(0, 60.0, 0.0, 10.0)), graph=graph)
    # the intersection starts 40 m ahead: tagged from 30 m before it (step 10) until the ego leaves it
    assert [(tag.step_start, tag.step_end, tag.value) for tag in tags] == [(10, 49, 0.0)]
    before = found("intersection", [], Ego(moving(0, 10.0, 0.0, 10.0)), graph=graph)
    assert before == []  # still 40 m short of the 30 m approach zone at the end


def test_intersection_on_unmarked_maps_needs_a_real_crossing() -> None:
    # exiD: two motorway lanes drawn too wide overlap by 11 m2 at 45 degrees: no junction; two lanes
    # each way crossing (49 m2) are one
    sliver = LaneGraph(
        "sliver",
        {1: lane_between(1, (0.0, 0.0), (300.0, 0.0)), 2: lane_between(2, (60.0, -10.0), (70.0, 0.5))},
    )
    crossing = LaneGraph(
        "crossing",
        {
            1: lane_between(1, (0.0, 0.0), (300.0, 0.0)),
            2: lane_between(2, (0.0, LANE_WIDTH), (300.0, LANE_WIDTH)),
            3: lane_between(3, (100.0, -50.0), (100.0, 50.0)),
            4: lane_between(4, (100.0 + LANE_WIDTH, 50.0), (100.0 + LANE_WIDTH, -50.0)),
        },
    )
    ego = Ego(moving(0, 40.0, 0.0, 10.0))
    assert found("intersection", [], ego, graph=sliver) == []
    tags = found("intersection", [], ego, graph=crossing)
    assert [(tag.step_start, tag.step_end) for tag in tags] == [(29, 49)]  # from 30 m before the crossing


def _gapped(gap: float) -> LaneGraph:
    """Two marked intersection lanes (2, 4) joined by an unmarked one (3) `gap` [m] long."""
    typed = ("intersection",)
    return LaneGraph(
        "gapped",
        {
            1: lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(2,)),
            2: lane_between(2, (100.0, 0.0), (120.0, 0.0), predecessors=(1,), lane_types=typed),
            3: lane_between(3, (120.0, 0.0), (120.0 + gap, 0.0)),
            4: lane_between(4, (120.0 + gap, 0.0), (140.0 + gap, 0.0), lane_types=typed),
            5: lane_between(5, (140.0 + gap, 0.0), (400.0, 0.0)),
        },
    )


def test_intersection_passage_across_an_unmarked_lane_is_one() -> None:
    # SinD: a turn lane the map does not mark splits a passage for 0.6 s; a 1.5 s break is two
    ego = Ego(moving(0, 80.0, 0.0, 10.0, num_steps=80))
    short = found("intersection", [], ego, graph=_gapped(6.0), num_steps=80)
    assert [(tag.step_start, tag.step_end) for tag in short] == [(0, 66)]
    assert len(found("intersection", [], ego, graph=_gapped(15.0), num_steps=80)) == 2


# --- an ego known only at its initial state ----------------------------------------------------------


def test_ego_without_recording_is_judged_at_its_initial_step_only() -> None:
    ego = Ego(moving(0, 10.0, 0.0, 15.0), recorded=False)
    assert len(found("dense_traffic", _crowd(12), ego)) == 1  # the one known step is all there is
    assert found("dense_traffic", _crowd(9), ego) == []
    tags = found("low_ttc", [moving(10, 10.0 + 22.5 + 4.5, 0.0, 0.0)], ego)
    assert [(tag.step_start, tag.step_end) for tag in tags] == [(0, 0)]
    # a car standing ahead through the initial step is found there; one that stops later is not
    standing = found("stopped_vehicle_in_lane", [moving(10, 80.0, 0.0, 0.0)], ego)
    assert [(tag.step_start, tag.step_end) for tag in standing] == [(0, 0)]
    assert found("stopped_vehicle_in_lane", [braking(10, 40.0, 0.0, 6.0, 6.0)], ego) == []


def test_an_agent_in_the_ego_place_is_its_recorded_drive_not_traffic() -> None:
    # MONA and inD build planning problems from recorded vehicles and keep them among the agents
    ego = Ego(moving(0, 10.0, 0.0, 15.0), recorded=False)
    twin = moving(50, 10.0, 0.0, 15.0)
    scene = Scene(scenario(ROAD, [twin, moving(51, 80.0, 0.0, 0.0)], ego))
    (path,) = scene.egos
    assert path.source == "agent" and path.valid.all() and scene.scenario.tracks.ids[path.twin] == 50
    tags = REGISTRY["low_ttc"].detect(scene)
    assert agents_of(tags) == {51} and tags[0].step_start > 0  # found along the drive, not just at step 0
    assert found("dense_traffic", [*_crowd(9), moving(50, 10.0, 0.0, 15.0)], ego) == []  # 9 + the ego itself


def test_a_twin_entering_later_is_found_by_its_first_pose() -> None:
    # inD: the problem starts at step 0 at the pose where its vehicle enters the recording, at step 10
    late = moving(50, 10.0, 0.0, 15.0, num_steps=40)
    late.x, late.y = np.r_[np.full(10, np.nan), late.x[:30] - 0.0], np.r_[np.full(10, np.nan), late.y[:30]]
    late.yaw, late.speed = np.r_[np.zeros(10), late.yaw[:30]], np.r_[np.zeros(10), late.speed[:30]]
    scene = Scene(scenario(ROAD, [late], Ego(moving(0, 10.0, 0.0, 15.0), recorded=False)))
    (path,) = scene.egos
    assert path.source == "agent" and np.flatnonzero(path.valid)[0] == 10


# --- several planning problems ---------------------------------------------------------------------


def test_tags_name_the_planning_problem_they_are_relative_to() -> None:
    # MONA: problems cut from recorded vehicles; a car standing ahead of two egos is tagged once per
    # ego (ego 1 also closes on ego 2), a vehicle braking is tagged once, for every ego alike
    import dataclasses

    from drivestack.core.scenario import EgoState, PlanningProblem

    standing = moving(51, 60.0, 0.0, 0.0)
    twin = moving(50, 30.0, 0.0, 12.0)
    built = scenario(
        ROAD, [twin, standing, braking(52, 20.0, LANE_WIDTH, 20.0, 5.0)], Ego(moving(0, 10.0, 0.0, 15.0))
    )
    second = PlanningProblem(2, EgoState(0, 30.0, 0.0, 0.0, 12.0), built.planning_problems[0].goal)
    scene = Scene(dataclasses.replace(built, planning_problems=(*built.planning_problems, second)))
    ttc = REGISTRY["low_ttc"].detect(scene)
    assert {(tag.agent_id, tag.planning_problem_id) for tag in ttc} == {(51, EGO_ID), (51, 2), (50, EGO_ID)}
    braked = REGISTRY["hard_braking"].detect(scene)
    assert [(tag.agent_id, tag.planning_problem_id) for tag in braked] == [(52, -1)]
    own = REGISTRY["dense_traffic"].detect(scene) + REGISTRY["lane_change"].detect(
        Scene(scenario(ROAD, [], Ego(changing_lanes(0, 10.0, 15.0, 0.0, LANE_WIDTH, start=10))))
    )
    assert all(tag.planning_problem_id == tag.agent_id for tag in own)
