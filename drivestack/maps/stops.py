"""Where traffic on a lane stops for its traffic lights and signs.

A lane's stop is its stop line (the middle of the line projected onto the centerline) or, for a lane
controlled by lights without a drawn line, the lane's end. Shared by the planner's corridors and the
simulator's reactive agents, so both stop at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivestack.core.map import Lane
from drivestack.maps.index import MapIndex


@dataclass(frozen=True)
class LaneStop:
    """A lane's stop: arc length `s` [m] from the lane's start, and the lights and signs it serves."""

    lane_id: int
    s: float
    traffic_light_ids: tuple[int, ...]
    traffic_sign_ids: tuple[int, ...]


def lane_stop(lane: Lane, index: MapIndex) -> LaneStop | None:
    """The stop of `lane` (see the module docstring); None for a lane with neither a stop line nor lights."""
    line = lane.stop_line
    lights = tuple(lane.traffic_light_ids) + (line.traffic_light_ids if line else ())
    signs = tuple(lane.traffic_sign_ids) + (line.traffic_sign_ids if line else ())
    if line is not None and line.start is not None and line.end is not None:
        middle = 0.5 * (np.asarray(line.start) + np.asarray(line.end))
        s, _, _ = index.project(np.array([lane.id]), middle[None])
        at = float(s[0])
    elif lights:
        row = index.rows(np.array([lane.id]))[0]
        at = float(index.lengths[row]) if row >= 0 else float("nan")
    else:
        return None
    if not np.isfinite(at):
        return None
    return LaneStop(lane.id, at, tuple(sorted(set(lights))), tuple(sorted(set(signs))))
