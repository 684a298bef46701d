"""Property tests of core geometry: angles, polylines, the Frenet frame on real centerlines, boxes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from drivestack.core.errors import DrivestackError, GeometryError
from drivestack.core.geometry import (
    MAX_TURN,
    MIN_SPACING,
    FrenetFrame,
    Polyline,
    angle_diff,
    box_corners,
    box_distance,
    boxes_overlap,
    points_in_polygon,
    wrap_angle,
)
from drivestack.data.formats.commonroad import read_scenario

# deterministic and without a failure database, so every run checks the same examples
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=60)

# straight highway (highD), urban intersections with tight turns (SinD, inD), ramps (exiD), and a
# MONA map whose lanelet 14 has a 0.5 mm backward jitter step in its centerline
REAL_SCENARIOS = (
    "highd/scenarios/DEU_LocationALower26-1_260_T-75.cr.xml.gz",
    "sind/scenarios/CHN_SIND-8021_1052_T-1127.cr.xml.gz",
    "ind/scenarios/C-DEU_AachenBendplatz-1_141040_T-1119.xml.gz",
    "exid/scenarios/DEU_AachenBrand-1_431052_T-1127.cr.xml.gz",
    "mona/scenarios/C-DEU_MONAEast-2_1040_T-1119.xml.gz",
)
# NGSIM Peach (2020a): lanelets 43489 and 43491 start with a 9 cm / 16 cm stub pointing backwards
SPIKED_SCENARIO = "ngsim/2020a/USA_Peach-3_1_T-1.xml.gz"
SPIKED_LANES = (43489, 43491)

fractions = st.floats(0.0, 1.0)


def fraction_arrays(size: int = 32) -> st.SearchStrategy[np.ndarray]:
    """Arrays (size,) of fractions in [0, 1]."""
    return arrays(np.float64, size, elements=fractions)


@pytest.fixture(scope="module")
def real_frames(commonroad_root: Path) -> list[FrenetFrame]:
    """Frenet frames along every lane centerline of the REAL_SCENARIOS (about 150 lanes)."""
    return [
        FrenetFrame(Polyline(lane.center))
        for name in REAL_SCENARIOS
        for lane in read_scenario(commonroad_root / name).lane_graph.lanes.values()
    ]


def band(frame: FrenetFrame) -> float:
    """A lateral half-width [m] well inside the frame's one-to-one band, capped at a lane and a half."""
    return min(0.5 * frame.unique_offset, 5.0)


# --- angles -------------------------------------------------------------------------------------

angles = st.floats(-1e6, 1e6) | st.sampled_from([np.pi, -np.pi, 2 * np.pi, -3 * np.pi, 0.0, -0.0])


@PROPERTY
@given(arrays(np.float64, st.integers(1, 16), elements=angles))
def test_wrap_angle_is_in_range_congruent_and_idempotent(angle: np.ndarray) -> None:
    wrapped = wrap_angle(angle)
    assert isinstance(wrapped, np.ndarray) and wrapped.shape == angle.shape
    assert np.all((wrapped >= -np.pi) & (wrapped < np.pi))
    turns = (angle - wrapped) / (2 * np.pi)
    assert np.allclose(turns, np.round(turns), rtol=0.0, atol=1e-12 * np.maximum(1.0, np.abs(angle)))
    assert np.array_equal(wrap_angle(wrapped), wrapped)
    inside = (angle >= -np.pi) & (angle < np.pi)
    assert np.array_equal(wrapped[inside], angle[inside])


def test_wrap_angle_edges_scalars_and_nan() -> None:
    assert wrap_angle(np.pi) == -np.pi
    assert wrap_angle(-np.pi) == -np.pi
    assert wrap_angle(3 * np.pi / 2) == pytest.approx(-np.pi / 2)
    assert isinstance(wrap_angle(7.0), float)
    assert np.isnan(wrap_angle(np.array([np.nan, np.inf, 1.0]))[:2]).all()


@PROPERTY
@given(angles, angles)
def test_angle_diff_is_the_wrapped_rotation_from_b_to_a(a: float, b: float) -> None:
    diff = angle_diff(a, b)
    assert -np.pi <= diff < np.pi
    assert abs(angle_diff(b + diff, a)) <= 1e-12 * max(1.0, abs(a), abs(b))


# --- polylines ----------------------------------------------------------------------------------


