"""Facts about a recorded scenario that the simulator, the renderers and the miners all read:
which agent is the ego's own recorded drive (`twin_row`), the time step the recorded motion implies
(`motion_time_step`), and headings held while an agent stands (`held_heading`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from drivestack.core.geometry import angle_diff
from drivestack.core.scenario import EgoState, Scenario

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

HEADING_SPEED = 0.5  # [m/s] below it a recorded heading is not trusted (`held_heading`)


def twin_row(scenario: Scenario, state: EgoState, max_distance: float = 0.5, max_heading: float = 0.3) -> int:
    """Row of the vehicle agent that is the ego of `state` itself, or -1: the agent at the state's
    pose (within `max_distance` [m] and `max_heading` [rad]) at its step, else the agent whose first
    recorded pose it is (inD cuts some problems from vehicles that enter the recording later, and
    the agents' steps are the true time then)."""
    tracks = scenario.tracks
    if tracks.num_agents == 0:
        return -1
    vehicles = np.array([kind.is_vehicle for kind in tracks.agent_type], dtype=bool)
    first = np.argmax(tracks.valid, axis=1)
    at_step = np.full(tracks.num_agents, state.step) if 0 <= state.step < scenario.num_steps else None
    for steps in (at_step, first):
        if steps is None:
            continue
        rows = np.arange(tracks.num_agents)
        distance = np.hypot(tracks.x[rows, steps] - state.x, tracks.y[rows, steps] - state.y)
        turned = np.abs(angle_diff(tracks.yaw[rows, steps], state.yaw))
        there = vehicles & tracks.valid[rows, steps] & (distance < max_distance) & (turned < max_heading)
        if there.any():
            return int(np.argmin(np.where(there, distance, np.inf)))
    return -1


def motion_time_step(scenario: Scenario, tolerance: float = 0.05, min_speed: float = 2.0) -> float:
    """The time step [s] the recorded motion implies: the declared `dt` unless positions and speeds disagree.

    Some converted recordings declare one dt but move their agents by speed x (k dt) per step (in
    the shared data: highD files by k = 2, SinD files by k = 5; their speeds and accelerations
    match the longer step). k is the median over vehicles moving faster than `min_speed` [m/s] of
    (distance moved in a step) / (mean speed x dt); dt x k replaces dt when k differs from 1 by more
    than `tolerance`. With fewer than 20 such samples the declared dt stands.
    """
    tracks = scenario.tracks
    moved = np.hypot(np.diff(tracks.x, axis=1), np.diff(tracks.y, axis=1))
    speed = 0.5 * np.abs(tracks.speed[:, 1:] + tracks.speed[:, :-1])
    usable = np.isfinite(moved) & np.isfinite(speed) & (speed > min_speed)
    if usable.sum() < 20:
        return scenario.dt
    ratio = float(np.median(moved[usable] / (speed[usable] * scenario.dt)))
    return scenario.dt * ratio if abs(ratio - 1.0) > tolerance else scenario.dt


RETIME_TOLERANCE = 0.1
"""Largest distance of the measured step ratio to an integer k (relative to k) for a re-time."""


def retime_factor(scenario: Scenario) -> int:
    """k >= 2 when the scenario's motion shows a step k times its declared `dt` (frames dropped by
    the converter: highD k = 2, SinD k = 5), else 1; the step its runs use is k x dt."""
    ratio = motion_time_step(scenario) / scenario.dt
    factor = round(ratio)
    return factor if factor >= 2 and abs(ratio - factor) <= RETIME_TOLERANCE * factor else 1


def fill_invalid(values: FloatArray, valid: BoolArray) -> FloatArray:
    """`values` (A, T) with each invalid entry replaced by the row's nearest earlier valid value (or,
    before the first valid one, the first valid value); rows without any valid entry become 0."""
    steps = np.arange(values.shape[1])
    last = np.maximum.accumulate(np.where(valid, steps, -1), axis=1)
    first = np.argmax(valid, axis=1)
    source = np.where(last >= 0, last, first[:, None])
    filled = np.take_along_axis(values, source, axis=1)
    present = np.any(valid, axis=1, keepdims=True)
    return np.where(present, filled, 0.0)


def held_heading(yaw: FloatArray, speed: FloatArray, valid: BoolArray, min_speed: float) -> FloatArray:
    """`yaw` (A, T) [rad] where the agent moves (|`speed`| >= `min_speed` [m/s]), else its heading at the
    nearest earlier moving step (before the first one: at the first); rows that never move keep their
    yaw. NaN where not `valid`. A standing vehicle's recorded heading can be noise (highD's jump
    between 0, +-90 and 180 degrees at standstill), while a vehicle does not turn on the spot."""
    moving = valid & (np.abs(np.nan_to_num(speed)) >= min_speed)
    held = np.where(np.any(moving, axis=1, keepdims=True), fill_invalid(yaw, moving), yaw)
    return np.where(valid, held, np.nan)
