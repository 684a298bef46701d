"""Collisions of the ego with other road users and obstacles, and nuPlan's at-fault classification.

As nuPlan (no_ego_at_fault_collisions): a collision is the ego's box overlapping another box; each
object counts once, at its first contact. The contact is classified in this order: the ego is
stopped (|speed| <= 0.05 m/s: not at fault); the object is stopped (speed <= 0.005 m/s, or static: at
fault); the object is behind the ego (bearing from the rear axle > 150 deg: rear-ended, not at
fault); the ego's front bumper touches it (at fault); otherwise a lateral collision, at fault
only when the ego is not within one lane or connected lanes (changing lanes, or off the lanes).
The score multiplies max(0, 1 - n / (allowed + 1)) over VRUs (0 allowed), vehicles (0) and objects
(1): one at-fault collision with an object scores 0.5, any other at-fault collision 0.
Deviations: boxes are the agents' bounding rectangles (nuPlan's are too); the ego's rear axle sits
half a wheelbase behind its centre; motorcycles count as VRUs (nuPlan has no motorcycle class).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from drivestack.core.geometry import boxes_overlap
from drivestack.core.scenario import AgentType
from drivestack.metrics.config import MetricsConfig
from drivestack.metrics.steps import StepValues

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class Category(IntEnum):
    """nuPlan's collision categories, which weigh differently in the no-at-fault-collision score."""

    VEHICLE = 0
    VRU = 1
    OBJECT = 2


_OBJECT_TYPES = frozenset(
    {
        AgentType.CONSTRUCTION_ZONE,
        AgentType.ROAD_BOUNDARY,
        AgentType.BUILDING,
        AgentType.PILLAR,
        AgentType.MEDIAN_STRIP,
        AgentType.UNKNOWN,
    }
)


def category_of(agent_type: AgentType) -> Category:
    """Collision category of an agent type: VRU (pedestrian, bicycle, motorcycle), object (static
    clutter and unknown) or vehicle (everything else, parked vehicles included)."""
    if agent_type.is_vulnerable:
        return Category.VRU
    return Category.OBJECT if agent_type in _OBJECT_TYPES else Category.VEHICLE


class CollisionKind(IntEnum):
    """nuPlan's collision types."""

    STOPPED_EGO = 0
    STOPPED_AGENT = 1
    ACTIVE_FRONT = 2
    ACTIVE_REAR = 3
    ACTIVE_LATERAL = 4


@dataclass(frozen=True, eq=False)
class Collisions:
    """First contacts (K,): object row, step index, kind, fault, category; `contact` (N, T): all overlaps."""

    objects: IntArray
    steps: IntArray
    kinds: IntArray
    at_fault: BoolArray
    categories: IntArray
    contact: BoolArray

    def per_step(self, num_steps: int, mask: BoolArray | None = None) -> FloatArray:
        """Number of (masked) first contacts at each of `num_steps` steps (T,)."""
        steps = self.steps if mask is None else self.steps[mask]
        return np.bincount(steps, minlength=num_steps).astype(np.float64)


def overlaps(ego_corners: FloatArray, corners: FloatArray) -> BoolArray:
    """(N, T) True where object boxes corners (N, T, 4, 2) overlap the ego's (T, 4, 2) [m]; NaN boxes never.

    Pairs farther apart than their half diagonals are skipped before the separating-axis test.
    """
    ego_centre = ego_corners.mean(axis=1)
    centre = corners.mean(axis=2)
    ego_radius = 0.5 * np.hypot(*(ego_corners[:, 0] - ego_corners[:, 2]).T)
    radius = 0.5 * np.hypot(*(corners[:, :, 0] - corners[:, :, 2]).transpose(2, 0, 1))
    gap = np.hypot(*(centre - ego_centre).transpose(2, 0, 1))
    near = np.argwhere(gap <= radius + ego_radius)  # NaN compares False: invalid boxes drop out
    contact = np.zeros(centre.shape[:2], dtype=bool)
    contact[near[:, 0], near[:, 1]] = boxes_overlap(ego_corners[near[:, 1]], corners[near[:, 0], near[:, 1]])
    return contact


def bearing(origin: FloatArray, heading: FloatArray, xy: FloatArray) -> FloatArray:
    """Angle [rad] in [0, pi] between `heading` (K,) and the direction from origin (K, 2) to xy (K, 2) [m].

    NaN where the two points coincide (no direction).
    """
    offset = xy - origin
    norm = np.hypot(offset[:, 0], offset[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (np.cos(heading) * offset[:, 0] + np.sin(heading) * offset[:, 1]) / norm
    return np.where(norm > 0.0, np.arccos(np.clip(cosine, -1.0, 1.0)), np.nan)


def find_collisions(ctx: MetricContext) -> Collisions:
    """Every object's first contact with the ego, classified by nuPlan's rules (see the module docstring)."""
    config, objects, ego = ctx.config, ctx.objects, ctx.record.ego
    contact = overlaps(ctx.ego_corners, objects.corners)
    hit = np.flatnonzero(contact.any(axis=1))
    steps = contact[hit].argmax(axis=1)
    corners = ctx.ego_corners[steps]
    bumper = corners[:, [0, 0, 3, 3]]  # front-left to front-right, as a degenerate box
    kinds = np.full(len(hit), CollisionKind.ACTIVE_LATERAL, dtype=np.int64)
    front = boxes_overlap(bumper, objects.corners[hit, steps])
    centres = np.column_stack([objects.x[hit, steps], objects.y[hit, steps]])
    behind = bearing(ctx.rear_axle[steps], ego.yaw[steps], centres) > config.behind_angle
    # assign in reverse priority so the first matching rule wins
    kinds[front] = CollisionKind.ACTIVE_FRONT
    kinds[behind] = CollisionKind.ACTIVE_REAR
    kinds[objects.speed[hit, steps] <= config.agent_stopped_speed] = CollisionKind.STOPPED_AGENT
    kinds[np.abs(ego.speed[steps]) <= config.ego_stopped_speed] = CollisionKind.STOPPED_EGO
    at_fault = np.isin(kinds, [CollisionKind.STOPPED_AGENT, CollisionKind.ACTIVE_FRONT]) | (
        (kinds == CollisionKind.ACTIVE_LATERAL) & ~ctx.in_lane[steps]
    )
    return Collisions(
        hit.astype(np.int64), steps.astype(np.int64), kinds, at_fault, objects.category[hit], contact
    )


def no_at_fault_score(collisions: Collisions, config: MetricsConfig) -> float:
    """nuPlan's no-at-fault-collision score in {0, 0.5, 1}: the product over categories of
    max(0, 1 - at-fault count / (allowed + 1))."""
    allowed = {
        Category.VRU: config.max_collisions_vru,
        Category.VEHICLE: config.max_collisions_vehicle,
        Category.OBJECT: config.max_collisions_object,
    }
    score = 1.0
    for category, tolerated in allowed.items():
        count = int(np.count_nonzero(collisions.categories[collisions.at_fault] == category))
        score *= max(0.0, 1.0 - count / (tolerated + 1))
    return score


def new_collisions(ctx: MetricContext) -> StepValues:
    """Number of objects the ego touches for the first time at each step."""
    return StepValues.everywhere(ctx.collisions.per_step(ctx.num_steps))


def new_at_fault_collisions(ctx: MetricContext) -> StepValues:
    """Number of at-fault first contacts at each step (nuPlan's fault rules)."""
    collisions = ctx.collisions
    return StepValues.everywhere(collisions.per_step(ctx.num_steps, collisions.at_fault))
