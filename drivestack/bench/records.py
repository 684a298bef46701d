"""What a benchmark keeps of each run for looking at it later: a `RunTrace` per run in OUT/runs/.

A results row says how a run scored; the report's run viewer also needs what happened step by
step: the ego's states, its plans, the planner's decisions, the objects it came near, and the
per-step metric values behind the flags. Re-simulating every run to get them costs as much as the
benchmark itself, so `bench` keeps them while it runs: one compressed NumPy archive per run
(`np.savez_compressed`, read with `allow_pickle=False`: plain arrays and fixed-width text only),
written atomically (temporary file, fsync, rename) beside results.parquet and named after the
run's identity (`trace_path`). A trace keeps only the objects that come within `OBJECT_REACH` of
the ego (at most `MAX_OBJECTS`, the nearest), not the whole scene: a run of a dense hour-long
recording would otherwise weigh more than its scenario. `read_trace` refuses a file larger than
`MAX_TRACE_BYTES` (packed or unpacked) or whose arrays disagree, with an InputError naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivestack.core.errors import InputError
from drivestack.core.files import as_new_file
from drivestack.core.record import EgoStates
from drivestack.core.scenario import AgentType, Trajectory
from drivestack.metrics import METRICS, MetricContext, StepValues, compute_metric

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

RUNS = "runs"
"""The folder of run traces inside a benchmark's output folder."""
OBJECT_REACH = 80.0
"""Objects that never come within this distance [m] of the ego are left out of a trace."""
MAX_OBJECTS = 120
"""A trace keeps at most this many objects: the ones that come nearest the ego."""
PLAN_POINTS = 24
"""A plan is kept as at most this many of its points, evenly spread (the viewer draws a line through them)."""
MAX_TRACE_BYTES = 256 * 2**20
"""Largest trace file, and largest sum of its unpacked arrays, `read_trace` accepts [bytes]."""
_EGO_FIELDS = ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering_angle")
_OBJECT_FIELDS = ("x", "y", "yaw", "length", "width")


@dataclass(frozen=True, eq=False)
class NearObjects:
    """The objects of a run that came near the ego (`MetricContext.objects` rows, in their order),
    shape (N, T): pose [m, rad], box size [m], `valid`, `contact` (the ego's box overlaps theirs);
    `ids` (N,), `types` (N,) their kinds, `agent` (N,) True for the record's agents
    (False for static obstacles and occupancies)."""

    ids: IntArray
    types: tuple[AgentType, ...]
    agent: BoolArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    length: FloatArray
    width: FloatArray
    valid: BoolArray
    contact: BoolArray


@dataclass(frozen=True, eq=False)
class RunTrace:
    """What the run viewer needs of one run: identity and score, the simulated `steps` (T,) on `dt`
    [s], the ego's states, each step's plan as at most `PLAN_POINTS` of its points (K, 2) [m] (None
    where the planner returned none), the decision stated at each step, the failure messages, how it
    ended, the objects that came near, and every registered metric's per-step values
    (`metrics.METRICS`; a trace lacking one of today's metrics is unreadable, so the report
    re-simulates its run)."""

    scenario_id: str
    planning_problem_id: int
    planner: str
    agents_mode: str
    score: float
    dt: float
    steps: IntArray
    ego: EgoStates
    plans: tuple[FloatArray | None, ...]
    decisions: tuple[str, ...]
    failures: tuple[str, ...]
    termination: str
    objects: NearObjects
    metrics: Mapping[str, StepValues]


def near_objects(ctx: MetricContext) -> NearObjects:
    """The objects of `ctx` whose boxes' centres come within `OBJECT_REACH` of the ego's at some step
    (at most `MAX_OBJECTS`, the nearest; kept in the context's order)."""
    objects, ego = ctx.objects, ctx.ego_xy
    with np.errstate(invalid="ignore"):
        gap = np.hypot(objects.x - ego[:, 0], objects.y - ego[:, 1])
    nearest = np.where(objects.valid, gap, np.inf).min(axis=1, initial=np.inf)
    order = np.argsort(nearest, kind="stable")
    rows = np.sort(order[nearest[order] <= OBJECT_REACH][:MAX_OBJECTS])
    agents = ctx.record.agents.num_agents
    return NearObjects(
        ids=objects.ids[rows],
        types=tuple(objects.types[k] for k in rows),
        agent=rows < agents,
        x=objects.x[rows],
        y=objects.y[rows],
        yaw=objects.yaw[rows],
        length=objects.length[rows],
        width=objects.width[rows],
        valid=objects.valid[rows],
        contact=ctx.collisions.contact[rows],
    )


