"""Hand-built scenes with known answers: collisions and fault, drivable area, direction, comfort, progress."""

from __future__ import annotations

import numpy as np
import pytest
from metric_scenes import ONCOMING, context, cruise, ego, motion, road, run
from scenes import LANE_WIDTH, Agent, lane_between, moving, straight_road

from drivestack.core.errors import InputError
from drivestack.core.map import LaneGraph
from drivestack.core.record import EgoStates
from drivestack.core.scenario import AgentType, Shape, ShapeKind, StaticObstacle
from drivestack.metrics import closed_loop_score
from drivestack.metrics.collisions import CollisionKind

STEPS = 60


def parked(agent_id: int, x: float, y: float = 0.0, kind: AgentType = AgentType.CAR) -> Agent:
    """An agent standing at (x, y) [m] for the whole run."""
    return Agent(
        agent_id, np.full(STEPS, x), np.full(STEPS, y), kind=kind, yaw=np.zeros(STEPS), speed=np.zeros(STEPS)
    )


def test_clean_run_scores_one() -> None:
    metrics = run(cruise())
    assert metrics.score == 1.0
    assert not metrics.any_collision and metrics.min_ttc == np.inf


def test_rear_ending_a_stopped_car_is_at_fault() -> None:
    metrics = run(cruise(speed=10.0), parked(2, 40.0))
    assert metrics.any_collision and metrics.at_fault_collision
    assert metrics.no_at_fault_collision == 0.0
    assert metrics.score == 0.0
    assert metrics.min_ttc == 0.0


def test_rear_ending_a_slower_car_is_a_front_collision_at_fault() -> None:
    ctx = context(cruise(speed=12.0), moving(2, 30.0, 0.0, 4.0, num_steps=STEPS))
    found = ctx.collisions
    assert found.kinds.tolist() == [CollisionKind.ACTIVE_FRONT]
    assert found.at_fault.tolist() == [True]


def test_being_rear_ended_is_not_at_fault() -> None:
    metrics = run(cruise(x0=30.0, speed=5.0), moving(2, 10.0, 0.0, 15.0, num_steps=STEPS))
    assert metrics.any_collision
    assert not metrics.at_fault_collision
    assert metrics.no_at_fault_collision == 1.0


def test_side_swipe_while_in_lane_is_not_at_fault_but_while_changing_lanes_is() -> None:
    graph = road(lanes=2)
    # a car alongside, 1 m behind, drifting from the left lane into the ego's left side
    drift = np.linspace(LANE_WIDTH, 1.5, STEPS)
    alongside = Agent(2, cruise(x0=9.0).x, drift, yaw=np.zeros(STEPS), speed=np.full(STEPS, 10.0))
    in_lane = run(cruise(), alongside, graph=graph)
    assert in_lane.any_collision and not in_lane.at_fault_collision
    # the ego moves over into the left lane, where the car holds its lane beside it
    x, v, a = motion(10.0, 10.0, STEPS)
    over = ego(x, np.linspace(0.0, LANE_WIDTH, STEPS), np.arctan2(LANE_WIDTH, x[-1] - x[0]), v, a)
    beside = Agent(2, x - 1.0, np.full(STEPS, LANE_WIDTH), yaw=np.zeros(STEPS), speed=np.full(STEPS, 10.0))
    changing = run(over, beside, graph=graph)
    assert changing.at_fault_collision


def test_collision_weights_by_category() -> None:
    cone = StaticObstacle(
        7, AgentType.CONSTRUCTION_ZONE, 40.0, 0.0, 0.0, Shape(ShapeKind.RECTANGLE, 1.0, 1.0)
    )
    object_hit = run(cruise(), statics=(cone,))
    assert object_hit.at_fault_collision and object_hit.no_at_fault_collision == 0.5
    two_cones = (cone, StaticObstacle(8, AgentType.CONSTRUCTION_ZONE, 60.0, 0.0, 0.0, cone.shape))
    assert run(cruise(), statics=two_cones).no_at_fault_collision == 0.0
    assert run(cruise(), parked(2, 40.0, kind=AgentType.PEDESTRIAN)).no_at_fault_collision == 0.0


