"""Bird's-eye pictures of a scenario with matplotlib: lanes, agents, the ego, its goal, lights, tags.

Each `draw_*` function adds one layer to a matplotlib `Axes` in world coordinates [m] and can be
reused by animations (draw the static layers once, the agents per frame). `render_scene` composes
them into a figure zoomed on what matters at one step: one ego, its path over the next seconds,
its goal (when near), the agents around it and the agents of the tags in focus, wherever they
are. Figures are plain `matplotlib.figure.Figure`s (no pyplot, no global state), rendered by the
Agg canvas: no display needed. Standing agents keep their last moving heading on screen
(`held_heading`): highD records noise headings at standstill, which would turn boxes across the road.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from matplotlib.patheffects import withStroke
from numpy.typing import NDArray

from drivestack.core.errors import ConfigError
from drivestack.core.facts import HEADING_SPEED, held_heading, twin_row
from drivestack.core.files import as_new_file
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import (
    AgentType,
    LightColor,
    PlanningProblem,
    Scenario,
    Shape,
    Tracks,
    vehicle_dimensions,
)
from drivestack.data.tags import Tag
from drivestack.maps.index import intersection_lanes_of

FloatArray = NDArray[np.float64]
Bounds = tuple[float, float, float, float]  # xmin, xmax, ymin, ymax [m]

AGENT_COLORS: dict[str, str] = {
    "car": "#3b6fb6",
    "truck / bus": "#7b4fa0",
    "two-wheeler": "#e08a1e",
    "pedestrian": "#d6336c",
    "other": "#6c757d",
}
EGO_COLOR = "#c92a2a"
GOAL_COLOR = "#2b8a3e"
LIGHT_COLORS = {
    LightColor.RED: "#e03131",
    LightColor.RED_YELLOW: "#f76707",
    LightColor.YELLOW: "#fab005",
    LightColor.GREEN: "#2f9e44",
    LightColor.INACTIVE: "#adb5bd",
}
_HALO = [withStroke(linewidth=2.5, foreground="white")]  # keeps labels readable over lanes and boxes
_KIND_GROUP = {
    AgentType.CAR: "car",
    AgentType.TAXI: "car",
    AgentType.PRIORITY_VEHICLE: "car",
    AgentType.PARKED_VEHICLE: "car",
    AgentType.TRUCK: "truck / bus",
    AgentType.BUS: "truck / bus",
    AgentType.MOTORCYCLE: "two-wheeler",
    AgentType.BICYCLE: "two-wheeler",
    AgentType.PEDESTRIAN: "pedestrian",
}


@dataclass(frozen=True)
class BevStyle:
    """How `render_scene` frames and labels a picture.

    The view holds the framed ego at the step, its known path within `path_reach` [m], its goal
    regions closer than `goal_reach` [m], agents within `context_radius` [m] of it and the agents of
    the tags in focus present at the step (at any distance), plus `margin` [m], at least
    `min_extent` [m] along its longer side. The figure is `width` [in] wide at `dpi`; its map's
    height follows the view's shape within `heights` [in], and the view is widened to fill it.
    Below the map a `profile_height` [in] panel plots the speed of the egos and of up to
    `profile_agents` agents named by tags, those in focus first (omitted when there is neither).
    """

    width: float = 12.0
    heights: tuple[float, float] = (4.0, 10.0)
    dpi: int = 110
    margin: float = 12.0
    min_extent: float = 60.0
    context_radius: float = 35.0
    goal_reach: float = 150.0
    path_reach: float = 60.0
    labels: bool = True
    profile_height: float = 2.2
    profile_agents: int = 6


@dataclass(frozen=True)
class Drive:
    """An ego's known drive: steps (K,) and pose x, y [m], yaw [rad] (held at standstill) and speed
    [m/s] (K,) at them; from its recorded trajectory, else from the track of its twin agent."""

    steps: NDArray[np.int64]
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray


def ego_drive(scenario: Scenario, problem: PlanningProblem) -> Drive | None:
    """The drive of a planning problem's ego: its recorded trajectory, else its twin agent's track
    (MONA and inD problems are cut from recorded vehicles, `twin_row`); None when neither exists."""
    recorded = scenario.recorded_ego(problem.id)
    if recorded is not None and len(recorded.trajectory):
        path = recorded.trajectory
        steps, x, y, yaw, speed = path.steps.astype(np.int64), path.x, path.y, path.yaw, path.speed
    else:
        twin = twin_row(scenario, problem.initial)
        if twin < 0:
            return None
        tracks = scenario.tracks
        steps = np.flatnonzero(tracks.valid[twin]).astype(np.int64)
        x, y, yaw, speed = (values[twin, steps] for values in (tracks.x, tracks.y, tracks.yaw, tracks.speed))
    held = held_heading(yaw[None], speed[None], np.ones((1, len(steps)), dtype=bool), HEADING_SPEED)[0]
    return Drive(steps, np.asarray(x), np.asarray(y), held, np.asarray(speed))


def displayed(tracks: Tracks) -> Tracks:
    """`tracks` with each standing agent's heading held at its last moving one (`held_heading`)."""
    return dataclasses.replace(
        tracks, yaw=held_heading(tracks.yaw, tracks.speed, tracks.valid, HEADING_SPEED)
    )


