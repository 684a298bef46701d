"""Plane geometry every package builds on: angles, polylines, the Frenet frame and oriented boxes.

Units are SI: positions [m], angles [rad] counter-clockwise, wrapped to [-pi, pi). Everything is
vectorized over points and boxes; shapes are given in each docstring ((N, 2) means N points x, y).

Frenet frame: a reference polyline with *miter* normals at its vertices (the bisector of the two
segment normals, scaled so that its component along each segment normal is 1), blended linearly
along each segment. Lines of constant `d` are then exact parallel offsets of the polyline (miter
joins) and `d` is the signed perpendicular distance to the segment a point belongs to. Unlike
projecting onto the nearest segment, this map is one-to-one around vertices, so round trips hold.
Beyond the ends the reference continues straight along its first and last segments.

Bad input: polylines and Frenet queries raise GeometryError on NaN/inf, on fewer than two points
more than MIN_SPACING apart, and (Frenet references) on turns sharper than MAX_TURN, which real
maps only show as defects (Polyline.without_spikes removes them). Angles and boxes follow the
track convention instead: NaN marks a missing value and propagates (a NaN box overlaps nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from numba import njit
from numpy.typing import ArrayLike, NDArray

from drivestack.core.errors import GeometryError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

TWO_PI = 2.0 * np.pi
MIN_SPACING = 1e-3
"""Points within this [m] of their predecessor are dropped from a polyline (duplicates, survey jitter)."""

MAX_TURN = 2.0 * np.pi / 3.0
"""Sharpest turn [rad] (120 deg) a Frenet reference may make at a vertex; sharper ones are spikes."""

_T_SLACK = 1e-9  # accepted overshoot of a segment's fraction, so points on a shared fibre find a segment
_BLOCK = 1 << 14  # (points x segments) per to_frenet block: small enough to stay in CPU cache


def wrap_angle(angle: ArrayLike) -> FloatArray | float:
    """Angle(s) [rad] wrapped to [-pi, pi); values already in range are returned unchanged.

    Returns a float for scalar input, else an array of the input's shape. NaN and inf give NaN.
    """
    if isinstance(angle, float) and -np.pi <= angle < np.pi:  # a scalar in range: no arrays
        return float(angle)
    a = np.asarray(angle, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf becomes NaN like NaN stays NaN
        wrapped = np.remainder(a + np.pi, TWO_PI) - np.pi
    wrapped = np.where(wrapped >= np.pi, wrapped - TWO_PI, wrapped)  # remainder may round up to 2 pi
    out = np.where((a >= -np.pi) & (a < np.pi), a, wrapped)
    return float(out) if out.ndim == 0 else out


def angle_diff(a: ArrayLike, b: ArrayLike) -> FloatArray | float:
    """Smallest signed rotation [rad] from `b` to `a`, i.e. a - b wrapped to [-pi, pi); broadcasts."""
    return wrap_angle(np.subtract(a, b, dtype=np.float64))


def _finite(name: str, values: ArrayLike) -> FloatArray:
    """`values` as a float64 array; raises GeometryError naming `name` and the first NaN/inf index."""
    array = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise GeometryError(f"{name}: expected finite numbers, got {array[index]} at index {index}")
    return array


def _points(name: str, xy: ArrayLike) -> FloatArray:
    """`xy` as a finite float64 array of shape (..., 2); raises GeometryError otherwise."""
    array = _finite(name, xy)
    if array.ndim < 1 or array.shape[-1] != 2:
        raise GeometryError(f"{name}: expected points of shape (..., 2), got shape {array.shape}")
    return array


def _drop_close_points(points: FloatArray) -> FloatArray:
    """`points` (P, 2) without points within MIN_SPACING of their predecessor; the end points are kept.

    Repeats one vectorized pass until every spacing exceeds MIN_SPACING (one pass in practice).
    """
    while True:
        close = np.hypot(*np.diff(points, axis=0).T) <= MIN_SPACING
        if not close.any():
            return points
        if len(points) <= 2:
            raise GeometryError(
                f"polyline: expected at least 2 points more than {MIN_SPACING} m apart, got {points.tolist()}"
            )
        drop = np.concatenate([[False], close])
        if drop[-1]:  # keep the true end point, drop the one before it instead
            drop[-1], drop[-2] = False, True
        points = points[~drop]


def _readonly(array: FloatArray) -> FloatArray:
    """`array` marked read-only, so frozen geometry objects cannot be changed through their arrays."""
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Polyline:
    """A piecewise-linear curve through `points` (P, 2) [m], P >= 2, parametrised by arc length `s`.

    Construction drops points within MIN_SPACING of their predecessor and rejects NaN/inf and lines
    with fewer than two distinct points (GeometryError). Queries beyond the ends (s < 0 or
    s > length) extend the line straight along its first / last segment.
    """

    points: FloatArray
    s: FloatArray = field(init=False, repr=False)
    """(P,) cumulative arc length at each point [m], s[0] = 0."""
    directions: FloatArray = field(init=False, repr=False)
    """(P - 1, 2) unit direction of each segment."""
    headings: FloatArray = field(init=False, repr=False)
    """(P - 1,) heading of each segment [rad] in [-pi, pi)."""
    turns: FloatArray = field(init=False, repr=False)
    """(P - 2,) signed turn [rad] in (-pi, pi] at each interior vertex, positive to the left."""

    def __post_init__(self) -> None:
        points = _points("polyline points", self.points)
        if points.ndim != 2 or len(points) < 2:
            raise GeometryError(f"polyline: expected points of shape (P >= 2, 2), got shape {points.shape}")
        points = _drop_close_points(points.copy())
        steps = np.diff(points, axis=0)
        lengths = np.hypot(steps[:, 0], steps[:, 1])
        directions = steps / lengths[:, None]
        before, after = directions[:-1], directions[1:]
        cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
        turns = np.arctan2(cross, np.einsum("ij,ij->i", before, after))
        object.__setattr__(self, "points", _readonly(points))
        object.__setattr__(self, "s", _readonly(np.concatenate([[0.0], np.cumsum(lengths)])))
        object.__setattr__(self, "directions", _readonly(directions))
        headings = np.arctan2(steps[:, 1], steps[:, 0])
        object.__setattr__(self, "headings", _readonly(np.asarray(wrap_angle(headings))))
        object.__setattr__(self, "turns", _readonly(turns))

    @property
    def length(self) -> float:
        """Total arc length [m]."""
        return float(self.s[-1])

    def _locate(self, s: ArrayLike) -> tuple[IntArray, FloatArray]:
        """Segment index and distance past that segment's start [m] for arc lengths `s` (any shape).

        s before 0 maps to segment 0 (negative distance), s beyond the length to the last segment.
        """
        s = _finite("arc length s", s)
        segment = np.minimum(np.maximum(np.searchsorted(self.s, s, side="right") - 1, 0), len(self.s) - 2)
        return segment, s - self.s[segment]

    def interpolate(self, s: ArrayLike) -> FloatArray:
        """Points (..., 2) [m] at arc lengths `s` (...) [m]; beyond the ends, along the end segments."""
        segment, along = self._locate(s)
        return self.points[segment] + along[..., None] * self.directions[segment]

    def heading_at(self, s: ArrayLike) -> FloatArray:
        """Tangent heading (...) [rad] at arc lengths `s` (...) [m]: the heading of the segment holding s.

        At a vertex the following segment's heading; beyond the ends the end segments' headings.
        """
        segment, _ = self._locate(s)
        return self.headings[segment]

    def curvature_at(self, s: ArrayLike, window: float = 2.0) -> FloatArray:
        """Signed curvature (...) [1/m] (positive turning left) at arc lengths `s` (...) [m], smoothed.

        Each vertex's turning angle is spread over the half segments beside it (heading interpolated
        between segment midpoints), then averaged over `window` > 0 [m] centred on s. On a circle
        arc of radius R with chords L it is 1/R within a relative (L/R)^2/24; it falls to 0 within
        half a segment or half a window of the ends, since the line runs straight beyond them.
        """
        if not np.isfinite(window) or window <= 0.0:
            raise GeometryError(f"curvature window: expected a finite length > 0 m, got {window}")
        s = _finite("arc length s", s)
        midpoints = 0.5 * (self.s[:-1] + self.s[1:])
        turned = np.concatenate([[0.0], np.cumsum(self.turns)])  # heading change up to each midpoint [rad]
        half = 0.5 * window
        return (np.interp(s + half, midpoints, turned) - np.interp(s - half, midpoints, turned)) / window

    def without_spikes(self, max_turn: float = MAX_TURN) -> Polyline:
        """This line without interior vertices turning by more than `max_turn` [rad]: backtracking spikes.

        Meant for map defects such as a centerline starting with a short backward stub or lanes
        joined with a small overlap. Drops all such vertices per vectorized pass until none is left.
        """
        line = self
        while True:
            spikes = np.abs(line.turns) > max_turn
            if not spikes.any():
                return line
            line = Polyline(line.points[~np.concatenate([[False], spikes, [False]])])

    def resample(self, spacing: float) -> Polyline:
        """Points on this line every `spacing` [m] from s = 0, plus the end point; returns a new Polyline.

        The new vertices lie on this line, so its chords may cut this line's corners slightly.
        """
        if not np.isfinite(spacing) or spacing <= MIN_SPACING:
            raise GeometryError(
                f"resample spacing: expected a finite length > {MIN_SPACING} m, got {spacing}"
            )
        stations = np.arange(0.0, self.length, spacing)
        return Polyline(np.concatenate([self.interpolate(stations), self.points[-1:]]))


@dataclass(frozen=True, eq=False)
class FrenetFrame:
    """Lane-relative coordinates (s along, d left of) a reference Polyline; see the module docstring.

    from_frenet(*to_frenet(xy)) == xy for every point. The map is one-to-one while
    |d| < `unique_offset` (and the band does not overlap itself, e.g. at a hairpin narrower than
    the band), so there to_frenet(from_frenet(s, d)) == (s, d) as well. Beyond the ends the
    reference runs straight on, with d measured square to the end segments. Raises GeometryError
    for a reference turning more than MAX_TURN at a vertex.
    """

    reference: Polyline
    normals: FloatArray = field(init=False, repr=False)
    """(P, 2) miter normal at each vertex: lines of constant d pass through vertex + d * normal."""
    unique_offset: float = field(init=False)
    """Largest |d| [m] at which no segment's offset collapses (about the tightest radius of curvature)."""
    _lead: FloatArray = field(init=False, repr=False)  # (S,) start normal's component along the segment
    _shrink: FloatArray = field(init=False, repr=False)  # (S,) rate [m/m] at which the offset segment shrinks
    _weights: FloatArray = field(init=False, repr=False)  # (3, 2S) maps [x, y, 1] to (d, along) per segment
    _last_point: dict[bytes, tuple[FloatArray, FloatArray]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )  # the last single point's (s, d): a planning step asks for the ego's several times

    def __post_init__(self) -> None:
        reference = self.reference
        directions = reference.directions
        left = np.stack([-directions[:, 1], directions[:, 0]], axis=1)  # (S, 2) unit left normals
        sharp = np.abs(reference.turns) > MAX_TURN
        if sharp.any():
            vertex = int(np.argmax(sharp)) + 1
            turn = np.degrees(abs(reference.turns[vertex - 1]))
            raise GeometryError(
                f"Frenet reference: turns by {turn:.1f} deg at vertex {vertex} "
                f"{reference.points[vertex].tolist()}; expected at most "
                f"{np.degrees(MAX_TURN):.0f} deg (a spike: Polyline.without_spikes() drops such vertices)"
            )
        cos_turn = np.cos(reference.turns)
        miter = (left[:-1] + left[1:]) / (1.0 + cos_turn)[:, None]
        normals = np.concatenate([left[:1], miter, left[-1:]])
        lead = np.einsum("ij,ij->i", normals[:-1], directions)
        shrink = lead - np.einsum("ij,ij->i", normals[1:], directions)
        with np.errstate(divide="ignore"):
            unique_offset = float(np.min(np.diff(reference.s) / np.abs(shrink)))
        # points are taken relative to the first vertex, which keeps precision far from (0, 0)
        starts = reference.points[:-1] - reference.points[0]
        offset_weights = np.stack([left[:, 0], left[:, 1], -np.einsum("ij,ij->i", starts, left)])
        along_weights = np.stack(
            [directions[:, 0], directions[:, 1], -np.einsum("ij,ij->i", starts, directions)]
        )
        object.__setattr__(self, "normals", _readonly(normals))
        object.__setattr__(self, "unique_offset", unique_offset)
        object.__setattr__(self, "_lead", _readonly(lead))
        object.__setattr__(self, "_shrink", _readonly(shrink))
        object.__setattr__(
            self, "_weights", _readonly(np.concatenate([offset_weights, along_weights], axis=1))
        )

    def from_frenet(self, s: ArrayLike, d: ArrayLike) -> FloatArray:
        """World points (..., 2) [m] at arc length `s` [m] and left offset `d` [m] (broadcast to (...))."""
        return self.poses(s, d, 0.0)[0]

    def poses(self, s: ArrayLike, d: ArrayLike, slope: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """World points (..., 2) [m] and headings (...) [rad] of paths at arc length `s` [m] and left
        offset `d` [m] whose offset changes by `slope` [m/m] there (broadcast to (...)): the
        reference's segment heading turned by atan(slope), wrapped to [-pi, pi)."""
        s, d, slope = np.broadcast_arrays(
            _finite("arc length s", s), _finite("offset d", d), _finite("slope", slope)
        )
        reference = self.reference
        x, y, segment = _frenet_kernel(
            np.ascontiguousarray(s, dtype=np.float64).ravel(),
            np.ascontiguousarray(d, dtype=np.float64).ravel(),
            reference.s,
            reference.points,
            reference.directions,
            self.normals,
        )
        heading = reference.headings[segment] + np.arctan(slope.ravel())  # within (-3 pi / 2, 3 pi / 2)
        heading = np.where(
            heading >= np.pi, heading - TWO_PI, np.where(heading < -np.pi, heading + TWO_PI, heading)
        )
        return np.stack([x, y], axis=-1).reshape(*s.shape, 2), heading.reshape(s.shape)

    def to_frenet(self, xy: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Arc length s (...) [m] and left offset d (...) [m] of points `xy` (..., 2) [m].

        Every segment whose fibres reach the point with the right orientation offers a (s, d)
        (inside a tight curve, beyond `unique_offset`, several do); the smallest |d| wins. Every
        point has one, so from_frenet(*to_frenet(xy)) == xy everywhere. Works on blocks of points
        so memory stays bounded for any number of points.
        """
        xy = _points("xy", xy)
        if xy.shape == (2,):
            key = xy.tobytes()
            known = self._last_point.get(key)
            if known is None:
                self._last_point.clear()
                known = self._last_point[key] = self._project(xy[None] - self.reference.points[0])
            return known[0].reshape(()).copy(), known[1].reshape(()).copy()
        flat = xy.reshape(-1, 2) - self.reference.points[0]
        s = np.empty(len(flat))
        d = np.empty(len(flat))
        rows = max(1, _BLOCK // len(self._lead))
        for start in range(0, len(flat), rows):  # blocks of points, each block fully vectorized
            block = slice(start, start + rows)
            s[block], d[block] = self._project(flat[block])
        return s.reshape(xy.shape[:-1]), d.reshape(xy.shape[:-1])

    def _project(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(s, d) of points `p` (n, 2) given relative to the reference's first vertex; see to_frenet."""
        reference = self.reference
        lengths = np.diff(reference.s)
        both = np.column_stack([p, np.ones(len(p))]) @ self._weights  # (n, 2S) in one matrix product
        offset, along = both[:, : len(lengths)], both[:, len(lengths) :]  # square to / along each segment
        # in-place steps keep a block's few temporaries in cache
        scale = offset * self._shrink
        np.subtract(lengths, scale, out=scale)  # length of each segment offset by d: <= 0 outside its band
        t = offset * self._lead
        np.subtract(along, t, out=t)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(t, scale, out=t)  # fraction along the segment of the point's fibre
        inside = scale > 0.0
        inside &= t >= -_T_SLACK
        inside &= t <= 1.0 + _T_SLACK
        before, past = along[:, 0] < 0.0, along[:, -1] > lengths[-1]  # the straight continuations
        t[:, 0] = np.where(before, along[:, 0] / lengths[0], t[:, 0])
        t[:, -1] = np.where(past, along[:, -1] / lengths[-1], t[:, -1])
        inside[:, 0] |= before
        inside[:, -1] |= past
        # Along the extended line the fibres sweep the plane with degree 1, so every point lies on
        # at least one fibre of positive orientation (scale > 0): a candidate always exists.
        rows = np.arange(len(p))
        best = np.where(inside, np.abs(offset), np.inf).argmin(axis=1)
        missing = ~inside[rows, best]
        if missing.any():  # only conceivable through rounding at a point where many fibres cross
            lost = (p[missing][0] + reference.points[0]).tolist()
            raise GeometryError(f"to_frenet: no segment's fibre holds point {lost}")
        s = reference.s[best] + t[rows, best] * lengths[best]
        d = offset[rows, best]
        return s, d


@njit(cache=True)
def _frenet_kernel(
    s: FloatArray,
    d: FloatArray,
    stations: FloatArray,
    points: FloatArray,
    directions: FloatArray,
    normals: FloatArray,
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """x, y [m] and segment index (N,) of Frenet points (arc length `s`, offset `d` [m], (N,)) on a
    polyline of vertex arc lengths `stations` (P,), `points` and miter `normals` (P, 2) and segment
    `directions` (P - 1, 2): along the segment holding s (the end segments beyond the ends),
    offset along the normal blended between its vertices."""
    count = s.shape[0]
    last = stations.shape[0] - 2
    x, y = np.empty(count), np.empty(count)
    segments = np.empty(count, dtype=np.int64)
    for n in range(count):
        segment = min(max(np.searchsorted(stations, s[n], side="right") - 1, 0), last)
        along = s[n] - stations[segment]
        t = min(max(along / (stations[segment + 1] - stations[segment]), 0.0), 1.0)
        normal_x = (1.0 - t) * normals[segment, 0] + t * normals[segment + 1, 0]
        normal_y = (1.0 - t) * normals[segment, 1] + t * normals[segment + 1, 1]
        x[n] = points[segment, 0] + along * directions[segment, 0] + d[n] * normal_x
        y[n] = points[segment, 1] + along * directions[segment, 1] + d[n] * normal_y
        segments[n] = segment
    return x, y, segments


_CORNER_SIGNS = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])  # (along, left) per corner


def box_corners(
    x: ArrayLike, y: ArrayLike, yaw: ArrayLike, length: ArrayLike, width: ArrayLike
) -> FloatArray:
    """Corners (..., 4, 2) [m] of boxes centred at (x, y) [m] heading `yaw` [rad], size length x width [m].

    Inputs broadcast to (...). Corners run counter-clockwise from front-left: front-left,
    rear-left, rear-right, front-right. NaN inputs (invalid track entries) give NaN corners.
    """
    x, y, yaw, length, width = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (x, y, yaw, length, width))
    )
    cos, sin = np.cos(yaw)[..., None], np.sin(yaw)[..., None]
    along = 0.5 * length[..., None] * _CORNER_SIGNS[:, 0]
    left = 0.5 * width[..., None] * _CORNER_SIGNS[:, 1]
    return np.stack(
        [x[..., None] + along * cos - left * sin, y[..., None] + along * sin + left * cos], axis=-1
    )