def test_leaving_the_road_fails_drivable_area() -> None:
    x, v, a = motion(10.0, 10.0, STEPS)
    heading = np.arctan2(-4.0, x[-1] - x[0])
    metrics = run(ego(x, np.linspace(0.0, -4.0, STEPS), heading, v, a))
    assert metrics.drivable_area == 0.0 and metrics.score == 0.0
    # the front-right corner at the last step, below the road's right edge at y = -1.75 m
    corner = -4.0 + 4.508 / 2 * np.sin(heading) - 1.61 / 2 * np.cos(heading)
    assert metrics.max_outside_distance == pytest.approx(-LANE_WIDTH / 2 - corner)
    # brushing the edge by less than 0.3 m is tolerated
    assert run(cruise(y=-LANE_WIDTH / 2 - 0.2 + 1.61 / 2)).drivable_area == 1.0


def test_driving_against_traffic_fails_direction() -> None:
    x, v, a = motion(300.0, -10.0, STEPS)
    wrong_way = ego(x, 0.0, np.pi - 1e-9, np.abs(v), a)
    metrics = run(wrong_way)
    assert metrics.driving_direction == 0.0 and metrics.score == 0.0
    assert metrics.worst_lane_progress == pytest.approx(-11.0, abs=0.1)  # 1 s plus the current step at 10 m/s


def test_driving_in_the_oncoming_lane_fails_direction() -> None:
    metrics = run(cruise(y=-LANE_WIDTH), graph=road(oncoming=True))
    assert metrics.driving_direction == 0.0


def test_slow_backward_creep_halves_direction() -> None:
    x, v, a = motion(300.0, -3.0, STEPS)
    assert run(ego(x, 0.0, np.pi - 1e-9, np.abs(v), a)).driving_direction == 0.5
    x, v, a = motion(300.0, -1.0, STEPS)
    assert run(ego(x, 0.0, np.pi - 1e-9, np.abs(v), a)).driving_direction == 1.0


def test_harsh_brake_is_uncomfortable() -> None:
    assert run(cruise(speed=15.0, accel=-8.0)).comfort == 0.0
    assert run(cruise(speed=15.0, accel=-2.0)).comfort == 1.0


def test_progress_against_the_human() -> None:
    human = cruise(speed=10.0)
    half = run(cruise(speed=5.0), human=human)
    assert half.ego_progress == pytest.approx(0.5, abs=0.02)
    assert half.making_progress == 1.0
    standing = run(cruise(speed=0.0), human=human)
    assert standing.ego_progress == pytest.approx(2.0 / (human.x[-1] - human.x[0]), abs=0.01)
    assert standing.making_progress == 0.0 and standing.score == 0.0
    # a human who waits is matched by an ego who waits; backing up more than 2 m is no progress
    assert run(cruise(speed=0.0), human=cruise(speed=0.0)).ego_progress == 1.0
    backing = run(ego(10.0 - cruise(speed=1.0).x + 10.0, speed=np.full(STEPS, -1.0)), human=cruise(speed=0.0))
    assert backing.ego_progress == 0.0


