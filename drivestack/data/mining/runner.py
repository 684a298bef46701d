"""Run detectors over the store: only what is not mined yet, in worker processes, in batches.

For each selected detector and its version the runner asks the store which scenarios are mined
(`Store.mined`), loads every scenario some detector still needs once, runs those detectors on it
and writes each batch's findings with `Store.replace_tags`, which also records the scenarios as
mined. So mining is incremental (a new detector or version mines everything, a re-run nothing) and
idempotent (a batch is replaced, never appended); an interrupted run keeps its finished batches.
A scenario on which a detector raises is reported and left unmined, so the next run retries it.
Batches run on the executor of `backend` (`parallel.backends.make_executor`: this process, local
processes, or a Ray cluster at `address`); workers load scenarios from the store (one open store per
worker process), the driver alone writes.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from drivestack.core.errors import ConfigError
from drivestack.core.scenario import Scenario
from drivestack.data.mining.registry import Detector, select
from drivestack.data.mining.scene import Scene
from drivestack.data.store import Store
from drivestack.data.tags import Tag

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Failure:
    """A detector that raised on a scenario (store key): the error, in one line."""

    scenario_key: str
    detector: str
    error: str


@dataclass
class MiningReport:
    """What a mining run did: per detector, scenarios mined now and already mined before; failures;
    the number of scenarios loaded and the wall time [s]."""

    mined: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    scenarios: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Result:
    """One scenario's findings: tags per detector that succeeded, failures of those that raised."""

    key: str
    tags: dict[str, list[Tag]]
    failures: tuple[Failure, ...]


def mine_scenario(scenario: Scenario, detectors: Sequence[Detector[Any]], key: str | None = None) -> _Result:
    """Run `detectors` on one scenario; tags carry `key` (default: the scenario id) as scenario id."""
    key = key or scenario.scenario_id
    scene = Scene(scenario)
    tags: dict[str, list[Tag]] = {}
    failures = []
    for detector in detectors:
        try:
            found = detector.detect(scene)
        except Exception as error:  # a detector bug on one scenario must not stop the run: report it
            failures.append(Failure(key, detector.name, f"{type(error).__name__}: {error}"))
            continue
        tags[detector.name] = [replace(tag, scenario_id=key) for tag in found]
    return _Result(key, tags, tuple(failures))


def mine_store(
    store: Store,
    detectors: Iterable[str] | None = None,
    workers: int = 1,
    batch_size: int = 32,
    write_every: int = 256,
    on_progress: ProgressCallback | None = None,
    backend: str | None = None,
    address: str | None = None,
) -> MiningReport:
    """Mine every stored scenario not yet mined by each of `detectors` (names; all when None).

    `workers` workers on `backend` ("sequential", "processes", "ray"; None: this process for one
    worker, else processes; `address`: a Ray cluster, else a local Ray with `workers` CPUs) handle
    batches of `batch_size` scenarios; the main process writes the findings whenever `write_every`
    scenarios are done, and at the end (each write replaces a detector's tag file, so writing rarely
    keeps a full run fast; an interrupted run loses at most the unwritten ones).
    `on_progress(done, total)` follows the scenarios.
    """
    from drivestack.parallel.backends import make_executor  # imported when used

    if min(workers, batch_size, write_every) < 1:
        raise ConfigError(
            f"workers, batch size and write interval must be >= 1, got {workers}, {batch_size}, {write_every}"
        )
    executor = make_executor(backend, workers, address)
    started = time.perf_counter()
    chosen = select(detectors)
    every = store.scenario_ids()
    report = MiningReport()
    pending: dict[str, list[str]] = defaultdict(list)  # scenario key -> detector names still to run
    for detector in chosen:
        done = store.mined(detector.name, detector.version)
        report.already[detector.name] = len(done & set(every))
        report.mined[detector.name] = 0
        for key in every:
            if key not in done:
                pending[key].append(detector.name)
    index = store.index()
    keys = sorted(pending, key=lambda key: (str(index[key]["batch"]), key))  # ingest batches load together
    root = str(store.root)
    batches = [
        (root, tuple((key, tuple(pending[key])) for key in keys[i : i + batch_size]))
        for i in range(0, len(keys), batch_size)
    ]
    versions = {detector.name: detector.version for detector in chosen}
    if on_progress:
        on_progress(0, len(keys))
    unwritten: list[_Result] = []
    for batch, outcome in executor.map(_mine_batch, batches):
        results = outcome if isinstance(outcome, list) else _failed_batch(batch, outcome)
        unwritten += results
        report.scenarios += len(results)
        if len(unwritten) >= write_every or report.scenarios == len(keys):
            _write(store, versions, unwritten, report)
            unwritten = []
        if on_progress:
            on_progress(report.scenarios, len(keys))
    report.seconds = time.perf_counter() - started
    return report


def _write(store: Store, versions: dict[str, int], results: Sequence[_Result], report: MiningReport) -> None:
    """Store finished scenarios: per detector, replace the tags of the scenarios it succeeded on."""
    succeeded: dict[str, list[str]] = defaultdict(list)
    found: dict[str, list[Tag]] = defaultdict(list)
    for result in results:
        report.failures.extend(result.failures)
        for name, tags in result.tags.items():
            succeeded[name].append(result.key)
            found[name].extend(tags)
    for name, keys in succeeded.items():
        store.replace_tags(name, versions[name], keys, found[name])
        report.mined[name] += len(keys)


Batch = tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]
"""(store root, ((scenario key, names of the detectors to run on it), ...))."""


@functools.lru_cache(maxsize=4)
def _open_store(root: str) -> Store:
    """One open store per root and worker process (a worker mines many batches from it)."""
    return Store.open(root)


def _mine_batch(batch: Batch) -> list[_Result]:
    """Load and mine one batch (runs in a worker)."""
    root, scenarios = batch
    source = _open_store(root)
    return [mine_scenario(source.load_scenario(key), select(names), key) for key, names in scenarios]


def _failed_batch(batch: Batch, error: BaseException) -> list[_Result]:
    """A batch whose worker failed as a whole (died, or a scenario failed to load): every detector of
    every scenario reported as failed, so the scenarios stay unmined and the next run retries them."""
    text = f"{type(error).__name__}: {error}"
    return [_Result(key, {}, tuple(Failure(key, name, text) for name in names)) for key, names in batch[1]]


def scenario_tags(store: Store, scenario_id: str) -> list[Tag]:
    """Every stored tag of one scenario (a store key or an unambiguous benchmark id), by tag and step."""
    key = store.resolve(scenario_id)
    table = store.query(
        "SELECT tag, agent_id, step_start, step_end, value, planning_problem_id FROM tags"
        " WHERE scenario_key = $1 ORDER BY tag, step_start, agent_id, planning_problem_id",
        [key],
    )
    return [Tag(key, **row) for row in table.to_pylist()]


def tag_counts(store: Store) -> list[tuple[str, int, int]]:
    """(tag, scenarios with it, tag rows) for every tag in the store, by tag name."""
    table = store.query(
        "SELECT tag, count(DISTINCT scenario_key) AS scenarios, count(*) AS tag_rows FROM tags"
        " GROUP BY tag ORDER BY tag"
    )
    return [(str(row["tag"]), int(row["scenarios"]), int(row["tag_rows"])) for row in table.to_pylist()]