@PROPERTY
@given(
    start=arrays(np.float64, 2, elements=st.floats(-1e3, 1e3)),
    heading=st.floats(-np.pi, np.pi, exclude_max=True),
    gaps=arrays(np.float64, st.integers(1, 20), elements=st.floats(0.01, 50.0)),
    probe=fraction_arrays(),
)
def test_straight_line_arc_length_interpolation_heading_curvature(
    start: np.ndarray, heading: float, gaps: np.ndarray, probe: np.ndarray
) -> None:
    direction = np.array([np.cos(heading), np.sin(heading)])
    stations = np.concatenate([[0.0], np.cumsum(gaps)])
    line = Polyline(start + stations[:, None] * direction)
    assert np.allclose(line.s, stations, atol=1e-9)
    assert line.length == pytest.approx(stations[-1])
    s = -20.0 + probe * (line.length + 40.0)  # includes both straight continuations
    assert np.allclose(line.interpolate(s), start + s[:, None] * direction, atol=1e-9)
    assert np.allclose(angle_diff(line.heading_at(s), heading), 0.0, atol=1e-9)
    assert np.allclose(line.curvature_at(s), 0.0, atol=1e-9)


random_walks = arrays(np.float64, st.tuples(st.integers(2, 30), st.just(2)), elements=st.floats(-50.0, 50.0))


@PROPERTY
@given(points=random_walks, probe=fraction_arrays())
def test_interpolation_stays_on_the_line_and_is_one_lipschitz(points: np.ndarray, probe: np.ndarray) -> None:
    try:
        line = Polyline(points)
    except GeometryError:
        return  # fewer than two distinct points: covered by the degenerate-input test
    assert np.allclose(line.interpolate(line.s), line.points, atol=1e-9)
    s = probe * line.length
    at = line.interpolate(s)
    assert np.all(shapely.distance(shapely.LineString(line.points), shapely.points(at)) < 1e-9)
    order = np.argsort(s)
    steps = np.hypot(*np.diff(at[order], axis=0).T)
    assert np.all(steps <= np.diff(s[order]) + 1e-9)
    ahead = line.interpolate(s + 1e-6) - at
    inside = np.diff(np.searchsorted(line.s, [s, s + 1e-6], side="right"), axis=0)[0] == 0
    tangent = np.arctan2(ahead[:, 1], ahead[:, 0])
    assert np.allclose(angle_diff(line.heading_at(s), tangent)[inside], 0.0, atol=1e-6)


@PROPERTY
@given(
    radius=st.floats(5.0, 500.0),
    steps=arrays(np.float64, st.integers(8, 120), elements=st.floats(0.02, 0.3)),
    clockwise=st.booleans(),
    window=st.floats(0.5, 10.0),
    probe=fraction_arrays(),
)
def test_circle_arc_curvature_is_one_over_radius(
    radius: float, steps: np.ndarray, clockwise: bool, window: float, probe: np.ndarray
) -> None:
    angle = np.concatenate([[0.0], np.cumsum(steps)]) * (-1.0 if clockwise else 1.0)
    line = Polyline(radius * np.column_stack([np.cos(angle), np.sin(angle)]))
    margin = max(window, 2 * np.diff(line.s).max())  # the estimate tapers to 0 near the ends
    if line.length <= 2 * margin:
        return
    s = margin + probe * (line.length - 2 * margin)
    chord = np.diff(line.s).max() / radius
    expected = -1.0 / radius if clockwise else 1.0 / radius
    assert np.allclose(line.curvature_at(s, window=window), expected, rtol=chord**2 / 8 + 1e-9, atol=0.0)
    assert np.allclose(line.curvature_at([-window - 1.0, line.length + window + 1.0], window=window), 0.0)


@PROPERTY
@given(points=random_walks, spacing=st.floats(0.1, 20.0))
def test_resample_keeps_ends_and_puts_points_on_the_line(points: np.ndarray, spacing: float) -> None:
    try:
        line = Polyline(points)
    except GeometryError:
        return
    sampled = line.resample(spacing)
    assert np.array_equal(sampled.points[[0, -1]], line.points[[0, -1]])
    assert np.all(np.diff(sampled.s) <= spacing + 1e-9)
    assert sampled.length <= line.length + 1e-9
    on_line = shapely.distance(shapely.LineString(line.points), shapely.points(sampled.points))
    assert np.all(on_line < 1e-9)


