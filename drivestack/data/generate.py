"""Procedural CommonRoad scenarios for tests and demos: a highway, an on-ramp merge, a signalised
intersection, each with traffic, a planning problem and the recorded drive of a human-like ego.

`generate_scenario(kind, seed, index)` builds one `Scenario` (deterministic in its arguments);
`generate(out_dir, kind, count, seed)` writes `count` of them as CommonRoad 2020a files
(`scenarios/<id>.xml`) with a solution file each (`solutions/<id>.solution.xml`, the ego's drive as
a KS trajectory), readable by drivestack's reader and by commonroad-io.

How one scenario comes about (`data.synth`): a lane map (`roads`), vehicles placed along its
routes and entering over time, pedestrians at the crosswalks, and an ego inserted at the end of a
warm-up on a route toward its goal; the traffic simulation (`traffic`: IDM along lanes, lights,
give-way rules, gap-accepting lane changes) drives everyone, the ego included, so the traffic
reacts to the recorded ego as it would to a recorded human. The recording starts when the ego
enters and ends `after_goal` seconds after the ego reaches its goal region. The goal: a 30 m stretch
of the goal lane, a time interval from `early` seconds before the ego's arrival to the recording's
end, and speed and heading windows around the ego's there. An attempt whose road users overlap,
brake harder than `max_braking` (vehicles), or whose ego misses its goal is thrown away and the next one (of
the same seeded stream) is tried.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from drivestack.core.dynamics import VehicleParams
from drivestack.core.errors import ConfigError, DrivestackError
from drivestack.core.geometry import box_corners, boxes_overlap, points_in_polygon, wrap_angle
from drivestack.core.map import LaneGraph
from drivestack.core.scenario import (
    DEFAULT_VEHICLE_TYPE,
    AgentType,
    EgoState,
    Goal,
    GoalState,
    Interval,
    PlanningProblem,
    RecordedEgo,
    Scenario,
    Shape,
    ShapeKind,
    Tracks,
    Trajectory,
    vehicle_dimensions,
)
from drivestack.data.formats.commonroad_writer import write_scenario, write_solution
from drivestack.data.synth import roads
from drivestack.data.synth.roads import SPACING, Ids, Layout, Route, offset_line
from drivestack.data.synth.traffic import Finish, TrafficRun, Vehicle, Walker, simulate

FloatArray = NDArray[np.float64]

KINDS = ("highway", "merge", "intersection")
MAP_NAMES = {"highway": "Highway", "merge": "Merge", "intersection": "Intersection"}


class GenerationError(DrivestackError):
    """No acceptable scenario came out of the allowed attempts."""


@dataclass(frozen=True)
class GenerateConfig:
    """Time step `dt` [s]; traffic `warmup` before the ego enters [s]; the longest recording
    `horizon` [s]; how long the recording runs on after the ego reaches its goal, `after_goal` [s];
    how much `early` [s] the goal's time interval opens before the ego's arrival; the hardest
    braking [m/s2] an accepted recording shows; attempts per scenario."""

    dt: float = 0.1
    warmup: float = 10.0
    horizon: float = 30.0
    after_goal: float = 5.0
    early: float = 6.0
    max_braking: float = 6.5
    attempts: int = 25

    def __post_init__(self) -> None:
        if not (0.0 < self.dt <= 0.5 and self.warmup >= 0.0 and self.horizon > 5.0 and self.attempts >= 1):
            raise ConfigError(f"generator settings out of range: {self}")


@dataclass(frozen=True, eq=False)
class _Draft:
    """One attempt's cast before simulation: the layout, every vehicle (ego at `ego`), walkers, the
    goal route, the goal's stations [m] on it, and the scenario tags."""

    layout: Layout
    vehicles: list[Vehicle]
    walkers: list[Walker]
    ego: int
    goal_route: Route
    goal_stations: tuple[float, float]
    tags: tuple[str, ...]


