"""A tiny scenario format for the tests of the format registry and of everything downstream of it.

Registered with `$DRIVESTACK_EXTRA_READERS=fake_format` (the `fake_reader` fixture), so spawned
workers and a local Ray see it too. Two kinds of units, like the real formats:
- a file starting with `MAGIC`, then one scenario per line: "<id>\t<json>" (many members per file,
  like a WOMD TFRecord); `read` decodes only the JSON of the member asked for;
- a folder holding `FOLDER_MARKER` (one scenario, like an Argoverse 2 sensor log), whose other
  files are not scenario data (`unit_files` says so: ingest hashes the marker only).
Each scenario is a small real one built with `scenes`: a straight two-lane road, a leader ahead of
the ego and the ego's recorded drive, its goal where the drive ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scenes import EGO_ID, Ego, moving, scenario, straight_road

from drivestack.core.errors import InputError
from drivestack.core.scenario import Scenario

FORMAT = "fake"
MAGIC = b"FAKESCENES v1\n"
FOLDER_MARKER = "fake_scene.json"
DECODE_LOG_VARIABLE = "FAKE_FORMAT_DECODE_LOG"
"""When set, each decoded member's id is appended to this file (tests count the decodes)."""
NUM_STEPS = 40


def sniff(path: Path) -> bool:
    """A folder holding the marker, or a file starting with the magic line."""
    if path.is_dir():
        return (path / FOLDER_MARKER).is_file()
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def unit_files(path: Path) -> list[Path]:
    """The files `read` reads from a folder unit: the marker only (not the "sensor data" beside it)."""
    return [path / FOLDER_MARKER]


def _lines(path: Path) -> list[tuple[str, str]]:
    """(member id, undecoded JSON) of each scenario line of a multi-scenario file."""
    text = path.read_bytes()[len(MAGIC) :].decode()
    found = []
    for number, line in enumerate(text.splitlines(), start=2):
        member, tab, payload = line.partition("\t")
        if not tab:
            raise InputError(path, f"line {number}", "expected '<id>\\t<json>'")
        found.append((member, payload))
    return found


def members(path: Path) -> list[str]:
    """The scenario ids of a unit, in file order."""
    if path.is_dir():
        return [str(json.loads((path / FOLDER_MARKER).read_text())["id"])]
    return [member for member, _ in _lines(path)]


def read(path: Path, member: str | None = None) -> Scenario:
    """One scenario of the unit (the first when `member` is None), decoding only its own JSON."""
    if path.is_dir():
        spec = json.loads((path / FOLDER_MARKER).read_text())
    else:
        lines = dict(_lines(path))
        chosen = member if member is not None else next(iter(lines), None)
        if chosen not in lines:
            raise InputError(path, f"member {member}", "no such scenario in this file")
        try:
            spec = {"id": chosen, **json.loads(lines[chosen])}
        except json.JSONDecodeError as error:
            raise InputError(path, f"member {chosen}", f"not JSON ({error.msg})") from None
    log = os.environ.get(DECODE_LOG_VARIABLE)
    if log:
        with open(log, "a") as handle:
            handle.write(f"{spec['id']}\n")
    return build(str(spec["id"]), float(spec["speed"]))


def build(scenario_id: str, speed: float) -> Scenario:
    """The scenario `scenario_id`: the ego drives along lane 0 at `speed` [m/s], a car 30 m ahead at
    0.8 `speed` in the same lane, another one in the left lane."""
    ego_path = moving(EGO_ID, 5.0, 0.0, speed, num_steps=NUM_STEPS)
    goal = (float(ego_path.x[-1]), 0.0)
    agents = [
        moving(2, 40.0, 0.0, 0.8 * speed, num_steps=NUM_STEPS),
        moving(3, 10.0, 3.5, speed, num_steps=NUM_STEPS),
    ]
    return scenario(
        straight_road(2, 300.0),
        agents,
        Ego(ego_path, goal=goal),
        num_steps=NUM_STEPS,
        scenario_id=scenario_id,
    )


def write_file(path: Path, specs: dict[str, str]) -> Path:
    """A multi-scenario file at `path` with one line per (id, JSON text) of `specs`."""
    path.write_bytes(MAGIC + "".join(f"{key}\t{value}\n" for key, value in specs.items()).encode())
    return path


def write_folder(path: Path, scenario_id: str, speed: float) -> Path:
    """A one-scenario folder unit at `path` (with a second, non-scenario file inside)."""
    path.mkdir(parents=True)
    (path / FOLDER_MARKER).write_text(json.dumps({"id": scenario_id, "speed": speed}))
    (path / "lidar.bin").write_bytes(b"\0" * 64)
    return path
