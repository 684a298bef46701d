"""The drivable-area raster agrees with the lane polygons to within its cell size."""

from __future__ import annotations

import numpy as np
import scenes
import shapely

from drivestack.maps.index import MapIndex
from drivestack.maps.raster import DRIVABLE, MapRaster, RasterConfig


def test_raster_reads_the_driving_lanes() -> None:
    graph = scenes.straight_road(num_lanes=2, length=100.0)
    index = MapIndex(graph)
    raster = MapRaster(index)
    rng = np.random.default_rng(0)
    points = rng.uniform([-10.0, -10.0], [110.0, 15.0], size=(5000, 2))
    area = shapely.union_all(index.polygons)
    inside = shapely.intersects_xy(area, points[:, 0], points[:, 1])
    distance = shapely.distance(area.boundary, shapely.points(points))
    clear = distance > raster.resolution  # away from the border the raster is exact
    read = (raster.bits(points) & DRIVABLE).astype(bool)
    np.testing.assert_array_equal(read[clear], inside[clear])
    assert raster.bits(np.array([[1e6, 1e6], [np.nan, 0.0]])).tolist() == [0, 0]


def test_non_driving_lanes_are_not_drivable_and_big_maps_get_coarser_cells() -> None:
    graph = scenes.straight_road(num_lanes=1, length=100.0, lane_types=("sidewalk",))
    assert not (MapRaster(MapIndex(graph)).bits(np.array([[50.0, 0.0]])) & DRIVABLE).any()
    small = MapRaster(MapIndex(scenes.straight_road(1, 100.0)), RasterConfig(max_cells=10_000))
    assert small.grid.size <= 12_000 and small.resolution > RasterConfig().resolution
