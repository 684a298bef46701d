"""Pictures and animations of a closed-loop run, built on `viz.bev`'s layers.

A frame shows, in a view that follows the ego: the lanes, the traffic lights in their colour at the
step, the goal region, every agent as its oriented outline in its type's colour with its id, the
ego as simulated (its box, its driven path so far, the trajectory the planner returned at the step),
the recorded human's path for reference, and a panel with the time, the ego's speed and the
planner's decision (or the failure that made the ego brake). `FrameRenderer` draws a run's frames
into one reused figure (`render_frame` gives one as a matplotlib Figure); `frames` renders a run's
steps as RGB arrays of one size; `write_gif` and `write_mp4` encode them (Pillow for GIF, the
ffmpeg binary that imageio-ffmpeg ships for H.264 MP4). Every file is written to a temporary name
and renamed when complete.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as imageio
import imageio_ffmpeg
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from numpy.typing import NDArray

from drivestack.core.errors import ConfigError, InputError
from drivestack.core.record import RunRecord
from drivestack.core.scenario import Scenario
from drivestack.viz.bev import (
    AGENT_COLORS,
    EGO_COLOR,
    GOAL_COLOR,
    Bounds,
    agent_group,
    box_outline,
    draw_agents,
    draw_goals,
    draw_lanes,
    draw_lights,
    draw_occupancies,
)

Image = NDArray[np.uint8]
_TITLE = 0.3  # height of the title strip above the map [in]


@dataclass(frozen=True)
class FrameStyle:
    """Frame size `width` x `height` [in] at `dpi` (MP4 wants pixel sizes divisible by 16: the
    default is 960 x 640 px), the view's width [m] around the ego (its height follows the frame's
    shape), how far ahead of the ego [m] the view's centre sits, and whether agents show their ids."""

    width: float = 9.6
    height: float = 6.4
    dpi: int = 100
    view: float = 100.0
    lead: float = 20.0
    labels: bool = True

    @property
    def pixels(self) -> tuple[int, int]:
        """(height, width) of a frame [px]."""
        return round(self.height * self.dpi), round(self.width * self.dpi)


@dataclass(frozen=True)
class Animation:
    """A written animation: its file, frame count, frame size (height, width) [px] and frame rate."""

    path: Path
    frames: int
    size: tuple[int, int]
    fps: float


def _bounds(record: RunRecord, i: int, style: FrameStyle) -> Bounds:
    """The view at record column `i`: `style.view` metres wide, centred `style.lead` ahead of the ego."""
    ego = record.ego
    cx = float(ego.x[i]) + style.lead * float(np.cos(ego.yaw[i]))
    cy = float(ego.y[i]) + style.lead * float(np.sin(ego.yaw[i]))
    half_w = style.view / 2
    half_h = half_w * (style.height - _TITLE) / style.width
    return cx - half_w, cx + half_w, cy - half_h, cy + half_h


def _decision_text(record: RunRecord, i: int, width: int = 70) -> str:
    """The panel's text at record column `i`: time, speed, planner and its decision (details wrapped
    at `width` characters, two lines at most)."""
    step = int(record.steps[i])
    lines = [
        f"t = {step * record.dt:5.1f} s   step {step}   v = {record.ego.speed[i]:4.1f} m/s   "
        f"a = {record.ego.acceleration[i]:+4.1f} m/s²",
    ]
    last = i >= len(record.planned) - 1
    decision = record.decisions[i] if i < len(record.decisions) else None
    if not last and record.planned[i] is None:
        lines.append(f"{record.planner}: plan failed, braking")
    elif decision is not None:
        lines.append(f"{record.planner}: {decision.action}")
        wrapped = textwrap.wrap(decision.details, width)
        lines += wrapped[:2] if len(wrapped) <= 2 else [wrapped[0], wrapped[1][: width - 1] + "…"]
    else:
        lines.append(record.planner if not last else f"{record.planner}: {record.termination or 'end'}")
    return "\n".join(lines)