def _finite_boxes(corners: FloatArray) -> BoolArray:
    """True (...) where all four corners (..., 4, 2) are finite, i.e. the box exists."""
    return np.asarray(np.isfinite(corners).all(axis=(-2, -1)))


def _box_parts(corners: FloatArray) -> tuple[FloatArray, FloatArray, list[tuple[FloatArray, FloatArray]]]:
    """Twice the centre (x, y) and the length and width side vectors [(x, y), (x, y)] of boxes (..., 4, 2)."""
    twice_centre = corners[..., 0, :] + corners[..., 2, :]
    sides = [
        (corners[..., i, 0] - corners[..., i + 1, 0], corners[..., i, 1] - corners[..., i + 1, 1])
        for i in (0, 1)
    ]
    return twice_centre[..., 0], twice_centre[..., 1], sides


def boxes_overlap(corners_a: ArrayLike, corners_b: ArrayLike) -> BoolArray:
    """Whether boxes (..., 4, 2) [m] overlap or touch (as shapely's `intersects`); broadcasts to (...).

    Separating-axis test on the normals of both boxes' edges, for corners in box_corners' order
    (any parallelogram works). A box with a NaN corner (an invalid track entry) overlaps nothing.
    Per-box terms are computed before broadcasting, so (A, 1) against (1, B) stays cheap.
    """
    a, b = np.asarray(corners_a, dtype=np.float64), np.asarray(corners_b, dtype=np.float64)
    a_x, a_y, a_sides = _box_parts(a)
    b_x, b_y, b_sides = _box_parts(b)
    gap_x, gap_y = b_x - a_x, b_y - a_y  # twice the centre offset, (...)
    separated = np.zeros(np.broadcast_shapes(gap_x.shape, gap_y.shape), dtype=bool)
    for own, other in ((a_sides, b_sides), (b_sides, a_sides)):
        for (side_x, side_y), (across_x, across_y) in ((own[0], own[1]), (own[1], own[0])):
            axis_x, axis_y = -side_y, side_x  # normal of this side; the own box's reach is `across` alone
            reach = np.abs(across_x * axis_x + across_y * axis_y)
            for other_x, other_y in other:
                reach = reach + np.abs(other_x * axis_x + other_y * axis_y)
            separated |= np.abs(gap_x * axis_x + gap_y * axis_y) > reach
    return ~separated & _finite_boxes(a) & _finite_boxes(b)


