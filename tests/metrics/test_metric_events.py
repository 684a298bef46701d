"""Failure events on hand-built scenes with known contact steps and agents, and their sentences."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from metric_scenes import cruise, ego, motion, run
from scenes import Agent, moving

from drivestack.bench.results import RESULT_SCHEMA, ResultStore, read_results
from drivestack.core.scenario import AgentType
from drivestack.metrics.events import FailureEvents, describe_events

STEPS = 60
EGO_HALF_LENGTH = 4.508 / 2


def parked(agent_id: int, x: float, kind: AgentType = AgentType.CAR, length: float = 4.5) -> Agent:
    """An agent standing at (x, 0) [m] for the whole run."""
    zeros = np.zeros(STEPS)
    return Agent(
        agent_id, np.full(STEPS, x), zeros, kind=kind, length=length, width=0.8, yaw=zeros, speed=zeros
    )


def test_clean_run_has_no_events() -> None:
    metrics = run(cruise())
    assert metrics.events == FailureEvents()
    assert describe_events({**metrics.as_row(), "dt": 0.1}) == []


def test_hitting_a_stopped_cyclist_names_it_with_step_time_kind_and_fault() -> None:
    # ego front at 10 + 2.254 + 1.0 t [m per step]; the 2 m bicycle's rear at 39 m
    metrics = run(cruise(x0=10.0, speed=10.0), parked(10270, 40.0, AgentType.BICYCLE, length=2.0))
    step = math.ceil(40.0 - 1.0 - EGO_HALF_LENGTH - 10.0)
    events = metrics.events
    assert events.collision_step == step == 27
    assert events.collision_time == step * 0.1
    assert (events.collision_agent_id, events.collision_agent_type) == (10270, "bicycle")
    assert events.collision_kind == "stopped_agent" and events.collision_at_fault
    assert events.collision_fault == "the ego drove into a stopped object"
    assert metrics.min_ttc == 0.0 and events.min_ttc_step == step
    sentences = describe_events({**metrics.as_row(), "dt": 0.1})
    assert sentences[0] == (
        "collision with cyclist 10270 at t = 2.7 s "
        "(stopped agent, at fault: the ego drove into a stopped object)"
    )
    assert sentences[1] == "time to collision 0.00 s at t = 2.7 s"


def test_an_at_fault_contact_is_named_before_an_earlier_one_that_is_not() -> None:
    # a car from behind at 15 m/s touches the 5 m/s ego's rear (not at fault) at step 16; the ego
    # then drives into a car parked at 60 m (at fault) at step 52
    rear = moving(2, 10.0, 0.0, 15.0, num_steps=STEPS)
    metrics = run(cruise(x0=30.0, speed=5.0), rear, parked(3, 60.0))
    assert metrics.collisions == 2 and metrics.at_fault_collisions == 1
    events = metrics.events
    front_step = math.ceil((60.0 - 2.25 - EGO_HALF_LENGTH - 30.0) / 0.5)
    assert (events.collision_step, events.collision_agent_id) == (front_step, 3)
    assert events.collision_kind == "stopped_agent"
    only_rear = run(cruise(x0=30.0, speed=5.0), rear).events
    assert only_rear.collision_step == math.ceil((30.0 - EGO_HALF_LENGTH - 2.25 - 10.0) / 1.0)
    assert only_rear.collision_kind == "rear" and only_rear.collision_at_fault is False
    assert only_rear.collision_fault is None
    assert (
        "(rear, not at fault)"
        in describe_events({**run(cruise(x0=30.0, speed=5.0), rear).as_row(), "dt": 0.1})[0]
    )


def test_first_drivable_area_violation_step() -> None:
    # the ego jumps 2.5 m right at step 20: its right corners 1.555 m beyond the road edge
    x, v, a = motion(10.0, 10.0, STEPS)
    y = np.where(np.arange(STEPS) < 20, 0.0, -2.5)
    metrics = run(ego(x, y, 0.0, v, a))
    assert metrics.events.drivable_violation_step == 20
    assert metrics.events.direction_violation_step is None
    assert "left the drivable area at t = 2.0 s" in describe_events({**metrics.as_row(), "dt": 0.1})


def test_first_driving_direction_violation_step() -> None:
    # 1 m per step against the lane: the last second's progress reaches -2 m at step 2
    x, v, a = motion(300.0, -10.0, STEPS)
    metrics = run(ego(x, 0.0, np.pi - 1e-9, np.abs(v), a))
    assert metrics.events.direction_violation_step == 2
    assert metrics.events.drivable_violation_step is None


def test_worst_ttc_step_of_a_close_approach() -> None:
    # 20 m/s toward a car standing ahead; the run ends 6 m short of contact, the TTC lowest at its end
    metrics = run(cruise(speed=20.0, steps=6), parked(2, 10.0 + EGO_HALF_LENGTH + 2.25 + 16.0))
    assert not metrics.any_collision and metrics.events.collision_step is None
    assert metrics.events.min_ttc_step == 5 and metrics.min_ttc == pytest.approx(0.3)
    assert describe_events({**metrics.as_row(), "dt": 0.1}) == ["time to collision 0.30 s at t = 0.5 s"]


def test_sentences_from_hostile_rows_are_one_line_and_literal() -> None:
    row = {
        "dt": 0.1,
        "collision_step": 3,
        "collision_agent_id": "7\n[red]x",
        "collision_agent_type": "\x1b[31mtank",
        "collision_kind": "front",
        "collision_at_fault": True,
        "collision_fault": None,
    }
    (sentence,) = describe_events(row)
    assert "\n" not in sentence and "\x1b" not in sentence
    assert sentence == "collision with \\x1b[31mtank 7\\n[red]x at t = 0.3 s (front, at fault)"
    assert describe_events({"collision_step": 4, "collision_agent_type": "car", "collision_agent_id": 1})[
        0
    ].startswith("collision with car 1 at step 4")


def test_results_store_events_as_columns_and_null_when_absent(tmp_path: Path) -> None:
    hit = run(cruise(x0=10.0, speed=10.0), parked(10270, 40.0, AgentType.BICYCLE, length=2.0))
    rows = [
        {"source": name, "planner": "p", "agents": "log", "status": "ok", "dt": 0.1, **metrics.as_row()}
        for name, metrics in (("hit", hit), ("clean", run(cruise())))
    ]
    store = ResultStore(tmp_path, {"test": True})
    store.add(rows)
    store.flush()
    table = read_results(tmp_path / "results.parquet")
    by_source = {row["source"]: row for row in table.to_pylist()}
    assert by_source["hit"]["collision_agent_id"] == 10270
    assert by_source["hit"]["collision_agent_type"] == "bicycle"
    assert (by_source["hit"]["collision_step"], by_source["hit"]["min_ttc_step"]) == (27, 27)
    event_columns = [f.name for f in dataclasses.fields(FailureEvents)]
    assert all(by_source["clean"][name] is None for name in event_columns)
    clean = table.filter(pc.equal(table.column("source"), "clean"))
    assert all(clean.column(name).null_count == 1 for name in event_columns)
    # a results file written before the events existed reads with null events
    pq.write_table(table.drop_columns(event_columns), tmp_path / "results.parquet")
    older = read_results(tmp_path / "results.parquet")
    assert older.schema == RESULT_SCHEMA and older.column("collision_step").null_count == 2
