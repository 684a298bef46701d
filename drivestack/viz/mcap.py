"""Foxglove export: one closed-loop run as an MCAP file that opens in Foxglove as it is.

Written with foxglove-sdk's own message schemas (protobuf, schemas embedded in the file), all in
the world frame "map" except the ego, which has its own frame "ego" placed by a map -> ego
transform at every step. Topics (log time and message timestamp = step x dt, in nanoseconds):

| topic | schema | messages |
|---|---|---|
| /map | foxglove.SceneUpdate | 1: lane bounds, stop lines and goal regions as line primitives |
| /lights | foxglove.SceneUpdate | per step: each light's colour (a sphere, a bar over its stop line) |
| /agents | foxglove.SceneUpdate | per step: each agent present as a cube (height by type) with an id label |
| /ego | foxglove.SceneUpdate | per step: the ego's cube in frame "ego" |
| /plan | foxglove.SceneUpdate | per step: the trajectory the planner returned (line strip) |
| /decision | foxglove.SceneUpdate | per step: the planner's decision as text above the ego |
| /decision_log | foxglove.Log | per step: the decision's full text (Foxglove's Log panel) |
| /tf | foxglove.FrameTransforms | per step: map -> ego |
| /human | foxglove.SceneUpdate | 1 (when a solution file gave one): the recorded human's path |
| /collisions | foxglove.SceneUpdate | per first contact, at its step: the box hit, in red, and its sentence |
| /metrics | drivestack.Metrics (JSON) | per step: numbers and 0/1 flags (`SIGNALS`) for Plot panels |

The file's metadata record "drivestack.run" holds the scenario, problem, planner, agents mode and
count, steps, dt, score, collisions and the failure events in words (`events.describe_events`).
`LAYOUT` is a Foxglove layout (3D view following the ego, plots of speed, acceleration, jerk, TTC
and the flags, the decision log) shipped with the package; `foxglove_layout()` builds it.
Entities that change every step carry a lifetime of one step, so an agent that leaves the scene
disappears. The file is written to a temporary name beside the target and renamed when complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import foxglove
import foxglove.layouts as fl
import numpy as np
from foxglove.channels import FrameTransformsChannel, LogChannel, SceneUpdateChannel
from matplotlib.colors import to_rgba

try:  # foxglove-sdk 2026 renamed foxglove.schemas to foxglove.messages
    from foxglove import messages as fox
except ImportError:  # pragma: no cover - older foxglove-sdk
    from foxglove import schemas as fox  # type: ignore[no-redef]

from drivestack.core.errors import InputError
from drivestack.core.record import RunRecord
from drivestack.core.scenario import AgentType, PlanningProblem, RecordedEgo, Scenario
from drivestack.metrics import MetricContext, ScenarioMetrics, compute_metric, evaluate_context
from drivestack.metrics.events import collision_event, describe_events
from drivestack.viz.bev import AGENT_COLORS, EGO_COLOR, GOAL_COLOR, LIGHT_COLORS, agent_group

HEIGHTS = {"car": 1.5, "truck / bus": 3.2, "two-wheeler": 1.5, "pedestrian": 1.75, "other": 1.5}
"""Cube height [m] by agent group."""
MAP_FRAME, EGO_FRAME = "map", "ego"
SCENE_TOPICS = ("/map", "/lights", "/agents", "/ego", "/plan", "/decision", "/human", "/collisions")
TOPICS = (*SCENE_TOPICS, "/decision_log", "/tf", "/metrics")
COLLISION_COLOR = "#f03e3e"
HUMAN_COLOR = "#495057"
SIGNALS = {
    "speed": ("m/s", "the ego's speed"),
    "acceleration": ("m/s2", "the ego's longitudinal acceleration (as simulated)"),
    "lon_accel": ("m/s2", "smoothed longitudinal acceleration (comfort metric)"),
    "lat_accel": ("m/s2", "smoothed lateral acceleration"),
    "jerk": ("m/s3", "jerk of the acceleration magnitude"),
    "lon_jerk": ("m/s3", "longitudinal jerk"),
    "yaw_rate": ("rad/s", "yaw rate"),
    "ttc": ("s", "time to collision (null: none within 3 s)"),
    "outside_drivable_area": ("m", "largest corner distance outside the drivable area"),
    "lane_progress": ("m", "progress along the driven lane over the last second"),
    "overspeed": ("m/s", "speed above the lane's limit"),
    "displacement": ("m", "distance to the recorded human (null without one)"),
    "contact": ("0/1", "the ego's box overlaps another box"),
    "collisions": ("count", "objects touched for the first time"),
    "at_fault_collisions": ("count", "at-fault first contacts"),
    "in_lane": ("0/1", "corners within one lane or connected lanes"),
    "off_drivable_area": ("0/1", "a corner at least 0.3 m outside the drivable area"),
    "wrong_way": ("0/1", "the last second drove at least 2 m against the lane"),
    "ttc_violation": ("0/1", "time to collision below 0.95 s"),
    "goal": ("0/1", "a goal state is satisfied"),
}
"""The fields of each /metrics message besides `step` and `t` [s]: unit and meaning."""
_METRICS_SCHEMA = {
    "type": "object",
    "title": "drivestack.Metrics",
    "properties": {
        "step": {"type": "integer", "description": "scenario step"},
        "t": {"type": "number", "description": "scenario time [s]"},
        **{
            name: {"type": ["number", "null"], "description": f"{meaning} [{unit}]"}
            for name, (unit, meaning) in SIGNALS.items()
        },
    },
}
LAYOUT = Path(__file__).parent / "assets" / "foxglove-layout.json"
"""The Foxglove layout shipped with the package (Foxglove: Layouts, Import from file)."""


@dataclass(frozen=True)
class McapExport:
    """What was written: the file and how many messages each topic got."""

    path: Path
    messages: dict[str, int]


def _color(hex_color: str, alpha: float = 1.0) -> fox.Color:
    r, g, b, _ = to_rgba(hex_color)
    return fox.Color(r=r, g=g, b=b, a=alpha)


def _time(step: int, dt: float) -> fox.Timestamp:
    nanoseconds = _nanoseconds(step, dt)
    return fox.Timestamp(sec=nanoseconds // 1_000_000_000, nsec=nanoseconds % 1_000_000_000)


def _nanoseconds(step: int, dt: float) -> int:
    """Log time of `step` [ns]: step x dt, so the timeline shows the scenario's own seconds."""
    return round(step * dt * 1e9)


