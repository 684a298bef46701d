"""Time to collision: the exact moving-box overlap matches nuPlan's 0.1 s stepping; relevance rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_scenes import context, cruise
from scenes import Agent, moving

from drivestack.core.geometry import box_corners, boxes_overlap
from drivestack.core.overlap import overlap_intervals
from drivestack.metrics import METRICS, compute_metric
from drivestack.metrics.ttc import first_grid_time

coordinate = st.floats(-30.0, 30.0)
heading = st.floats(-np.pi, np.pi)
size = st.floats(0.5, 6.0)
speed = st.floats(0.0, 25.0)


def stepped_ttc(ego: tuple[float, ...], other: tuple[float, ...]) -> float:
    """nuPlan's reference: move both boxes 0.1 s at a time and test the overlap at 0.1 .. 2.9 s."""
    for t in np.arange(0.1, 3.0, 0.1):
        a = box_corners(ego[0] + ego[5] * t, ego[1] + ego[6] * t, ego[2], 2 * ego[3], 2 * ego[4])
        b = box_corners(
            other[0] + other[5] * t, other[1] + other[6] * t, other[2], 2 * other[3], 2 * other[4]
        )
        if boxes_overlap(a, b):
            return float(t)
    return np.inf


@settings(max_examples=300, deadline=None)
@given(coordinate, coordinate, heading, size, size, speed, heading, speed, heading, size, size)
def test_exact_overlap_matches_stepping(
    x: float,
    y: float,
    yaw: float,
    length: float,
    width: float,
    v: float,
    oyaw: float,
    ov: float,
    own_yaw: float,
    olength: float,
    owidth: float,
) -> None:
    ego = (0.0, 0.0, own_yaw, 2.25, 0.8, v * np.cos(own_yaw), v * np.sin(own_yaw))
    other = (x, y, yaw, length / 2, width / 2, ov * np.cos(oyaw), ov * np.sin(oyaw))
    start, stop = overlap_intervals(*(tuple(np.array([value]) for value in box) for box in (ego, other)))
    exact = first_grid_time(start, stop, 0.1, 3.0)[0]
    stepped = stepped_ttc(ego, other)
    assert exact == stepped


def test_agents_behind_are_ignored_and_ahead_counted() -> None:
    chaser = moving(2, -20.0, 0.0, 30.0, num_steps=10)  # closing in from behind, never reaching the ego
    ctx = context(cruise(x0=10.0, speed=10.0, steps=10), chaser)
    assert np.isinf(compute_metric("ttc", ctx).values).all()
    standing = Agent(2, np.full(10, 40.0), np.zeros(10), yaw=np.zeros(10), speed=np.zeros(10))
    ttc = compute_metric("ttc", context(cruise(x0=10.0, speed=10.0, steps=10), standing)).values
    # gap 40 - 10 - (4.508 + 4.5) / 2 = 25.5 m at 10 m/s: first overlap on the grid at 2.6 s, then 0.1 s less
    np.testing.assert_allclose(ttc, 2.6 - 0.1 * np.arange(10))


def test_registry_gives_every_metric_per_step() -> None:
    ctx = context(cruise(steps=30))
    for name in METRICS:
        values = compute_metric(name, ctx)
        assert values.values.shape == (30,) and values.valid.shape == (30,), name