def agent_group(kind: AgentType) -> str:
    """The legend group (colour) of an agent type."""
    return _KIND_GROUP.get(kind, "other")


def shape_outline(shape: Shape, x: float, y: float, yaw: float) -> FloatArray:
    """World-frame outline (K, 2) [m] of a shape given in its owner's frame, placed at pose (x, y, yaw)."""
    local = shape.outline()
    c, s = np.cos(yaw), np.sin(yaw)
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def box_outline(x: float, y: float, yaw: float, length: float, width: float) -> FloatArray:
    """Corners (4, 2) [m] of a length x width [m] box centred at (x, y) heading yaw [rad]."""
    half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * np.array([length, width]) / 2.0
    c, s = np.cos(yaw), np.sin(yaw)
    return half @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def _visible(points: FloatArray, bounds: Bounds | None, slack: float = 20.0) -> bool:
    """True when any of the points (K, 2) lies in `bounds` expanded by `slack` [m] (all when no bounds)."""
    if bounds is None:
        return True
    xmin, xmax, ymin, ymax = bounds
    inside = (points[:, 0] > xmin - slack) & (points[:, 0] < xmax + slack)
    return bool((inside & (points[:, 1] > ymin - slack) & (points[:, 1] < ymax + slack)).any())


def draw_lanes(
    ax: Axes, graph: LaneGraph, bounds: Bounds | None = None, goal_lanes: Iterable[int] = ()
) -> None:
    """Lane surfaces (grey; intersection lanes, as the map marks them, darker; goal lanes green), bounds
    and faint centerlines."""
    goal = set(goal_lanes)
    junction = intersection_lanes_of(graph)
    lanes = [lane for lane in graph.lanes.values() if _visible(lane.center, bounds)]
    faces = [
        to_rgba(GOAL_COLOR, 0.3)
        if lane.id in goal
        else to_rgba("#ced4da" if lane.id in junction else "#e9ecef", 0.9)
        for lane in lanes
    ]
    ax.add_collection(
        PolyCollection([lane.polygon() for lane in lanes], facecolors=faces, edgecolors="none", zorder=1)
    )
    borders = [bound for lane in lanes for bound in (lane.left, lane.right)]
    ax.add_collection(LineCollection(borders, colors="#868e96", linewidths=0.7, zorder=2))
    ax.add_collection(
        LineCollection(
            [lane.center for lane in lanes],
            colors="#adb5bd",
            linewidths=0.5,
            linestyles=(0, (4, 6)),
            zorder=2,
        )
    )


SOURCE_COLORS: dict[str, str] = {
    "lane": "#1c7ed6",
    "road_line": "#f08c00",
    "road_edge": "#212529",
    "crosswalk": "#ae3ec9",
}
"""Colours of the source map's polyline kinds (`registry.source_polylines`); other kinds (speed
bumps, driveways, drivable areas) are drawn in `SOURCE_OTHER_COLOR`."""
SOURCE_OTHER_COLOR = "#2f9e44"


def draw_source_map(
    ax: Axes, polylines: Sequence[tuple[str, FloatArray]], bounds: Bounds | None = None
) -> list[str]:
    """The source's own map polylines (kind, (P, 2) [m]) as thin coloured lines; returns the kinds
    drawn (for a legend)."""
    shown = [(kind, points) for kind, points in polylines if len(points) >= 2 and _visible(points, bounds)]
    ax.add_collection(
        LineCollection(
            [points for _, points in shown],
            colors=[SOURCE_COLORS.get(kind, SOURCE_OTHER_COLOR) for kind, _ in shown],
            linewidths=0.9,
            zorder=3,
        )
    )
    return sorted({kind for kind, _ in shown})