def _rotation(yaw: float) -> fox.Quaternion:
    """The rotation by `yaw` [rad] about the vertical axis."""
    return fox.Quaternion(x=0.0, y=0.0, z=float(np.sin(yaw / 2)), w=float(np.cos(yaw / 2)))


def _pose(x: float, y: float, z: float, yaw: float) -> fox.Pose:
    return fox.Pose(position=fox.Vector3(x=x, y=y, z=z), orientation=_rotation(yaw))


def _line(
    points: np.ndarray, color: fox.Color, thickness: float, z: float = 0.02, loop: bool = False
) -> fox.LinePrimitive:
    """A line through `points` (P, 2) [m] at height `z` [m], `thickness` [m]."""
    kind = fox.LinePrimitiveLineType.LineLoop if loop else fox.LinePrimitiveLineType.LineStrip
    return fox.LinePrimitive(
        type=kind,
        thickness=thickness,
        points=[fox.Point3(x=float(x), y=float(y), z=z) for x, y in np.asarray(points, dtype=np.float64)],
        color=color,
    )


def _map_update(scenario: Scenario, problem: PlanningProblem, dt: float, step: int) -> fox.SceneUpdate:
    """Lane bounds (intersection, crosswalk and sidewalk lanes in their own shades), stop lines and
    the problem's goal regions, as persistent entities."""
    bounds, shades = [], {"intersection": "#ced4da", "crosswalk": "#f8f9fa", "sidewalk": "#adb5bd"}
    for lane in scenario.lane_graph.lanes.values():
        shade = next((shades[t] for t in lane.lane_types if t in shades), "#868e96")
        bounds += [_line(bound, _color(shade), 0.12) for bound in (lane.left, lane.right)]
        if lane.stop_line is not None and lane.stop_line.start is not None and lane.stop_line.end is not None:
            bounds.append(_line(np.array([lane.stop_line.start, lane.stop_line.end]), _color("#ffffff"), 0.3))
    goals = [
        _line(region.outline(), _color(GOAL_COLOR), 0.25, z=0.05, loop=True)
        for state in problem.goal.states
        for region in state.regions
        if len(region.outline()) >= 3
    ]
    stamp = _time(step, dt)
    return fox.SceneUpdate(
        entities=[
            fox.SceneEntity(timestamp=stamp, frame_id=MAP_FRAME, id="lanes", lines=bounds),
            fox.SceneEntity(timestamp=stamp, frame_id=MAP_FRAME, id="goal", lines=goals),
        ]
    )