# --- casting ----------------------------------------------------------------------------------------


def _car(rng: np.random.Generator, truck_share: float) -> tuple[AgentType, float, float, float]:
    """(type, length [m], width [m], top speed [m/s]) of a random car or truck."""
    if rng.random() < truck_share:
        return AgentType.TRUCK, float(rng.uniform(10.0, 16.5)), float(rng.uniform(2.4, 2.55)), 24.0
    return AgentType.CAR, float(rng.uniform(4.0, 5.1)), float(rng.uniform(1.7, 2.0)), np.inf


def _stream(
    rng: np.random.Generator,
    route: Route,
    until: int,
    dt: float,
    gap: float,
    truck_share: float,
    factor: tuple[float, float],
    start_span: tuple[float, float],
    **extra: object,
) -> list[Vehicle]:
    """Vehicles on `route`: one every `gap` [m] (randomised) between stations `start_span` [m] at
    step 0, then entering at the route's start as a Poisson stream of the same density until step
    `until`."""
    vehicles = []

    def make(spawn: int, start: float) -> Vehicle:
        kind, length, width, top = _car(rng, truck_share)
        return Vehicle(
            kind,
            length,
            width,
            route,
            spawn=spawn,
            speed_factor=float(rng.uniform(*factor)),
            max_speed=top,
            start=start,
            **extra,  # type: ignore[arg-type]
        )

    station = start_span[1]
    while station > start_span[0]:
        vehicles.append(make(0, station))
        station -= gap * rng.uniform(0.6, 1.6)
    rate = float(np.mean(factor) * route.limits[0]) / gap  # vehicles per second
    t = rng.exponential(1.0 / rate)
    while t / dt < until:
        vehicles.append(make(round(t / dt), 0.0))
        t += rng.exponential(1.0 / rate)
    return vehicles


def _ego(route: Route, spawn: int, start: float, **extra: object) -> Vehicle:
    length, width = vehicle_dimensions(DEFAULT_VEHICLE_TYPE)
    return Vehicle(
        AgentType.CAR,
        length,
        width,
        route,
        spawn=spawn,
        speed_factor=0.95,
        start=start,
        clears=True,
        **extra,  # type: ignore[arg-type]
    )


def _highway(rng: np.random.Generator, ids: Ids, config: GenerateConfig) -> _Draft:
    layout = roads.highway(rng, ids)
    until = round((config.warmup + config.horizon) / config.dt)
    lanes = [layout.entries[f"lane{k}"][0] for k in range(len(layout.entries))]
    gap = float(rng.uniform(35.0, 80.0))
    vehicles = []
    for k, route in enumerate(lanes):
        share = 0.25 if k == 0 else 0.05 if k == 1 else 0.0
        low = 0.8 + 0.06 * k
        vehicles += _stream(
            rng, route, until, config.dt, gap, share, (low, low + 0.15), (10.0, route.length - 100.0)
        )
    k = int(rng.integers(len(lanes)))
    target = k + int(rng.choice([-1, 0, 1]))
    target = k if not 0 <= target < len(lanes) else target
    start = float(rng.uniform(150.0, 250.0))
    distance = float(
        np.clip(0.45 * lanes[k].limits[0] * config.horizon, 150.0, lanes[k].length - start - 150.0)
    )
    change = (
        {}
        if target == k
        else {"change_to": lanes[target], "change_window": (start + 30.0, start + distance - 60.0)}
    )
    vehicles.append(_ego(lanes[k], round(config.warmup / config.dt), start, **change))
    goal = lanes[target].station(lanes[k].path[round((start + distance) / SPACING)])
    tags = ("interstate", "multi_lane", "simulated", "speed_limit") + (
        ("lane_change",) if change else ("lane_following",)
    )
    return _Draft(layout, vehicles, [], len(vehicles) - 1, lanes[target], (goal, goal + 30.0), tags)


