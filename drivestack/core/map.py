"""Lane-level map vocabulary: lanes (CommonRoad lanelets) and the graph that connects them.

Polylines are (P, 2) float64 arrays [m] in the scenario's world frame. A lane's centerline runs in
its driving direction; `left`/`right` bounds are as seen when driving along it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Neighbour:
    """An adjacent lane and whether it is driven in the same direction as the lane that names it."""

    lane_id: int
    same_direction: bool


@dataclass(frozen=True)
class StopLine:
    """A stop line across a lane: its end points [m], marking, and the signs/lights it belongs to."""

    start: tuple[float, float] | None
    end: tuple[float, float] | None
    marking: str = ""
    traffic_sign_ids: tuple[int, ...] = ()
    traffic_light_ids: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class Lane:
    """One lane segment (a CommonRoad lanelet) with its topology and rules.

    `left`, `right`, `center`: (P, 2) [m]; `speed_limit` [m/s] or None when the map gives none;
    `lane_types` e.g. ("highway",), ("intersection",); `users_one_way` / `users_bidirectional` as in
    CommonRoad (e.g. "vehicle", "bicycle", "pedestrian").
    """

    id: int
    left: FloatArray
    right: FloatArray
    center: FloatArray
    predecessors: tuple[int, ...] = ()
    successors: tuple[int, ...] = ()
    left_neighbour: Neighbour | None = None
    right_neighbour: Neighbour | None = None
    lane_types: tuple[str, ...] = ()
    users_one_way: tuple[str, ...] = ()
    users_bidirectional: tuple[str, ...] = ()
    speed_limit: float | None = None
    left_marking: str = ""
    right_marking: str = ""
    stop_line: StopLine | None = None
    traffic_sign_ids: tuple[int, ...] = ()
    traffic_light_ids: tuple[int, ...] = ()

    def polygon(self) -> FloatArray:
        """The lane's outline as a ring (left bound forward, right bound backward), (2P, 2) [m]."""
        return np.concatenate([self.left, self.right[::-1]])


@dataclass(frozen=True)
class IntersectionIncoming:
    """One approach of an intersection: its incoming lanes and where they lead."""

    id: int
    incoming_lane_ids: tuple[int, ...]
    successors_right: tuple[int, ...] = ()
    successors_straight: tuple[int, ...] = ()
    successors_left: tuple[int, ...] = ()
    is_left_of: int | None = None


@dataclass(frozen=True)
class Intersection:
    """An intersection as CommonRoad models it: a set of incoming approaches."""

    id: int
    incomings: tuple[IntersectionIncoming, ...]


@dataclass(frozen=True, eq=False)
class LaneGraph:
    """All lanes of a map keyed by id, plus intersections; `map_id` names the map for storage."""

    map_id: str
    lanes: dict[int, Lane] = field(default_factory=dict)
    intersections: tuple[Intersection, ...] = ()

    def __len__(self) -> int:
        return len(self.lanes)

    def lane(self, lane_id: int) -> Lane:
        """The lane with this id; raises KeyError when absent."""
        return self.lanes[lane_id]
