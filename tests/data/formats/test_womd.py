"""WOMD reader: TFRecord framing, decoding against the sample's own messages, and bad input."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recorded_data import DATA_ROOT

from drivestack.core.errors import InputError
from drivestack.core.scenario import LightColor, Scenario
from drivestack.data.formats import womd
from drivestack.data.formats._proto import file_descriptor, fixed_fields
from drivestack.data.formats._waymo_map import LANE_STATE_BY_NUMBER, US_STOP_SIGN

SCENARIO_FILE = DATA_ROOT / "womd" / "motion_data_one_scenario.tfrecord"
EXAMPLE_FILE = DATA_ROOT / "womd" / "motion_data_one_example.tfrecord"


def frame(payload: bytes) -> bytes:
    """One TFRecord record around `payload`."""
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", womd.masked_crc(length))
        + payload
        + struct.pack("<I", womd.masked_crc(payload))
    )


def tiny_scenario_payload(sdc: int = 0) -> bytes:
    """A valid Scenario message: 3 steps, one vehicle driving along one straight lane."""
    classes = womd._classes()
    message = classes["Scenario"](scenario_id="tiny-1", sdc_track_index=sdc, current_time_index=0)
    message.timestamps_seconds.extend([0.0, 0.1, 0.2])
    track = message.tracks.add(id=5, object_type=1)
    for step in range(3):
        track.states.add(
            center_x=1.0 * step, center_y=0.0, heading=0.0, velocity_x=10.0, length=4.5, width=1.9, valid=True
        )
    lane = message.map_features.add(id=100).lane
    lane.speed_limit_mph = 25.0
    for x in (-20.0, 0.0, 20.0, 40.0):
        lane.polyline.add(x=x, y=0.0)
    return bytes(message.SerializeToString())


@pytest.fixture(scope="module")
def sample() -> tuple[object, Scenario]:
    """The sample scenario's decoded message and its conversion; skipped without the data."""
    if not SCENARIO_FILE.exists():
        pytest.skip(f"WOMD sample not found at {SCENARIO_FILE}")
    message = womd._classes()["Scenario"].FromString(womd.read_record(SCENARIO_FILE, 0))
    return message, womd.read(SCENARIO_FILE)


def test_proto_descriptors_are_built_from_the_shipped_proto_file() -> None:
    proto = file_descriptor(womd._PROTO)
    fields = {
        message.name: {field.name: field.number for field in message.field} for message in proto.message_type
    }
    assert fields["Scenario"]["current_time_index"] == 10 and fields["Scenario"]["sdc_track_index"] == 6
    assert fields["LaneCenter"]["polyline"] == 8 and fields["MapFeature"]["crosswalk"] == 8
    assert fields["ObjectState"]["valid"] == 11


def test_proto_subset_parser_rejects_what_it_does_not_know(tmp_path: Path) -> None:
    bad = tmp_path / "bad.proto"
    bad.write_text('syntax = "proto2";\nmessage A { optional Missing b = 1; }\n')
    with pytest.raises(ValueError, match="unknown type Missing"):
        file_descriptor(bad)
    bad.write_text('syntax = "proto2";\nmessage A { map<string, int32> b = 1; }\n')
    with pytest.raises(ValueError, match="cannot read field"):
        file_descriptor(bad)


def test_tracks_and_ego_match_the_decoded_message(sample: tuple[object, Scenario]) -> None:
    message, scenario = sample
    sdc = message.sdc_track_index  # type: ignore[attr-defined]
    current = message.current_time_index  # type: ignore[attr-defined]
    tracks = message.tracks  # type: ignore[attr-defined]
    assert scenario.num_steps == len(message.timestamps_seconds)  # type: ignore[attr-defined]
    assert scenario.tracks.num_agents == len(tracks) - 1
    assert tracks[sdc].id not in scenario.tracks.ids
    state = tracks[sdc].states[current]
    initial = scenario.planning_problems[0].initial
    assert (initial.step, initial.x, initial.y) == (current, state.center_x, state.center_y)
    other = next(track for track in tracks if track.id != tracks[sdc].id)
    row = scenario.tracks.index_of(other.id)
    valid = np.array([s.valid for s in other.states])
    assert (scenario.tracks.valid[row] == valid).all()
    xs = np.array([s.center_x for s in other.states])
    assert np.allclose(scenario.tracks.x[row][valid], xs[valid])