def draw_agents(
    ax: Axes,
    tracks: Tracks,
    step: int,
    highlight: Iterable[int] = (),
    labels: bool = True,
    bounds: Bounds | None = None,
) -> list[str]:
    """Every agent valid at `step` (and near `bounds`) as its outline coloured by type, a heading
    tick and its id; agents in `highlight` get a thick black edge and their whole track as a dashed
    line. Returns the type groups of the agents whose centres lie in `bounds` (in view)."""
    marked = set(highlight)
    rows = np.flatnonzero(tracks.valid[:, step])
    centres = np.stack([tracks.x[rows, step], tracks.y[rows, step]], axis=1)
    rows = np.array(
        [row for row, centre in zip(rows, centres, strict=True) if _visible(centre[None], bounds)], dtype=int
    )
    outlines, faces, edges, widths, ticks = [], [], [], [], []
    for row in rows.tolist():
        x, y, yaw = float(tracks.x[row, step]), float(tracks.y[row, step]), float(tracks.yaw[row, step])
        outlines.append(shape_outline(tracks.shapes[row], x, y, yaw))
        faces.append(AGENT_COLORS[agent_group(tracks.agent_type[row])])
        highlighted = int(tracks.ids[row]) in marked
        edges.append("black" if highlighted else "white")
        widths.append(2.0 if highlighted else 0.6)
        reach = 0.5 * float(tracks.length[row])
        ticks.append([(x, y), (x + reach * np.cos(yaw), y + reach * np.sin(yaw))])
    ax.add_collection(
        PolyCollection(outlines, facecolors=faces, edgecolors=edges, linewidths=widths, zorder=5)
    )
    ax.add_collection(LineCollection(ticks, colors="white", linewidths=0.8, zorder=6))
    trails = [
        np.stack([tracks.x[row][tracks.valid[row]], tracks.y[row][tracks.valid[row]]], axis=1)
        for row in rows.tolist()
        if int(tracks.ids[row]) in marked
    ]
    ax.add_collection(
        LineCollection(trails, colors="black", linewidths=0.9, linestyles=(0, (2, 2)), zorder=4)
    )
    if labels:
        for row in rows.tolist():
            ax.annotate(
                str(int(tracks.ids[row])),
                (float(tracks.x[row, step]), float(tracks.y[row, step])),
                xytext=(0, 0.5 * float(tracks.width[row]) + 0.6),
                textcoords="offset fontsize",
                fontsize=7,
                ha="center",
                color="#212529",
                clip_on=True,
                zorder=8,
                path_effects=_HALO,
            )
    shown = [
        row
        for row in rows.tolist()
        if _visible(np.array([[tracks.x[row, step], tracks.y[row, step]]]), bounds, 0.0)
    ]
    return sorted({agent_group(tracks.agent_type[row]) for row in shown})


def draw_ego(ax: Axes, scenario: Scenario, step: int, dt: float | None = None) -> None:
    """Each planning problem's ego: its known drive (`ego_drive`: line, a dot every second of `dt`
    [s] steps, default the scenario's) and its box at `step`, else its initial state. Where the ego
    is not known at `step`, its nearest known (or initial) pose is drawn dashed."""
    per_second = max(1, round(1.0 / (dt or scenario.dt)))
    for problem in scenario.planning_problems:
        recorded = scenario.recorded_ego(problem.id)
        twin = -1 if recorded is not None else twin_row(scenario, problem.initial)
        if twin >= 0:
            length, width = float(scenario.tracks.length[twin]), float(scenario.tracks.width[twin])
        else:
            length, width = vehicle_dimensions(recorded.vehicle_type if recorded else None)
        drive = ego_drive(scenario, problem)
        if drive is not None:
            ax.plot(drive.x, drive.y, color=EGO_COLOR, linewidth=1.6, alpha=0.8, zorder=4)
            ax.plot(
                drive.x[::per_second], drive.y[::per_second], "o", color=EGO_COLOR, markersize=2.5, zorder=4
            )
        x, y, yaw, known = ego_pose(scenario, problem, step)
        pose, dashed = (x, y, yaw), not known
        corners = box_outline(*pose, length, width)
        ax.add_patch(
            Polygon(
                corners,
                facecolor="none" if dashed else EGO_COLOR,
                edgecolor=EGO_COLOR,
                linewidth=1.5,
                linestyle="--" if dashed else "-",
                zorder=7,
            )
        )
        ax.annotate(
            f"ego {problem.id}" + (f" = {int(scenario.tracks.ids[twin])}" if twin >= 0 else ""),
            pose[:2],
            xytext=(10, -10),
            textcoords="offset points",
            fontsize=8,
            ha="left",
            va="top",
            color=EGO_COLOR,
            fontweight="bold",
            zorder=11,
            path_effects=_HALO,
            clip_on=True,
        )