def _plan_points(plan: Trajectory) -> FloatArray:
    """At most `PLAN_POINTS` points (K, 2) [m] of a plan, evenly spread over it, its ends included."""
    pick = np.unique(np.linspace(0, len(plan) - 1, min(PLAN_POINTS, len(plan))).astype(int))
    return np.column_stack([plan.x[pick], plan.y[pick]])


def trace_run(ctx: MetricContext, score: float) -> RunTrace:
    """The trace of the run of `ctx` (scored `score`); computes every registered metric not yet
    computed in `ctx` (after `evaluate_context`, the few the score does not use)."""
    record = ctx.record
    plans = tuple(None if plan is None or len(plan) == 0 else _plan_points(plan) for plan in record.planned)
    return RunTrace(
        scenario_id=record.scenario_id,
        planning_problem_id=record.planning_problem_id,
        planner=record.planner,
        agents_mode=record.agents_mode,
        score=float(score),
        dt=float(record.dt),
        steps=record.steps,
        ego=record.ego,
        plans=plans,
        decisions=tuple("" if decision is None else str(decision) for decision in record.decisions),
        failures=record.failures,
        termination=record.termination,
        objects=near_objects(ctx),
        metrics={name: compute_metric(name, ctx) for name in METRICS},
    )


def trace_path(folder: str | Path, source: str, problem: int, planner: str, agents: str) -> Path:
    """Where the trace of a run (a results row's source, planning problem, planner and agents) lives
    in the benchmark folder `folder`: a file named by a digest of that identity (never by data)."""
    identity = json.dumps([source, int(problem), planner, agents]).encode()
    return Path(folder) / RUNS / f"{hashlib.blake2b(identity, digest_size=16).hexdigest()}.npz"


def _text(values: Any) -> NDArray[np.str_]:
    """Strings as a fixed-width text array (never an object array: those would need pickle)."""
    return np.array([str(value) for value in values], dtype=np.str_).reshape(-1)