def test_speed_limits_stop_signs_and_crosswalks_are_kept(sample: tuple[object, Scenario]) -> None:
    message, scenario = sample
    features = list(message.map_features)  # type: ignore[attr-defined]
    lanes = [f for f in features if f.HasField("lane")]
    points = {f.id: {(p.x, p.y) for p in f.lane.polyline} for f in lanes}
    assert {f.id for f in lanes if len(points[f.id]) >= 2} <= set(scenario.lane_graph.lanes)
    lanes = [f for f in lanes if len(points[f.id]) >= 2]  # a one-point lane is no lane
    for feature in lanes:
        lane = scenario.lane_graph.lane(feature.id)
        if feature.lane.speed_limit_mph > 0:
            assert lane.speed_limit == pytest.approx(feature.lane.speed_limit_mph * 0.44704)
        assert set(lane.successors) >= {i for i in feature.lane.exit_lanes if i in scenario.lane_graph.lanes}
    stop_signs = [f for f in features if f.HasField("stop_sign")]
    assert len(stop_signs) > 0
    assert {sign.id for sign in scenario.traffic_signs} == {f.id for f in stop_signs}
    assert all(sign.elements == ((US_STOP_SIGN, ()),) for sign in scenario.traffic_signs)
    for feature in stop_signs:
        for lane_id in set(feature.stop_sign.lane) & set(scenario.lane_graph.lanes):
            assert feature.id in scenario.lane_graph.lane(lane_id).traffic_sign_ids
    crosswalks = {f.id for f in features if f.HasField("crosswalk")}
    assert crosswalks and all("crosswalk" in scenario.lane_graph.lane(i).lane_types for i in crosswalks)


def test_traffic_lights_replay_the_recorded_states(sample: tuple[object, Scenario]) -> None:
    message, scenario = sample
    lights = {light.id: light for light in scenario.traffic_lights}
    assert lights
    checked = 0
    for step, state in enumerate(message.dynamic_map_states):  # type: ignore[attr-defined]
        for lane_state in state.lane_states:
            expected = LANE_STATE_BY_NUMBER[lane_state.state]
            assert lights[lane_state.lane].colors_at(np.array([step]))[0] is expected
            checked += 1
    assert checked > 100
    light = next(iter(lights.values()))
    lane = scenario.lane_graph.lane(light.id)
    assert light.id in lane.traffic_light_ids and lane.stop_line is not None
    # after the recording the last state holds
    last = light.colors_at(np.array([scenario.num_steps - 1, scenario.num_steps + 500]))
    assert last[0] is last[1]
    assert LightColor.RED in {c for light in lights.values() for c in light.colors_at(np.arange(91))}


def test_tf_example_with_a_cut_off_roadgraph_is_rejected_with_its_reason() -> None:
    if not EXAMPLE_FILE.exists():
        pytest.skip(f"WOMD tf.Example sample not found at {EXAMPLE_FILE}")
    assert womd.sniff(EXAMPLE_FILE)
    with pytest.raises(
        InputError, match=r"record at byte 0: tf\.Example roadgraph uses all 20000 sample slots"
    ):
        womd.read(EXAMPLE_FILE)


def tiny_example_payload() -> bytes:
    """A tf.Example: two agents (the SDC row 1) over 2 past, 1 current and 3 future steps, a lane
    along +x with a road line on its right, a stop sign, padding, and a light turning green."""
    example = womd._classes()["Example"]()

    def put(key: str, values: Sequence[float], integers: bool = False) -> None:
        entry = example.features.feature.add(key=key)
        (entry.value.int64_list if integers else entry.value.float_list).value.extend(values)

    steps = {"past": 2, "current": 1, "future": 3}
    put("state/id", [11.0, 22.0])
    put("state/type", [1.0, 1.0])
    put("state/is_sdc", [0, 1], integers=True)
    for period, count in steps.items():
        offset = {"past": 0, "current": 2, "future": 3}[period]
        t = np.arange(offset, offset + count)
        put(f"state/{period}/x", [*(20.0 + t), *(1.0 * t)])
        put(f"state/{period}/y", [0.0] * count * 2)
        put(f"state/{period}/bbox_yaw", [0.0] * count * 2)
        put(f"state/{period}/velocity_x", [10.0] * count * 2)
        put(f"state/{period}/velocity_y", [0.0] * count * 2)
        put(f"state/{period}/length", [4.5] * count * 2)
        put(f"state/{period}/width", [1.9] * count * 2)
        put(f"state/{period}/valid", [1] * count * 2, integers=True)
        put(f"state/{period}/timestamp_micros", [*(100_000 * t), *(100_000 * t)], integers=True)
        put(f"traffic_light_state/{period}/id", [7] * count, integers=True)
        put(f"traffic_light_state/{period}/state", [4 if step < 3 else 6 for step in t], integers=True)
        put(f"traffic_light_state/{period}/valid", [1] * count, integers=True)
        put(f"traffic_light_state/{period}/x", [30.0] * count)
        put(f"traffic_light_state/{period}/y", [0.0] * count)
    lane = [(x, 0.0, 0.0) for x in np.arange(-10.0, 60.0, 0.5)]
    line = [(x, -1.8, 0.0) for x in np.arange(-10.0, 60.0, 0.5)]
    samples = [*lane, *line, (25.0, 3.0, 0.0), (0.0, 0.0, 0.0)]
    put("roadgraph_samples/xyz", [value for sample in samples for value in sample])
    put("roadgraph_samples/type", [2] * len(lane) + [7] * len(line) + [17, 0], integers=True)
    put("roadgraph_samples/id", [7] * len(lane) + [8] * len(line) + [9, -1], integers=True)
    put("roadgraph_samples/valid", [1] * (len(samples) - 1) + [0], integers=True)
    example.features.feature.add(key="scenario/id").value.bytes_list.value.append(b"tiny-example")
    return bytes(example.SerializeToString())


