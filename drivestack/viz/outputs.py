"""The files one run can be looked at in: a GIF, an MP4, an MCAP file for Foxglove, a frame as a PNG."""

from __future__ import annotations

from pathlib import Path

from drivestack.core.errors import ConfigError
from drivestack.core.record import RunRecord
from drivestack.core.scenario import Scenario
from drivestack.viz.animate import save_frame, write_gif, write_mp4
from drivestack.viz.mcap import export_run


def numbered(path: Path, problem_id: int, several: bool) -> Path:
    """`path`, with the planning problem id added to its name when a scenario has `several` problems."""
    return path.with_name(f"{path.stem}-{problem_id}{path.suffix}") if several else path


def write_outputs(
    scenario: Scenario,
    record: RunRecord,
    gif: Path | None = None,
    mp4: Path | None = None,
    mcap: Path | None = None,
    png: Path | None = None,
    frame: int = 0,
) -> list[Path]:
    """Write the run to each file given (each atomically; the PNG shows step `frame` of the run,
    negative counting from its end); the paths written."""
    written = []
    if png is not None:
        if not -record.num_steps <= frame < record.num_steps:
            raise ConfigError(f"frame {frame}: the run has {record.num_steps} steps")
        written.append(save_frame(scenario, record, frame % record.num_steps, png))
    if gif is not None:
        written.append(write_gif(scenario, record, gif).path)
    if mp4 is not None:
        written.append(write_mp4(scenario, record, mp4).path)
    if mcap is not None:
        written.append(export_run(scenario, record, mcap).path)
    return written