class FrameRenderer:
    """Renders the frames of one run into one reused figure: the map, the goal, the recorded
    human's path and the legend are drawn once; each frame replaces the moving layers."""

    def __init__(self, scenario: Scenario, record: RunRecord, style: FrameStyle = FrameStyle()) -> None:
        self.scenario, self.record, self.style = scenario, record, style
        self.figure = Figure(figsize=(style.width, style.height), dpi=style.dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.ax = self.figure.add_axes((0.0, 0.0, 1.0, (style.height - _TITLE) / style.height))
        problem = scenario.planning_problem(record.planning_problem_id)
        draw_lanes(
            ax,
            scenario.lane_graph,
            None,
            [lane for state in problem.goal.states for lane in state.lanelet_ids],
        )
        draw_goals(ax, scenario)
        human = scenario.recorded_ego(record.planning_problem_id)
        if human is not None:
            path = human.trajectory
            ax.plot(path.x, path.y, color="#495057", linewidth=1.0, linestyle=(0, (3, 3)), zorder=4)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        self.figure.text(
            0.01,
            1.0 - 0.5 * _TITLE / style.height,
            f"{record.scenario_id}   problem {record.planning_problem_id}   {record.agents_mode} agents",
            fontsize=10,
            fontweight="bold",
            va="center",
        )
        groups = sorted({agent_group(kind) for kind in record.agents.agent_type})
        handles: list[Artist] = [Patch(color=AGENT_COLORS[group], label=group) for group in groups]
        handles += [
            Patch(color=EGO_COLOR, label=f"ego ({record.planner})"),
            Line2D([], [], color=EGO_COLOR, linewidth=2.2, label="plan"),
            Patch(facecolor=GOAL_COLOR, alpha=0.3, hatch="///", label="goal"),
        ]
        if human is not None:
            handles.append(Line2D([], [], color="#495057", linestyle=(0, (3, 3)), label="recorded human"))
        ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.85)
        self._moving: list[Artist] = []

    def draw(self, i: int) -> Figure:
        """The figure showing record column `i` (see the module docstring)."""
        record, style, ax = self.record, self.style, self.ax
        if not 0 <= i < record.num_steps:
            raise ConfigError(f"frame {i} outside the run's {record.num_steps} steps")
        for artist in self._moving:
            artist.remove()
        before = set(ax.get_children())
        bounds = _bounds(record, i, style)
        draw_lights(ax, self.scenario, int(record.steps[i]))
        draw_occupancies(ax, self.scenario, int(record.steps[i]))
        draw_agents(ax, record.agents, i, labels=style.labels, bounds=bounds)
        ego = record.ego
        ax.plot(ego.x[: i + 1], ego.y[: i + 1], color=EGO_COLOR, linewidth=1.4, alpha=0.6, zorder=4)
        plan = record.planned[i] if i < len(record.planned) else None
        if plan is not None:
            ax.plot(plan.x, plan.y, color=EGO_COLOR, linewidth=2.2, zorder=8)
            ax.plot(plan.x[-1:], plan.y[-1:], "o", color=EGO_COLOR, markersize=4, zorder=8)
        corners = box_outline(float(ego.x[i]), float(ego.y[i]), float(ego.yaw[i]), ego.length, ego.width)
        ax.add_patch(Polygon(corners, facecolor=EGO_COLOR, edgecolor="black", linewidth=1.0, zorder=9))
        ax.text(
            0.01,
            0.985,
            _decision_text(record, i, min(90, int(11 * style.width))),
            transform=ax.transAxes,
            fontsize=8,
            va="top",
            family="monospace",
            linespacing=1.3,
            zorder=12,
            bbox={"facecolor": "white", "alpha": 0.88, "edgecolor": "#ced4da", "boxstyle": "round,pad=0.4"},
        )
        ax.set_xlim(bounds[0], bounds[1])
        ax.set_ylim(bounds[2], bounds[3])
        self._moving = [artist for artist in ax.get_children() if artist not in before]
        return self.figure

    def image(self, i: int) -> Image:
        """Record column `i` as an RGB image (H, W, 3) uint8."""
        self.draw(i)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def render_frame(scenario: Scenario, record: RunRecord, i: int, style: FrameStyle = FrameStyle()) -> Figure:
    """The figure of record column `i` of a run on `scenario` (see the module docstring)."""
    return FrameRenderer(scenario, record, style).draw(i)