def draw_goals(ax: Axes, scenario: Scenario) -> None:
    """Goal regions of every planning problem, hatched green with the problem id."""
    for problem in scenario.planning_problems:
        for state in problem.goal.states:
            for region in state.regions:
                outline = region.outline()
                if len(outline) < 3:
                    continue
                ax.add_patch(
                    Polygon(
                        outline, facecolor=GOAL_COLOR, alpha=0.18, edgecolor=GOAL_COLOR, hatch="///", zorder=3
                    )
                )
                centre = outline.mean(axis=0)
                ax.text(
                    float(centre[0]),
                    float(centre[1]),
                    f"goal {problem.id}",
                    color=GOAL_COLOR,
                    fontsize=8,
                    ha="center",
                    zorder=8,
                    path_effects=_HALO,
                    clip_on=True,
                )


def draw_occupancies(ax: Axes, scenario: Scenario, step: int) -> None:
    """The region each set-based obstacle occupies at `step` (its exact shapes, a group's parts each),
    hatched in its type's colour over the agents (a region may cover them); phantoms dashed."""
    outlines, faces, styles = [], [], []
    for occupancy in scenario.occupancies:
        at = np.flatnonzero(occupancy.steps == step)
        if len(at) == 0:
            continue
        shape = occupancy.shapes[int(at[0])]
        for part in shape.parts or (shape,):
            outlines.append(part.outline())
            faces.append(to_rgba(AGENT_COLORS[agent_group(occupancy.agent_type)], 0.25))
            styles.append((0, (3, 2)) if occupancy.phantom else "solid")
    ax.add_collection(
        PolyCollection(
            outlines, facecolors=faces, edgecolors="#212529", linewidths=0.9, linestyles=styles, hatch="//",
            zorder=6,
        )
    )  # fmt: skip


def draw_lights(ax: Axes, scenario: Scenario, step: int) -> None:
    """Traffic lights in their colour at `step`: a dot at the light and a bar across the end of every
    lane that refers to it (where its stop line is)."""
    colors = {light.id: light.colors_at(np.array([step]))[0] for light in scenario.traffic_lights}
    for light in scenario.traffic_lights:
        ax.plot(
            light.x,
            light.y,
            "o",
            color=LIGHT_COLORS[colors[light.id]],
            markersize=7,
            mec="black",
            mew=0.6,
            zorder=9,
        )
    bars, bar_colors = [], []
    for lane in scenario.lane_graph.lanes.values():
        for light_id in lane.traffic_light_ids:
            if light_id in colors:
                bars.append([lane.left[-1], lane.right[-1]])
                bar_colors.append(LIGHT_COLORS[colors[light_id]])
    ax.add_collection(LineCollection(bars, colors=bar_colors, linewidths=3.0, zorder=4))


def problem_of(scenario: Scenario, problem_id: int | None = None) -> PlanningProblem | None:
    """The planning problem `problem_id` (default: the first); None without problems; ConfigError for
    an id the scenario does not have."""
    problems = {problem.id: problem for problem in scenario.planning_problems}
    if problem_id is None:
        return scenario.planning_problems[0] if problems else None
    if problem_id not in problems:
        known = ", ".join(str(i) for i in problems) or "none"
        raise ConfigError(f"{scenario.scenario_id} has no planning problem {problem_id} (it has: {known})")
    return problems[problem_id]