def write_trace(path: Path, trace: RunTrace) -> None:
    """Write `trace` to `path` atomically (temporary file in its folder, fsync, rename)."""
    ego, objects = trace.ego, trace.objects
    counts = np.array([-1 if plan is None else len(plan) for plan in trace.plans], dtype=np.int64)
    points = [plan for plan in trace.plans if plan is not None]
    arrays: dict[str, Any] = {
        "identity": _text([trace.scenario_id, trace.planner, trace.agents_mode, trace.termination]),
        "numbers": np.array([trace.planning_problem_id, trace.score, trace.dt], dtype=np.float64),
        "steps": np.asarray(trace.steps, dtype=np.int64),
        "ego_size": np.array([ego.length, ego.width], dtype=np.float64),
        **{f"ego.{name}": np.asarray(getattr(ego, name), dtype=np.float64) for name in _EGO_FIELDS},
        "plan_counts": counts,
        "plan_points": np.concatenate(points) if points else np.zeros((0, 2)),
        "decisions": _text(trace.decisions),
        "failures": _text(trace.failures),
        "objects.ids": np.asarray(objects.ids, dtype=np.int64),
        "objects.types": _text(kind.value for kind in objects.types),
        "objects.agent": np.asarray(objects.agent, dtype=bool),
        "objects.valid": np.asarray(objects.valid, dtype=bool),
        "objects.contact": np.asarray(objects.contact, dtype=bool),
        **{
            f"objects.{name}": np.asarray(getattr(objects, name), dtype=np.float64) for name in _OBJECT_FIELDS
        },
        **{f"metric.{name}": np.asarray(v.values, dtype=np.float64) for name, v in trace.metrics.items()},
        **{f"valid.{name}": np.asarray(v.valid, dtype=bool) for name, v in trace.metrics.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as sink:
            np.savez_compressed(sink, **arrays)
            sink.flush()
            os.fsync(sink.fileno())
        as_new_file(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _array(archive: Mapping[str, Any], name: str, kind: str, shape: tuple[int | None, ...]) -> Any:
    """Member `name` of the archive, checked: dtype kind ("f", "i", "b", "U") and shape (None: any)."""
    if name not in archive:
        raise ValueError(f"no array {name!r}")
    value = archive[name]
    if value.dtype.kind != kind or value.ndim != len(shape):
        raise ValueError(f"{name} is {value.dtype} with {value.ndim} dimensions")
    if any(want is not None and got != want for got, want in zip(value.shape, shape, strict=True)):
        raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
    return value


def _read(archive: Mapping[str, Any]) -> RunTrace:
    """A trace from the archive's arrays; ValueError naming the first one that is missing or wrong."""
    identity = _array(archive, "identity", "U", (4,))
    problem, score, dt = _array(archive, "numbers", "f", (3,)).tolist()
    steps = _array(archive, "steps", "i", (None,))
    count = len(steps)
    size = _array(archive, "ego_size", "f", (2,))
    ego = EgoStates(
        **{name: _array(archive, f"ego.{name}", "f", (count,)) for name in _EGO_FIELDS},
        length=float(size[0]),
        width=float(size[1]),
    )
    counts = _array(archive, "plan_counts", "i", (count,))
    points = _array(archive, "plan_points", "f", (None, 2))
    if counts.min(initial=0) < -1 or int(counts[counts > 0].sum()) != len(points):
        raise ValueError("plan_counts do not add up to plan_points")
    ends = np.cumsum(np.maximum(counts, 0))
    plans = tuple(None if n < 0 else points[end - n : end] for n, end in zip(counts, ends, strict=True))
    ids = _array(archive, "objects.ids", "i", (None,))
    grid = (len(ids), count)
    objects = NearObjects(
        ids=ids,
        types=tuple(AgentType(kind) for kind in _array(archive, "objects.types", "U", (len(ids),)).tolist()),
        agent=_array(archive, "objects.agent", "b", (len(ids),)),
        valid=_array(archive, "objects.valid", "b", grid),
        contact=_array(archive, "objects.contact", "b", grid),
        **{name: _array(archive, f"objects.{name}", "f", grid) for name in _OBJECT_FIELDS},
    )
    metrics = {
        name: StepValues(
            _array(archive, f"metric.{name}", "f", (count,)), _array(archive, f"valid.{name}", "b", (count,))
        )
        for name in METRICS
    }
    return RunTrace(
        scenario_id=str(identity[0]),
        planning_problem_id=int(problem),
        planner=str(identity[1]),
        agents_mode=str(identity[2]),
        score=float(score),
        dt=float(dt),
        steps=steps.astype(np.int64),
        ego=ego,
        plans=plans,
        decisions=tuple(_array(archive, "decisions", "U", (count,)).tolist()),
        failures=tuple(_array(archive, "failures", "U", (None,)).tolist()),
        termination=str(identity[3]),
        objects=objects,
        metrics=metrics,
    )


def read_trace(path: Path) -> RunTrace:
    """The trace stored at `path`; InputError naming the file when it is too large, damaged, or not
    a trace (never unpickles: object arrays are refused)."""
    try:
        if path.stat().st_size > MAX_TRACE_BYTES:
            raise ValueError(f"larger than {MAX_TRACE_BYTES} bytes")
        with np.load(path, allow_pickle=False) as archive:
            unpacked = sum(info.file_size for info in archive.zip.infolist())
            if unpacked > MAX_TRACE_BYTES:
                raise ValueError(f"its arrays unpack to more than {MAX_TRACE_BYTES} bytes")
            return _read({name: archive[name] for name in archive.files})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(path, None, f"not a readable run trace ({error})") from None
