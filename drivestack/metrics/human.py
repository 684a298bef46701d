"""The recorded human ego as a run record, so the human is scored with the same metrics as planners.

The record holds the human's states at the steps its solution file gives (the file's own time
steps, which place it among the recorded traffic; some problems' solutions start after step 0),
within the scenario's steps; the agents are the scenario's tracks at those steps. Acceleration
and yaw rate come from finite differences at the scenario's `dt` where the file gives none; the box
is the CommonRoad vehicle type's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from drivestack.core.errors import InputError
from drivestack.core.record import EgoStates, RunRecord
from drivestack.core.scenario import RecordedEgo, Scenario, vehicle_dimensions


def human_run(scenario: Scenario, recorded: RecordedEgo) -> RunRecord:
    """The run record of `recorded` replayed among the scenario's traffic (planner "human", agents "log").

    Raises InputError when none of the human's steps lies on the scenario's grid.
    """
    trajectory = recorded.trajectory
    keep = (trajectory.steps >= 0) & (trajectory.steps < scenario.num_steps)
    if keep.sum() == 0:
        raise InputError(
            recorded.source_file,
            f"trajectory of planningProblem {recorded.planning_problem_id}",
            f"no state within the scenario's steps 0..{scenario.num_steps - 1}",
        )
    steps = trajectory.steps[keep].astype(np.int64)
    dt = scenario.dt
    speed = trajectory.speed[keep]
    yaw = trajectory.yaw[keep]
    several = len(steps) > 1
    acceleration = (
        trajectory.acceleration[keep]
        if trajectory.acceleration is not None
        else (np.gradient(speed, dt) if several else np.zeros(1))
    )
    length, width = vehicle_dimensions(recorded.vehicle_type)
    ego = EgoStates(
        x=trajectory.x[keep],
        y=trajectory.y[keep],
        yaw=yaw,
        speed=speed,
        acceleration=acceleration,
        yaw_rate=np.gradient(np.unwrap(yaw), dt) if several else np.zeros(1),
        steering_angle=np.zeros(len(steps))
        if trajectory.steering_angle is None
        else trajectory.steering_angle[keep],
        length=length,
        width=width,
    )
    tracks = scenario.tracks
    agents = dataclasses.replace(
        tracks,
        **{
            name: getattr(tracks, name)[:, steps]
            for name in ("x", "y", "yaw", "speed", "vx", "vy", "acceleration", "yaw_rate", "valid")
        },
    )
    return RunRecord(
        scenario_id=scenario.scenario_id,
        planning_problem_id=recorded.planning_problem_id,
        planner="human",
        agents_mode="log",
        dt=dt,
        steps=steps,
        ego=ego,
        agents=agents,
        termination="recording",
    )