def test_tf_example_layout_reads(tmp_path: Path) -> None:
    path = tmp_path / "example.tfrecord"
    path.write_bytes(frame(tiny_example_payload()))
    scenario = womd.read(path)
    assert (scenario.scenario_id, scenario.num_steps, scenario.dt) == ("tiny-example", 6, pytest.approx(0.1))
    assert scenario.tracks.ids.tolist() == [11]
    initial = scenario.planning_problems[0].initial
    assert (initial.step, initial.x) == (2, 2.0)
    assert scenario.recorded_egos[0].trajectory.x.tolist() == [2.0, 3.0, 4.0, 5.0]
    lane = scenario.lane_graph.lane(7)
    assert np.allclose(lane.right[:, 1], -1.8) and np.allclose(lane.left[:, 1], 1.75)
    assert [sign.id for sign in scenario.traffic_signs] == [9]
    (light,) = scenario.traffic_lights
    assert light.colors_at(np.arange(6)) == (LightColor.RED,) * 3 + (LightColor.GREEN,) * 3
    assert womd.source_map(path).polylines()[0][0] == "lane"


def test_members_are_record_offsets_and_each_reads(tmp_path: Path) -> None:
    first, second = frame(tiny_scenario_payload()), frame(tiny_scenario_payload())
    path = tmp_path / "two.tfrecord"
    path.write_bytes(first + second)
    assert womd.members(path) == ["0", str(len(first))]
    scenario = womd.read(path, str(len(first)))
    assert scenario.scenario_id == "tiny-1"
    assert scenario.lane_graph.lane(100).speed_limit == pytest.approx(25 * 0.44704)
    assert scenario.recorded_egos[0].trajectory.x.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(InputError, match="length checksum mismatch"):
        womd.read(path, "5")
    with pytest.raises(InputError, match="not a record byte offset"):
        womd.read(path, "../etc")