def _corner_to_edge_squared(corners: FloatArray, polygon: FloatArray) -> FloatArray:
    """Smallest squared distance (...) [m2] from `corners` (..., 4, 2) to edges of `polygon` (..., 4, 2)."""
    # coordinate, then corner / edge index lead, so the final reduction runs over whole blocks
    corner_x, corner_y = np.ascontiguousarray(np.moveaxis(corners, (-1, -2), (0, 1)))[:, :, None]
    start_x, start_y = np.ascontiguousarray(np.moveaxis(polygon, (-1, -2), (0, 1)))  # (4, ...) each
    edge_x, edge_y = np.roll(start_x, -1, axis=0) - start_x, np.roll(start_y, -1, axis=0) - start_y
    gap_x, gap_y = corner_x - start_x, corner_y - start_y  # (corner, edge, ...)
    squared = np.maximum(edge_x * edge_x + edge_y * edge_y, np.finfo(np.float64).tiny)
    t = np.clip((gap_x * edge_x + gap_y * edge_y) / squared, 0.0, 1.0)
    foot_x, foot_y = gap_x - t * edge_x, gap_y - t * edge_y
    return np.asarray((foot_x * foot_x + foot_y * foot_y).min(axis=(0, 1)))


def box_distance(corners_a: ArrayLike, corners_b: ArrayLike) -> FloatArray:
    """Euclidean gap (...) [m] between boxes (..., 4, 2), 0 where they overlap; NaN where a box is NaN."""
    a, b = np.broadcast_arrays(
        np.asarray(corners_a, dtype=np.float64), np.asarray(corners_b, dtype=np.float64)
    )
    gap = np.sqrt(np.minimum(_corner_to_edge_squared(a, b), _corner_to_edge_squared(b, a)))
    return np.where(boxes_overlap(a, b), 0.0, gap)


