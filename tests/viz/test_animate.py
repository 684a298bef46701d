"""Frames, GIF and MP4 of a closed-loop run: sizes, frame counts, and what a frame shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import imageio.v2 as imageio_v2
import imageio.v3 as imageio
import imageio_ffmpeg
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from typer.testing import CliRunner

from drivestack.bench.replay import Replay, replay
from drivestack.cli import app
from drivestack.core.errors import ConfigError
from drivestack.viz.animate import (
    FrameStyle,
    frame_columns,
    frame_seconds,
    save_frame,
    write_gif,
    write_mp4,
)
from drivestack.viz.bev import EGO_COLOR

SMALL = FrameStyle(width=4.8, height=3.2, dpi=100)  # 320 x 480 px: quick to render


@pytest.fixture(scope="module")
def replayed(bench_run: Path) -> Replay:
    return replay(bench_run, "ZAM_Intersection-6_1_T-1", planner="drivestack")


def test_frame_columns_play_in_real_time(replayed: Replay) -> None:
    record = replayed.record  # dt 0.1 s
    assert frame_columns(record, 10.0) == list(range(record.num_steps))
    columns = frame_columns(record, 5.0)
    assert columns[:3] == [0, 2, 4] and columns[-1] == record.num_steps - 1
    with pytest.raises(ConfigError):
        frame_columns(record, 0.0)


def test_png_frame_shows_the_ego_at_its_place(replayed: Replay, tmp_path: Path) -> None:
    path = save_frame(replayed.scenario, replayed.record, 10, tmp_path / "frame.png")
    image = imageio.imread(path)
    assert image.shape[:2] == FrameStyle().pixels == (640, 960)
    red = np.all(np.abs(image[..., :3].astype(int) - np.array(to_rgb(EGO_COLOR)) * 255) < 8, axis=-1)
    # the view follows the ego: its centre lies `lead` metres ahead of the ego, mid-map
    style, yaw = FrameStyle(), float(replayed.record.ego.yaw[10])
    scale = style.width * style.dpi / style.view  # [px/m]
    centre_row = 30 + (image.shape[0] - 30) / 2  # below the 0.3 in title strip
    row = round(centre_row + style.lead * scale * np.sin(yaw))
    col = round(image.shape[1] / 2 - style.lead * scale * np.cos(yaw))
    assert red[row - 2 : row + 3, col - 2 : col + 3].all()
    with pytest.raises(ConfigError):
        save_frame(replayed.scenario, replayed.record, replayed.record.num_steps, tmp_path / "x.png")


def test_gif_has_a_frame_per_shown_step(replayed: Replay, tmp_path: Path) -> None:
    animation = write_gif(replayed.scenario, replayed.record, tmp_path / "run.gif", fps=2.0, style=SMALL)
    frames = imageio.imread(animation.path, index=None)
    assert frames.shape[0] == animation.frames == len(frame_columns(replayed.record, 2.0))
    assert frames.shape[1:3] == animation.size == (320, 480)
    assert not np.array_equal(frames[0], frames[-1])  # things move
    assert imageio.immeta(animation.path, index=0)["duration"] == 500


def test_mp4_has_a_frame_per_shown_step(replayed: Replay, tmp_path: Path) -> None:
    animation = write_mp4(replayed.scenario, replayed.record, tmp_path / "run.mp4", fps=2.0, style=SMALL)
    with imageio_v2.get_reader(animation.path, format="FFMPEG") as reader:
        meta = reader.get_meta_data()
        count = sum(1 for _ in reader)
    assert count == animation.frames == len(frame_columns(replayed.record, 2.0))
    assert meta["size"] == (480, 320) and meta["fps"] == 2.0 and meta["codec"] == "h264"


def test_simulate_writes_gif_mp4_and_mcap(generated_data: Path, tmp_path: Path) -> None:
    scenario = next((generated_data / "scenarios").glob("ZAM_Intersection*"))
    outputs = {name: tmp_path / f"run.{name}" for name in ("gif", "mp4", "mcap")}
    options = [part for name, path in outputs.items() for part in (f"--{name}", str(path))]
    result = CliRunner().invoke(app, ["simulate", str(scenario), "--planner", "idm", *options])
    assert result.exit_code == 0, result.output
    for path in outputs.values():
        assert path.stat().st_size > 10_000 and f"wrote {path}" in result.output.replace("\n", "")


def test_gif_and_mp4_play_at_the_same_real_time_speed(replayed: Replay, tmp_path: Path) -> None:
    # at dt 0.08 s, about 2 frames per second means every 6th step: each frame lasts 0.48 s in both
    record = dataclasses.replace(replayed.record, dt=0.08)
    assert frame_seconds(record, 2.0) == pytest.approx(0.48)
    gif = write_gif(replayed.scenario, record, tmp_path / "run.gif", fps=2.0, style=SMALL)
    mp4 = write_mp4(replayed.scenario, record, tmp_path / "run.mp4", fps=2.0, style=SMALL)
    assert imageio.immeta(gif.path, index=0)["duration"] == 480
    reader = imageio_ffmpeg.read_frames(str(mp4.path))
    assert next(reader)["fps"] == pytest.approx(1 / 0.48, abs=0.01)  # ffmpeg reports 2 decimals
    reader.close()
    assert gif.fps == mp4.fps == pytest.approx(1 / 0.48) and gif.frames == mp4.frames