def test_progress_is_compared_with_the_human_over_the_same_time() -> None:
    # a run that ends early (at its goal) is compared with how far the human got by then
    human = cruise(speed=10.0, steps=STEPS)
    assert run(cruise(speed=10.0, steps=STEPS // 2), human=human).ego_progress == pytest.approx(1.0)
    slower = run(cruise(speed=5.0, steps=STEPS // 2), human=human)
    assert slower.ego_progress == pytest.approx(0.5, abs=0.02)
    # a run that outlasts the human's drive is compared with all of it
    stopped = cruise(speed=10.0, steps=STEPS // 2)
    assert run(cruise(speed=5.0, steps=STEPS), human=stopped).ego_progress == pytest.approx(1.0)
    assert run(cruise(speed=2.5, steps=STEPS), human=stopped).ego_progress == pytest.approx(0.5, abs=0.02)


def test_gap_to_the_human() -> None:
    metrics = run(cruise(y=1.0), human=cruise())
    assert metrics.ade == pytest.approx(1.0) and metrics.fde == pytest.approx(1.0)
    assert np.isnan(run(cruise()).ade)


def test_speed_limit_compliance_follows_nuplan_formula() -> None:
    metrics = run(cruise(speed=12.0), graph=road(speed_limit=10.0))
    duration = (STEPS - 1) * 0.1
    assert metrics.speed_limit == pytest.approx(1.0 - 2.0 * 0.1 * STEPS / (2.23 * duration))
    assert run(cruise(speed=12.0), graph=road(speed_limit=None)).speed_limit == 1.0


def test_close_approach_without_collision_fails_ttc() -> None:
    # 20 m/s toward a car standing 16 m ahead of the start; the run ends before contact
    metrics = run(cruise(speed=20.0, steps=6), parked(2, 10.0 + 4.5 + 16.0))
    assert not metrics.any_collision
    assert metrics.min_ttc < 0.95 and metrics.ttc_within_bound == 0.0


def test_lane_segments_joined_by_successors_count_as_one_lane() -> None:
    graph = straight_road(num_lanes=1, length=400.0, segments=4)
    joined = LaneGraph("metric-segments", graph.lanes)
    ctx = context(cruise(x0=90.0), graph=joined)
    assert ctx.in_lane.all()
    assert run(cruise(x0=90.0), graph=joined).score == 1.0


@pytest.mark.parametrize(
    ("gate", "ep", "expected"),
    [
        ((1.0, 1.0, 1.0, 1.0), 1.0, 1.0),
        ((1.0, 1.0, 1.0, 1.0), 0.5, 13.5 / 16),
        ((0.5, 1.0, 1.0, 0.5), 1.0, 0.25),
    ],
)
def test_score_formula(gate: tuple[float, float, float, float], ep: float, expected: float) -> None:
    nc, dac, mp, ddc = gate
    assert closed_loop_score(nc, dac, mp, ddc, ep, 1.0, 1.0, 1.0) == pytest.approx(expected)
    assert closed_loop_score(nc, dac, 0.0, ddc, ep, 1.0, 1.0, 1.0) == 0.0
    assert closed_loop_score(1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0) == pytest.approx(5 / 16)


def test_oncoming_lane_is_drivable() -> None:
    assert run(cruise(y=-LANE_WIDTH), graph=road(oncoming=True)).drivable_area == 1.0
    assert ONCOMING in road(oncoming=True).lanes


def test_single_step_and_laneless_runs() -> None:
    single = run(EgoStates(*(np.array([value]) for value in (10.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0))))
    assert single.score == 1.0 and single.steps == 1
    laneless = run(cruise(), graph=LaneGraph("metric-empty", {}))
    assert laneless.drivable_area == 0.0 and laneless.max_outside_distance == np.inf
    assert laneless.driving_direction == 1.0 and laneless.speed_limit == 1.0


def test_cutting_across_overlapping_opposing_lanes_is_not_wrong_way() -> None:
    # two overlapping lanes both run along -x (a junction's opposing and crossing streams): the
    # ego crossing their area along +x is not assigned to them; one such lane alone would be
    opposing = {
        lane: lane_between(lane, (400.0, offset), (0.0, offset)) for lane, offset in ((901, 0.0), (902, 1.0))
    }
    assert run(cruise(), graph=LaneGraph("metric-junction", opposing)).driving_direction == 1.0
    assert run(cruise(), graph=LaneGraph("metric-one-way", {901: opposing[901]})).driving_direction == 0.0


def test_broken_records_are_rejected_with_the_step() -> None:
    states = cruise()
    states.x[7] = np.nan
    with pytest.raises(InputError, match=r"ego\.x is not finite at step 7"):
        run(states)
