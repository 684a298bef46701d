"""distinct_rows: a kernel run once per distinct row must give every row what it would have given it."""

from __future__ import annotations

import numpy as np

from drivestack.core.dynamics import BicycleState, Tracker, VehicleParams, rollout
from drivestack.core.rows import distinct_rows


def test_distinct_rows_rebuild_every_row_bit_for_bit() -> None:
    """Repeated rows (with -0.0, NaN and inf among the values, and flags) are found; the distinct
    rows come in order of first occurrence, row 0 first, and rebuild every array exactly."""
    rng = np.random.default_rng(3)
    values = np.array([0.0, -0.0, 1.0, np.nan, np.inf, 2.0])
    for _ in range(300):
        steps = int(rng.integers(1, 9))
        base = rng.choice(values, size=(int(rng.integers(1, 8)), steps))
        pick = rng.integers(0, len(base), int(rng.integers(1, 60)))
        x, flags = base[pick], (rng.random((len(base), steps)) < 0.3)[pick]
        first, number = distinct_rows(x, 2.0 * x, flags)
        assert first[0] == 0 and (np.diff(first) > 0).all()
        for array in (x, 2.0 * x, flags):
            assert array[first][number].tobytes() == array.tobytes()
        unlike = base.copy()
        unlike[:, -1] = np.arange(len(base))  # base rows that differ in their last value ...
        assert len(distinct_rows(unlike[pick])[0]) == len(np.unique(pick))  # ... are found as such
    first, number = distinct_rows(np.zeros((0, 5)), np.zeros((0, 5), dtype=bool))  # an empty batch
    assert first.shape == number.shape == (0,)
    zero, negative = distinct_rows(np.array([[0.0], [-0.0]]))
    assert zero.tolist() == [0, 1] and negative.tolist() == [0, 1]  # bit for bit: -0.0 is not 0.0


def test_rollout_of_repeated_references_equals_rolling_out_each() -> None:
    """The rollout of a batch with repeated rows equals, bit for bit, each row rolled out alone."""
    rng = np.random.default_rng(4)
    tracker = Tracker(0.1, VehicleParams())
    t = np.arange(31) * 0.1
    speeds = 8.0 + rng.uniform(-2.0, 2.0, (5, 1)) * t
    paths = np.cumsum(speeds * 0.1, axis=1)
    pick = np.array([0, 1, 1, 2, 0, 3, 4, 4, 4])
    x, y, yaw, speed = paths[pick], 0.05 * paths[pick], np.full((9, 31), 0.05), speeds[pick]
    batch = rollout(BicycleState.of(0.0, 0.0, 0.0, 8.0, batch=9), x, y, yaw, speed, tracker)
    for row in range(9):
        alone = rollout(
            BicycleState.of(0.0, 0.0, 0.0, 8.0), x[row : row + 1], y[row : row + 1], yaw[row : row + 1],
            speed[row : row + 1], tracker,
        )  # fmt: skip
        for name in ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering"):
            assert getattr(batch, name)[row].tobytes() == getattr(alone, name)[0].tobytes()
