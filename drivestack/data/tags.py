"""The tag row that mining detectors emit and the store keeps, one per finding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tag:
    """A finding in a scenario: `tag` seen for `agent_id` (-1: scene-wide) over steps [step_start, step_end].

    `value` carries the detector's measure (e.g. min time-to-collision [s], deceleration [m/s2]).
    `planning_problem_id` names the ego the finding is relative to (a low TTC with it, a stopped
    vehicle in its lanes, its own lane change), -1 when it holds whichever ego is considered (an
    agent braking hard): scenarios with several planning problems tag one agent once per ego.
    """

    scenario_id: str
    tag: str
    agent_id: int
    step_start: int
    step_end: int
    value: float
    planning_problem_id: int = -1