def _agents_update(record: RunRecord, i: int, lifetime: fox.Duration) -> fox.SceneUpdate:
    """Every agent present at record column `i`: a cube in its type's colour and an id label."""
    tracks = record.agents
    stamp = _time(int(record.steps[i]), record.dt)
    entities = []
    for row in np.flatnonzero(tracks.valid[:, i]).tolist():
        kind = tracks.agent_type[row]
        group = agent_group(kind)
        height = HEIGHTS[group]
        x, y, yaw = float(tracks.x[row, i]), float(tracks.y[row, i]), float(tracks.yaw[row, i])
        cube = fox.CubePrimitive(
            pose=_pose(x, y, height / 2, yaw),
            size=fox.Vector3(x=float(tracks.length[row]), y=float(tracks.width[row]), z=height),
            color=_color(AGENT_COLORS[group], 0.9),
        )
        label = fox.TextPrimitive(
            pose=_pose(x, y, height + 0.8, 0.0),
            billboard=True,
            font_size=14.0,
            scale_invariant=True,
            color=_color("#212529"),
            text=f"{int(tracks.ids[row])} {kind.value}"
            if kind is not AgentType.CAR
            else str(int(tracks.ids[row])),
        )
        entities.append(
            fox.SceneEntity(
                timestamp=stamp,
                frame_id=MAP_FRAME,
                id=f"agent/{int(tracks.ids[row])}",
                lifetime=lifetime,
                cubes=[cube],
                texts=[label],
            )
        )
    return fox.SceneUpdate(entities=entities)


def _lights_update(scenario: Scenario, step: int, dt: float, lifetime: fox.Duration) -> fox.SceneUpdate:
    """Each light's colour at `step`: a sphere at the light, a bar over the stop lines it governs."""
    stamp = _time(step, dt)
    entities = []
    for light in scenario.traffic_lights:
        color = _color(LIGHT_COLORS[light.colors_at(np.array([step]))[0]])
        bars = [
            _line(np.array([lane.stop_line.start, lane.stop_line.end]), color, 0.5, z=0.06)
            for lane in scenario.lane_graph.lanes.values()
            if light.id in lane.traffic_light_ids
            and lane.stop_line is not None
            and lane.stop_line.start is not None
            and lane.stop_line.end is not None
        ]
        sphere = fox.SpherePrimitive(
            pose=_pose(light.x, light.y, 3.0, 0.0), size=fox.Vector3(x=0.8, y=0.8, z=0.8), color=color
        )
        entities.append(
            fox.SceneEntity(
                timestamp=stamp,
                frame_id=MAP_FRAME,
                id=f"light/{light.id}",
                lifetime=lifetime,
                spheres=[sphere],
                lines=bars,
            )
        )
    return fox.SceneUpdate(entities=entities)