def test_duplicates_and_jitter_are_dropped_but_the_end_is_kept() -> None:
    line = Polyline([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0 + 0.4 * MIN_SPACING, 0.0], [2.0, 0.0]])
    assert np.array_equal(line.points, [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    end = Polyline([[0.0, 0.0], [1.0, 0.0], [1.0 - 0.5 * MIN_SPACING, 0.0]])  # backward jitter at the end
    assert np.array_equal(end.points, [[0.0, 0.0], [1.0 - 0.5 * MIN_SPACING, 0.0]])
    assert not line.points.flags.writeable


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[1.0, 2.0]], "P >= 2"),
        ([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0 + 0.5 * MIN_SPACING]], "at least 2 points"),
        ([[0.0, 0.0], [np.nan, 1.0], [2.0, 2.0]], "at index (1, 0)"),
        ([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], "shape (..., 2)"),
    ],
)
def test_degenerate_polylines_raise(points: list[list[float]], message: str) -> None:
    with pytest.raises(GeometryError, match=re.escape(message)):
        Polyline(np.array(points))


def test_bad_queries_raise_a_drivestack_error() -> None:
    line = Polyline([[0.0, 0.0], [10.0, 0.0]])
    frame = FrenetFrame(line)
    for call in (
        lambda: line.interpolate([1.0, np.nan]),
        lambda: line.resample(0.0),
        lambda: line.curvature_at(1.0, window=0.0),
        lambda: frame.to_frenet([[1.0, np.inf]]),
        lambda: frame.to_frenet([1.0, 2.0, 3.0]),
        lambda: frame.from_frenet(1.0, np.nan),
    ):
        with pytest.raises(DrivestackError):
            call()


# --- Frenet frame -------------------------------------------------------------------------------


def test_frenet_on_a_straight_line_is_x_and_y() -> None:
    frame = FrenetFrame(Polyline([[0.0, 0.0], [4.0, 0.0], [10.0, 0.0]]))
    xy = np.array([[3.0, 2.0], [7.0, -1.5], [-4.0, -1.0], [15.0, 1.0]])  # left, right, before, past
    s, d = frame.to_frenet(xy)
    assert np.allclose(s, xy[:, 0]) and np.allclose(d, xy[:, 1])
    assert np.allclose(frame.from_frenet(s, d), xy)
    assert frame.unique_offset == np.inf


def test_frenet_on_a_circle_follows_the_vertex_fibres() -> None:
    radius, count = 10.0, 31
    angle = np.linspace(0.0, np.pi / 2, count)
    frame = FrenetFrame(Polyline(radius * np.column_stack([np.cos(angle), np.sin(angle)])))
    half_turn = 0.5 * (angle[1] - angle[0])
    assert frame.unique_offset == pytest.approx(radius * np.cos(half_turn))
    # points on the ray through each interior vertex: s is the vertex's, d > 0 towards the centre
    r = np.array([4.0, 9.0, 12.0])
    xy = (r[:, None, None] * np.column_stack([np.cos(angle), np.sin(angle)]))[:, 1:-1]
    s, d = frame.to_frenet(xy)
    assert s.shape == (3, count - 2)
    assert np.allclose(s, frame.reference.s[1:-1])
    assert np.allclose(d, (radius - r[:, None]) * np.cos(half_turn))
    # the centre, where all fibres meet, still maps back onto itself
    s, d = frame.to_frenet([[0.0, 0.0]])
    assert np.allclose(frame.from_frenet(s, d), 0.0, atol=1e-9) and d[0] == pytest.approx(
        radius * np.cos(half_turn)
    )


@PROPERTY
@given(points=random_walks, x_fraction=fraction_arrays(256), y_fraction=fraction_arrays(256))
def test_every_point_maps_back_onto_itself_for_any_reference(
    points: np.ndarray, x_fraction: np.ndarray, y_fraction: np.ndarray
) -> None:
    try:
        frame = FrenetFrame(Polyline(points).without_spikes())
    except GeometryError:
        return  # fewer than two distinct points
    assert np.all(np.abs(frame.reference.turns) <= MAX_TURN)
    low, high = frame.reference.points.min(axis=0) - 30.0, frame.reference.points.max(axis=0) + 30.0
    xy = low + np.column_stack([x_fraction, y_fraction]) * (high - low)
    assert np.allclose(frame.from_frenet(*frame.to_frenet(xy)), xy, rtol=0.0, atol=1e-6)


@PROPERTY
@given(lane=st.integers(0, 10_000), s_fraction=fraction_arrays(), d_fraction=fraction_arrays())
def test_frenet_round_trip_from_frenet_on_real_centerlines(
    real_frames: list[FrenetFrame], lane: int, s_fraction: np.ndarray, d_fraction: np.ndarray
) -> None:
    frame = real_frames[lane % len(real_frames)]
    s = -10.0 + s_fraction * (frame.reference.length + 20.0)  # includes both straight continuations
    d = (2.0 * d_fraction - 1.0) * band(frame)
    s_back, d_back = frame.to_frenet(frame.from_frenet(s, d))
    assert np.allclose(s_back, s, rtol=0.0, atol=1e-6)
    assert np.allclose(d_back, d, rtol=0.0, atol=1e-6)


