"""Run a planner closed-loop on one planning problem of a scenario and record what happened.

`simulate` steps at the scenario's own dt from the problem's start until the goal is reached, the
goal's time interval ends, or the recording ends (whichever comes first; for an oracle planner also
when the recorded human ends). Every step it builds an `Observation` from copies of the present and
the recent past, calls the planner through a guard that times the call and turns an exception, a
NaN or an infeasible trajectory (`core.dynamics.check_trajectory`) into a recorded failure after
which the ego brakes, then advances the pure `World.step`. Oracle planners (log replay) get only
the structural part of the check: 2 of the 873 recorded dev humans move farther between two
states than their recorded speeds allow (1.6 m for 0.7 m, 2.3 m for 1.0 m), a recording artefact
the replay must reproduce rather than reject.

Start step: CommonRoad solution files place the recorded human among the traffic at the steps they
give, and in 442 of the 873 recorded dev problems that starts after the planning problem's own
initial step (always 0) while the human's first state equals the problem's initial state (same
position and speed). The problem's initial step is then a conversion artefact: starting there would
put the ego into traffic it never met. The run starts at the human's first step instead.

Twins: MONA and inD planning problems are cut from recorded vehicles that stay among the
obstacles, so the ego would start on top of itself (most at-fault "collisions" of any planner on
MONA then happen at the first step). Without a recorded human, the agent at the initial state (its
"twin", found as the mining tags find it) is taken out of the traffic for that run only (another
problem's ego is real traffic here), and the run starts where the twin is at the initial state.

Step cap: a run lasts at most `RunLimits.max_steps` steps (`SimConfig.limits`) after its start and
then ends with the termination "step_cap", so no file's time steps or goal window can make a run
last for hours.

Goal check: the goal counts as reached at the first step after the start at which it holds; a goal
that already holds at the start (some SinD problems) does not end the run (metrics report it).

Horizon: a recording that ends before the goal's time window opens, or that has nothing after the
initial step (no obstacles), does not bound the run: the goal's window does (`end_step`), and the
agents are absent after their recorded end (`extended`).
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivestack.core.dynamics import FeasibilityBounds, VehicleParams, check_trajectory
from drivestack.core.errors import ConfigError
from drivestack.core.facts import twin_row
from drivestack.core.map import LaneGraph
from drivestack.core.planner import Observation, Planner, PlannerInit, is_oracle
from drivestack.core.record import Decision, EgoStates, RunRecord
from drivestack.core.scenario import EgoState, PlanningProblem, RecordedEgo, Scenario, Tracks, Trajectory
from drivestack.maps.goal import goal_check
from drivestack.maps.index import MapIndex
from drivestack.maps.route import route_lanes, route_path
from drivestack.sim.world import DEFAULT_CONFIG, SimConfig, WorldState, agent_policy, build_world

FloatArray = NDArray[np.float64]

_SAME_POSITION = 0.1  # [m] the human's first state matches the initial state within this ...
_SAME_SPEED = 0.1  # [m/s] ... and this
_EGO_FIELDS = ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering")
_AGENT_FIELDS = ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate")

_indexes: weakref.WeakKeyDictionary[LaneGraph, MapIndex] = weakref.WeakKeyDictionary()


def map_index(graph: LaneGraph) -> MapIndex:
    """The `MapIndex` of a lane graph, built once per graph object (runs on one scenario share it)."""
    index = _indexes.get(graph)
    if index is None:
        index = _indexes[graph] = MapIndex(graph)
    return index


def _same(x: float, y: float, speed: float, initial: EgoState) -> bool:
    """Whether a recorded state at (x, y) [m] with `speed` [m/s] is the initial state."""
    return bool(
        np.hypot(x - initial.x, y - initial.y) <= _SAME_POSITION and abs(speed - initial.speed) <= _SAME_SPEED
    )


def ego_start(scenario: Scenario, problem: PlanningProblem, human: RecordedEgo | None) -> tuple[int, int]:
    """(the step a run of `problem` starts at, the row of the ego's twin agent or -1).

    With a recorded human that starts from the problem's initial state: the human's first step
    (see the module docstring). Without a human, the ego may be one of the recorded agents (MONA and
    inD problems are cut from recorded vehicles left among the obstacles; `twin_row` finds it, at the
    initial step or at its first recorded pose): the run starts where the twin is at the initial
    state (its speed must match too) and the twin leaves the traffic. Otherwise the initial step.
    """
    initial = problem.initial
    if human is not None and len(human.trajectory):
        first = human.trajectory.state(0)
        return (first.step if _same(first.x, first.y, first.speed, initial) else initial.step), -1
    twin = twin_row(scenario, initial)
    if twin < 0:
        return initial.step, -1
    tracks = scenario.tracks
    there = initial.step if 0 <= initial.step < tracks.num_steps and tracks.valid[twin, initial.step] else -1
    for step in (there, int(np.argmax(tracks.valid[twin]))):
        if step >= 0 and _same(tracks.x[twin, step], tracks.y[twin, step], tracks.speed[twin, step], initial):
            return step, twin
    return initial.step, -1


def extended(scenario: Scenario, last: int) -> Scenario:
    """`scenario` on a grid reaching step `last` at least: agents are absent on the added steps."""
    extra = last + 1 - scenario.num_steps
    if extra <= 0:
        return scenario
    tracks = scenario.tracks
    pad = ((0, 0), (0, extra))
    fields: dict[str, Any] = {
        name: np.pad(getattr(tracks, name), pad, constant_values=np.nan) for name in _AGENT_FIELDS
    }
    valid = np.pad(tracks.valid, pad, constant_values=False)
    return dataclasses.replace(
        scenario, num_steps=last + 1, tracks=dataclasses.replace(tracks, valid=valid, **fields)
    )


def without_agent(tracks: Tracks, row: int) -> Tracks:
    """`tracks` with agent `row` absent throughout (invalid, NaN states); the same object for -1."""
    if row < 0:
        return tracks
    valid = tracks.valid.copy()
    valid[row] = False
    fields = {}
    for name in _AGENT_FIELDS:
        values = getattr(tracks, name).copy()
        values[row] = np.nan
        fields[name] = values
    return dataclasses.replace(tracks, valid=valid, **fields)


def end_step(scenario: Scenario, problem: PlanningProblem, human_end: int | None) -> tuple[int, str]:
    """The last step a run may reach and why it ends there: "recording_end", "goal_time_over" or
    "human_end" (the recorded human's last step, for oracle planners).

    The recording's end bounds a run unless it comes before the goal's time window opens or no later
    than the problem's initial step (no obstacles, or none after the start): the goal could not be
    reached within it, so the goal's window is the horizon and agents are absent after their end.
    """
    states = problem.goal.states
    recorded = scenario.num_steps - 1
    bounding = not states or (
        recorded >= min(state.time.start for state in states) and recorded > problem.initial.step
    )
    candidates = [(recorded, "recording_end")] if bounding else []
    if states:
        candidates.append((int(np.floor(max(state.time.end for state in states))), "goal_time_over"))
    if human_end is not None:
        candidates.append((human_end, "human_end"))
    return min(candidates, key=lambda candidate: candidate[0])


@dataclass(frozen=True)
class PlanCall:
    """One guarded planner call: the trajectory (None on failure), wall time [ms], failure message."""

    trajectory: Trajectory | None
    ms: float
    failure: str | None


def call_planner(planner: Planner, observation: Observation, bounds: FeasibilityBounds) -> PlanCall:
    """`planner.plan(observation)`, timed; an exception or a plan infeasible within `bounds` becomes
    a failure."""
    started = time.perf_counter()
    try:
        trajectory = planner.plan(observation)
    except Exception as error:  # any planner bug must become a recorded failure, not a crash
        ms = 1e3 * (time.perf_counter() - started)
        return PlanCall(None, ms, f"step {observation.step}: {type(error).__name__}: {error}")
    ms = 1e3 * (time.perf_counter() - started)
    if not isinstance(trajectory, Trajectory):
        return PlanCall(
            None, ms, f"step {observation.step}: returned {type(trajectory).__name__}, not a Trajectory"
        )
    ego = observation.ego
    reason = check_trajectory(trajectory, observation.step, observation.dt, ego.x, ego.y, bounds)
    if reason is not None:
        return PlanCall(None, ms, f"step {observation.step}: infeasible trajectory: {reason}")
    return PlanCall(trajectory, ms, None)


class _Recorder:
    """Buffers of the run's states (ego (T,), agents (A, T)), filled one step at a time; they are
    also the past the observations copy from. The agents' buffers start up to `history` - 1 steps
    before the run with their recorded states there (the past a planner may know from the start;
    the ego's simulated past starts with the run)."""

    def __init__(self, scenario: Scenario, first: int, last: int, history: int) -> None:
        self.scenario = scenario
        self.first = first
        self.history = history
        self.past = min(history - 1, first)
        size = last - first + 1
        tracks = scenario.tracks
        self.ego = {name: np.full(size, np.nan) for name in _EGO_FIELDS}
        before = slice(first - self.past, first)
        self.agents = {
            name: np.concatenate(
                [getattr(tracks, name)[:, before], np.full((tracks.num_agents, size), np.nan)], 1
            )
            for name in _AGENT_FIELDS
        }
        self.valid = np.concatenate([tracks.valid[:, before], np.zeros((tracks.num_agents, size), bool)], 1)
        self.count = 0
        lights = scenario.traffic_lights
        steps = np.arange(first, last + 1)
        self.colors = [light.colors_at(steps) for light in lights]

    def write(self, state: WorldState) -> None:
        """Store the state of the next step."""
        column = self.count
        for name in _EGO_FIELDS:
            self.ego[name][column] = getattr(state.ego, name)[0]
        for name in _AGENT_FIELDS:
            self.agents[name][:, self.past + column] = getattr(state.agents, name)
        self.valid[:, self.past + column] = state.agents.valid
        self.count += 1

    def ego_state(self, column: int) -> EgoState:
        """The ego's stored state at buffer `column` as an `EgoState`."""
        ego = self.ego
        return EgoState(
            step=self.first + column,
            x=float(ego["x"][column]),
            y=float(ego["y"][column]),
            yaw=float(ego["yaw"][column]),
            speed=float(ego["speed"][column]),
            acceleration=float(ego["acceleration"][column]),
            yaw_rate=float(ego["yaw_rate"][column]),
            steering_angle=float(ego["steering"][column]),
        )

    def observation(self, dt: float) -> Observation:
        """What the planner sees at the latest stored step: copies of the last `history` states."""
        now = self.count - 1
        low = max(0, now - self.history + 1)
        window = slice(low, now + 1)
        past = slice(max(0, self.past + now - self.history + 1), self.past + now + 1)  # agents' columns
        rows = np.flatnonzero(self.valid[:, self.past + now])
        tracks = self.scenario.tracks
        copied = {name: values[rows, past] for name, values in self.agents.items()}  # fancy: copies
        agents = Tracks(
            ids=tracks.ids[rows],
            agent_type=tuple(tracks.agent_type[i] for i in rows),
            valid=self.valid[rows, past],
            length=tracks.length[rows],
            width=tracks.width[rows],
            shapes=tuple(tracks.shapes[i] for i in rows),
            **copied,
        )
        ego = self.ego
        history = Trajectory(
            steps=np.arange(self.first + low, self.first + now + 1, dtype=np.int64),
            x=ego["x"][window].copy(),
            y=ego["y"][window].copy(),
            yaw=ego["yaw"][window].copy(),
            speed=ego["speed"][window].copy(),
            dt=dt,
            acceleration=ego["acceleration"][window].copy(),
            steering_angle=ego["steering"][window].copy(),
        )
        lights = self.scenario.traffic_lights
        return Observation(
            step=self.first + now,
            dt=dt,
            ego=self.ego_state(now),
            ego_history=history,
            agents=agents,
            static_obstacles=self.scenario.static_obstacles,
            traffic_lights={light.id: colors[now] for light, colors in zip(lights, self.colors, strict=True)},
            lane_graph=self.scenario.lane_graph,
            occupancies=self.scenario.occupancies,
        )

    def tracks(self) -> Tracks:
        """The agents as simulated over the stored steps, shape (agents, T)."""
        tracks = self.scenario.tracks
        kept = slice(self.past, self.past + self.count)
        return Tracks(
            ids=tracks.ids.copy(),
            agent_type=tracks.agent_type,
            valid=self.valid[:, kept].copy(),
            length=tracks.length.copy(),
            width=tracks.width.copy(),
            shapes=tracks.shapes,
            **{name: values[:, kept].copy() for name, values in self.agents.items()},
        )

    def ego_states(self, vehicle: VehicleParams) -> EgoStates:
        """The ego over the stored steps."""
        kept = slice(0, self.count)
        ego = {name: values[kept].copy() for name, values in self.ego.items()}
        return EgoStates(
            x=ego["x"],
            y=ego["y"],
            yaw=ego["yaw"],
            speed=ego["speed"],
            acceleration=ego["acceleration"],
            yaw_rate=ego["yaw_rate"],
            steering_angle=ego["steering"],
            length=vehicle.length,
            width=vehicle.width,
        )


def _goal_reached(problem: PlanningProblem, state: WorldState, index: MapIndex) -> bool:
    """Whether a goal state of `problem` holds for the ego in `state`."""
    ego = state.ego
    check = goal_check(problem.goal, index)
    return bool(check.mask(np.array([state.step]), ego.x, ego.y, ego.yaw, ego.speed)[0])


def simulate(
    scenario: Scenario,
    problem_id: int,
    planner: Planner,
    agents: str = "log",
    config: SimConfig = DEFAULT_CONFIG,
    progress: Callable[[int, int], None] | None = None,
) -> RunRecord:
    """Run `planner` closed-loop on planning problem `problem_id` with agents of a mode in
    `sim.agents.AGENT_MODES` ("log", "idm", "reactive");
    `progress(steps done, steps at most)` after each step.

    Raises ConfigError for an unknown problem id or agent mode; never raises for planner failures.
    """
    try:
        problem = scenario.planning_problem(problem_id)
    except KeyError:
        known = ", ".join(str(p.id) for p in scenario.planning_problems) or "none"
        raise ConfigError(
            f"{scenario.scenario_id}: no planning problem {problem_id}; it has {known}"
        ) from None
    human = scenario.recorded_ego(problem_id)
    oracle = is_oracle(planner)
    first, twin = ego_start(scenario, problem, human)
    scenario = dataclasses.replace(scenario, tracks=without_agent(scenario.tracks, twin))
    last, ending = end_step(scenario, problem, int(human.trajectory.steps[-1]) if oracle and human else None)
    last = max(last, first)
    if last - first > config.limits.max_steps:
        last, ending = first + config.limits.max_steps, "step_cap"
    scenario = extended(scenario, last)
    vehicle = VehicleParams.for_vehicle_type(human.vehicle_type if human is not None else None)
    index = map_index(scenario.lane_graph)
    policy = agent_policy(scenario, agents, index, config, human)
    initial = dataclasses.replace(problem.initial, step=first)
    world, state = build_world(scenario, initial, policy, vehicle, config, perfect=oracle)
    recorder = _Recorder(scenario, first, last, max(1, round(config.history / scenario.dt) + 1))
    recorder.write(state)
    init_failure = _initialize(
        planner, scenario, problem, initial, vehicle, index, human if oracle else None, last
    )
    failures = [] if init_failure is None else [init_failure]
    size = last - first + 1
    plan_ms = np.full(size, np.nan)
    planned: list[Trajectory | None] = []
    decisions: list[Decision | None] = []
    reached_at_start = _goal_reached(problem, state, index)
    # an oracle replays a recording, whose finite differences may be physically inconsistent
    bounds = FeasibilityBounds.structural() if oracle else config.feasibility
    termination = ending
    while state.step < last:
        if init_failure is not None:  # a planner that failed to initialize is not called again
            call = PlanCall(None, float("nan"), None)
        else:
            call = call_planner(planner, recorder.observation(scenario.dt), bounds)
        if call.failure is not None:
            failures.append(call.failure)
        plan_ms[recorder.count - 1] = call.ms
        planned.append(call.trajectory)
        decisions.append(getattr(planner, "decision", None))
        state = world.step(state, call.trajectory)
        recorder.write(state)
        if progress is not None:
            progress(state.step - first, last - first)
        if not reached_at_start and _goal_reached(problem, state, index):
            termination = "goal_reached"
            break
    planned.append(None)
    decisions.append(None)
    count = recorder.count
    return RunRecord(
        scenario_id=scenario.scenario_id,
        planning_problem_id=problem_id,
        planner=planner.name,
        agents_mode=agents,
        dt=scenario.dt,
        steps=np.arange(first, first + count, dtype=np.int64),
        ego=recorder.ego_states(vehicle),
        agents=recorder.tracks(),
        planned=tuple(planned),
        plan_ms=plan_ms[:count].copy(),
        decisions=tuple(decisions),
        failures=tuple(failures),
        termination=termination,
    )


def _initialize(
    planner: Planner,
    scenario: Scenario,
    problem: PlanningProblem,
    initial: EgoState,
    vehicle: VehicleParams,
    index: MapIndex,
    human: RecordedEgo | None,
    last: int,
) -> str | None:
    """Hand the planner its `PlannerInit`; the failure message when it raises."""
    lanes = route_lanes(scenario.lane_graph, initial.x, initial.y, initial.yaw, problem.goal, index)
    init = PlannerInit(
        scenario_id=scenario.scenario_id,
        planning_problem_id=problem.id,
        dt=scenario.dt,
        lane_graph=scenario.lane_graph,
        goal=problem.goal,
        initial=initial,
        vehicle=vehicle,
        route_lane_ids=lanes,
        reference_path=route_path(scenario.lane_graph, lanes, initial.x, initial.y, initial.yaw),
        human_reference=human.trajectory if human is not None else None,
        last_step=last,
    )
    try:
        planner.initialize(init)
    except Exception as error:  # a failing planner is recorded, never a crash
        return f"initialize: {type(error).__name__}: {error}"
    return None