def default_step(scenario: Scenario, problem_id: int | None = None) -> int:
    """The step a picture shows by default: where the ego of planning problem `problem_id` (default:
    the first) is first known (its drive's first step, else its initial state's step); 0 without
    problems.

    Some solution files start their trajectory later than the planning problem's initial step
    (at its initial state); their steps agree with the other agents', so the trajectory decides."""
    problem = problem_of(scenario, problem_id)
    if problem is None:
        return 0
    drive = ego_drive(scenario, problem)
    return int(drive.steps[0]) if drive is not None else problem.initial.step


def ego_pose(scenario: Scenario, problem: PlanningProblem, step: int) -> tuple[float, float, float, bool]:
    """Where a planning problem's ego is drawn at `step`: (x [m], y [m], yaw [rad], known at the step).

    Its pose in its drive (`ego_drive`) at the step, else its nearest one there; without a drive,
    its initial state. The flag is False unless the pose is the ego's own at exactly that step."""
    drive = ego_drive(scenario, problem)
    if drive is not None:
        i = int(np.argmin(np.abs(drive.steps - step)))
        return float(drive.x[i]), float(drive.y[i]), float(drive.yaw[i]), int(drive.steps[i]) == step
    initial = problem.initial
    return initial.x, initial.y, initial.yaw, initial.step == step


def choose_focus(
    tags: Sequence[Tag],
    step: int | None = None,
    tag: str | None = None,
    agent: int | None = None,
    problem_id: int | None = None,
) -> tuple[list[Tag] | None, int | None]:
    """The tags a picture is about and its step. With `tag` (a name) and/or `agent` (an id): the first
    such row (of planning problem `problem_id` or scene-wide, when given; active at `step`, when
    given) and, without `step`, its first step. Otherwise None: the tags active at the step drawn
    (`render_scene`'s default); ConfigError when no row matches."""
    if tag is None and agent is None:
        return None, step
    wanted = [
        t
        for t in tags
        if (tag is None or t.tag == tag)
        and (agent is None or t.agent_id == agent)
        and (problem_id is None or t.planning_problem_id in (problem_id, -1))
        and (step is None or t.step_start <= step <= t.step_end)
    ]
    if not wanted:
        named = " and ".join(
            part for part in (f"tag {tag}" if tag else "", f"agent {agent}" if agent else "") if part
        )
        raise ConfigError(
            f"no row of {named} among the tags" + (f" at step {step}" if step is not None else "")
        )
    first = min(wanted, key=lambda t: (t.step_start, t.agent_id, t.planning_problem_id))
    return [first], first.step_start if step is None else step


def view_bounds(
    scenario: Scenario,
    step: int,
    style: BevStyle = BevStyle(),
    focus: Iterable[int] = (),
    problem_id: int | None = None,
) -> Bounds:
    """The area [m] a picture of `step` shows (see `BevStyle`), framed on the ego of planning problem
    `problem_id` (default: the first) and holding the agents `focus` (ids) present at the step."""
    problem = problem_of(scenario, problem_id)
    ego_points = np.zeros((0, 2)) if problem is None else np.array([ego_pose(scenario, problem, step)[:2]])
    anchors = [ego_points]

    def near(points: FloatArray, reach: float) -> FloatArray:
        """The points (K, 2) within `reach` [m] of the ego (all of them without one)."""
        if not len(ego_points) or not len(points):
            return points
        return points[np.hypot(points[:, 0] - ego_points[0, 0], points[:, 1] - ego_points[0, 1]) < reach]

    drive = None if problem is None else ego_drive(scenario, problem)
    if drive is not None:
        anchors.append(near(np.stack([drive.x, drive.y], axis=1), style.path_reach))
    for state in problem.goal.states if problem is not None else ():
        for region in state.regions:
            outline = region.outline()
            if len(outline) and len(near(outline.mean(axis=0)[None], style.goal_reach)):
                anchors.append(outline)
    tracks = scenario.tracks
    valid = tracks.valid[:, step]
    focused = valid & np.isin(tracks.ids, np.array(sorted(set(focus)), dtype=np.int64))
    anchors.append(np.stack([tracks.x[focused, step], tracks.y[focused, step]], axis=1))
    anchors.append(
        near(np.stack([tracks.x[valid, step], tracks.y[valid, step]], axis=1), style.context_radius)
    )
    points = np.concatenate([np.zeros((0, 2)), *anchors])
    if not len(points):
        points = np.zeros((1, 2))
    low, high = points.min(axis=0) - style.margin, points.max(axis=0) + style.margin
    centre, size = (low + high) / 2.0, high - low
    size = size * max(1.0, style.min_extent / max(float(size.max()), 1e-9))
    aspect = style.width / figure_height(size, style)
    size = np.maximum(size, [size[1] * aspect, size[0] / aspect])
    return (
        centre[0] - size[0] / 2,
        centre[0] + size[0] / 2,
        centre[1] - size[1] / 2,
        centre[1] + size[1] / 2,
    )