def _signals(ctx: MetricContext) -> dict[str, np.ndarray]:
    """Per-step values (T,) of every `SIGNALS` field, NaN where a signal is undefined (no TTC, no human)."""
    config, ego = ctx.config, ctx.record.ego
    registered = {name for name in SIGNALS if name not in ("speed", "acceleration")} - {
        "off_drivable_area",
        "wrong_way",
        "ttc_violation",
    }
    values = {}
    for name in registered:
        computed = compute_metric(name, ctx)
        values[name] = np.where(computed.valid & np.isfinite(computed.values), computed.values, np.nan)
    values["speed"], values["acceleration"] = ego.speed, ego.acceleration
    ttc = compute_metric("ttc", ctx).values
    values["off_drivable_area"] = values["outside_drivable_area"] >= config.max_outside_distance
    values["wrong_way"] = -values["lane_progress"] >= config.direction_compliance
    values["ttc_violation"] = ttc < config.ttc_min
    return {name: np.asarray(values[name], dtype=np.float64) for name in SIGNALS}


def _metrics_message(signals: dict[str, np.ndarray], i: int, step: int, dt: float) -> dict[str, Any]:
    """The /metrics message of record column `i`: step, time [s] and each signal (NaN as null)."""
    message: dict[str, Any] = {"step": step, "t": step * dt}
    for name, values in signals.items():
        value = float(values[i])
        message[name] = value if np.isfinite(value) else None
    return message


def _human_update(human: RecordedEgo, dt: float, step: int) -> fox.SceneUpdate:
    """The recorded human's whole path as one persistent dashed-grey line."""
    path = human.trajectory
    line = _line(np.column_stack([path.x, path.y]), _color(HUMAN_COLOR, 0.8), 0.2, z=0.08)
    entity = fox.SceneEntity(timestamp=_time(step, dt), frame_id=MAP_FRAME, id="human", lines=[line])
    return fox.SceneUpdate(entities=[entity])


def _collision_update(ctx: MetricContext, index: int) -> tuple[int, fox.SceneUpdate]:
    """(scenario step, marker) of first contact `index`: the object's box in red at the contact and
    the event's sentence above it, kept to the end of the run (no lifetime)."""
    found, objects = ctx.collisions, ctx.objects
    row, column = int(found.objects[index]), int(found.steps[index])
    event = collision_event(ctx, index)
    step = int(event["collision_step"])
    x, y, yaw = float(objects.x[row, column]), float(objects.y[row, column]), float(objects.yaw[row, column])
    cube = fox.CubePrimitive(
        pose=_pose(x, y, 1.0, yaw),
        size=fox.Vector3(
            x=float(objects.length[row, column]) + 0.3, y=float(objects.width[row, column]) + 0.3, z=2.0
        ),
        color=_color(COLLISION_COLOR, 0.6),
    )
    text = fox.TextPrimitive(
        pose=_pose(x, y, 3.5, 0.0),
        billboard=True,
        font_size=14.0,
        scale_invariant=True,
        color=_color(COLLISION_COLOR),
        text=describe_events({**event, "dt": ctx.dt})[0],
    )
    entity = fox.SceneEntity(
        timestamp=_time(step, ctx.dt),
        frame_id=MAP_FRAME,
        id=f"collision/{event['collision_agent_id']}",
        cubes=[cube],
        texts=[text],
    )
    return step, fox.SceneUpdate(entities=[entity])


