"""The data behind the report's run viewer: one run as compact JSON for the inlined script.

The viewer (`assets/viewer.js`) draws a run's bird's-eye view on an HTML canvas, step by step: the
lanes near the run, the goal regions, the traffic lights in their colour at the step, every object
the ego came near as its box (red where it overlaps the ego), the ego's box, its plan at the step
and the recorded human's path; and, below, the ego's speed, acceleration, jerk, time to collision
and the per-step metric flags against time. `run_view` builds what it draws and nothing more from
the run's trace (`bench.records.RunTrace`: kept by the benchmark, or made by a re-simulation):
coordinates rounded to centimetres (plans to decimetres), angles to milliradians, objects and lanes
only near the ego.
`embed` turns it into JSON that is safe inside a `<script type="application/json">` element.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivestack.bench.records import NearObjects, RunTrace
from drivestack.core.scenario import LightColor, PlanningProblem, Scenario
from drivestack.metrics.config import DEFAULT_CONFIG
from drivestack.metrics.events import describe_events
from drivestack.viz.bev import AGENT_COLORS, EGO_COLOR, GOAL_COLOR, LIGHT_COLORS, agent_group, ego_drive

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NEAR = 80.0
"""Lanes and lights farther than this [m] from the ego's path, the human's and the goal are left out
(objects: the trace keeps those within `bench.records.OBJECT_REACH` of the ego)."""
TTC_CAP = 10.0
"""Times to collision above this [s] (or none) are drawn at it."""
_LIGHT_CODES = {
    LightColor.RED: "r",
    LightColor.RED_YELLOW: "o",
    LightColor.YELLOW: "y",
    LightColor.GREEN: "g",
    LightColor.INACTIVE: "i",
}


def _round(values: Any, digits: int = 2) -> list[Any]:
    """`values` as nested lists rounded to `digits` decimals, NaN and infinities as None."""
    array = np.round(np.asarray(values, dtype=np.float64), digits)
    return [value if math.isfinite(value) else None for value in array.tolist()]


def _flat(points: FloatArray, digits: int = 2) -> list[float]:
    """Points (K, 2) [m] as one flat list x0, y0, x1, y1, ... rounded to `digits` decimals."""
    return [float(v) for v in np.round(np.asarray(points, dtype=np.float64), digits).ravel()]


def _near(points: FloatArray, anchors: FloatArray, reach: float) -> bool:
    """True when any of `points` (K, 2) lies within `reach` [m] of any of `anchors` (M, 2)."""
    if len(points) == 0 or len(anchors) == 0:
        return False
    low, high = anchors.min(axis=0) - reach, anchors.max(axis=0) + reach
    inside = np.all((points >= low) & (points <= high), axis=1)
    if not inside.any():
        return False
    candidates = points[inside]
    gaps = np.hypot(*(candidates[:, None, :] - anchors[None, :, :]).transpose(2, 0, 1))
    return bool((gaps <= reach).any())


def _flags(trace: RunTrace) -> dict[str, list[int]]:
    """Per-step metric flags (T,) as 0/1: overlap, off the drivable area, against the lane direction,
    over the speed limit, time to collision under its bound, goal satisfied."""
    config, values = DEFAULT_CONFIG, {name: steps.values for name, steps in trace.metrics.items()}
    flags = {
        "contact": values["contact"] > 0.5,
        "off road": values["outside_drivable_area"] > config.max_outside_distance,
        "wrong way": values["lane_progress"] < -config.direction_compliance,
        "overspeed": values["overspeed"] > 0.0,
        "TTC low": values["ttc"] <= config.ttc_min,
        "goal": values["goal"] > 0.5,
    }
    return {name: flag.astype(int).tolist() for name, flag in flags.items()}


def _objects(objects: NearObjects) -> list[dict[str, Any]]:
    """The objects that came near the ego (see `bench.records.near_objects`): id, kind, box size and
    pose per step (None where absent), and the steps it overlaps the ego."""
    drawn = []
    for k, kind in enumerate(objects.types):
        valid = objects.valid[k]
        drawn.append(
            {
                "id": int(objects.ids[k]),
                "type": kind.name.lower().replace("_", " ") if objects.agent[k] else "static obstacle",
                "group": agent_group(kind) if objects.agent[k] else "other",
                "l": round(float(np.nanmax(objects.length[k], initial=0.0)), 2),
                "w": round(float(np.nanmax(objects.width[k], initial=0.0)), 2),
                "x": _round(np.where(valid, objects.x[k], np.nan)),
                "y": _round(np.where(valid, objects.y[k], np.nan)),
                "yaw": _round(np.where(valid, objects.yaw[k], np.nan), 3),
                "hit": np.flatnonzero(objects.contact[k]).tolist(),
            }
        )
    return drawn


def _lights(scenario: Scenario, steps: IntArray, anchors: FloatArray) -> list[dict[str, Any]]:
    """Traffic lights near the run (on its `steps` (T,)): position, stop bars (ends of the lanes that
    refer to them) and colour per step as one letter (r, y, g, ...)."""
    lights = []
    for light in scenario.traffic_lights:
        if not _near(np.array([[light.x, light.y]]), anchors, NEAR):
            continue
        bars = [
            _flat(np.array([lane.left[-1], lane.right[-1]]))
            for lane in scenario.lane_graph.lanes.values()
            if light.id in lane.traffic_light_ids
        ]
        codes = "".join(_LIGHT_CODES[color] for color in light.colors_at(steps))
        lights.append({"x": round(light.x, 2), "y": round(light.y, 2), "bars": bars, "c": codes})
    return lights


def run_view(
    scenario: Scenario, problem: PlanningProblem, trace: RunTrace, row: Mapping[str, Any]
) -> dict[str, Any]:
    """What the viewer draws of one run (see the module docstring), JSON-ready: from its `trace`
    (stored by the benchmark, or of a re-simulation), the scenario as the run saw it and the
    benchmark's result `row` (its failure events)."""
    ego = trace.ego
    ego_xy = np.column_stack([ego.x, ego.y])
    human = ego_drive(scenario, problem)
    goals = [
        region.outline()
        for state in problem.goal.states
        for region in state.regions
        if len(region.outline()) >= 3
    ]
    anchors = np.concatenate(
        [ego_xy, *([np.column_stack([human.x, human.y])] if human is not None else []), *goals]
    )[:: max(1, len(ego_xy) // 200)]
    lanes = [
        _flat(lane.polygon())
        for lane in scenario.lane_graph.lanes.values()
        if _near(lane.center, anchors, NEAR)
    ]
    plans = [None if plan is None else _flat(plan, 1) for plan in trace.plans]
    ttc = trace.metrics["ttc"].values
    return {
        "dt": float(trace.dt),
        "steps": trace.steps.tolist(),
        "ego": {
            "l": round(ego.length, 2),
            "w": round(ego.width, 2),
            "x": _round(ego.x),
            "y": _round(ego.y),
            "yaw": _round(ego.yaw, 3),
        },
        "human": _flat(np.column_stack([human.x, human.y])) if human is not None else None,
        "plans": plans,
        "objects": _objects(trace.objects),
        "lanes": lanes,
        "goals": [_flat(goal) for goal in goals],
        "lights": _lights(scenario, trace.steps, anchors),
        "series": {
            "speed [m/s]": _round(ego.speed),
            "acceleration [m/s²]": _round(trace.metrics["lon_accel"].values),
            "jerk [m/s³]": _round(trace.metrics["jerk"].values),
            "TTC [s]": _round(np.minimum(np.where(np.isfinite(ttc), ttc, TTC_CAP), TTC_CAP)),
        },
        "flags": _flags(trace),
        "decisions": [
            [i, decision]
            for i, decision in enumerate(trace.decisions)
            if decision and (i == 0 or decision != trace.decisions[i - 1])
        ],
        "failures": list(trace.failures[:20]),
        "events": event_marks(row, trace.steps),
        "palette": {
            **{code: LIGHT_COLORS[color] for color, code in _LIGHT_CODES.items()},
            **AGENT_COLORS,
            "ego": EGO_COLOR,
            "goal": GOAL_COLOR,
        },
    }


def embed(data: Any) -> str:
    """`data` as JSON that cannot end or break out of the `<script>` element holding it."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def event_marks(row: Mapping[str, Any], steps: IntArray) -> dict[str, Any]:
    """A run's named failure events (its result row's `metrics.events` columns): their sentences
    (`describe_events`) and where they are on the time line of `steps` (T,), as (step index, kind) marks."""
    marks = [
        (row.get("collision_step"), "collision"),
        (row.get("drivable_violation_step"), "off the drivable area"),
        (row.get("direction_violation_step"), "against the lane direction"),
    ]
    min_ttc = row.get("min_ttc")
    if min_ttc is not None and min_ttc < DEFAULT_CONFIG.ttc_min:
        marks.append((row.get("min_ttc_step"), "lowest time to collision"))
    return {
        "text": describe_events(row),
        "marks": [
            {"index": int(np.searchsorted(steps, step)), "kind": kind}
            for step, kind in marks
            if step is not None
        ],
    }
