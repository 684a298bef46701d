"""The tag row that mining detectors emit and the store keeps, one per finding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tag:
    """A finding in a scenario: `tag` seen for `agent_id` (-1: scene-wide) over steps [step_start, step_end].

    `value` carries the detector's measure (e.g. min time-to-collision [s], deceleration [m/s2]).
    """

    scenario_id: str
    tag: str
    agent_id: int
    step_start: int
    step_end: int
    value: float