def test_truncated_record_is_rejected(tmp_path: Path) -> None:
    data = frame(tiny_scenario_payload())
    path = tmp_path / "cut.tfrecord"
    for cut in (4, 12, 40, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(InputError, match=r"cut\.tfrecord: record at byte 0: truncated"):
            womd.members(path)
        with pytest.raises(InputError, match=r"truncated"):
            womd.read(path)


def test_wrong_checksums_are_rejected(tmp_path: Path) -> None:
    data = bytearray(frame(tiny_scenario_payload()))
    path = tmp_path / "crc.tfrecord"
    payload_byte = bytearray(data)
    payload_byte[20] ^= 0xFF
    path.write_bytes(payload_byte)
    with pytest.raises(InputError, match="payload checksum mismatch"):
        womd.read(path)
    length_byte = bytearray(data)
    length_byte[9] ^= 0x01  # the length's CRC
    path.write_bytes(length_byte)
    assert not womd.sniff(path)
    with pytest.raises(InputError, match="length checksum mismatch"):
        womd.read(path)


def test_payload_that_is_not_a_scenario_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "garbage.tfrecord"
    path.write_bytes(frame(b"\x0b\xff\xff\xff\x0f" + b"\x00" * 10))
    with pytest.raises(
        InputError, match=r"garbage\.tfrecord: record at byte 0: not a WOMD Scenario protobuf"
    ):
        womd.read(path)


def test_inconsistent_scenarios_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(frame(tiny_scenario_payload(sdc=3)))
    with pytest.raises(InputError, match="sdc_track_index 3 is not one of the 1 tracks"):
        womd.read(path)
    message = womd._classes()["Scenario"].FromString(tiny_scenario_payload())
    message.timestamps_seconds.append(0.3)  # 4 timestamps, 3 states
    path.write_bytes(frame(message.SerializeToString()))
    with pytest.raises(InputError, match="track 0: 3 states for 4 timestamps"):
        womd.read(path)


def test_huge_length_is_refused_before_reading(tmp_path: Path) -> None:
    length = struct.pack("<Q", 2**40)
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(length + struct.pack("<I", womd.masked_crc(length)) + b"\x00" * 64)
    with pytest.raises(InputError, match="exceeds the limit"):
        womd.read(path)


_EXAMPLE = tiny_example_payload()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=10_000))
def test_fuzzed_payloads_raise_only_input_errors(tmp_path: Path, noise: bytes, position: int) -> None:
    """Random payloads, and valid payloads (both layouts) with bytes overwritten, framed correctly:
    a scenario or an InputError, never another exception."""
    mutated = []
    for valid in (bytearray(tiny_scenario_payload()), bytearray(_EXAMPLE)):
        at = position % len(valid)
        mutated.append(bytes(valid[:at] + noise[:16] + valid[at + len(noise[:16]) :]))
    path = tmp_path / "fuzz.tfrecord"
    for payload in (noise, *mutated):
        path.write_bytes(frame(payload))
        try:
            womd.read(path)
        except InputError as error:
            assert str(error).startswith(str(path))


def test_bulk_decoding_equals_protobuf_on_every_state_and_point(sample: tuple[object, Scenario]) -> None:
    """`fixed_fields` (numpy views of same-layout messages) gives exactly protobuf's own values for
    every ObjectState (valid ones with all fields, invalid ones with two) and MapPoint of the sample."""
    message, _ = sample
    classes = womd._classes()
    states = [state for track in message.tracks for state in track.states]  # type: ignore[attr-defined]
    columns = fixed_fields([state.SerializeToString() for state in states], classes["ObjectState"])
    assert len({len(state.SerializeToString()) for state in states}) >= 2  # both layouts present
    for name in ("center_x", "center_y", "heading", "velocity_x", "velocity_y", "length", "width", "valid"):
        expected = np.array([float(getattr(state, name)) for state in states])
        np.testing.assert_array_equal(columns[name], expected, err_msg=name)
    lanes = [f.lane for f in message.map_features if f.HasField("lane")]  # type: ignore[attr-defined]
    points = [point for lane in lanes for point in lane.polyline]
    xy = fixed_fields([point.SerializeToString() for point in points], classes["MapPoint"])
    np.testing.assert_array_equal(xy["x"], [point.x for point in points])
    np.testing.assert_array_equal(xy["y"], [point.y for point in points])


def test_bulk_decoding_falls_back_to_protobuf_for_other_layouts() -> None:
    """Messages whose layout the numpy view cannot take (a multi-byte varint, an unknown
    length-delimited field, a field repeated, tags in another order, a damaged message) decode as
    protobuf decodes them, or raise its DecodeError."""
    state = womd._classes()["ObjectState"]
    plain = state(center_x=1.5, center_y=-2.0, heading=0.25, valid=True).SerializeToString()
    reordered = state(heading=0.25).SerializeToString() + state(center_x=1.5).SerializeToString()
    unknown = plain + b"\x7a\x03abc"  # field 15, length-delimited
    repeated = plain + state(center_x=7.0).SerializeToString()  # the last value wins
    wide = state(center_x=3.0).SerializeToString() + b"\x58\x80\x01"  # valid as a 2-byte varint
    payloads = [plain, plain, reordered, unknown, repeated, wide, b""]
    columns = fixed_fields(payloads, state)
    for row, payload in enumerate(payloads):
        decoded = state.FromString(payload)
        assert (columns["center_x"][row], columns["heading"][row], columns["valid"][row]) == (
            decoded.center_x,
            pytest.approx(decoded.heading),
            float(decoded.valid),
        )
    assert columns["center_x"][4] == 7.0 and columns["center_x"][6] == 0.0
    with pytest.raises(DecodeError):
        fixed_fields([plain, plain[:-3]], state)
