"""Realism of the simulated agents against their recording: on recorded highD and SinD windows (log
agents are the zero reference, IDM agents deviate) and on tiny scenes with known answers (off-road
steps, red-light crossings, new collisions, headways, distribution distances)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scenes

from drivestack.bench.sources import retimed
from drivestack.core.errors import InputError
from drivestack.core.map import LaneGraph, StopLine
from drivestack.core.record import RunRecord
from drivestack.core.scenario import LightColor, Scenario, TrafficLight
from drivestack.data.formats.commonroad import read_scenario
from drivestack.metrics.realism import (
    DEFAULT_REALISM,
    AgentPoses,
    RealismMetrics,
    distribution_distance,
    headways,
    kinematics,
    near_pairs,
    realism_metrics,
)
from drivestack.plan import make_planner
from drivestack.sim.runner import simulate


def _recorded(root: Path, dataset: str, scenario_id: str) -> Scenario:
    folder = root / dataset
    solution = folder / "solutions" / f"{scenario_id}.solution.xml.gz"
    return retimed(read_scenario(folder / "scenarios" / f"{scenario_id}.cr.xml.gz", [solution]))


def _replay(scenario: Scenario, agents: str) -> RunRecord:
    """The recorded human replayed among `agents` agents."""
    return simulate(scenario, scenario.planning_problems[0].id, make_planner("log-replay"), agents)


def _assert_reference(metrics: RealismMetrics) -> None:
    """What a run whose agents replay the log must measure."""
    assert metrics.realism_ade_m == 0.0 and metrics.realism_fde_m == 0.0
    assert metrics.realism_collisions == 0 and metrics.realism_collision_rate == 0.0
    assert metrics.realism_offroad_rate == metrics.realism_offroad_rate_log
    assert metrics.realism_red_lights == metrics.realism_red_lights_log
    for distance in (
        metrics.realism_speed_w1_mps,
        metrics.realism_accel_w1_mps2,
        metrics.realism_jerk_w1_mps3,
        metrics.realism_headway_w1_s,
    ):
        assert distance == 0.0


@pytest.mark.parametrize(
    ("dataset", "scenario_id"),
    [("highd", "DEU_LocationALower26-1_260_T-75"), ("sind", "CHN_SIND-8021_1052_T-1127")],
)
def test_log_agents_are_the_reference_and_idm_agents_deviate(
    commonroad_root: Path, dataset: str, scenario_id: str
) -> None:
    scenario = _recorded(commonroad_root, dataset, scenario_id)
    log = realism_metrics(scenario, _replay(scenario, "log"))
    assert log.realism_moving > 10 and log.realism_vehicle_steps > 0
    _assert_reference(log)
    idm = realism_metrics(scenario, _replay(scenario, "idm"))
    assert (idm.realism_agents, idm.realism_moving) == (log.realism_agents, log.realism_moving)
    assert idm.realism_ade_m > 0.1 and idm.realism_fde_m > idm.realism_ade_m
    assert idm.realism_speed_w1_mps > 0.0 and idm.realism_accel_w1_mps2 > 0.0
    # the recording's own off-road steps and red-light crossings do not depend on the agents' mode
    assert idm.realism_offroad_rate_log == log.realism_offroad_rate_log
    assert idm.realism_red_lights_log == log.realism_red_lights_log


def test_recorded_red_light_crossings_on_sind(commonroad_root: Path) -> None:
    """SinD drivers turn right on red (allowed in China): the recording holds crossings on red."""
    scenario = _recorded(commonroad_root, "sind", "CHN_SIND-8021_1052_T-1127")
    assert realism_metrics(scenario, _replay(scenario, "log")).realism_red_lights_log >= 1


def _ego_at_rest() -> scenes.Ego:
    return scenes.Ego(scenes.moving(scenes.EGO_ID, 0.0, -30.0, 0.0), goal=(190.0, -30.0))


def _two_cars() -> tuple[Scenario, RunRecord]:
    """Two cars driving along lane 0 of a straight road at 10 m/s for 50 steps, replayed."""
    cars = [scenes.moving(2, 20.0, 0.0, 10.0), scenes.moving(3, 80.0, 0.0, 10.0)]
    scenario = scenes.scenario(scenes.straight_road(num_lanes=1), cars, _ego_at_rest())
    return scenario, _replay(scenario, "log")


def _moved(record: RunRecord, row: int, steps: slice, **offsets: float) -> RunRecord:
    """`record` with agent `row`'s x and y shifted by `offsets` [m] at `steps`."""
    fields = {}
    for name, offset in offsets.items():
        values = getattr(record.agents, name).copy()
        values[row, steps] += offset
        fields[name] = values
    return dataclasses.replace(record, agents=dataclasses.replace(record.agents, **fields))


