"""Failure events of one run, named: when, with whom and why a run went wrong.

`failure_events` finds, on a scored run, the collision that matters (the first at-fault contact, or
the first contact when none is at fault: its step, time, agent, nuPlan collision type and, when at
fault, why), the first step outside the drivable area, the first step against the driving direction
and the step of the worst time to collision. Steps are scenario steps (as `goal_step`); None means
"no such event" (stored as null). `describe_events` turns a result row holding these fields into
plain-text sentences ("collision with cyclist 10270 at t = 22.5 s (front, at fault: ...)"); names in
them come from data, so whoever renders them (terminal, HTML) escapes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from drivestack.core.names import display_text
from drivestack.metrics.collisions import CollisionKind
from drivestack.metrics.config import DEFAULT_CONFIG

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]

KIND_NAMES = {
    CollisionKind.STOPPED_EGO: "stopped_ego",
    CollisionKind.STOPPED_AGENT: "stopped_agent",
    CollisionKind.ACTIVE_FRONT: "front",
    CollisionKind.ACTIVE_REAR: "rear",
    CollisionKind.ACTIVE_LATERAL: "lateral",
}
"""nuPlan's collision types as stored in `collision_kind`."""

FAULT_REASONS = {
    CollisionKind.STOPPED_AGENT: "the ego drove into a stopped object",
    CollisionKind.ACTIVE_FRONT: "the ego's front bumper made the contact",
    CollisionKind.ACTIVE_LATERAL: "side contact while the ego was changing lanes or off its lanes",
}
"""Why nuPlan holds the ego at fault, per collision type (the others are never at fault)."""

_TYPE_WORDS = {
    "bicycle": "cyclist",
    "motorcycle": "motorcyclist",
    "priorityVehicle": "priority vehicle",
    "parkedVehicle": "parked vehicle",
    "constructionZone": "construction zone",
    "roadBoundary": "road boundary",
    "median_strip": "median strip",
    "unknown": "unknown object",
}


@dataclass(frozen=True)
class FailureEvents:
    """The named failure events of one run (result columns of the same names); None: no such event.

    collision_step / collision_time [s]: scenario step and time (step x dt) of the collision that
    matters, the first at-fault contact or else the first contact; collision_agent_id and
    collision_agent_type (an `AgentType` value, e.g. "bicycle") say whom the ego touched;
    collision_kind is nuPlan's type ("stopped_ego", "stopped_agent", "front", "rear", "lateral");
    collision_at_fault whether nuPlan holds the ego at fault, collision_fault why (None when not).
    drivable_violation_step: first step with an ego corner at least `max_outside_distance` outside
    the drivable area; direction_violation_step: first step whose last second drove at least
    `direction_compliance` [m] against the lane; min_ttc_step: first step with the run's lowest
    finite time to collision (`min_ttc` holds the value).
    """

    collision_step: int | None = None
    collision_time: float | None = None
    collision_agent_id: int | None = None
    collision_agent_type: str | None = None
    collision_kind: str | None = None
    collision_at_fault: bool | None = None
    collision_fault: str | None = None
    drivable_violation_step: int | None = None
    direction_violation_step: int | None = None
    min_ttc_step: int | None = None


def _first(mask: NDArray[np.bool_], steps: NDArray[np.int64]) -> int | None:
    """The scenario step of the first True in `mask` (T,), None when there is none."""
    found = np.flatnonzero(mask)
    return int(steps[found[0]]) if len(found) else None


def failure_events(
    ctx: MetricContext, outside: FloatArray, lane_progress: FloatArray, ttc: FloatArray
) -> FailureEvents:
    """The failure events of the run in `ctx`, from its per-step corner distance outside the drivable
    area [m], windowed lane progress [m] and time to collision [s] (each (T,), as the registry computes)."""
    config, steps = ctx.config, ctx.record.steps
    found = ctx.collisions
    collision: dict[str, Any] = {}
    if len(found.objects):
        # earliest at-fault contact if any, else the earliest contact (ties: the lower object row)
        order = np.lexsort((found.objects, found.steps, ~found.at_fault))
        pick = int(order[0])
        row, kind, at_fault = (
            int(found.objects[pick]),
            CollisionKind(int(found.kinds[pick])),
            bool(found.at_fault[pick]),
        )
        step = int(steps[found.steps[pick]])
        collision = {
            "collision_step": step,
            "collision_time": step * ctx.dt,
            "collision_agent_id": int(ctx.objects.ids[row]),
            "collision_agent_type": str(ctx.objects.types[row]),
            "collision_kind": KIND_NAMES[kind],
            "collision_at_fault": at_fault,
            "collision_fault": FAULT_REASONS[kind] if at_fault else None,
        }
    finite = np.isfinite(ttc)
    return FailureEvents(
        **collision,
        drivable_violation_step=_first(outside >= config.max_outside_distance, steps),
        direction_violation_step=_first(-lane_progress >= config.direction_compliance, steps),
        min_ttc_step=_first(finite & (ttc == ttc[finite].min()), steps) if finite.any() else None,
    )


def _agent_words(agent_type: Any) -> str:
    """An agent type as a word a person reads ("bicycle" -> "cyclist"); unknown text shown literally."""
    text = display_text(str(agent_type))
    return _TYPE_WORDS.get(text, text)


def _at(step: Any, dt: Any) -> str:
    """`t = 2.5 s` for a step and dt [s], or `step N` when dt is unknown."""
    if isinstance(dt, int | float) and dt > 0:
        return f"t = {step * dt:.1f} s"
    return f"step {step}"


def describe_events(row: Mapping[str, Any]) -> list[str]:
    """Plain-text sentences for the failure events of a result row (keys as `FailureEvents` plus
    `dt` and `min_ttc`), in time order; the worst TTC only when below nuPlan's bound (0.95 s); empty
    when nothing happened. Escape them when rendering."""
    dt = row.get("dt")
    events: list[tuple[float, str]] = []
    step = row.get("collision_step")
    if step is not None:
        agent_id = display_text(str(row.get("collision_agent_id")))
        agent = f"{_agent_words(row.get('collision_agent_type'))} {agent_id}"
        kind = display_text(str(row.get("collision_kind"))).replace("_", " ")
        if row.get("collision_at_fault"):
            fault = row.get("collision_fault")
            detail = f"{kind}, at fault: {display_text(str(fault))}" if fault else f"{kind}, at fault"
        else:
            detail = f"{kind}, not at fault"
        events.append((step, f"collision with {agent} at {_at(step, dt)} ({detail})"))
    step = row.get("drivable_violation_step")
    if step is not None:
        events.append((step, f"left the drivable area at {_at(step, dt)}"))
    step = row.get("direction_violation_step")
    if step is not None:
        events.append((step, f"drove against the lane direction at {_at(step, dt)}"))
    step, ttc = row.get("min_ttc_step"), row.get("min_ttc")
    if step is not None and isinstance(ttc, int | float) and ttc < DEFAULT_CONFIG.ttc_min:
        events.append((step, f"time to collision {ttc:.2f} s at {_at(step, dt)}"))
    return [sentence for _, sentence in sorted(events, key=lambda event: event[0])]