def frame_stride(record: RunRecord, fps: float) -> int:
    """Steps per frame for about `fps` frames per second: 1 / (fps x dt) rounded, at least 1."""
    if not fps > 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    return max(1, round(1.0 / (fps * record.dt)))


def frame_seconds(record: RunRecord, fps: float) -> float:
    """How long each frame shows [s] so the run plays in real time: dt x the frame stride (GIF and
    MP4 alike; the frame rate actually used is its inverse, close to `fps`)."""
    return record.dt * frame_stride(record, fps)


def frame_columns(record: RunRecord, fps: float) -> list[int]:
    """Record columns shown at about `fps` frames per second in real time (every `frame_stride`-th
    step), always ending with the last."""
    columns = list(range(0, record.num_steps, frame_stride(record, fps)))
    return columns if columns[-1] == record.num_steps - 1 else [*columns, record.num_steps - 1]


def frames(
    scenario: Scenario, record: RunRecord, fps: float, style: FrameStyle = FrameStyle()
) -> Iterator[Image]:
    """The run's frames at `fps` (see `frame_columns`), each (H, W, 3) uint8 of `style.pixels`."""
    renderer = FrameRenderer(scenario, record, style)
    for i in frame_columns(record, fps):
        yield renderer.image(i)


def _temporary(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(target, None, f"cannot be written ({error.strerror or error})") from error
    return target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix}")


def save_frame(
    scenario: Scenario, record: RunRecord, i: int, path: str | Path, style: FrameStyle = FrameStyle()
) -> Path:
    """Write record column `i` as a PNG at `path` (atomic)."""
    target = Path(path)
    temporary = _temporary(target)
    try:
        imageio.imwrite(temporary, FrameRenderer(scenario, record, style).image(i), extension=".png")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def write_gif(
    scenario: Scenario,
    record: RunRecord,
    path: str | Path,
    fps: float = 5.0,
    style: FrameStyle = FrameStyle(),
) -> Animation:
    """Write the run as a looping GIF at about `fps` frames per second in real time (each frame shows
    `frame_seconds`; GIF delays are whole centiseconds) (atomic)."""
    target = Path(path)
    temporary = _temporary(target)
    images = list(frames(scenario, record, fps, style))
    seconds = frame_seconds(record, fps)
    try:
        imageio.imwrite(temporary, images, extension=".gif", duration=1000.0 * seconds, loop=0)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return Animation(target, len(images), images[0].shape[:2], 1.0 / seconds)


def write_mp4(
    scenario: Scenario,
    record: RunRecord,
    path: str | Path,
    fps: float = 10.0,
    style: FrameStyle = FrameStyle(),
) -> Animation:
    """Write the run as an H.264 MP4 (yuv420p, plays in browsers) at about `fps` in real time (each
    frame shows `frame_seconds`, as in the GIF) (atomic)."""
    target = Path(path)
    temporary = _temporary(target)
    count = 0
    rate = 1.0 / frame_seconds(record, fps)
    try:
        height, width = style.pixels
        writer = imageio_ffmpeg.write_frames(
            str(temporary), (width, height), fps=rate, codec="libx264", pix_fmt_out="yuv420p", quality=7
        )
        writer.send(None)  # start ffmpeg
        try:
            for image in frames(scenario, record, fps, style):
                writer.send(np.ascontiguousarray(image))
                count += 1
        finally:
            writer.close()
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return Animation(target, count, style.pixels, rate)