def test_a_constructed_off_road_agent_is_counted() -> None:
    scenario, record = _two_cars()
    assert record.num_steps == 50
    metrics = realism_metrics(scenario, _moved(record, 0, slice(10, 20), y=10.0))
    assert metrics.realism_vehicle_steps == 100
    assert metrics.realism_offroad_rate == pytest.approx(10 / 100)
    assert metrics.realism_offroad_rate_log == 0.0
    # car 2 is 10 m off for 10 of its 50 steps (mean 2 m), car 3 never: ADE 1 m, both end on track
    assert metrics.realism_ade_m == pytest.approx(1.0) and metrics.realism_fde_m == pytest.approx(0.0)


def test_new_collisions_count_and_recorded_overlaps_do_not() -> None:
    scenario, record = _two_cars()
    crash = _moved(record, 1, slice(30, 33), x=-58.0)  # car 3 onto car 2 for three steps
    metrics = realism_metrics(scenario, crash)
    assert metrics.realism_collisions == 1 and metrics.realism_collision_rate == 1.0
    # the same pair overlapping somewhere in the recording: an annotation artefact, not a new collision
    cars = [scenes.moving(2, 20.0, 0.0, 10.0), scenes.moving(3, 80.0, 0.0, 10.0)]
    cars[1].x[45] = cars[0].x[45] + 1.0
    overlapping = scenes.scenario(scenes.straight_road(num_lanes=1), cars, _ego_at_rest())
    assert realism_metrics(overlapping, crash).realism_collisions == 0


def _light_road(stop_at: float | None, color: LightColor) -> LaneGraph:
    """Lane 1 from x = 0 to 100 controlled by light 7 (at its end, or on a stop line at `stop_at`),
    then lane 2 to x = 200."""
    line = (
        StopLine((stop_at, 1.75), (stop_at, -1.75), "solid", traffic_light_ids=(7,))
        if stop_at is not None
        else None
    )
    first = scenes.lane_between(
        1, (0.0, 0.0), (100.0, 0.0), successors=(2,), stop_line=line, traffic_light_ids=() if line else (7,)
    )
    second = scenes.lane_between(2, (100.0, 0.0), (200.0, 0.0), predecessors=(1,))
    return LaneGraph("lights", {1: first, 2: second})


@pytest.mark.parametrize(
    ("stop_at", "color", "expected"),
    [
        (None, LightColor.RED, 1),
        (None, LightColor.GREEN, 0),
        (60.0, LightColor.RED, 1),
        (None, LightColor.YELLOW, 0),
    ],
)
def test_a_constructed_red_light_crossing_is_counted(
    stop_at: float | None, color: LightColor, expected: int
) -> None:
    light = TrafficLight(7, 100.0, 3.0, ((color, 1000),))
    through = scenes.moving(2, 30.0, 0.0, 15.0, num_steps=60)  # crosses x = 60 and x = 100
    waiting = scenes.braking(3, 10.0, 0.0, 8.0, 4.0)  # stops at x = 18, before every line
    backwards = scenes.moving(4, 150.0, 0.0, -10.0, num_steps=60)  # crosses against the lane
    scenario = scenes.scenario(
        _light_road(stop_at, color), [through, waiting, backwards], _ego_at_rest(), 60, (light,)
    )
    record = _replay(scenario, "log")
    metrics = realism_metrics(scenario, record)
    assert metrics.realism_red_lights_log == expected and metrics.realism_red_lights == expected
    # the simulated car held before the first line (it stops at x = 55) crosses nothing
    held = record.agents.x.copy()
    held[0] = np.minimum(held[0], 55.0)
    stopped = dataclasses.replace(record, agents=dataclasses.replace(record.agents, x=held))
    assert realism_metrics(scenario, stopped).realism_red_lights == 0