def _merge(rng: np.random.Generator, ids: Ids, config: GenerateConfig) -> _Draft:
    layout = roads.merge(rng, ids)
    until = round((config.warmup + config.horizon) / config.dt)
    main = [layout.entries["lane0"][0], layout.entries["lane1"][0]]
    ramp = layout.entries["ramp"][0]
    merge = {"change_to": main[0], "change_window": ramp.merge_window}
    vehicles = []
    gap = float(rng.uniform(30.0, 60.0))
    for k, route in enumerate(main):
        low = 0.8 + 0.08 * k
        vehicles += _stream(
            rng,
            route,
            until,
            config.dt,
            gap,
            0.2 if k == 0 else 0.03,
            (low, low + 0.15),
            (10.0, route.length - 100.0),
        )
    vehicles += _stream(
        rng, ramp, until, config.dt, 4 * gap, 0.05, (0.85, 1.0), (10.0, ramp.merge_window[0]), **merge
    )
    start = float(rng.uniform(20.0, 70.0))
    vehicles.append(_ego(ramp, round(config.warmup / config.dt), start, **merge))
    goal = main[0].station(ramp.path[-1]) + float(rng.uniform(40.0, 90.0))
    tags = ("interstate", "merging_lanes", "multi_lane", "simulated", "speed_limit")
    return _Draft(layout, vehicles, [], len(vehicles) - 1, main[0], (goal, goal + 30.0), tags)


_LEVELS = {"straight": 0, "right": 1, "left": 2}


def _intersection(rng: np.random.Generator, ids: Ids, config: GenerateConfig) -> _Draft:
    ego_arm = int(rng.integers(4))
    lead = float(rng.uniform(30.0, 60.0))  # the ego's distance to its stop line when it enters [m]
    green_at = round((config.warmup + lead / 12.0 + rng.uniform(-6.0, 2.0)) / config.dt)
    layout = roads.intersection(rng, ids, config.dt, ego_arm, green_at)
    until = round((config.warmup + config.horizon) / config.dt)
    vehicles = []
    for arm in range(4):
        routes = layout.entries[f"arm{arm}"]
        gap = float(rng.uniform(110.0, 200.0))
        for route in routes:
            weight = {"right": 0.25, "straight": 0.5, "left": 0.25}[route.movement]
            vehicles += _stream(
                rng,
                route,
                until,
                config.dt,
                gap / weight,
                0.0,  # trucks turn wider than their box: no trucks through the intersection
                (0.85, 1.0),
                (5.0, route.stops[0][0] - 15.0),
                level=_LEVELS[route.movement],
            )
    walkers = []
    for crossing in layout.crossings:
        for _ in range(int(rng.integers(0, 3))):
            spawn = round(rng.uniform(0.0, config.warmup + 0.6 * config.horizon) / config.dt)
            walkers.append(
                Walker(
                    crossing,
                    float(rng.uniform(1.1, 1.6)),
                    spawn,
                    float(rng.uniform(0.0, crossing.kerb - 8.0)),
                )
            )
    route = layout.entries[f"arm{ego_arm}"][int(rng.choice(3, p=[0.3, 0.3, 0.4]))]
    start = route.stops[0][0] - lead
    vehicles.append(_ego(route, round(config.warmup / config.dt), start, level=_LEVELS[route.movement]))
    exit_station = route.conflict[1]
    turn = {"left": ("turn_left",), "right": ("turn_right",), "straight": ()}[route.movement]
    tags = ("urban", "intersection", "oncoming_traffic", "simulated", "speed_limit", *turn)
    return _Draft(
        layout, vehicles, walkers, len(vehicles) - 1, route, (exit_station + 10.0, exit_station + 40.0), tags
    )


_CASTS = {"highway": _highway, "merge": _merge, "intersection": _intersection}


# --- checks and assembly ----------------------------------------------------------------------------