def figure_height(size: FloatArray, style: BevStyle) -> float:
    """Figure height [in] for a view of `size` (width, height) [m]: its shape within `style.heights`."""
    return float(np.clip(style.width * size[1] / size[0], *style.heights))


def draw_speed_profiles(
    ax: Axes,
    scenario: Scenario,
    agent_ids: Sequence[int],
    step: int,
    dt: float,
    tags: Sequence[Tag] = (),
    framed: int | None = None,
) -> None:
    """Speed [m/s] over time [s] (steps of `dt`) of every ego with a known drive (`ego_drive`; the
    `framed` problem's bold, the others thin) and of `agent_ids`, with the steps of their `tags`
    shaded and a line at `step`: to judge braking, stops and speeds by eye. The legend sits right
    of the plot, clear of the lines."""
    tracks = scenario.tracks
    time = np.arange(scenario.num_steps) * dt
    palette = ["#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#0c8599", "#a61e4d"]
    for i, agent_id in enumerate(agent_ids):
        row = tracks.index_of(agent_id)
        speed = np.where(tracks.valid[row], tracks.speed[row], np.nan)
        color = palette[i % len(palette)]
        ax.plot(time, speed, color=color, linewidth=1.2, label=str(agent_id))
        for tag in tags:
            if tag.agent_id == agent_id:
                ax.axvspan(tag.step_start * dt, (tag.step_end + 1) * dt, color=color, alpha=0.08, linewidth=0)
    for problem in scenario.planning_problems:
        drive = ego_drive(scenario, problem)
        if drive is not None:
            bold = framed is None or problem.id == framed
            ax.plot(
                drive.steps * dt,
                drive.speed,
                color=EGO_COLOR,
                linewidth=1.8 if bold else 0.9,
                linestyle="-" if bold else (0, (4, 2)),
                label=f"ego {problem.id}",
            )
    ax.axvline(step * dt, color="black", linewidth=0.8, linestyle="--")
    low, high = ax.get_ylim()
    ax.set_ylim(min(0.0, low), max(2.0, high))  # from standstill, at least 2 m/s: wiggles stay small
    ax.set_xlim(0.0, max(time[-1], dt))
    ax.set_xlabel("t [s]", fontsize=8)
    ax.set_ylabel("speed [m/s]", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0, framealpha=0.85)


def tag_label(tag: Tag, several_egos: bool) -> str:
    """`agent@start-end`, followed by the ego it is relative to when a scenario has several."""
    relative = several_egos and tag.planning_problem_id >= 0 and tag.planning_problem_id != tag.agent_id
    return f"{tag.agent_id}@{tag.step_start}-{tag.step_end}" + (
        f" (ego {tag.planning_problem_id})" if relative else ""
    )


def _tag_lines(tags: Sequence[Tag], several_egos: bool = False, limit: int = 14) -> list[str]:
    """Legend text: one line per tag name with its agents and step ranges (truncated)."""
    by_name: dict[str, list[Tag]] = {}
    for tag in tags:
        by_name.setdefault(tag.tag, []).append(tag)
    lines = []
    for name in sorted(by_name):
        found = by_name[name]
        parts = [tag_label(t, several_egos) for t in found[:4]]
        more = f" +{len(found) - 4}" if len(found) > 4 else ""
        lines.append(f"{name}: {', '.join(parts)}{more}")
    return lines[:limit] + ([f"... {len(lines) - limit} more tags"] if len(lines) > limit else [])


