"""Foxglove MCAP export, read back with the `mcap` reader library."""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from typer.testing import CliRunner

from drivestack.bench.replay import Replay, replay
from drivestack.cli import app
from drivestack.viz.mcap import TOPICS, export_run, short_decision

SCHEMAS = {"/tf": "foxglove.FrameTransforms", "/decision_log": "foxglove.Log"}


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
    assert channels == {topic: (SCHEMAS.get(topic, "foxglove.SceneUpdate"), "protobuf") for topic in TOPICS}
    expected_times = [round(step * record.dt * 1e9) for step in record.steps.tolist()]
    assert [t for t, _ in messages["/map"]] == expected_times[:1]
    for topic in TOPICS[1:]:
        assert [t for t, _ in messages[topic]] == expected_times, topic
    assert export.messages == {topic: len(messages[topic]) for topic in TOPICS}


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
        assert short_decision(decision).encode() in messages["/decision"][i][1]
        assert decision.encode() in messages["/decision_log"][i][1]
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
    channels, messages = read(out)
    assert set(channels) == set(TOPICS) and len(messages["/agents"]) > 10
    missing = CliRunner().invoke(app, ["export-mcap", str(bench_run), "ZAM_Nowhere-1_1_T-1", str(out)])
    assert missing.exit_code == 1 and "no finished run" in str(missing.exception)