def _overlaps(run: TrafficRun, lengths: FloatArray, widths: FloatArray, window: slice) -> bool:
    """Whether any two road users' boxes overlap at any step of `window`."""
    x, y, yaw = run.x[:, window], run.y[:, window], run.yaw[:, window]
    corners = box_corners(x, y, yaw, lengths[:, None], widths[:, None])  # (A, T, 4, 2), NaN where absent
    centre = np.stack([x, y], axis=-1)
    reach = np.hypot(lengths, widths) / 2
    for t in range(x.shape[1]):
        present = np.flatnonzero(np.isfinite(x[:, t]))
        gaps = np.hypot(*(centre[present, None, t] - centre[None, present, t]).transpose(2, 0, 1))
        i, j = np.nonzero(np.triu(gaps < reach[present, None] + reach[None, present], k=1))
        if len(i) and boxes_overlap(corners[present[i], t], corners[present[j], t]).any():
            return True
    return False


def _goal_region(route: Route, stations: tuple[float, float], width: float) -> FloatArray:
    """Outline (K, 2) [m] of the `width` [m] wide stretch of a route between two stations [m]."""
    first, last = (min(round(s / SPACING), len(route.path) - 2) for s in stations)
    center = route.path[first : last + 1]
    return np.concatenate([offset_line(center, width / 2), offset_line(center, -width / 2)[::-1]])


def _rounded(values: FloatArray) -> FloatArray:
    """Values as written to the file (4 decimals), so a scenario equals its file read back."""
    return np.round(values, 4)


def _heading(yaw: FloatArray) -> FloatArray:
    """Headings [rad] as written (4 decimals), wrapped to [-pi, pi) after rounding: a rounded -pi
    would lie outside and come back from a reader as +pi."""
    return np.asarray(wrap_angle(_rounded(yaw)))


def _tracks(run: TrafficRun, draft: _Draft, rows: list[int], window: slice, ids: Ids) -> Tracks:
    """The road users `rows` (vehicle rows, then walkers after the vehicles) over the recorded window."""
    count = len(draft.vehicles)
    kinds, shapes = [], []
    for row in rows:
        if row < count:
            vehicle = draft.vehicles[row]
            kinds.append(vehicle.agent_type)
            shapes.append(
                Shape(ShapeKind.RECTANGLE, length=round(vehicle.length, 3), width=round(vehicle.width, 3))
            )
        else:
            kinds.append(AgentType.PEDESTRIAN)
            shapes.append(Shape(ShapeKind.CIRCLE, radius=draft.walkers[row - count].radius))
    pick = np.array(rows, dtype=np.int64)
    valid = run.valid[pick, window]

    def cells(values: FloatArray) -> FloatArray:
        return np.where(valid, values[pick, window], np.nan)

    yaw = _heading(cells(run.yaw))
    speed = _rounded(cells(run.speed))
    extents = np.array([shape.extent() for shape in shapes]).reshape(-1, 2)
    return Tracks(
        ids=np.array([ids() for _ in rows], dtype=np.int64),
        agent_type=tuple(kinds),
        x=_rounded(cells(run.x)),
        y=_rounded(cells(run.y)),
        yaw=yaw,
        speed=speed,
        vx=speed * np.cos(yaw),
        vy=speed * np.sin(yaw),
        acceleration=_rounded(cells(run.acceleration)),
        yaw_rate=_rounded(cells(run.yaw_rate)),
        valid=valid.copy(),
        length=extents[:, 0].copy(),
        width=extents[:, 1].copy(),
        shapes=tuple(shapes),
    )