def profiled_agents(
    scenario: Scenario, tags: Sequence[Tag], focus: Sequence[Tag], step: int, limit: int
) -> list[int]:
    """Up to `limit` agent ids for the speed panel: those of `focus`, then those of tags active at
    `step`, then the other tagged agents, by id; never an ego or the twin agent that is one."""
    tracks = scenario.tracks
    egos = {p.id for p in scenario.planning_problems}
    egos |= {
        int(tracks.ids[row])
        for p in scenario.planning_problems
        if (row := twin_row(scenario, p.initial)) >= 0
    }
    present = {int(i) for i in tracks.ids}
    active = [
        t.agent_id for t in sorted(tags, key=lambda t: t.agent_id) if t.step_start <= step <= t.step_end
    ]
    ordered = [t.agent_id for t in focus] + active + sorted(t.agent_id for t in tags)
    return list(dict.fromkeys(i for i in ordered if i in present and i not in egos))[:limit]


def render_scene(
    scenario: Scenario,
    step: int | None = None,
    tags: Sequence[Tag] = (),
    style: BevStyle = BevStyle(),
    dt: float | None = None,
    focus: Sequence[Tag] | None = None,
    problem_id: int | None = None,
    source: Sequence[tuple[str, FloatArray]] | None = None,
) -> Figure:
    """A figure of `scenario` at `step` (default: `default_step` of the framed ego): lanes, lights,
    goal regions, the egos and their drives, agents with ids, and `tags` (agents they name are
    outlined black; the tags are listed). The view is framed on the ego of planning problem
    `problem_id` (default: that of the first focus tag, else the ego known at `step` nearest to the
    focus agents, else the first) and holds the agents of
    the `focus` tags (default: the tags active at the step) wherever they are; those come first in
    the speed panel. `dt` [s] is the time step used for times and path dots (default the
    scenario's; pass the one its motion implies where they differ). With `source` (the source map's
    polylines, `registry.source_polylines`) a second panel of the same view beside it draws them
    over the converted lanes, so the conversion can be checked by eye."""
    dt = dt or scenario.dt
    if problem_id is None and focus:
        problem_id = next((t.planning_problem_id for t in focus if t.planning_problem_id >= 0), None)
    if problem_id is None and step is not None:
        problem_id = nearest_ego(scenario, step, {t.agent_id for t in focus or ()})
    framed = problem_of(scenario, problem_id)
    problem_id = framed.id if framed is not None else None
    step = default_step(scenario, problem_id) if step is None else step
    step = int(np.clip(step, 0, scenario.num_steps - 1))
    if focus is None:
        focus = [
            t
            for t in tags
            if t.step_start <= step <= t.step_end and t.planning_problem_id in (-1, problem_id)
        ]
    bounds = view_bounds(scenario, step, style, {t.agent_id for t in focus}, problem_id)
    height = figure_height(np.array([bounds[1] - bounds[0], bounds[3] - bounds[2]]), style)
    egos = {p.id for p in scenario.planning_problems}
    named = {t.agent_id for t in tags if t.agent_id not in egos}
    mine = [t for t in tags if t.planning_problem_id in (-1, problem_id)]
    profiled = profiled_agents(scenario, mine, focus, step, style.profile_agents)
    driven = any(ego_drive(scenario, p) is not None for p in scenario.planning_problems)
    panel = style.profile_height if profiled or driven else 0.0
    columns = 1 if source is None else 2
    figure = Figure(figsize=(style.width * columns, height + panel), dpi=style.dpi)
    total = height + panel
    ax = figure.add_axes((0.06 / columns, (panel + 0.6) / total, 0.92 / columns, (height - 1.3) / total))
    if source is not None:
        beside = figure.add_axes((0.5 + 0.03, (panel + 0.6) / total, 0.46, (height - 1.3) / total))
        draw_source_comparison(beside, scenario, source, bounds)
        ax.set_title("converted scenario", fontsize=9)
    if panel:
        profile = figure.add_axes((0.06 / columns, 0.45 / total, 0.84 / columns, (panel - 0.75) / total))
        draw_speed_profiles(profile, scenario, profiled, step, dt, mine, framed.id if framed else None)
    goal_lanes = [
        lane for p in scenario.planning_problems for state in p.goal.states for lane in state.lanelet_ids
    ]
    draw_lanes(ax, scenario.lane_graph, bounds, goal_lanes)
    draw_lights(ax, scenario, step)
    draw_goals(ax, scenario)
    draw_occupancies(ax, scenario, step)
    groups = draw_agents(ax, displayed(scenario.tracks), step, named, style.labels, bounds)
    draw_ego(ax, scenario, step, dt)
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_xlabel("x [m]", fontsize=8)
    ax.set_ylabel("y [m]", fontsize=8)
    framing = (
        f"   framed on ego {framed.id}" if framed is not None and len(scenario.planning_problems) > 1 else ""
    )
    timing = f"step {step} (t = {step * dt:.1f} s of {scenario.num_steps * dt:.1f} s)"
    figure.suptitle(
        f"{scenario.scenario_id}   {timing}{framing}",
        fontsize=11,
        y=0.97,
    )
    handles: list[Artist] = [Patch(color=AGENT_COLORS[group], label=group) for group in groups]
    handles.append(Patch(color=EGO_COLOR, label="ego (known path, dots 1 s)"))
    if goals_in_view(scenario, bounds):
        handles.append(Patch(facecolor=GOAL_COLOR, alpha=0.3, hatch="///", label="goal"))
    if named & {int(i) for i in scenario.tracks.ids[scenario.tracks.valid[:, step]]}:
        handles.append(
            Line2D([], [], color="black", linewidth=2, label="agent named by a tag (its track dashed)")
        )
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    lines = _tag_lines(tags, len(scenario.planning_problems) > 1)
    if lines:
        ax.text(
            0.01,
            0.01,
            "tags (agent@steps)\n" + "\n".join(lines),
            transform=ax.transAxes,
            fontsize=7,
            va="bottom",
            family="monospace",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#ced4da"},
            zorder=10,
        )
    return figure