def points_in_polygon(points: ArrayLike, polygon: ArrayLike | shapely.Geometry) -> BoolArray:
    """Whether points (..., 2) [m] lie in `polygon`, a (V, 2) ring [m] or shapely geometry; edges count."""
    xy = np.asarray(points, dtype=np.float64)
    geometry = polygon if isinstance(polygon, shapely.Geometry) else shapely.Polygon(np.asarray(polygon))
    shapely.prepare(geometry)
    return np.asarray(shapely.intersects_xy(geometry, xy[..., 0], xy[..., 1]), dtype=bool)


def enclosing_box(points: ArrayLike) -> tuple[float, float, float, float, float]:
    """The smallest-area oriented box (x, y [m], yaw [rad], length, width [m]) holding (P, 2) `points`.

    `length` runs along `yaw` and is the longer side; a rectangle's four corners give that rectangle
    back. Used where a set-based occupancy (any polygon or circle) must become an oriented box.
    """
    xy = _finite("points", points).reshape(-1, 2)
    if len(xy) == 0:
        raise GeometryError("an enclosing box needs at least one point")
    envelope = shapely.oriented_envelope(shapely.multipoints(xy))
    ring = np.asarray(shapely.get_coordinates(envelope), dtype=np.float64)
    centre = 0.5 * (xy.min(axis=0) + xy.max(axis=0))
    if len(ring) < 4:  # a point or a segment: a degenerate box along it
        span = xy.max(axis=0) - xy.min(axis=0)
        along = float(np.hypot(*span))
        yaw = float(np.arctan2(span[1], span[0])) if along > 0.0 else 0.0
        return float(centre[0]), float(centre[1]), yaw, along, 0.0
    first, second = ring[1] - ring[0], ring[2] - ring[1]
    if np.hypot(*second) > np.hypot(*first):
        first, second = second, first
    middle = 0.5 * (ring[0] + ring[2])
    yaw = float(wrap_angle(np.arctan2(first[1], first[0])))
    return float(middle[0]), float(middle[1]), yaw, float(np.hypot(*first)), float(np.hypot(*second))
