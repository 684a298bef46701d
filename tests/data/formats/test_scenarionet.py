"""ScenarioNet reader: a tiny scene built here, the restricted unpickler, and bad input."""

from __future__ import annotations

import collections
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivestack.core.errors import InputError
from drivestack.core.scenario import AgentType, LightColor
from drivestack.data.formats import scenarionet
from drivestack.data.formats._waymo_map import feature_id

STEPS = 30


def _track(
    kind: str, x: np.ndarray, y: float, length: float, width: float, source_type: str = ""
) -> dict[str, Any]:
    """A ScenarioNet track dict moving along +x through positions `x` (STEPS,) [m]."""
    return {
        "type": kind,
        "state": {
            "position": np.stack([x, np.full(STEPS, y), np.zeros(STEPS)], axis=1),
            "heading": np.zeros(STEPS),
            "velocity": np.stack([np.gradient(x, 0.1), np.zeros(STEPS)], axis=1),
            "valid": np.ones(STEPS),
            "length": np.full((STEPS, 1), length),
            "width": np.full((STEPS, 1), width),
            "height": np.full((STEPS, 1), 1.5),
        },
        "metadata": {"type": source_type},
    }


def _line(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float64)


def tiny_scene(**metadata: Any) -> dict[str, Any]:
    """A two-lane road: lanes A (y = 0) then B ahead of it, C beside A (y = 3.5), a road line on
    A's right (y = -1.8), a crosswalk, a light on B; the ego drives along A at 5 m/s."""
    tracks: collections.defaultdict[str, dict[str, Any]] = collections.defaultdict(dict)
    tracks["ego"] = _track("VEHICLE", 5.0 + 0.5 * np.arange(STEPS), 0.0, 1.8, 4.5)  # stored width-first
    tracks["car-1"] = _track("VEHICLE", np.full(STEPS, 30.0), 3.5, 1.9, 4.6, "vehicle.truck")
    tracks["ped"] = _track("PEDESTRIAN", np.full(STEPS, 45.0), 8.0, 0.6, 0.6)
    return {
        "id": "tiny-scene",
        "version": "test",
        "length": STEPS,
        "metadata": {
            "sdc_id": "ego",
            "ts": np.arange(STEPS) * 0.1,
            "dataset": "test",
            "map": "tiny",
            "current_time_index": 5,
            **metadata,
        },
        "tracks": tracks,
        "map_features": {
            "A": {
                "type": "LANE_SURFACE_STREET",
                "polyline": _line((0, 0), (25, 0), (50, 0)),
                "speed_limit_kmh": 36,
            },
            "B": {"type": "LANE_SURFACE_STREET", "polyline": _line((50, 0), (100, 0))},
            "C": {"type": "LANE_SURFACE_STREET", "polyline": _line((0, 3.5), (50, 3.5))},
            "edge": {"type": "ROAD_LINE_SOLID_SINGLE_WHITE", "polyline": _line((-10, -1.8), (110, -1.8))},
            "cw": {"type": "CROSSWALK", "polygon": _line((60, -2), (63, -2), (63, 6), (60, 6))},
        },
        "dynamic_map_states": {
            "light-1": {
                "type": "TRAFFIC_LIGHT",
                "lane": "B",
                "stop_point": np.array([50.0, 0.0, 0.0]),
                "state": {"object_state": ["LANE_STATE_STOP"] * 10 + ["LANE_STATE_GO"] * 20},
            }
        },
    }


