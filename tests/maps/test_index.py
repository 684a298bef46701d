"""MapIndex on hand-built roads with known answers, and on every recorded map of a small sample."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import LANE_WIDTH, lane_between, lane_id, straight_road

from drivestack.core.map import LaneGraph, Neighbour
from drivestack.maps.index import MapIndex


def test_lanes_at_and_assign_pick_the_lane_holding_the_point() -> None:
    index = MapIndex(straight_road(num_lanes=3))
    xy = np.array([[10.0, 0.2], [50.0, LANE_WIDTH + 1.0], [60.0, 2 * LANE_WIDTH], [60.0, 30.0]])
    assert index.lanes_at(xy) == [(lane_id(0),), (lane_id(1),), (lane_id(2),), ()]
    assert index.assign(xy, np.zeros(4)).tolist() == [lane_id(0), lane_id(1), lane_id(2), -1]


def test_assign_rejects_lanes_against_the_heading() -> None:
    forward = lane_between(1, (0.0, 0.0), (100.0, 0.0))
    backward = lane_between(2, (100.0, 0.0), (0.0, 0.0))  # same strip, opposite direction
    index = MapIndex(LaneGraph("two-way", {1: forward, 2: backward}))
    xy = np.array([[50.0, 0.5], [50.0, 0.5], [50.0, 0.5]])
    assert index.assign(xy, np.array([0.0, np.pi - 0.1, np.pi / 2])).tolist() == [1, 2, -1]


def test_project_gives_arc_length_signed_offset_and_heading() -> None:
    index = MapIndex(straight_road(num_lanes=1))
    s, d, heading = index.project(
        np.array([lane_id(0), lane_id(0), -1]), np.array([[30.0, 1.0], [80.0, -0.5], [1.0, 1.0]])
    )
    np.testing.assert_allclose(s[:2], [30.0, 80.0])
    np.testing.assert_allclose(d[:2], [1.0, -0.5])
    np.testing.assert_allclose(heading[:2], [0.0, 0.0], atol=1e-12)
    assert np.isnan(s[2]) and np.isnan(d[2])


def test_side_knows_neighbours_also_across_segment_joints() -> None:
    index = MapIndex(straight_road(num_lanes=2, segments=2))
    a = np.array([lane_id(0, 0), lane_id(1, 0), lane_id(0, 0), lane_id(0, 0), lane_id(0, 0)])
    b = np.array([lane_id(1, 0), lane_id(0, 0), lane_id(1, 1), lane_id(0, 1), -1])
    assert index.side(a, b).tolist() == [1, -1, 1, 0, 0]


def test_side_is_never_a_successor_where_a_lane_fans_out() -> None:
    # lane 1 splits into turn lanes 2 and 3, which are also each other's neighbours
    graph = LaneGraph(
        "fan",
        {
            1: lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(2, 3), left_neighbour=Neighbour(4, True)),
            2: lane_between(
                2, (50.0, 0.0), (80.0, 0.0), predecessors=(1,), left_neighbour=Neighbour(3, True)
            ),
            3: lane_between(
                3, (50.0, 0.0), (80.0, 10.0), predecessors=(1,), right_neighbour=Neighbour(2, True)
            ),
            4: lane_between(4, (0.0, 3.5), (50.0, 3.5), right_neighbour=Neighbour(1, True)),
        },
    )
    index = MapIndex(graph)
    assert index.side(np.array([1, 1, 2, 1]), np.array([2, 3, 3, 4])).tolist() == [0, 0, 1, 1]


def test_downstream_follows_successors_within_the_distance() -> None:
    index = MapIndex(straight_road(num_lanes=1, length=300.0, segments=3))
    assert index.downstream(lane_id(0, 0), 150.0) == {lane_id(0, 0): 0.0, lane_id(0, 1): 100.0}
    assert index.downstream(lane_id(0, 0), 250.0) == {
        lane_id(0, 0): 0.0,
        lane_id(0, 1): 100.0,
        lane_id(0, 2): 200.0,
    }


def test_merges_from_topology_junction_and_lane_drop() -> None:
    junction = LaneGraph(
        "junction",
        {
            1: lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(3,)),
            2: lane_between(2, (0.0, -20.0), (100.0, 0.0), successors=(3,)),
            3: lane_between(3, (100.0, 0.0), (200.0, 0.0), predecessors=(1, 2)),
        },
    )
    assert MapIndex(junction).merge_lanes == {1, 2, 3}
    drop = LaneGraph(
        "drop",
        {
            1: lane_between(1, (0.0, 0.0), (100.0, 0.0), successors=(3,), left_neighbour=Neighbour(2, True)),
            2: lane_between(2, (0.0, 3.5), (100.0, 3.5), right_neighbour=Neighbour(1, True)),
            3: lane_between(3, (100.0, 0.0), (200.0, 0.0), predecessors=(1,)),
        },
    )
    assert MapIndex(drop).merge_lanes == {1, 2}
    assert MapIndex(straight_road(num_lanes=3, segments=2)).merge_lanes == frozenset()
    turns = LaneGraph(  # a left turn and a straight lane of an intersection joining its exit: no merge
        "turns",
        {
            1: lane_between(1, (0.0, 0.0), (50.0, 0.0), successors=(3,), lane_types=("intersection",)),
            2: lane_between(2, (50.0, -50.0), (50.0, 0.0), successors=(3,), lane_types=("intersection",)),
            3: lane_between(3, (50.0, 0.0), (150.0, 0.0), predecessors=(1, 2)),
        },
    )
    assert MapIndex(turns).merge_lanes == frozenset()


def test_intersection_and_driving_lanes_from_lane_types() -> None:
    graph = LaneGraph(
        "types",
        {
            1: lane_between(1, (0.0, 0.0), (50.0, 0.0), lane_types=("urban",)),
            2: lane_between(2, (50.0, 0.0), (60.0, 10.0), lane_types=("intersection",)),
            3: lane_between(3, (0.0, -5.0), (50.0, -5.0), lane_types=("sidewalk",)),
            4: lane_between(4, (0.0, 5.0), (50.0, 5.0), users_one_way=("bicycle",)),
        },
    )
    index = MapIndex(graph)
    assert index.is_intersection(2) and not index.is_intersection(1)
    assert index.driving_lanes == {1, 2}


def test_intersection_area_from_crossing_lanes_of_an_untyped_map() -> None:
    graph = LaneGraph(
        "cross",
        {
            1: lane_between(1, (0.0, 0.0), (100.0, 0.0)),
            2: lane_between(2, (50.0, -50.0), (50.0, 50.0)),
            3: lane_between(3, (0.0, 3.5), (100.0, 3.5), right_neighbour=Neighbour(1, True)),
        },
    )
    index = MapIndex(graph)
    assert index.intersection_lanes == frozenset()
    inside = index.in_intersection(np.array([[50.0, 0.0], [50.0, 3.5], [20.0, 0.0], [50.0, 20.0]]))
    assert inside.tolist() == [True, True, False, False]
    entries = dict(index.intersection_entries)
    assert set(entries) == {1, 2, 3}
    assert entries[1] == pytest.approx(50.0 - LANE_WIDTH / 2) and entries[2] == pytest.approx(
        50.0 - LANE_WIDTH / 2
    )
    # parallel neighbours and a merge at a shallow angle are no intersection
    assert MapIndex(straight_road(num_lanes=3)).intersection_area.is_empty


@pytest.mark.usefixtures("commonroad_root")
def test_every_sample_map_indexes_and_places_its_vehicles() -> None:
    from recorded_data import commonroad_sample

    from drivestack.data.formats.commonroad import read_scenario

    for path in commonroad_sample(2):
        scenario = read_scenario(path)
        index = MapIndex(scenario.lane_graph)
        assert len(index) == len(scenario.lane_graph)
        tracks = scenario.tracks
        vehicles = np.array([kind.is_vehicle for kind in tracks.agent_type], dtype=bool)
        if not vehicles.any():
            continue
        valid = tracks.valid[vehicles]
        xy = np.stack([tracks.x[vehicles][valid], tracks.y[vehicles][valid]], axis=-1)
        lanes = index.assign(xy, tracks.yaw[vehicles][valid])
        # recorded vehicles drive on the mapped lanes: most of their states find a lane
        assert (lanes >= 0).mean() > 0.7, path.name