def run_metadata(record: RunRecord, metrics: ScenarioMetrics) -> dict[str, str]:
    """The "drivestack.run" metadata record: what was run and how it scored, as strings."""
    row = {**metrics.as_row(), "dt": record.dt}
    return {
        "scenario": record.scenario_id,
        "planning_problem": str(record.planning_problem_id),
        "planner": record.planner,
        "agents": record.agents_mode,
        "num_agents": str(record.agents.num_agents),
        "steps": str(record.num_steps),
        "dt": f"{record.dt:g}",
        "score": f"{metrics.score:.6g}",
        "collisions": str(metrics.collisions),
        "at_fault_collisions": str(metrics.at_fault_collisions),
        "goal_reached": str(metrics.goal_reached).lower(),
        "events": "; ".join(describe_events(row)) or "none",
    }


def export_run(scenario: Scenario, record: RunRecord, path: str | Path) -> McapExport:
    """Write `record` (a run on `scenario`, scored here against its recorded human when there is one)
    as an MCAP file at `path` (see the module docstring).

    Raises InputError when the file cannot be written."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(target, None, f"cannot be written ({error.strerror or error})") from error
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    problem = scenario.planning_problem(record.planning_problem_id)
    human = scenario.recorded_ego(problem.id)
    ctx = MetricContext(scenario, problem, record, human)
    metrics = evaluate_context(ctx)
    signals = _signals(ctx)
    dt = record.dt
    lifetime = fox.Duration(sec=0, nsec=_nanoseconds(1, dt))
    counts = dict.fromkeys(TOPICS, 0)
    context = foxglove.Context()
    try:
        with foxglove.open_mcap(temporary, allow_overwrite=True, context=context) as writer:
            channels: dict[str, Any] = {
                topic: SceneUpdateChannel(topic, context=context) for topic in SCENE_TOPICS
            }
            channels["/decision_log"] = LogChannel("/decision_log", context=context)
            channels["/tf"] = FrameTransformsChannel("/tf", context=context)
            schema = foxglove.Schema(
                name="drivestack.Metrics", encoding="jsonschema", data=json.dumps(_METRICS_SCHEMA).encode()
            )
            channels["/metrics"] = foxglove.Channel(
                "/metrics", schema=schema, message_encoding="json", context=context
            )

            def send(topic: str, message: object, step: int) -> None:
                channels[topic].log(message, log_time=_nanoseconds(step, dt))
                counts[topic] += 1

            first = int(record.steps[0])
            send("/map", _map_update(scenario, problem, dt, first), first)
            if human is not None:
                send("/human", _human_update(human, dt, first), first)
            contacts = sorted(
                (_collision_update(ctx, index) for index in range(len(ctx.collisions.objects))),
                key=lambda contact: contact[0],
            )
            ego = record.ego
            for i, step in enumerate(record.steps.tolist()):
                stamp = _time(step, dt)
                x, y, yaw = float(ego.x[i]), float(ego.y[i]), float(ego.yaw[i])
                transform = fox.FrameTransform(
                    timestamp=stamp,
                    parent_frame_id=MAP_FRAME,
                    child_frame_id=EGO_FRAME,
                    translation=fox.Vector3(x=x, y=y, z=0.0),
                    rotation=_rotation(yaw),
                )
                send("/tf", fox.FrameTransforms(transforms=[transform]), step)
                send("/lights", _lights_update(scenario, step, dt, lifetime), step)
                send("/agents", _agents_update(record, i, lifetime), step)
                body = fox.CubePrimitive(
                    pose=_pose(0.0, 0.0, 0.75, 0.0),
                    size=fox.Vector3(x=ego.length, y=ego.width, z=1.5),
                    color=_color(EGO_COLOR),
                )
                ego_entity = fox.SceneEntity(
                    timestamp=stamp,
                    frame_id=EGO_FRAME,
                    id="ego",
                    lifetime=lifetime,
                    frame_locked=True,
                    cubes=[body],
                )
                send("/ego", fox.SceneUpdate(entities=[ego_entity]), step)
                send("/plan", _plan_update(record, i, lifetime), step)
                decision = record.decisions[i] if i < len(record.decisions) else None
                text = fox.TextPrimitive(
                    pose=_pose(0.0, 0.0, 3.0, 0.0),
                    billboard=True,
                    font_size=16.0,
                    scale_invariant=True,
                    color=_color(EGO_COLOR),
                    text=decision.action if decision is not None else "-",
                )
                label = fox.SceneEntity(
                    timestamp=stamp,
                    frame_id=EGO_FRAME,
                    id="decision",
                    lifetime=lifetime,
                    frame_locked=True,
                    texts=[text],
                )
                send("/decision", fox.SceneUpdate(entities=[label]), step)
                send(
                    "/decision_log",
                    fox.Log(
                        timestamp=stamp,
                        level=fox.LogLevel.Info,
                        message=str(decision) if decision is not None else "-",
                        name=record.planner,
                    ),
                    step,
                )
                send("/metrics", _metrics_message(signals, i, step, dt), step)
                for contact_step, update in contacts:
                    if contact_step == step:
                        send("/collisions", update, step)
            writer.write_metadata("drivestack.run", run_metadata(record, metrics))
        os.replace(temporary, target)
    except OSError as error:
        raise InputError(target, None, f"cannot be written ({error.strerror or error})") from error
    finally:
        temporary.unlink(missing_ok=True)
    return McapExport(target, counts)


def foxglove_layout() -> str:
    """The Foxglove layout (JSON) for these files: the 3D view following the ego with the scene
    topics, beside plots of speed and acceleration, jerk, TTC and the metric flags, and the decision log."""

    def plot(title: str, *fields: str) -> fl.PlotPanel:
        series = [fl.PlotSeries(value=f"/metrics.{name}", label=name, enabled=True) for name in fields]
        return fl.PlotPanel(title=title, config=fl.PlotConfig(paths=series, show_legend=True, is_synced=True))

    shown = {topic: fl.BaseRendererSceneUpdateTopicSettings(visible=True) for topic in SCENE_TOPICS}
    scene = fl.ThreeDeePanel(
        title="scene",
        config=fl.ThreeDeeConfig(follow_tf=EGO_FRAME, topics=shown),  # type: ignore[arg-type]
    )
    plots = fl.SplitContainer(
        direction="column",
        items=[
            fl.SplitItem(content=plot("speed [m/s], acceleration [m/s2]", "speed", "acceleration")),
            fl.SplitItem(content=plot("jerk [m/s3]", "jerk", "lon_jerk")),
            fl.SplitItem(content=plot("time to collision [s]", "ttc")),
            fl.SplitItem(
                content=plot(
                    "flags", "contact", "off_drivable_area", "wrong_way", "ttc_violation", "in_lane", "goal"
                )
            ),
            fl.SplitItem(
                content=fl.LogPanel(title="decisions", config=fl.LogConfig(topic_to_render="/decision_log"))
            ),
        ],
    )
    layout = fl.Layout(
        content=fl.SplitContainer(
            direction="row",
            items=[fl.SplitItem(proportion=3, content=scene), fl.SplitItem(proportion=2, content=plots)],
        )
    )
    return json.dumps(json.loads(layout.to_json()), indent=1, sort_keys=True) + "\n"


def _plan_update(record: RunRecord, i: int, lifetime: fox.Duration) -> fox.SceneUpdate:
    """The trajectory the planner returned at record column `i` (none when it failed)."""
    plan = record.planned[i] if i < len(record.planned) else None
    lines: Iterable[fox.LinePrimitive] = ()
    if plan is not None and len(plan) >= 2:
        lines = [_line(np.stack([plan.x, plan.y], axis=1), _color(EGO_COLOR, 0.8), 0.3, z=0.1)]
    stamp = _time(int(record.steps[i]), record.dt)
    return fox.SceneUpdate(
        entities=[
            fox.SceneEntity(
                timestamp=stamp, frame_id=MAP_FRAME, id="plan", lifetime=lifetime, lines=list(lines)
            )
        ]
    )