def test_headway_of_a_follower() -> None:
    cars = [
        scenes.moving(2, 0.0, 0.0, 10.0),
        scenes.moving(3, 25.0, 0.2, 10.0),
        scenes.moving(4, 10.0, 7.0, 10.0),
    ]
    tracks = scenes.tracks(cars, 50)
    poses = AgentPoses(tracks.x, tracks.y, tracks.yaw, tracks.valid)
    speed, _, _ = kinematics(poses, tracks.valid, scenes.DT)
    found = headways(poses, tracks.valid, speed, tracks, DEFAULT_REALISM)
    # only car 2 has a leader in its lane (car 4 is beside, two lanes over): (25 - 4.5) m / 10 m/s
    assert found == pytest.approx(np.full(49, 2.05))


def test_distribution_distance() -> None:
    sample = np.random.default_rng(3).normal(10.0, 2.0, 500)
    assert distribution_distance(sample, sample.copy()) == 0.0
    assert distribution_distance(sample + 1.5, sample) == pytest.approx(1.5)
    assert distribution_distance(sample, np.append(sample, np.nan)) == 0.0
    assert np.isnan(distribution_distance(np.array([np.nan]), sample))


def test_pair_search_in_chunks_finds_every_pair() -> None:
    rng = np.random.default_rng(11)
    shape = (40, 30)
    poses = AgentPoses(
        rng.uniform(0, 60, shape), rng.uniform(0, 60, shape), np.zeros(shape), rng.random(shape) < 0.8
    )
    whole = set(zip(*(a.tolist() for a in near_pairs(poses, poses.valid, 8.0, 10**6)), strict=True))
    chunked = set(zip(*(a.tolist() for a in near_pairs(poses, poses.valid, 8.0, 50)), strict=True))
    assert whole == chunked and len(whole) > 100
    i, j, t = (np.array(v) for v in zip(*whole, strict=True))
    assert (np.hypot(poses.x[i, t] - poses.x[j, t], poses.y[i, t] - poses.y[j, t]) <= 8.0).all()
    assert (i < j).all() and poses.valid[i, t].all() and poses.valid[j, t].all()


def test_a_record_of_other_agents_is_refused() -> None:
    scenario, record = _two_cars()
    other = scenes.scenario(
        scenes.straight_road(num_lanes=1), [scenes.moving(9, 0.0, 0.0, 1.0)], _ego_at_rest()
    )
    with pytest.raises(InputError, match="not the scenario's"):
        realism_metrics(other, record)
    assert realism_metrics(scenario, record).realism_agents == 2


def test_no_agents_measure_nothing() -> None:
    """A run without other agents: counts are 0, what cannot be measured is NaN (stored as null)."""
    ego = scenes.Ego(scenes.moving(scenes.EGO_ID, 0.0, 0.0, 5.0), goal=(190.0, 0.0))
    scenario = scenes.scenario(scenes.straight_road(num_lanes=1), [], ego)
    metrics = realism_metrics(scenario, _replay(scenario, "idm"))
    assert (metrics.realism_agents, metrics.realism_collisions, metrics.realism_red_lights) == (0, 0, 0)
    assert np.isnan(metrics.realism_ade_m) and np.isnan(metrics.realism_offroad_rate)
    assert np.isnan(metrics.realism_speed_w1_mps) and np.isnan(metrics.realism_collision_rate)
