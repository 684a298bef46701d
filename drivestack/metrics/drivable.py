"""Drivable-area compliance: how far the ego's corners stray outside the road.

The drivable area is the union of the map's driving lanes (`MapIndex.driving_lanes`: no shoulder,
sidewalk, crosswalk, bicycle, bus, parking, border or restricted lanelets; vehicles among the
listed users). Deviation from nuPlan: nuPlan's drivable-area layer also holds car parks and road
surface between lanes; CommonRoad maps only have lanelets, so their union is the road.
Compliance (nuPlan drivable_area_compliance) is 0 when any corner at any step lies at least
`max_outside_distance` (0.3 m) outside the area, else 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from drivestack.maps.index import MapIndex
from drivestack.metrics.steps import StepValues

if TYPE_CHECKING:
    from drivestack.metrics.context import MetricContext

FloatArray = NDArray[np.float64]


def drivable_area(index: MapIndex) -> shapely.Geometry:
    """Union of the map's driving-lane polygons, prepared for fast point queries (empty if none)."""
    rows = index.rows(np.array(sorted(index.driving_lanes), dtype=np.int64))
    area = shapely.union_all(index.polygons[rows]) if len(rows) else shapely.Polygon()
    shapely.prepare(area)
    return area


def outside_distance(area: shapely.Geometry, xy: FloatArray) -> FloatArray:
    """Distance [m] of points xy (..., 2) outside `area` (0 inside or on its border); inf if no area."""
    flat = xy.reshape(-1, 2)
    distance = np.zeros(len(flat))
    outside = ~shapely.intersects_xy(area, flat[:, 0], flat[:, 1])
    if outside.any():
        distance[outside] = (
            shapely.distance(area, shapely.points(flat[outside])) if not area.is_empty else np.inf
        )
    return distance.reshape(xy.shape[:-1])


def corner_outside_distance(ctx: MetricContext) -> StepValues:
    """Per step, the largest distance [m] of an ego corner outside the drivable area (0 when all inside)."""
    return StepValues.everywhere(outside_distance(ctx.map.drivable, ctx.ego_corners).max(axis=1))


def compliance(max_distance: float, threshold: float) -> float:
    """nuPlan's drivable-area compliance: 0.0 when a corner got `threshold` [m] or farther out, else 1.0."""
    return 0.0 if max_distance >= threshold else 1.0
