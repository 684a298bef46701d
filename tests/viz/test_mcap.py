"""Foxglove MCAP export, read back with the `mcap` reader library."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from typer.testing import CliRunner

from drivestack.bench.replay import Replay, replay
from drivestack.cli import app
from drivestack.viz.mcap import (
    LAYOUT,
    SCENE_TOPICS,
    SIGNALS,
    TOPICS,
    export_run,
    foxglove_layout,
)

SCHEMAS = {
    "/tf": ("foxglove.FrameTransforms", "protobuf"),
    "/decision_log": ("foxglove.Log", "protobuf"),
    "/metrics": ("drivestack.Metrics", "json"),
}
ONCE = ("/map", "/human")


@pytest.fixture(scope="module")
def replayed(bench_run: Path) -> Replay:
    return replay(bench_run, "ZAM_Intersection-6_1_T-1", planner="drivestack")


def read(path: Path) -> tuple[dict[str, tuple[str, str]], dict[str, list[tuple[int, bytes]]]]:
    """(topic -> (schema name, message encoding), topic -> [(log time [ns], data)])."""
    messages: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    with path.open("rb") as handle:
        reader = make_reader(handle)
        summary = reader.get_summary()
        assert summary is not None
        channels = {
            c.topic: (summary.schemas[c.schema_id].name, c.message_encoding)
            for c in summary.channels.values()
        }
        for _, channel, message in reader.iter_messages(log_time_order=True):
            messages[channel.topic].append((message.log_time, message.data))
    return channels, messages


def test_channels_schemas_counts_and_times(replayed: Replay, tmp_path: Path) -> None:
    record = replayed.record
    export = export_run(replayed.scenario, record, tmp_path / "run.mcap")
    channels, messages = read(export.path)
    written = [topic for topic in TOPICS if topic != "/collisions" or replayed.metrics.collisions]
    assert channels == {topic: SCHEMAS.get(topic, ("foxglove.SceneUpdate", "protobuf")) for topic in written}
    expected_times = [round(step * record.dt * 1e9) for step in record.steps.tolist()]
    assert replayed.scenario.recorded_ego(record.planning_problem_id) is not None
    for topic in ONCE:
        assert [t for t, _ in messages[topic]] == expected_times[:1], topic
    assert len(messages["/collisions"]) == replayed.metrics.collisions
    for topic in set(TOPICS) - {*ONCE, "/collisions"}:
        assert [t for t, _ in messages[topic]] == expected_times, topic
    assert export.messages == {topic: len(messages[topic]) for topic in TOPICS}
    first = json.loads(messages["/metrics"][0][1])
    assert set(first) == {"step", "t", *SIGNALS}
    assert first["speed"] == pytest.approx(record.ego.speed[0])


def test_messages_carry_the_run(replayed: Replay, tmp_path: Path) -> None:
    record = replayed.record
    _, messages = read(export_run(replayed.scenario, record, tmp_path / "run.mcap").path)
    for i in (0, record.num_steps // 2, record.num_steps - 1):
        transform = messages["/tf"][i][1]
        for value in (record.ego.x[i], record.ego.y[i]):  # protobuf doubles: little-endian 8 bytes
            assert struct.pack("<d", float(value)) in transform
        agents = messages["/agents"][i][1]
        tracks = record.agents
        for row in range(tracks.num_agents):
            assert (f"agent/{int(tracks.ids[row])}".encode() in agents) == bool(tracks.valid[row, i])
        decision = record.decisions[i]
        action, text = (decision.action, str(decision)) if decision is not None else ("-", "-")
        assert action.encode() in messages["/decision"][i][1]
        assert text.encode() in messages["/decision_log"][i][1]
    assert any(record.planned[i] is not None for i in range(record.num_steps - 1))
    lanes = messages["/map"][0][1]
    for lane in replayed.scenario.lane_graph.lanes.values():  # (protobuf leaves zeros out)
        value = lane.left.ravel()[np.argmax(np.abs(lane.left.ravel()))]
        assert struct.pack("<d", float(value)) in lanes


def test_cli_export(bench_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.mcap"
    result = CliRunner().invoke(
        app, ["export-mcap", str(bench_run), "ZAM_Merge-6_1_T-1", str(out), "--planner", "idm"]
    )
    assert result.exit_code == 0, result.output
    assert f"Foxglove layout (Layouts, Import from file): {LAYOUT}\n" in result.output
    channels, messages = read(out)
    assert (
        set(TOPICS) - {"/collisions"} <= set(channels) <= set(TOPICS)
    )  # a channel without messages is left out
    assert len(messages["/agents"]) > 10
    missing = CliRunner().invoke(app, ["export-mcap", str(bench_run), "ZAM_Nowhere-1_1_T-1", str(out)])
    assert missing.exit_code == 1 and "no finished run" in str(missing.exception)


def _metadata(path: Path) -> dict[str, dict[str, str]]:
    with path.open("rb") as handle:
        return {record.name: record.metadata for record in make_reader(handle).iter_metadata()}


def test_a_collision_gets_a_marker_plot_signals_and_metadata(tmp_path: Path) -> None:
    from metrics.metric_scenes import context, cruise
    from scenes import Agent

    from drivestack.core.scenario import AgentType

    zeros = np.zeros(60)  # a 2 m bicycle standing at x = 40 m; the ego at 10 m/s touches it at step 27
    cyclist = Agent(
        10270, zeros + 40.0, zeros, kind=AgentType.BICYCLE, length=2.0, width=0.8, yaw=zeros, speed=zeros
    )
    ctx = context(cruise(x0=10.0, speed=10.0), cyclist)
    export = export_run(ctx.scenario, ctx.record, tmp_path / "hit.mcap")
    _, messages = read(export.path)
    ((time, marker),) = messages["/collisions"]
    assert time == round(2.7e9)
    assert b"collision with cyclist 10270 at t = 2.7 s (stopped agent, at fault" in marker
    assert "/human" not in messages  # no solution file: no recorded human
    plotted = [json.loads(data) for _, data in messages["/metrics"]]
    assert [row["step"] for row in plotted] == list(range(60))
    assert all(row["speed"] == 10.0 and row["displacement"] is None for row in plotted)
    # the ego drives through it: its rear leaves the bicycle after step 33
    assert [row["contact"] for row in plotted] == [0.0] * 27 + [1.0] * 7 + [0.0] * 26
    assert plotted[27]["ttc"] == 0.0 and plotted[27]["at_fault_collisions"] == 1.0
    assert plotted[27]["ttc_violation"] == 1.0 and plotted[0]["ttc"] == pytest.approx(2.7)
    assert plotted[-1]["ttc"] is None  # nothing ahead any more: no TTC, null (not inf)
    run = _metadata(export.path)["drivestack.run"]
    assert (run["scenario"], run["planner"], run["agents"], run["num_agents"]) == (
        "TEST_Scene-1_1_T-1",
        "test",
        "log",
        "1",
    )
    assert (run["score"], run["collisions"], run["at_fault_collisions"]) == ("0", "1", "1")
    assert run["events"].startswith("collision with cyclist 10270 at t = 2.7 s")


def test_the_shipped_layout_is_current_and_names_exported_topics() -> None:
    assert LAYOUT.read_text() == foxglove_layout()
    text = LAYOUT.read_text()
    layout = json.loads(text)
    plotted = {path.split(".", 1)[1] for path in _values(layout, "value") if path.startswith("/metrics.")}
    assert plotted and plotted <= set(SIGNALS)
    assert {"speed", "acceleration", "jerk", "ttc", "contact"} <= plotted
    assert set(_values(layout, "topicToRender")) == {"/decision_log"}
    assert '"topics"' in text and all(f'"{topic}"' in text for topic in SCENE_TOPICS)


def _values(node: object, key: str) -> list[str]:
    """Every value stored under `key` anywhere in a JSON tree."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == key] + [x for v in node.values() for x in _values(v, key)]
    if isinstance(node, list):
        return [x for item in node for x in _values(item, key)]
    return []
