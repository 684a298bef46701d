"""Detectors on the map along the ego's path: red lights ahead, merges, intersections.

Distances run along the lane graph: from the ego's position on its lane (arc length `EgoPath.s`)
through successor lanes (`MapIndex.downstream`), so a light or a junction counts as "ahead" only
when the ego's lane leads to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drivestack.core.scenario import LightColor
from drivestack.data.mining.registry import register
from drivestack.data.mining.scene import (
    BoolArray,
    EgoPath,
    FloatArray,
    Scene,
    close_gaps,
    reduce_runs,
    runs,
    tags_from_runs,
)
from drivestack.data.tags import Tag

RED = (LightColor.RED, LightColor.RED_YELLOW)


def distances_ahead(
    scene: Scene, ego: EgoPath, targets: Sequence[tuple[int, float]], max_distance: float
) -> FloatArray:
    """Distance [m] along the lanes from the ego's centre to each target point, (targets, steps).

    A target is (lane id, arc length along that lane [m]). NaN where the ego is invalid or off the
    lanes, where the target lies behind the ego, or farther than `max_distance` [m].
    """
    result = np.full((len(targets), scene.scenario.num_steps), np.nan)
    for lane in np.unique(ego.lane[ego.lane >= 0]).tolist():
        at = np.flatnonzero(ego.lane == lane)
        reached = scene.map.downstream(lane, max_distance + float(np.nanmax(ego.s[at])))
        for i, (target, offset) in enumerate(targets):
            if target in reached:
                distance = reached[target] + offset - ego.s[at]
                result[i, at] = np.where((distance >= 0.0) & (distance <= max_distance), distance, np.nan)
    return result


def approach(
    scene: Scene, ego: EgoPath, entries: Sequence[tuple[int, float]], inside: BoolArray, lookahead: float
) -> FloatArray:
    """Per step (steps,): 0 where the ego is `inside` (steps,) a map feature, else the distance [m]
    along the lanes to the nearest of its `entries` (lane id, arc length) within `lookahead` [m];
    NaN otherwise."""
    ahead = distances_ahead(scene, ego, entries, lookahead)
    nearest = np.where(inside, 0.0, np.min(ahead, axis=0, initial=np.inf, where=~np.isnan(ahead)))
    return np.where(ego.valid & np.isfinite(nearest), nearest, np.nan)


def ego_tags(scene: Scene, ego: EgoPath, tag: str, distance: FloatArray, max_gap: int = 0) -> list[Tag]:
    """A tag per run of steps with finite `distance` (steps,) [m], runs apart by at most `max_gap` steps
    joined; agent = the ego, value = its minimum."""
    found = runs(close_gaps(np.isfinite(distance)[None], max_gap))
    values = reduce_runs(distance[None], found, np.minimum)
    return tags_from_runs(scene.scenario_id, tag, np.array([ego.agent_id]), found, values, ego.agent_id)


@dataclass(frozen=True)
class RedLightConfig:
    """A red (or red-yellow) light within `max_distance` [m] ahead on the ego's lanes. A light applies
    at the end of the lanes that reference it (CommonRoad's convention; the stop line sits there)."""

    max_distance: float = 50.0


@register("red_light_ahead", version=4, config=RedLightConfig())
def red_light_ahead(scene: Scene, ego: EgoPath, config: RedLightConfig) -> list[Tag]:
    """Steps where the ego's lane leads to a red light; value = smallest distance to it [m]."""
    lights = {light.id: light for light in scene.scenario.traffic_lights}
    steps = np.arange(scene.scenario.num_steps)
    targets, red = [], []
    for lane in scene.scenario.lane_graph.lanes.values():
        stop_line_lights = lane.stop_line.traffic_light_ids if lane.stop_line else ()
        for light_id in sorted(set(lane.traffic_light_ids) | set(stop_line_lights)):
            if light_id in lights:
                length = float(scene.map.lengths[scene.map.rows(np.array([lane.id]))[0]])
                targets.append((lane.id, length))
                red.append([color in RED for color in lights[light_id].colors_at(steps)])
    if not targets:
        return []
    distance = np.where(np.array(red), distances_ahead(scene, ego, targets, config.max_distance), np.nan)
    nearest = np.min(distance, axis=0, initial=np.inf, where=~np.isnan(distance))
    return ego_tags(scene, ego, "red_light_ahead", np.where(np.isfinite(nearest), nearest, np.nan))


@dataclass(frozen=True)
class MapFeatureConfig:
    """The ego is on a lane of the feature, or its lane leads there within `lookahead` [m]."""

    lookahead: float = 30.0


@register("merge", version=7, config=MapFeatureConfig())
def merge(scene: Scene, ego: EgoPath, config: MapFeatureConfig) -> list[Tag]:
    """Steps where the ego drives through or towards a merge (`MapIndex.merge_lanes`); value = distance."""
    lanes = sorted(scene.map.merge_lanes)
    inside = np.isin(ego.lane, np.array(lanes, dtype=np.int64))
    distance = approach(scene, ego, [(lane, 0.0) for lane in lanes], inside, config.lookahead)
    return ego_tags(scene, ego, "merge", distance)


@dataclass(frozen=True)
class IntersectionConfig:
    """The ego is in a junction, or its lane leads there within `lookahead` [m]; passages interrupted
    for at most `max_gap` [s] are one (a turn lane the map does not mark as part of the junction)."""

    lookahead: float = 30.0
    max_gap: float = 1.0


@register("intersection", version=7, config=IntersectionConfig())
def intersection(scene: Scene, ego: EgoPath, config: IntersectionConfig) -> list[Tag]:
    """Steps where the ego is in or drives towards a junction (`Scene.junction_area`); value = distance
    [m] to its entry. On maps that mark intersection lanes, the ego is in only when its own lane is
    one of them (or it is on no lane): marked turn pockets overlap through lanes."""
    inside = scene.in_junction(ego.xy)
    marked = np.array(sorted(scene.map.intersection_lanes), dtype=np.int64)
    if len(marked):
        inside &= (ego.lane < 0) | np.isin(ego.lane, marked)
    distance = approach(scene, ego, scene.junction_entries, inside, config.lookahead)
    return ego_tags(scene, ego, "intersection", distance, scene.steps_for(config.max_gap))
