"""Seeded mutations of small AV2 units: the reader returns a scenario or raises `DrivestackError`.

Nothing else may escape (no bare `KeyError`, `IndexError`, `ValueError`, `ArrowInvalid` from inside),
and each case finishes within `CASE_SECONDS`. Mutations: byte flips and truncations of the scenario
Parquet, the annotation and pose Feather files and the map JSON, and JSON values replaced by values
of the wrong kind.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from av2_units import write_forecast, write_sensor_log

from drivestack.core.errors import DrivestackError
from drivestack.core.scenario import Scenario
from drivestack.data.formats import av2

CASES_PER_FILE = 30
CASE_SECONDS = 5.0
STRANGE_VALUES: tuple[object, ...] = (None, "", "abc", -1, 1e308, [], {}, [1, 2], True, float("nan"))


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] ^= rng.randrange(1, 256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def strange_json_value(data: bytes, rng: random.Random) -> bytes:
    """One value somewhere in the map JSON replaced by a value of another kind."""
    document = json.loads(data)
    node = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, dict | list) and child and rng.random() < 0.8:
            node = child
            continue
        node[key] = rng.choice(STRANGE_VALUES)
        break
    return json.dumps(document).encode()


def check(unit: Path) -> None:
    """Reading the unit gives a scenario or a DrivestackError, in time."""
    started = time.perf_counter()
    try:
        if av2.sniff(unit):
            assert isinstance(av2.read(unit), Scenario)
    except DrivestackError:
        pass
    assert time.perf_counter() - started < CASE_SECONDS


@pytest.mark.parametrize(
    ("kind", "relative"),
    [
        ("forecast", "*.parquet"),
        ("forecast", "*.json"),
        ("sensor", "annotations.feather"),
        ("sensor", "city_SE3_egovehicle.feather"),
        ("sensor", "map/log_map_archive_*.json"),
    ],
)
def test_mutated_units_give_a_scenario_or_a_drivestack_error(
    tmp_path: Path, kind: str, relative: str
) -> None:
    unit = write_forecast(tmp_path / "unit") if kind == "forecast" else write_sensor_log(tmp_path / "unit")
    target = next(unit.glob(relative))
    original = target.read_bytes()
    rng = random.Random(f"{kind}:{relative}")
    mutations = [flip_bytes, truncate] + ([strange_json_value] if target.suffix == ".json" else [])
    for _ in range(CASES_PER_FILE):
        target.write_bytes(rng.choice(mutations)(original, rng))
        check(unit)