def write(tmp_path: Path, data: Any, name: str = "scene.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_tiny_scene_converts(tmp_path: Path) -> None:
    path = write(tmp_path, tiny_scene())
    assert scenarionet.sniff(path) and scenarionet.members(path) == ["0"]
    scenario = scenarionet.read(path)
    assert (scenario.scenario_id, scenario.num_steps, scenario.dt) == (
        "tiny-scene",
        STEPS,
        pytest.approx(0.1),
    )
    tracks = scenario.tracks
    assert feature_id("ego") not in tracks.ids and tracks.num_agents == 2
    truck = tracks.index_of(feature_id("car-1"))
    assert tracks.agent_type[truck] is AgentType.TRUCK
    assert (tracks.length[truck], tracks.width[truck]) == (4.6, 1.9)  # a vehicle is longer than wide
    problem, recorded = scenario.planning_problems[0], scenario.recorded_egos[0]
    assert (problem.initial.step, problem.initial.x, problem.initial.speed) == (5, 7.5, pytest.approx(5.0))
    assert recorded.trajectory.steps.tolist() == list(range(5, STEPS))
    graph = scenario.lane_graph
    a, b, c = (graph.lane(feature_id(key)) for key in "ABC")
    assert a.successors == (b.id,) and b.predecessors == (a.id,)  # inferred: A ends where B starts
    assert a.left_neighbour is not None and a.left_neighbour.lane_id == c.id
    assert a.speed_limit == pytest.approx(10.0)
    assert np.allclose(a.right[:, 1], -1.8)  # out to the road line on its right
    assert np.allclose(a.left[:, 1], 1.75)  # half way to its neighbour C
    assert np.allclose(b.left[:, 1], 1.75)  # nothing beside it on the left: the default half width
    crosswalk = graph.lane(feature_id("cw"))
    assert crosswalk.lane_types == ("crosswalk",)
    assert abs(crosswalk.center[-1, 1] - crosswalk.center[0, 1]) == pytest.approx(8.0)  # along its long side
    (light,) = scenario.traffic_lights
    assert light.id == b.id and b.traffic_light_ids == (b.id,) and b.stop_line is not None
    assert light.colors_at(np.array([0, 9, 10, 29, 200])) == (
        LightColor.RED,
        LightColor.RED,
        LightColor.GREEN,
        LightColor.GREEN,
        LightColor.GREEN,
    )


class _Shell:
    """Pickles as a call of `function(*arguments)`: what a hostile file does."""

    def __init__(self, function: Any, *arguments: Any) -> None:
        self.function, self.arguments = function, arguments

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.function, self.arguments


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda marker: _Shell(os.system, f"touch {marker}"), "system"),
        (lambda marker: _Shell(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"),
        (lambda marker: _Shell(eval, f"open({str(marker)!r}, 'w')"), "builtins.eval"),
    ],
)
def test_pickle_that_would_run_a_command_is_refused_and_nothing_runs(
    tmp_path: Path, make: Any, name: str
) -> None:
    marker = tmp_path / "ran"
    scene = tiny_scene()
    scene["tracks"]["ego"]["metadata"] = make(marker)  # hidden deep inside a real-looking scenario
    path = write(tmp_path, scene, "evil.pkl")
    with pytest.raises(InputError, match=rf"evil\.pkl: pickle refers to .*{name}.*not allowed"):
        scenarionet.read(path)
    assert not marker.exists()


def test_truncated_and_foreign_pickles_are_rejected(tmp_path: Path) -> None:
    data = pickle.dumps(tiny_scene(), protocol=4)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.pkl: not a readable pickle"):
        scenarionet.read(cut)
    with pytest.raises(InputError, match="not a ScenarioNet scenario"):
        scenarionet.read(write(tmp_path, [1, 2, 3], "list.pkl"))
    with pytest.raises(InputError, match=r"metadata / sdc_id: 'nobody' is not one of the tracks"):
        scenarionet.read(write(tmp_path, tiny_scene(sdc_id="nobody"), "nosdc.pkl"))
    with pytest.raises(InputError, match=r"current_time_index: 99 is outside the 30 steps"):
        scenarionet.read(write(tmp_path, tiny_scene(current_time_index=99), "late.pkl"))
    scene = tiny_scene()
    scene["tracks"]["ped"]["state"]["position"] = np.zeros((3, 3))
    with pytest.raises(InputError, match=r"tracks / ped / position: array of shape \(3, 2\)"):
        scenarionet.read(write(tmp_path, scene, "shape.pkl"))
    assert not scenarionet.sniff(write(tmp_path, {"a": 1}, "plain.pkl"))


def test_file_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, tiny_scene())
    monkeypatch.setattr(scenarionet, "MAX_FILE_BYTES", 1000)
    with pytest.raises(InputError, match="exceeds the limit of 1000"):
        scenarionet.read(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=8))
def test_fuzzed_pickles_raise_only_input_errors(tmp_path: Path, position: int, noise: bytes) -> None:
    """A valid scene's pickle with bytes overwritten: a scenario or an InputError, nothing else."""
    data = bytearray(pickle.dumps(tiny_scene(), protocol=4))
    at = position % len(data)
    data[at : at + len(noise)] = noise
    path = tmp_path / "fuzz.pkl"
    path.write_bytes(bytes(data))
    try:
        scenarionet.read(path)
    except InputError as error:
        assert str(error).startswith(str(path))
