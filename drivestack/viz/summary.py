"""A scenario described in words: the rows `drivestack show` prints above its picture."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from drivestack.core.scenario import GoalState, Interval, Scenario
from drivestack.data.tags import Tag


def _interval(interval: Interval, unit: str) -> str:
    """`[start, end] unit`, with integers shown without decimals."""
    return f"[{interval.start:g}, {interval.end:g}] {unit}"


def describe_goal(state: GoalState) -> str:
    """One goal alternative in a line: time window, position, velocity and orientation constraints."""
    parts = [f"time {_interval(state.time, 'steps')}"]
    if state.regions:
        kinds = Counter(region.kind.value for region in state.regions)
        parts.append("region " + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    if state.lanelet_ids:
        parts.append("lanes " + ", ".join(str(lane) for lane in state.lanelet_ids))
    if state.velocity is not None:
        parts.append(f"speed {_interval(state.velocity, 'm/s')}")
    if state.orientation is not None:
        parts.append(f"yaw [{state.orientation.start:.2f}, {state.orientation.end:.2f}] rad")
    return "; ".join(parts)


def scenario_summary(
    scenario: Scenario, tags: Sequence[Tag] = (), key: str | None = None, motion_dt: float | None = None
) -> list[tuple[str, str]]:
    """(field, value) rows describing `scenario` and its `tags` (in scenarios with several planning
    problems, each ego-relative tag names its ego); `key` is its store key and `motion_dt` [s] the
    time step its motion implies, shown when it differs from the declared one."""
    location = scenario.location
    place = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("GeoNames", location.geo_name_id),
            ("lat", location.latitude),
            ("lon", location.longitude),
        )
        if value is not None
    )
    timing = f"{scenario.dt:g} s x {scenario.num_steps} steps = {scenario.duration:.1f} s"
    if motion_dt is not None and abs(motion_dt - scenario.dt) > 1e-3 * scenario.dt:
        implied = motion_dt * scenario.num_steps
        timing += f" (declared; the motion implies {motion_dt:.3g} s steps = {implied:.1f} s)"
    graph = scenario.lane_graph
    kinds = Counter(kind.value for kind in scenario.tracks.agent_type)
    rows = [
        ("scenario", key or scenario.scenario_id),
        ("source", scenario.source or "-"),
        ("location", place or "-"),
        ("format", f"CommonRoad {scenario.format_version}" if scenario.format_version else "-"),
        ("file", scenario.source_file or "-"),
        ("time", timing),
        (
            "map",
            f"{graph.map_id}: {len(graph)} lanes, {len(graph.intersections)} intersections, "
            f"{len(scenario.traffic_lights)} traffic lights, {len(scenario.traffic_signs)} signs",
        ),
        (
            "agents",
            f"{scenario.tracks.num_agents}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
            if kinds
            else "none",
        ),
    ]
    for problem in scenario.planning_problems:
        start = problem.initial
        recorded = scenario.recorded_ego(problem.id)
        rows.append(
            (
                f"problem {problem.id}",
                f"start step {start.step} at ({start.x:.1f}, {start.y:.1f}) m, yaw {start.yaw:.2f} rad, "
                f"{start.speed:.1f} m/s",
            )
        )
        rows += [(f"  goal {i + 1}", describe_goal(state)) for i, state in enumerate(problem.goal.states)]
        if recorded is None:
            rows.append(("  recorded ego", "no"))
        else:
            steps = recorded.trajectory.steps
            rows.append(
                (
                    "  recorded ego",
                    f"yes: {len(steps)} states, steps {steps[0]}-{steps[-1]}, "
                    f"model {recorded.vehicle_model}, vehicle type {recorded.vehicle_type}",
                )
            )
    by_tag: dict[str, list[Tag]] = {}
    for tag in tags:
        by_tag.setdefault(tag.tag, []).append(tag)
    several = len(scenario.planning_problems) > 1
    for name in sorted(by_tag):
        found = sorted(by_tag[name], key=lambda tag: (tag.step_start, tag.agent_id, tag.planning_problem_id))
        shown = ", ".join(
            f"{t.agent_id} @{t.step_start}-{t.step_end} ({t.value:.3g})"
            + (
                f" ego {t.planning_problem_id}"
                if several and t.planning_problem_id not in (-1, t.agent_id)
                else ""
            )
            for t in found[:6]
        )
        rows.append((f"tag {name}", shown + (f" +{len(found) - 6} more" if len(found) > 6 else "")))
    if not tags:
        rows.append(("tags", "none"))
    return rows