@PROPERTY
@given(lane=st.integers(0, 10_000), x_fraction=fraction_arrays(256), y_fraction=fraction_arrays(256))
def test_frenet_round_trip_from_world_points_on_real_centerlines(
    real_frames: list[FrenetFrame], lane: int, x_fraction: np.ndarray, y_fraction: np.ndarray
) -> None:
    frame = real_frames[lane % len(real_frames)]
    low, high = frame.reference.points.min(axis=0) - 10.0, frame.reference.points.max(axis=0) + 10.0
    xy = low + np.column_stack([x_fraction, y_fraction]) * (high - low)
    assert np.allclose(frame.from_frenet(*frame.to_frenet(xy)), xy, rtol=0.0, atol=1e-6)


def test_frenet_left_is_positive_on_real_centerlines(real_frames: list[FrenetFrame]) -> None:
    for frame in real_frames:
        reference = frame.reference
        middle = 0.5 * (reference.s[:-1] + reference.s[1:])  # segment midpoints
        heading = reference.heading_at(middle)
        offset = 0.5 * np.minimum(band(frame), 1.0)
        left = reference.interpolate(middle) + offset * np.column_stack([-np.sin(heading), np.cos(heading)])
        s, d = frame.to_frenet(left)
        # d is the distance square to the segment; s lies on the (slanted) fibre, near the midpoint
        assert np.allclose(d, offset, atol=1e-6)
        assert np.allclose(s, middle, atol=offset * np.tan(MAX_TURN / 2))


def test_frenet_handles_many_points_in_blocks(real_frames: list[FrenetFrame]) -> None:
    frame = max(real_frames, key=lambda f: len(f.reference.points))
    rng = np.random.default_rng(7)
    s = rng.uniform(0.0, frame.reference.length, (40, 150))  # (agents, steps), many blocks
    d = rng.uniform(-band(frame), band(frame), (40, 150))
    s_back, d_back = frame.to_frenet(frame.from_frenet(s, d))
    assert s_back.shape == (40, 150)
    assert np.allclose(s_back, s, atol=1e-6) and np.allclose(d_back, d, atol=1e-6)


def test_frenet_of_one_point_is_kept_bit_for_bit(real_frames: list[FrenetFrame]) -> None:
    """A single point's (s, d), kept for repeated asks, is bit for bit the uncached answer (the
    same point as a batch of one), and a caller changing the returned arrays changes no later one."""
    rng = np.random.default_rng(11)
    for frame in real_frames[::10]:
        points = frame.from_frenet(
            rng.uniform(-5.0, frame.reference.length + 5.0, 6), rng.uniform(-band(frame), band(frame), 6)
        )
        for point in points:
            s_expected, d_expected = frame.to_frenet(point[None])  # (1, 2): never kept
            for _ in range(2):  # computed, then kept
                s, d = frame.to_frenet(point)
                assert s.shape == d.shape == ()
                assert s == s_expected[0] and d == d_expected[0]
                s += 1.0  # the caller's copy only


def test_spiked_real_centerlines_are_rejected_then_cleaned(commonroad_root: Path) -> None:
    lanes = read_scenario(commonroad_root / SPIKED_SCENARIO).lane_graph.lanes
    for lane_id in SPIKED_LANES:
        raw = Polyline(lanes[lane_id].center)
        with pytest.raises(GeometryError, match="without_spikes"):
            FrenetFrame(raw)
        clean = raw.without_spikes()
        assert np.all(np.abs(clean.turns) <= MAX_TURN)
        assert (
            shapely.hausdorff_distance(shapely.LineString(raw.points), shapely.LineString(clean.points)) < 0.2
        )
        frame = FrenetFrame(clean)
        s = np.linspace(-2.0, clean.length + 2.0, 50)
        d = np.linspace(-band(frame), band(frame), 50)
        s_back, d_back = frame.to_frenet(frame.from_frenet(s, d))
        assert np.allclose(s_back, s, atol=1e-6) and np.allclose(d_back, d, atol=1e-6)


# --- boxes --------------------------------------------------------------------------------------


def box_arrays(size: int = 64) -> st.SearchStrategy[np.ndarray]:
    """Corners (size, 4, 2) [m] of boxes scattered so that about a fifth of random pairs overlap."""
    return st.builds(
        lambda x, y, yaw, length, width: box_corners(x, y, yaw, length, width),
        arrays(np.float64, size, elements=st.floats(-8.0, 8.0)),
        arrays(np.float64, size, elements=st.floats(-8.0, 8.0)),
        arrays(np.float64, size, elements=st.floats(-np.pi, np.pi)),
        arrays(np.float64, size, elements=st.floats(0.3, 12.0)),
        arrays(np.float64, size, elements=st.floats(0.2, 3.0)),
    )