def _attempt(
    kind: str, rng: np.random.Generator, config: GenerateConfig, scenario_id: str
) -> Scenario | None:
    """One try: cast, simulate, check; the scenario, or None when the attempt is not acceptable."""
    ids = Ids()
    draft = _CASTS[kind](rng, ids, config)
    first = round(config.warmup / config.dt)
    total = first + round(config.horizon / config.dt)
    ego = draft.ego
    width = roads.HIGHWAY_LANE_WIDTH if kind != "intersection" else roads.URBAN_LANE_WIDTH
    region = _goal_region(draft.goal_route, draft.goal_stations, width)
    after = round(config.after_goal / config.dt) + 1
    run = simulate(
        draft.vehicles, draft.walkers, draft.layout.lights, total, config.dt, Finish(ego, region, after)
    )
    steps = np.arange(first, total)
    known = run.valid[ego, first:]
    inside = known & points_in_polygon(
        np.stack([np.nan_to_num(run.x[ego, first:]), np.nan_to_num(run.y[ego, first:])], axis=1), region
    )
    if not run.valid[ego, first] or not inside[1:].any():
        return None
    arrival = int(np.argmax(inside[1:])) + 1  # steps after the start
    length = min(arrival + round(config.after_goal / config.dt) + 1, len(steps))
    window = slice(first, first + length)
    if not run.valid[ego, window].all():
        return None
    sizes = [(v.length, v.width) for v in draft.vehicles] + [
        (2 * w.radius, 2 * w.radius) for w in draft.walkers
    ]
    lengths, widths = (np.array(column) for column in zip(*sizes, strict=True))
    accel = run.acceleration[: len(draft.vehicles), window]  # pedestrians may stop short
    if np.nanmin(accel, initial=0.0) < -config.max_braking or _overlaps(run, lengths, widths, window):
        return None
    rows = [row for row in range(len(sizes)) if row != ego and run.valid[row, window].sum() >= 2]
    tracks = _tracks(run, draft, rows, window, ids)
    return _assemble(draft, run, window, arrival, region, tracks, ids, scenario_id, config)


def _assemble(
    draft: _Draft,
    run: TrafficRun,
    window: slice,
    arrival: int,
    region: FloatArray,
    tracks: Tracks,
    ids: Ids,
    scenario_id: str,
    config: GenerateConfig,
) -> Scenario:
    """The scenario of an accepted attempt: map, traffic, the ego's planning problem and drive."""
    ego = draft.ego
    x, y = _rounded(run.x[ego, window]), _rounded(run.y[ego, window])
    yaw = _heading(run.yaw[ego, window])
    speed, accel = _rounded(run.speed[ego, window]), _rounded(run.acceleration[ego, window])
    wheelbase = VehicleParams.for_vehicle_type(DEFAULT_VEHICLE_TYPE).wheelbase
    steering = _rounded(np.arctan(wheelbase * run.curvature[ego, window]))
    count = len(x)
    initial = EgoState(
        step=0,
        x=float(x[0]),
        y=float(y[0]),
        yaw=float(yaw[0]),
        speed=float(speed[0]),
        acceleration=float(accel[0]),
        yaw_rate=float(_rounded(run.yaw_rate[ego, window])[0]),
    )
    early = round(config.early / config.dt)
    goal = GoalState(
        time=Interval(float(max(1, arrival - early)), float(count - 1)),
        regions=(Shape(ShapeKind.POLYGON, vertices=_rounded(region)),),
        velocity=Interval(
            float(max(0.0, round(speed[arrival] - 6.0, 2))), float(round(speed[arrival] + 6.0, 2))
        ),
        orientation=Interval(float(round(yaw[arrival] - 0.4, 4)), float(round(yaw[arrival] + 0.4, 4))),
    )
    problem = PlanningProblem(id=ids(), initial=initial, goal=Goal(states=(goal,)))
    trajectory = Trajectory(
        steps=np.arange(count, dtype=np.int64),
        x=x,
        y=y,
        yaw=yaw,
        speed=speed,
        dt=config.dt,
        acceleration=accel,
        steering_angle=steering,
    )
    human = RecordedEgo(problem.id, trajectory, "KS", DEFAULT_VEHICLE_TYPE, "TR1", "")
    layout = draft.layout
    return Scenario(
        scenario_id=scenario_id,
        dt=config.dt,
        num_steps=count,
        lane_graph=LaneGraph(map_id=scenario_id, lanes=layout.lanes, intersections=layout.intersections),
        tracks=tracks,
        traffic_lights=tuple(
            dataclasses.replace(light, offset=(light.offset - window.start) % sum(d for _, d in light.cycle))
            for light in layout.lights
        ),
        traffic_signs=layout.signs,
        planning_problems=(problem,),
        recorded_egos=(human,),
        format_version="2020a",
        source="drivestack procedural generator",
        author="drivestack",
        affiliation="drivestack",
        tags=draft.tags,
    )


