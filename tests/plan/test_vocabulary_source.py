"""The vocabulary source: learned motions placed at the ego, scored like the rule-based proposals,
chosen where they score best; the planner drivestack-vocab on the command line and the benchmark."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scenes
from cli_process import run
from watched_planner import Watched

from drivestack.bench import BenchConfig
from drivestack.bench.replay import planner_options, read_manifest, replay_row, sim_config
from drivestack.bench.results import read_results
from drivestack.bench.sources import Source
from drivestack.core.errors import ConfigError, InputError
from drivestack.core.limits import RunLimits
from drivestack.core.motions import MotionVocabulary, load_vocabulary, save_vocabulary
from drivestack.core.scenario import (
    EgoState,
    Goal,
    GoalState,
    Interval,
    PlanningProblem,
    Scenario,
    Shape,
    ShapeKind,
)
from drivestack.data.ingest import ingest
from drivestack.data.sets import create_set
from drivestack.data.store import ScenarioFilter, Store
from drivestack.data.vocabulary import VocabularyConfig, train_vocabulary
from drivestack.plan import VOCABULARY_PLANNER, PlannerOptions, make_planner
from drivestack.plan.drivestack.stages import OTHER
from drivestack.plan.drivestack.vocabulary import VocabularySource, VocabularySourceConfig
from drivestack.sim.runner import simulate
from drivestack.sim.world import SimConfig

TIMES = np.arange(81) * 0.1  # [s] 8 s at 0.1 s


def motion(start_speed: float, acceleration: float) -> tuple[np.ndarray, ...]:
    """Straight ahead from `start_speed` [m/s], the acceleration [m/s2] reached over the first second."""
    accel = acceleration * np.minimum(TIMES, 1.0)
    speed = start_speed + np.concatenate([[0.0], np.cumsum(0.5 * (accel[1:] + accel[:-1]) * 0.1)])
    x = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * 0.1)])
    return x, np.zeros_like(x), np.zeros_like(x), speed


def hand_made(*motions: tuple[np.ndarray, ...]) -> MotionVocabulary:
    """A vocabulary of the given straight motions."""
    x, y, yaw, speed = (np.stack(parts) for parts in zip(*motions, strict=True))
    return MotionVocabulary(TIMES, x, y, yaw, speed, np.ones(len(x), dtype=np.int64), np.array([0.0, 45.0]))


def test_motions_are_chosen_by_start_speed_and_resampled_onto_the_planner_grid() -> None:
    vocabulary = hand_made(*(motion(speed, 0.0) for speed in (0.0, 9.5, 10.2, 11.5, 30.0)))
    source = VocabularySource(vocabulary, VocabularySourceConfig(speed_tolerance=1.0, max_proposals=2))
    assert source.chosen(10.0).tolist() == [2, 1]  # nearest first, at most two, within 1 m/s
    assert source.chosen(20.0).tolist() == []
    assert source.chosen(31.0).tolist() == [4]  # 10 % of the speed is the wider tolerance there
    times = np.arange(0.0, 10.01, 0.5)  # a coarser step than the vocabulary's, beyond its horizon
    x, y, yaw, speed = source.local(np.array([1]), times)
    np.testing.assert_allclose(x[0, :17], 9.5 * times[:17], atol=1e-9)  # exact samples up to 8 s
    np.testing.assert_allclose(x[0, 17:], 9.5 * times[17:], atol=1e-9)  # then its last speed and heading
    assert (y == 0.0).all() and (yaw == 0.0).all() and (speed == 9.5).all()


def test_a_motion_shifted_to_the_ego_speed_keeps_its_path_and_accelerations() -> None:
    radius, speed = 50.0, 10.0  # a left curve at 10 m/s
    angle = speed * TIMES / radius
    curve = (radius * np.sin(angle), radius * (1.0 - np.cos(angle)), angle, np.full(len(TIMES), speed))
    source = VocabularySource(hand_made(curve, motion(9.5, 1.0)))
    x, y, yaw, driven = source.local(np.array([0, 1]), TIMES, 11.0)
    np.testing.assert_allclose(driven[0], 11.0)  # starts at the ego's speed, keeps the motion's (none)
    along = speed * TIMES[-1] / 11.0 > TIMES  # the curve is 80 m long: then straight on
    np.testing.assert_allclose(np.hypot(x[0, along], y[0, along] - radius), radius, atol=0.01)  # on the curve
    np.testing.assert_allclose(yaw[0, along], 11.0 * TIMES[along] / radius, atol=0.01)  # 11 m/s along it
    np.testing.assert_allclose(yaw[0, ~along], speed * TIMES[-1] / radius)
    np.testing.assert_allclose(driven[1], np.maximum(motion(9.5, 1.0)[3] + 1.5, 0.0))  # accelerations kept
    assert driven[1, 0] == 11.0 and (y[1] == 0.0).all() and np.all(np.diff(x[1]) > 0.0)
    slower = source.local(np.array([1]), TIMES, 0.0)[3]  # 9.5 m/s slower: standing until it picks up
    assert slower[0, 0] == 0.0 and (slower >= 0.0).all() and slower[0, -1] == pytest.approx(7.5)


def road_to_goal(steps: int) -> Scenario:
    """An empty straight road; the ego at 10 m/s, a goal region 105 m ahead (within reach in 8 s only
    when accelerating harder than the rule-based profiles do)."""
    graph = scenes.straight_road(num_lanes=1, length=400.0)
    scenario = scenes.scenario(graph, [], None, num_steps=steps)
    region = Shape(ShapeKind.RECTANGLE, length=10.0, width=3.0, center=(120.0, 0.0))
    problem = PlanningProblem(
        scenes.EGO_ID,
        EgoState(step=0, x=10.0, y=0.0, yaw=0.0, speed=10.0),
        Goal((GoalState(time=Interval(0, steps - 1), regions=(region,)),)),
    )
    return dataclasses.replace(scenario, planning_problems=(problem,))


def test_a_learned_motion_that_reaches_the_goal_is_scored_and_chosen() -> None:
    planner = Watched(VocabularySource(hand_made(motion(10.0, 2.0), motion(10.0, 0.0), motion(25.0, 0.0))))
    record = simulate(road_to_goal(100), scenes.EGO_ID, planner)
    assert record.failures == ()
    proposals, scores = planner.seen[0]
    learned = np.flatnonzero(proposals.kind == OTHER)
    assert len(learned) == 2  # the two motions starting at 10 m/s, not the one at 25 m/s
    # rolled out from the ego's state, along its lane, scored by the same gates and terms
    np.testing.assert_allclose(proposals.states.x[learned, 0], 10.0)
    np.testing.assert_allclose(proposals.d[learned], 0.0, atol=1e-6)
    assert scores.safe[learned].all() and np.isfinite(scores.total[learned]).all()
    assert scores.goal[learned[0]] and not scores.goal[proposals.kind != OTHER].any()
    # the accelerating motion alone reaches the goal within the horizon: it is what the ego drives
    first = record.planned[0]
    assert first is not None
    np.testing.assert_allclose(first.x, proposals.states.x[learned[0]])
    assert not record.termination.startswith("collision")


HELD_OUT = "DEU_LocationAUpper26-1"
"""The recording the planner is tested on; the vocabulary learns from two others (highD and SinD)."""


@pytest.fixture(scope="module")
def recorded(commonroad_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    """A store of two recorded scenarios of each of three recordings (two highD, one SinD), and the
    vocabulary learned from all but `HELD_OUT`."""
    files = []
    for dataset, groups in (("highd", ("LocationALower26", "LocationAUpper26")), ("sind", ("SIND-8021",))):
        with (commonroad_root / dataset / "index.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for group in groups:
            for row in [row for row in rows if row["group"] == group][:2]:
                files += [
                    commonroad_root / dataset / row["file"],
                    commonroad_root / dataset / row["ego_solution_file"],
                ]
    folder = tmp_path_factory.mktemp("vocabulary-source")
    store = Store.open(folder / "store", create=True)
    assert ingest(files, store, workers=1).rejected == []
    create_set(store, "train", where=f"recording_group <> '{HELD_OUT}'")
    create_set(store, "test", where=f"recording_group = '{HELD_OUT}'")
    vocabulary = train_vocabulary(store, "train", VocabularyConfig(size=64, seed=0))
    return store, save_vocabulary(vocabulary, folder / "motions.npz")


def test_on_a_held_out_recorded_scenario_learned_motions_are_scored_beside_the_rule_based_ones(
    recorded: tuple[Store, Path],
) -> None:
    store, path = recorded
    vocabulary = load_vocabulary(path)
    source = VocabularySource(vocabulary)
    held_out = [
        Source(store=str(store.root), key=key).load()
        for key in store.scenario_ids(ScenarioFilter(set_name="test"))
    ]
    # the first held-out drive whose start speed the small vocabulary covers (re-timed, as benchmarked)
    scenario = next(
        found for found in held_out if len(source.chosen(found.planning_problems[0].initial.speed))
    )
    planner = Watched(VocabularySource(vocabulary))
    config = SimConfig(limits=RunLimits(max_steps=20))
    record = simulate(scenario, scenario.planning_problems[0].id, planner, "log", config)
    assert record.failures == ()
    offered = 0
    for proposals, scores in planner.seen:
        learned = proposals.kind == OTHER
        ego_speed = float(proposals.states.speed[0, 0])  # every row starts from the ego's state
        assert np.count_nonzero(learned) == len(source.chosen(ego_speed))
        np.testing.assert_allclose(proposals.states.x[learned, 0], proposals.states.x[0, 0])
        assert len(scores.total) == proposals.count
        offered += np.count_nonzero(learned & scores.safe)
    assert offered > 0  # learned motions passed the same gates as the rule-based ones


def test_the_planner_needs_a_readable_vocabulary(recorded: tuple[Store, Path], tmp_path: Path) -> None:
    _, path = recorded
    with pytest.raises(ConfigError, match="needs a motion vocabulary"):
        make_planner(VOCABULARY_PLANNER)
    with pytest.raises(ConfigError, match="needs a motion vocabulary"):
        BenchConfig((VOCABULARY_PLANNER,))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"broken\.npz: not a vocabulary file"):
        BenchConfig(("drivestack", VOCABULARY_PLANNER), planner_options=PlannerOptions(str(broken)))
    planner = make_planner(VOCABULARY_PLANNER, PlannerOptions(str(path)))
    assert planner.name == VOCABULARY_PLANNER


def test_simulate_and_bench_run_drivestack_vocab(recorded: tuple[Store, Path], tmp_path: Path) -> None:
    store, path = recorded
    key = store.scenario_ids(ScenarioFilter(set_name="test"))[0]
    common = ("--store", store.root, "--max-steps", "15")
    done = run("simulate", key, "--planner", VOCABULARY_PLANNER, "--vocabulary", path, *common)
    assert done.returncode == 0, done.stderr
    assert f"/ {VOCABULARY_PLANNER} / log agents: score" in done.stdout
    missing = run("simulate", key, "--planner", VOCABULARY_PLANNER, *common)
    assert missing.returncode == 2 and "--vocabulary FILE" in missing.stderr
    out = tmp_path / "runs"
    planners = f"drivestack,{VOCABULARY_PLANNER}"
    done = run(
        "bench",
        "test",
        "--planner",
        planners,
        "--vocabulary",
        path,
        "--out",
        out,
        "--limit",
        "1",
        *common,
    )
    assert done.returncode == 0, done.stderr
    rows = read_results(out / "results.parquet").to_pylist()
    assert sorted(row["planner"] for row in rows) == ["drivestack", VOCABULARY_PLANNER]
    assert all(row["status"] == "ok" and row["ade"] is not None for row in rows)
    manifest = read_manifest(out)
    assert planner_options(manifest) == PlannerOptions(str(path))
    vocab_row = next(row for row in rows if row["planner"] == VOCABULARY_PLANNER)
    replayed = replay_row(vocab_row, sim_config(manifest), str(store.root), options=planner_options(manifest))
    assert replayed.metrics.score == pytest.approx(vocab_row["score"], abs=1e-9)
