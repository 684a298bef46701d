"""Other road users as oriented boxes now (`Obstacles`, from tracks, static obstacles and
occupancies) and the search for the object ahead along a path (`find_leaders`), used by the
reactive agents, IDM planners and drivestack's decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from drivestack.core.scenario import (
    Occupancy,
    StaticObstacle,
    Tracks,
    occupancy_boxes,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Obstacles:
    """Boxes other road users occupy now, each field (N,): centre [m], yaw [rad], speed [m/s] along
    the heading, length and width [m]; `present` marks the rows that exist."""

    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    length: FloatArray
    width: FloatArray
    present: BoolArray

    @staticmethod
    def from_static(obstacles: tuple[StaticObstacle, ...]) -> Obstacles:
        """Static obstacles as world-frame boxes bounding their shapes (speed 0), each field (S,)."""
        boxes = np.zeros((len(obstacles), 5))
        for i, obstacle in enumerate(obstacles):  # once per run
            ring = obstacle.shape.outline()
            low, high = (ring.min(axis=0), ring.max(axis=0)) if len(ring) else (np.zeros(2), np.zeros(2))
            centre = 0.5 * (low + high)
            cos, sin = np.cos(obstacle.yaw), np.sin(obstacle.yaw)
            boxes[i] = (
                obstacle.x + cos * centre[0] - sin * centre[1],
                obstacle.y + sin * centre[0] + cos * centre[1],
                obstacle.yaw,
                high[0] - low[0],
                high[1] - low[1],
            )
        count = len(obstacles)
        return Obstacles(
            boxes[:, 0],
            boxes[:, 1],
            boxes[:, 2],
            np.zeros(count),
            boxes[:, 3],
            boxes[:, 4],
            np.ones(count, bool),
        )

    @staticmethod
    def from_occupancies(occupancies: tuple[Occupancy, ...], step: int) -> Obstacles:
        """The occupancies present at `step` as standing boxes enclosing their regions, each field (N,)."""
        boxes, present = occupancy_boxes(occupancies, step, 1)
        now = boxes[present[:, 0], 0]
        count = len(now)
        return Obstacles(
            now[:, 0], now[:, 1], now[:, 2], np.zeros(count), now[:, 3], now[:, 4], np.ones(count, bool)
        )

    @staticmethod
    def from_tracks(tracks: Tracks, column: int) -> Obstacles:
        """The agents of `tracks` at `column` as boxes (absent ones not `present`)."""
        return Obstacles(
            tracks.x[:, column],
            tracks.y[:, column],
            tracks.yaw[:, column],
            tracks.speed[:, column],
            tracks.length,
            tracks.width,
            tracks.valid[:, column],
        )

    @staticmethod
    def concat(*parts: Obstacles) -> Obstacles:
        """The rows of several obstacle sets, in order."""
        names = ("x", "y", "yaw", "speed", "length", "width", "present")
        return Obstacles(*(np.concatenate([getattr(part, name) for part in parts]) for name in names))


def find_leaders(
    path_x: FloatArray,
    path_y: FloatArray,
    path_yaw: FloatArray,
    distance: FloatArray,
    half_width: FloatArray,
    obstacles: Obstacles,
    exclude: NDArray[np.int64] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The nearest obstacle ahead along each of R paths: (gap [m], its speed along the path [m/s]) (R,).

    Each path is sampled ahead of its vehicle's front bumper: points (R, K) [m] with headings
    `path_yaw` (R, K) [rad] at arc distances `distance` (R, K) [m] from the bumper (increasing). An
    obstacle blocks a path where its box, grown by the vehicle's `half_width` (R,) [m] sideways and
    half a sample spacing lengthwise, holds a sample; the gap is the distance along the path to the
    obstacle's near edge. `exclude` (R,) names an obstacle row to ignore per path (the vehicle
    itself; -1 for none). Paths with no obstacle get gap inf and speed 0.
    """
    rows = path_x.shape[0]
    px, py, pyaw, along, half = (
        np.ascontiguousarray(a, dtype=np.float64) for a in (path_x, path_y, path_yaw, distance, half_width)
    )
    out = _leaders_kernel(
        px,
        py,
        pyaw,
        along,
        half,
        np.stack(
            [obstacles.x, obstacles.y, obstacles.yaw, obstacles.speed, obstacles.length, obstacles.width]
        ),
        np.ascontiguousarray(obstacles.present, dtype=np.bool_),
        np.full(rows, -1, dtype=np.int64)
        if exclude is None
        else np.ascontiguousarray(exclude, dtype=np.int64),
    )
    return out[0], out[1]


@njit(cache=True)
def _leaders_kernel(
    path_x: FloatArray,
    path_y: FloatArray,
    path_yaw: FloatArray,
    distance: FloatArray,
    half_width: FloatArray,
    boxes: FloatArray,
    present: BoolArray,
    exclude: NDArray[np.int64],
) -> FloatArray:
    """`find_leaders` with obstacles as `boxes` (6, N): x, y, yaw, speed, length, width; (2, R) out."""
    rows, samples = path_x.shape
    out = np.empty((2, rows))
    for r in range(rows):
        best, lead = np.inf, 0.0
        reach = distance[r, samples - 1] + half_width[r]
        spacing = 0.0
        for k in range(samples - 1):
            spacing = max(spacing, distance[r, k + 1] - distance[r, k])
        for j in range(boxes.shape[1]):
            if not present[j] or j == exclude[r]:
                continue
            ox, oy, oyaw, ospeed, olength, owidth = boxes[:, j]
            radius = 0.5 * np.hypot(olength, owidth)
            if np.hypot(ox - path_x[r, 0], oy - path_y[r, 0]) > reach + radius:
                continue
            cos, sin = np.cos(oyaw), np.sin(oyaw)
            for k in range(samples):
                dx, dy = path_x[r, k] - ox, path_y[r, k] - oy
                if abs(dx * cos + dy * sin) > 0.5 * (olength + spacing):
                    continue
                if abs(-dx * sin + dy * cos) > 0.5 * owidth + half_width[r]:
                    continue
                # the obstacle's centre along the path from this sample, minus its extent along the path
                heading = path_yaw[r, k]
                relative = oyaw - heading
                centre = distance[r, k] - (dx * np.cos(heading) + dy * np.sin(heading))
                extent = 0.5 * (abs(olength * np.cos(relative)) + abs(owidth * np.sin(relative)))
                if centre - extent < best:
                    best, lead = centre - extent, ospeed * np.cos(relative)
                break
        out[0, r], out[1, r] = best, lead
    return out
