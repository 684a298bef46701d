"""Speed of core geometry against shapely doing comparable work; prints times and ratios.

Run: `.venv/bin/python benchmarks/geometry.py`. Times are the best of several repeats (the machine
may be shared). shapely's `project` + `distance` give the nearest point's s and |d|: the same
amount of work as to_frenet, though not the same (miter-fibre) coordinates.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import numpy as np
import shapely

from drivestack.core.geometry import FrenetFrame, Polyline, box_corners, box_distance, boxes_overlap


def best_ms(call: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of `call` over `repeat` runs [ms]."""
    number = 3
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e3


def curved_reference(vertices: int) -> FrenetFrame:
    """A Frenet frame along a 3 rad arc of radius 100 m sampled with `vertices` points."""
    angle = np.linspace(0.0, 3.0, vertices)
    return FrenetFrame(Polyline(100.0 * np.column_stack([np.cos(angle), np.sin(angle)])))


def frenet() -> None:
    """to_frenet / from_frenet for point clouds of growing size around a curved reference."""
    rng = np.random.default_rng(0)
    print("to_frenet (points x vertices)         ours [ms]  ns/pair  shapely [ms]  shapely/ours")
    for points, vertices in ((200, 50), (1_000, 100), (5_000, 500), (20_000, 300)):
        frame = curved_reference(vertices)
        s = rng.uniform(0.0, frame.reference.length, points)
        xy = frame.from_frenet(s, rng.uniform(-5.0, 5.0, points))
        ours = best_ms(lambda frame=frame, xy=xy: frame.to_frenet(xy))
        line = shapely.LineString(frame.reference.points)

        def nearest(line: shapely.LineString = line, xy: np.ndarray = xy) -> object:
            geometries = shapely.points(xy)
            return shapely.line_locate_point(line, geometries), shapely.distance(line, geometries)

        theirs = best_ms(nearest)
        pair_ns = ours * 1e6 / (points * (vertices - 1))
        print(
            f"  {points:>6} x {vertices:<4}                     {ours:9.2f}  {pair_ns:7.1f}"
            f"  {theirs:12.2f}  {theirs / ours:12.2f}"
        )
    frame = curved_reference(300)
    s, d = rng.uniform(0.0, frame.reference.length, 100_000), rng.uniform(-5.0, 5.0, 100_000)
    print(f"from_frenet, 100000 points x 300 vertices: {best_ms(lambda: frame.from_frenet(s, d)):.2f} ms")


def boxes() -> None:
    """Overlap and distance of box pairs, elementwise and all-pairs, against shapely polygons."""
    rng = np.random.default_rng(1)

    def scattered(shape: tuple[int, ...]) -> np.ndarray:
        return box_corners(
            rng.uniform(-30.0, 30.0, shape),
            rng.uniform(-30.0, 30.0, shape),
            rng.uniform(-np.pi, np.pi, shape),
            rng.uniform(3.5, 5.5, shape),
            rng.uniform(1.6, 2.2, shape),
        )

    print("boxes                                 ours [ms]  shapely [ms]  shapely/ours")
    a, b = scattered((20_000,)), scattered((20_000,))
    for name, ours_call, theirs_call in (
        (
            "overlap, 20000 pairs",
            lambda: boxes_overlap(a, b),
            lambda: shapely.intersects(shapely.polygons(a), shapely.polygons(b)),
        ),
        (
            "distance, 20000 pairs",
            lambda: box_distance(a, b),
            lambda: shapely.distance(shapely.polygons(a), shapely.polygons(b)),
        ),
    ):
        ours, theirs = best_ms(ours_call), best_ms(theirs_call)
        print(f"  {name:<34}  {ours:9.2f}  {theirs:12.2f}  {theirs / ours:12.2f}")
    ego, agents = scattered((30, 1)), scattered((1, 100))  # ego over 30 steps against 100 agents
    ours = best_ms(lambda: boxes_overlap(ego, agents))
    theirs = best_ms(lambda: shapely.intersects(shapely.polygons(ego), shapely.polygons(agents)))
    print(f"  {'overlap, 30 x 100 broadcast':<34}  {ours:9.2f}  {theirs:12.2f}  {theirs / ours:12.2f}")


if __name__ == "__main__":
    frenet()
    boxes()
