"""Rasterized map layers for constant-time point queries from compiled code.

`MapRaster` burns polygons into an 8-bit grid over the map's bounding box: bit 0 is the drivable
area (the union of `MapIndex.driving_lanes`, the same area the drivable-area metric uses), bits
1..7 are free layers (e.g. goal regions). A query reads the cell holding a point, so a planner can
test thousands of box corners per step inside a numba kernel (`raster_bits`). Cells are
`resolution` [m] squares (coarser for huge maps, see `RasterConfig.max_cells`); a cell is set when
its centre lies in a polygon, so a point up to half a cell diagonal outside may read as inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numba import njit
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from drivestack.maps.index import MapIndex

FloatArray = NDArray[np.float64]
UInt8Array = NDArray[np.uint8]

DRIVABLE = 1
"""Bit of the drivable area."""


@dataclass(frozen=True)
class RasterConfig:
    """`resolution` [m] per cell, `margin` [m] around the map's bounding box, and the largest grid
    (`max_cells`); bigger maps get coarser cells."""

    resolution: float = 0.1
    margin: float = 20.0
    max_cells: int = 24_000_000


class MapRaster:
    """An 8-bit layer grid over one map: `grid[row, column]`, row 0 at `origin`'s y (see module)."""

    def __init__(self, index: MapIndex, config: RasterConfig = RasterConfig()) -> None:
        bounds = (
            np.array(shapely.total_bounds(index.polygons)) if len(index) else np.array([0.0, 0.0, 1.0, 1.0])
        )
        low = bounds[:2] - config.margin
        span = bounds[2:] - bounds[:2] + 2.0 * config.margin
        resolution = max(config.resolution, float(np.sqrt(span[0] * span[1] / config.max_cells)))
        self.origin = low
        self.resolution = resolution
        self.shape = (int(np.ceil(span[1] / resolution)), int(np.ceil(span[0] / resolution)))
        self.grid: UInt8Array = np.zeros(self.shape, dtype=np.uint8)
        rows = index.rows(np.array(sorted(index.driving_lanes), dtype=np.int64))
        self.burn(list(index.polygons[rows]), 0)

    def burn(self, polygons: list[shapely.Geometry], bit: int) -> None:
        """Set layer `bit` (0..7) in every cell whose centre lies in one of `polygons`."""
        image = Image.new("1", (self.shape[1], self.shape[0]), 0)
        draw = ImageDraw.Draw(image)
        for polygon in polygons:  # once per map (or goal): the drawing itself runs in C
            for part in shapely.get_parts(polygon):
                if part.is_empty or part.geom_type != "Polygon":
                    continue
                ring = (np.asarray(part.exterior.coords) - self.origin) / self.resolution - 0.5
                draw.polygon([tuple(p) for p in ring.tolist()], fill=1)
                for hole in part.interiors:
                    inner = (np.asarray(hole.coords) - self.origin) / self.resolution - 0.5
                    draw.polygon([tuple(p) for p in inner.tolist()], fill=0)
        mask = np.asarray(image, dtype=bool)
        self.grid[mask] |= np.uint8(1 << bit)

    def clear(self, bit: int) -> None:
        """Unset layer `bit` everywhere."""
        self.grid &= np.uint8(~(1 << bit) & 0xFF)

    def bits(self, xy: FloatArray) -> UInt8Array:
        """The layer bits (...) of the cells holding points xy (..., 2) [m]; 0 off the grid."""
        points = np.asarray(xy, dtype=np.float64)
        flat = raster_bits(points.reshape(-1, 2), self.grid, self.origin, self.resolution)
        return flat.reshape(points.shape[:-1])


@njit(cache=True)
def raster_cell(x: float, y: float, grid: UInt8Array, origin: FloatArray, resolution: float) -> np.uint8:
    """The bits of the cell holding (x, y) [m]; 0 off the grid or for NaN."""
    column = (x - origin[0]) / resolution
    row = (y - origin[1]) / resolution
    if not (column >= 0.0 and row >= 0.0 and column < grid.shape[1] and row < grid.shape[0]):
        return np.uint8(0)
    return grid[int(row), int(column)]


@njit(cache=True)
def raster_bits(xy: FloatArray, grid: UInt8Array, origin: FloatArray, resolution: float) -> UInt8Array:
    """`raster_cell` for points xy (N, 2) [m]."""
    out = np.empty(xy.shape[0], dtype=np.uint8)
    for i in range(xy.shape[0]):
        out[i] = raster_cell(xy[i, 0], xy[i, 1], grid, origin, resolution)
    return out
