"""The demo: the whole platform on one dataset, from files to an HTML report.

`run_demo(DemoConfig(...))`:
1. data: the CommonRoad files under `data` (recorded traffic, e.g. ../shared/data/commonroad/ngsim;
   a folder that does not exist is a ConfigError); without `data`, a sample the generator makes
   (`data.generate`: highways, merges and signalised intersections with a recorded human-like ego)
   under OUT/data (while a second process compiles the benchmark's kernels, `bench.warm_up`);
2. ingest them into a scenario store (OUT/store);
3. mine the store (every detector: tags such as hard braking, cut-ins, dense traffic);
4. draw a seeded sample of at most `limit` scenarios as the set "demo";
5. benchmark `planners` (drivestack against idm) with `agents` (replayed log and reactive IDM)
   over the set, in `workers` processes (OUT/bench: manifest.json, results.parquet);
6. write the report (OUT/report.html): every run opens in its run viewer (drawn from the traces the
   benchmark kept, OUT/bench/runs).
Each step skips what an earlier demo in the same OUT already did (the store, mining and the
benchmark are incremental; the report is kept when its inputs, see `report_key`, are unchanged),
so a re-run is quick.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path

import drivestack
from drivestack import sources_digest
from drivestack.bench import BenchConfig, ResultStore, bench_config_record, find_sources, run_bench
from drivestack.bench.replay import read_manifest
from drivestack.bench.results import RESULTS
from drivestack.bench.run import warm_up
from drivestack.core.errors import ConfigError
from drivestack.data.generate import GeneratedFiles, generated_files, write_generated
from drivestack.data.ingest import ingest
from drivestack.data.mining.runner import mine_store, tag_counts
from drivestack.data.sets import create_set
from drivestack.data.store import Store
from drivestack.parallel.backends import make_executor
from drivestack.viz.report import ReportConfig, build_report, resimulated_note, save_report

SAMPLE = (("highway", 3), ("merge", 3), ("intersection", 4))
"""The generated sample: scenarios per kind."""
SET_NAME = "demo"
REPORT_KEY = ".report-key"
"""The file under OUT holding `report_key` of the report last written there."""


@dataclass(frozen=True)
class DemoConfig:
    """Where the data is (`data`: None means a generated sample), where everything goes (`out`),
    the benchmark (planners, agents, at most `limit` scenarios, `workers` processes), the
    generator's and the sample's `seed`, how many worst runs the report shows, and the generated
    sample's scenarios per kind. One worker by default: each worker process compiles the kernels
    itself when numba's cache is empty (20 CPU s), as much as it would share of the ten generated
    scenarios; instead, a second process compiles them once while the sample is generated.
    More workers generate and benchmark a scenario per process."""

    data: Path | None = None
    out: Path = Path("drivestack-demo")
    planners: tuple[str, ...] = ("drivestack", "idm")
    agents: tuple[str, ...] = ("log", "idm")
    limit: int = 24
    workers: int = 1
    seed: int = 0
    worst: int = 6
    sample: tuple[tuple[str, int], ...] = SAMPLE

    def __post_init__(self) -> None:
        if self.limit < 1 or self.workers < 1:
            raise ConfigError(f"limit and workers must be >= 1, got {self.limit}, {self.workers}")


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: the data folder used, the store, the benchmark folder, the report, the
    number of scenarios stored and benchmarked, the tag counts, and the wall and CPU seconds per
    step (CPU: this process and the worker processes it ended)."""

    data: Path
    store: Path
    bench: Path
    report: Path
    stored: int
    benchmarked: int
    tags: list[tuple[str, int, int]]
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]


def _cpu_seconds() -> float:
    """User and system CPU time [s] of this process and of its ended child processes (workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _missing(
    folder: Path, seed: int, sample: tuple[tuple[str, int], ...]
) -> list[tuple[Path, str, int, int]]:
    """(folder, kind, seed, index) of the sample's scenarios not yet under `folder` with their solution."""
    return [
        (folder, kind, seed, index)
        for kind, count in sample
        for index in range(count)
        if not all(path.is_file() for path in astuple(generated_files(folder, kind, seed, index)))
    ]


def sample_complete(folder: Path, seed: int, sample: tuple[tuple[str, int], ...] = SAMPLE) -> bool:
    """Whether every scenario of the sample is already under `folder`."""
    return not _missing(folder, seed, sample)


def _write_sample(item: tuple[Path, str, int, int]) -> GeneratedFiles:
    """Generate and write one scenario of the sample: (folder, kind, seed, index)."""
    return write_generated(*item)


def sample_data(
    folder: Path, seed: int, sample: tuple[tuple[str, int], ...] = SAMPLE, workers: int = 1
) -> Path:
    """The generated `sample` (scenarios per kind) under `folder`, in `workers` processes (each
    scenario is simulated on its own); the scenarios already there (with their solution) are kept."""
    missing = _missing(folder, seed, sample)
    for _, result in make_executor(None, min(workers, len(missing) or 1)).map(_write_sample, missing):
        if isinstance(result, BaseException):
            raise result
    return folder