def draw_source_comparison(
    ax: Axes, scenario: Scenario, source: Sequence[tuple[str, FloatArray]], bounds: Bounds
) -> None:
    """A panel of the source map's polylines over the converted lane graph (grey), with the ego's
    recorded path: where the two disagree, the conversion is wrong."""
    draw_lanes(ax, scenario.lane_graph, bounds)
    kinds = draw_source_map(ax, source, bounds)
    for problem in scenario.planning_problems:
        drive = ego_drive(scenario, problem)
        if drive is not None:
            ax.plot(drive.x, drive.y, color=EGO_COLOR, linewidth=1.0, zorder=4)
    handles: list[Artist] = [Patch(color="#e9ecef", label="converted lanes")]
    handles += [
        Line2D([], [], color=SOURCE_COLORS.get(k, SOURCE_OTHER_COLOR), label=f"source {k}") for k in kinds
    ]
    handles.append(Line2D([], [], color=EGO_COLOR, label="recorded ego"))
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_xlabel("x [m]", fontsize=8)
    ax.set_title(f"source map ({scenario.source or 'source'}) over the converted lanes", fontsize=9)


def nearest_ego(scenario: Scenario, step: int, agent_ids: Iterable[int]) -> int | None:
    """The planning problem whose ego is known at `step` closest to the agents `agent_ids` present
    there (the first known ego without such agents); None when no ego is known at the step."""
    tracks = scenario.tracks
    there = tracks.valid[:, step] & np.isin(tracks.ids, np.array(sorted(set(agent_ids)), dtype=np.int64))
    points = np.stack([tracks.x[there, step], tracks.y[there, step]], axis=1)
    best, nearest = None, np.inf
    for problem in scenario.planning_problems:
        x, y, _, known = ego_pose(scenario, problem, step)
        distance = float(np.hypot(points[:, 0] - x, points[:, 1] - y).min()) if len(points) else 0.0
        if known and distance < nearest:
            best, nearest = problem.id, distance
    return best


def goals_in_view(scenario: Scenario, bounds: Bounds) -> bool:
    """True when a goal of some planning problem, a region or a goal lane, overlaps `bounds` (it is
    drawn in the view)."""
    xmin, xmax, ymin, ymax = bounds
    lanes = scenario.lane_graph.lanes
    for problem in scenario.planning_problems:
        for state in problem.goal.states:
            outlines = [region.outline() for region in state.regions]
            outlines += [lanes[lane].polygon() for lane in state.lanelet_ids if lane in lanes]
            for outline in outlines:
                if len(outline) >= 3 and (
                    outline[:, 0].max() >= xmin
                    and outline[:, 0].min() <= xmax
                    and outline[:, 1].max() >= ymin
                    and outline[:, 1].min() <= ymax
                ):
                    return True
    return False


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write `figure` as a PNG at `path` atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".png")
    os.close(handle)
    try:
        as_new_file(temporary)  # mkstemp makes it private
        figure.savefig(temporary, format="png", dpi=figure.dpi)
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target