@PROPERTY
@given(
    x=st.floats(-1e3, 1e3),
    y=st.floats(-1e3, 1e3),
    yaw=st.floats(-np.pi, np.pi),
    length=st.floats(0.1, 20.0),
    width=st.floats(0.1, 5.0),
)
def test_box_corners_geometry(x: float, y: float, yaw: float, length: float, width: float) -> None:
    corners = box_corners(x, y, yaw, length, width)
    assert corners.shape == (4, 2)
    assert np.allclose(corners.mean(axis=0), [x, y])
    forward, left = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])
    assert np.allclose(corners[0], [x, y] + 0.5 * length * forward + 0.5 * width * left)  # front-left
    assert np.hypot(*(corners[0] - corners[1])) == pytest.approx(length)
    assert np.hypot(*(corners[1] - corners[2])) == pytest.approx(width)
    assert shapely.Polygon(corners).area == pytest.approx(length * width)
    assert shapely.LinearRing(corners).is_ccw


def test_box_functions_broadcast_over_leading_dimensions() -> None:
    rng = np.random.default_rng(3)
    agents = box_corners(
        rng.uniform(-5, 5, (6, 1)), rng.uniform(-5, 5, (6, 1)), rng.uniform(-3, 3, (1, 9)), 4.5, 1.8
    )
    assert agents.shape == (6, 9, 4, 2)
    ego = box_corners(0.0, 0.0, 0.3, 4.5, 1.8)
    overlap, gap = boxes_overlap(agents, ego), box_distance(agents, ego)
    assert overlap.shape == gap.shape == (6, 9)
    one_by_one = [[boxes_overlap(agents[i, j], ego) for j in range(9)] for i in range(6)]
    assert np.array_equal(overlap, one_by_one)
    pairwise = boxes_overlap(agents[:, None, 0], agents[None, :, 0])
    assert pairwise.shape == (6, 6) and np.array_equal(pairwise, pairwise.T) and pairwise.diagonal().all()


@PROPERTY
@given(a=box_arrays(), b=box_arrays())
def test_boxes_overlap_is_symmetric_reflexive_and_matches_shapely(a: np.ndarray, b: np.ndarray) -> None:
    overlap = boxes_overlap(a, b)
    assert np.array_equal(overlap, boxes_overlap(b, a))
    assert boxes_overlap(a, a).all()
    # compare with shapely wherever a tiny shrink or grow of the boxes does not change the answer
    polygons_a, polygons_b = shapely.polygons(a), shapely.polygons(b)
    grown = shapely.intersects(shapely.buffer(polygons_a, 1e-7, join_style="mitre"), polygons_b)
    shrunk = shapely.intersects(shapely.buffer(polygons_a, -1e-7, join_style="mitre"), polygons_b)
    clear = grown == shrunk
    assert np.array_equal(overlap[clear], shapely.intersects(polygons_a, polygons_b)[clear])
    assert np.allclose(box_distance(a, b), shapely.distance(polygons_a, polygons_b), atol=1e-9)


@PROPERTY
@given(a=box_arrays(), shift=st.floats(0.0, 2 * np.pi), extra=st.floats(1e-6, 1e3))
def test_boxes_moved_beyond_their_reach_do_not_overlap(a: np.ndarray, shift: float, extra: float) -> None:
    reach = 2.0 * np.hypot(*(a[:, 0] - a[:, 2]).T).max()  # more than both half diagonals together
    moved = a + (reach + extra) * np.array([np.cos(shift), np.sin(shift)])
    assert not boxes_overlap(a, moved).any()
    assert np.all(box_distance(a, moved) > 0.0)


def test_missing_boxes_overlap_nothing() -> None:
    boxes = box_corners([0.0, np.nan], 0.0, 0.0, 4.0, 2.0)
    assert boxes_overlap(boxes, boxes[0]).tolist() == [True, False]
    assert np.isnan(box_distance(boxes, boxes[0])[1])
    assert box_distance(boxes, boxes[0])[0] == 0.0


def test_points_in_polygon_counts_edges_as_inside() -> None:
    square = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]
    points = np.array([[[1.0, 1.0], [3.0, 1.0]], [[2.0, 1.0], [-0.1, 0.0]]])
    assert points_in_polygon(points, square).tolist() == [[True, False], [True, False]]
    assert points_in_polygon(points, shapely.Polygon(square)).tolist() == [[True, False], [True, False]]
