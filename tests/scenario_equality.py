"""Field-by-field equality of two scenarios, for round-trip tests of writers and generators."""

from __future__ import annotations

import numpy as np

from drivestack.core.scenario import Scenario

TRACK_FIELDS = ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "valid", "ids", "length", "width")


def assert_same_scenario(a: Scenario, b: Scenario) -> None:
    """Every field the writer keeps is equal in `a` and `b` (the map id is a content hash of the same
    lanes, so it is equal too when both were read from files)."""
    assert (a.scenario_id, a.dt, a.num_steps, a.tags) == (b.scenario_id, b.dt, b.num_steps, b.tags)
    for name in TRACK_FIELDS:
        np.testing.assert_array_equal(getattr(a.tracks, name), getattr(b.tracks, name), err_msg=name)
    assert a.tracks.agent_type == b.tracks.agent_type
    assert [s.outline().tolist() for s in a.tracks.shapes] == [s.outline().tolist() for s in b.tracks.shapes]
    assert a.lane_graph.lanes.keys() == b.lane_graph.lanes.keys()
    for lane_id, lane in a.lane_graph.lanes.items():
        other = b.lane_graph.lanes[lane_id]
        np.testing.assert_array_equal(lane.left, other.left)
        np.testing.assert_array_equal(lane.right, other.right)
        for name in (
            "predecessors",
            "successors",
            "left_neighbour",
            "right_neighbour",
            "lane_types",
            "users_one_way",
            "users_bidirectional",
            "speed_limit",
            "stop_line",
            "traffic_sign_ids",
            "traffic_light_ids",
        ):
            assert getattr(lane, name) == getattr(other, name), (lane_id, name)
    assert a.lane_graph.intersections == b.lane_graph.intersections
    assert a.traffic_lights == b.traffic_lights
    assert a.traffic_signs == b.traffic_signs
    assert len(a.planning_problems) == len(b.planning_problems)
    for problem, other in zip(a.planning_problems, b.planning_problems, strict=True):
        assert (problem.id, problem.initial) == (other.id, other.initial)
        for goal, other_goal in zip(problem.goal.states, other.goal.states, strict=True):
            assert (goal.time, goal.velocity, goal.orientation, goal.lanelet_ids) == (
                other_goal.time,
                other_goal.velocity,
                other_goal.orientation,
                other_goal.lanelet_ids,
            )
            assert [r.outline().tolist() for r in goal.regions] == [
                r.outline().tolist() for r in other_goal.regions
            ]
    assert len(a.recorded_egos) == len(b.recorded_egos)
    for ego, other_ego in zip(a.recorded_egos, b.recorded_egos, strict=True):
        assert (ego.planning_problem_id, ego.vehicle_type, ego.cost_function) == (
            other_ego.planning_problem_id,
            other_ego.vehicle_type,
            other_ego.cost_function,
        )
        for name in ("steps", "x", "y", "yaw", "speed"):
            np.testing.assert_array_equal(getattr(ego.trajectory, name), getattr(other_ego.trajectory, name))