def report_key(bench_dir: Path, config: ReportConfig) -> str:
    """A digest of what the report is made of: the benchmark's results and configuration, the
    report's settings and drivestack's sources (the report draws runs with them). The
    manifest's list of invocations is left out: a demo that ran nothing new keeps the report."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update((bench_dir / RESULTS).read_bytes())
    digest.update(json.dumps(read_manifest(bench_dir).get("config"), sort_keys=True).encode())
    digest.update(repr(config).encode())
    digest.update(sources_digest(Path(drivestack.__file__).resolve().parent).encode())
    return digest.hexdigest()


def _read_text(path: Path) -> str | None:
    """The text of `path`, None when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file, then a rename)."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _generate_and_warm_up(data: Path, config: DemoConfig, say: Callable[[str], None]) -> None:
    """Generate the sample (`sample_data`); with one worker, a second process meanwhile compiles the
    benchmark's kernels (`bench.warm_up`; numba caches them on disk), which the benchmark would
    otherwise compile before its first run: the second core works while the first generates. A
    failed warm-up is said and otherwise ignored (the benchmark compiles what it needs)."""
    if config.workers > 1 or sample_complete(data, config.seed, config.sample):
        sample_data(data, config.seed, config.sample, config.workers)
        return
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        compiling = pool.submit(warm_up, BenchConfig(config.planners, config.agents))
        sample_data(data, config.seed, config.sample)
        try:
            compiling.result()
        except Exception as error:  # an optimisation only: the benchmark reports real failures
            say(f"  compiling ahead failed ({type(error).__name__}: {error}); the benchmark compiles instead")


def run_demo(config: DemoConfig, say: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run the demo's steps (see the module docstring); `say` hears what each step is doing."""
    out = config.out
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), _cpu_seconds()

    def lap(name: str) -> None:
        nonlocal started, cpu_started
        seconds[name], cpu_seconds[name] = time.perf_counter() - started, _cpu_seconds() - cpu_started
        started, cpu_started = time.perf_counter(), _cpu_seconds()

    if config.data is not None:
        if not config.data.exists():
            raise ConfigError(f"{config.data}: no such data folder (leave DATA empty for a generated sample)")
        data = config.data
        say(f"data: recorded scenarios under {data}")
    else:
        data = out / "data"
        say(f"data: none given, generating a sample under {data}")
        _generate_and_warm_up(data, config, say)
    lap("data")
    store = Store.open(out / "store", create=True)
    say(f"ingesting into {store.root}")
    # the generated sample is one dataset of ten scenarios: ingest (a batch per dataset) and mining
    # take a few seconds in this process, less than a pool's start-up
    local = 1 if config.data is None else config.workers
    report = ingest([data], store, workers=local)
    say(f"  {len(report.added)} added, {len(report.skipped)} already stored, {len(report.rejected)} rejected")
    lap("ingest")
    say("mining")
    mine_store(store, workers=local)
    tags = tag_counts(store)
    say("  " + (", ".join(f"{tag} {scenarios}" for tag, scenarios, _ in tags) or "no tags"))
    lap("mine")
    members = create_set(store, SET_NAME, limit=config.limit, seed=config.seed, replace=True)
    bench_dir = out / "bench"
    bench = BenchConfig(config.planners, config.agents)
    sources = find_sources(SET_NAME, str(store.root))
    say(
        f"benchmarking {', '.join(bench.planners)} with {', '.join(bench.agents)} agents on {len(members)} "
        f"scenarios ({config.workers} workers) into {bench_dir}"
    )
    results = ResultStore(bench_dir, bench_config_record(bench, SET_NAME, config.limit, config.workers))
    summary = run_bench(sources, bench, results, make_executor(None, config.workers))
    say(f"  {summary.rows_added} runs added, {summary.errors} error rows, {summary.wall_s:.0f} s")
    lap("bench")
    report_config = ReportConfig(worst=config.worst, store=str(store.root))
    path, key = out / "report.html", report_key(bench_dir, report_config)
    if path.is_file() and _read_text(out / REPORT_KEY) == key:
        say(f"report: {path} is up to date (same results, settings and code)")
    else:
        say("writing the report")
        built = build_report(bench_dir, report_config, progress=lambda message: say(f"  {message}"))
        save_report(built, path, report_config.inline_bytes)
        if built.resimulated:
            say(f"  {resimulated_note(built.resimulated)}")
        _write_text(out / REPORT_KEY, key)
    lap("report")
    return DemoResult(
        data, store.root, bench_dir, path, len(store.index()), len(members), tags, seconds, cpu_seconds
    )
