"""The time step a recording really has, read from its own motion, and scenarios re-timed to it.

A closed loop needs the step at which the recorded traffic moves: the ego advances speed x dt per
step, the recorded agents advance whatever the file says. Two datasets declare the wrong step: in
every highD file (`timeStepSize` 0.1 s) the agents move 2.0 x (velocity x 0.1 s) per step and their
velocity changes by 2.0 x (acceleration x 0.1 s), i.e. the states are 0.2 s apart; in SinD (0.1 s
declared) they move 5.0 x, i.e. 0.5 s apart (checked on all 1,062 dev scenarios: exiD, inD, MONA
and NGSIM move exactly at their declared step). Simulated at the declared step, the ego would crawl
at half (a fifth of) the traffic's pace and every speed-based metric would be off by that factor.

`motion_time_step` measures the step from the displacement between consecutive states and the
mean of their speeds (agents and recorded egos, moving samples only); `retimed` replaces the
scenario's `dt` (and its recorded egos') by the measured step when that is an integer multiple
(2 or more, within `TOLERANCE`) of the declared one, and leaves it alone otherwise (including
scenarios with too few moving samples to tell). Steps and goal time intervals, counted in steps,
are unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from drivestack.core.scenario import Scenario

TOLERANCE = 0.1
"""Largest relative distance of the measured ratio to the nearest integer for a re-time."""
MIN_SAMPLES = 20
"""Fewest moving state pairs the measurement needs."""
_MOVING = 1.0  # [m/s] mean speed from which a state pair counts as moving


def motion_time_step(scenario: Scenario) -> float | None:
    """The median time [s] between consecutive states implied by distance / mean speed, over all
    agents and recorded egos; None with fewer than MIN_SAMPLES moving state pairs."""
    tracks = scenario.tracks
    series = [(tracks.x, tracks.y, tracks.speed)]
    series += [
        (e.trajectory.x[None], e.trajectory.y[None], e.trajectory.speed[None]) for e in scenario.recorded_egos
    ]
    ratios = []
    for x, y, speed in series:
        if x.shape[1] < 2:
            continue
        distance = np.hypot(np.diff(x, axis=1), np.diff(y, axis=1))
        mean_speed = 0.5 * (speed[:, 1:] + speed[:, :-1])
        moving = np.isfinite(distance) & (mean_speed > _MOVING)
        ratios.append(distance[moving] / mean_speed[moving])
    samples = np.concatenate(ratios) if ratios else np.zeros(0)
    return float(np.median(samples)) if len(samples) >= MIN_SAMPLES else None


def retimed(scenario: Scenario) -> Scenario:
    """`scenario` on the time step its motion shows, when that is an integer multiple of the
    declared one (see the module docstring); the same object otherwise."""
    measured = motion_time_step(scenario)
    if measured is None:
        return scenario
    ratio = measured / scenario.dt
    factor = round(ratio)
    if factor < 2 or abs(ratio - factor) > TOLERANCE * factor:
        return scenario
    dt = scenario.dt * factor
    egos = tuple(
        dataclasses.replace(ego, trajectory=dataclasses.replace(ego.trajectory, dt=dt))
        for ego in scenario.recorded_egos
    )
    return dataclasses.replace(scenario, dt=dt, recorded_egos=egos)