def scenario_id(kind: str, seed: int, index: int) -> str:
    """The CommonRoad benchmark id of generated scenario `index` of a `seed`, e.g. ZAM_Merge-1_3_T-1."""
    return f"ZAM_{MAP_NAMES[kind]}-{seed + 1}_{index + 1}_T-1"


def generate_scenario(
    kind: str, seed: int = 0, index: int = 0, config: GenerateConfig = GenerateConfig()
) -> Scenario:
    """Scenario `index` of kind "highway", "merge" or "intersection" for `seed` (same arguments,
    same scenario). Raises ConfigError for an unknown kind or a negative seed, GenerationError when
    no attempt is acceptable."""
    if kind not in KINDS:
        raise ConfigError(f"unknown scenario kind {kind}; expected one of {', '.join(KINDS)}")
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and index must be >= 0, got {seed}, {index}")
    rng = np.random.default_rng([seed, KINDS.index(kind), index])
    name = scenario_id(kind, seed, index)
    for _ in range(config.attempts):
        scenario = _attempt(kind, rng, config, name)
        if scenario is not None:
            return scenario
    raise GenerationError(f"{name}: no acceptable {kind} scenario in {config.attempts} attempts")


@dataclass(frozen=True)
class GeneratedFiles:
    """Where one generated scenario went: its scenario file and its solution file."""

    scenario: Path
    solution: Path


def generate(
    out_dir: str | Path,
    kind: str,
    count: int,
    seed: int = 0,
    config: GenerateConfig = GenerateConfig(),
    compress: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[GeneratedFiles]:
    """Write `count` scenarios of `kind` for `seed` under `out_dir` (scenarios/, solutions/; `.xml`,
    or `.xml.gz` when `compress`), each file atomically; `progress(done, count)` after each. Returns
    the files in index order."""
    if count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    if kind not in KINDS:
        raise ConfigError(f"unknown scenario kind {kind}; expected one of {', '.join(KINDS)}")
    written = []
    for index in range(count):
        written.append(write_generated(out_dir, kind, seed, index, config, compress))
        if progress is not None:
            progress(index + 1, count)
    return written


def generated_files(
    out_dir: str | Path, kind: str, seed: int, index: int, compress: bool = False
) -> GeneratedFiles:
    """Where scenario `index` of `kind` for `seed` goes under `out_dir`: scenarios/ and solutions/."""
    root, suffix, name = Path(out_dir), ".xml.gz" if compress else ".xml", scenario_id(kind, seed, index)
    return GeneratedFiles(
        root / "scenarios" / f"{name}{suffix}", root / "solutions" / f"{name}.solution{suffix}"
    )


def write_generated(
    out_dir: str | Path,
    kind: str,
    seed: int,
    index: int,
    config: GenerateConfig = GenerateConfig(),
    compress: bool = False,
) -> GeneratedFiles:
    """Generate scenario `index` of `kind` for `seed` and write it and its solution under `out_dir`
    (`generated_files`), each file atomically."""
    scenario = generate_scenario(kind, seed, index, config)
    files = generated_files(out_dir, kind, seed, index, compress)
    return GeneratedFiles(write_scenario(scenario, files.scenario), write_solution(scenario, files.solution))
