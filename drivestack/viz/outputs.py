"""The files a single run can be looked at in: a GIF, an MP4 and an MCAP file for Foxglove."""

from __future__ import annotations

from pathlib import Path

from drivestack.core.scenario import Scenario
from drivestack.sim.record import RunRecord
from drivestack.viz.animate import write_gif, write_mp4
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
) -> list[Path]:
    """Write the run to each file given (each atomically); the paths written."""
    written = []
    if gif is not None:
        written.append(write_gif(scenario, record, gif).path)
    if mp4 is not None:
        written.append(write_mp4(scenario, record, mp4).path)
    if mcap is not None:
        written.append(export_run(scenario, record, mcap).path)
    return written
