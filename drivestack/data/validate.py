"""Load every CommonRoad scenario and solution file under some paths and report the ones that fail.

Each scenario is read together with its solution files (`sources.discover` pairs them), in worker
processes; a solution file counts as a file of its own: it is loaded when it reads and fits its
scenario (same scenario id, known planning problems), rejected otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from drivestack.core.errors import DrivestackError, InputError, InputWarning
from drivestack.data.formats.commonroad import attach_solution, read_scenario, read_solution
from drivestack.data.sources import SourceFiles, discover

Outcome = tuple[Path, str | None, tuple[InputWarning, ...]]
"""(file, None when it loaded else why it was rejected, what the reader warned about while loading it)."""


@dataclass(frozen=True)
class Rejection:
    """A file that did not load, and why (element and expectation, without the path)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ValidationReport:
    """How many files loaded, every rejected file in path order, and the warnings of the loaded ones
    (what a reader dropped or guessed, e.g. a reference to an absent traffic sign), in path order."""

    loaded: int
    rejected: tuple[Rejection, ...]
    warnings: tuple[InputWarning, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no file was rejected."""
        return not self.rejected


def validate(
    paths: Iterable[str | Path],
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Load every scenario and solution file under `paths` with `workers` processes (default: CPU count).

    `on_progress(files_done, files_total)` is called as files finish. Raises `InputError` for a path
    that does not exist.
    """
    sources, orphans = discover(paths)
    jobs: list[SourceFiles | Path] = [*sources, *orphans]
    total = sum(_file_count(job) for job in jobs)
    outcomes: list[Outcome] = []
    workers = workers or os.cpu_count() or 1
    if on_progress:
        on_progress(0, total)
    if workers == 1:
        for job in jobs:
            outcomes += _check(job)
            if on_progress:
                on_progress(len(outcomes), total)
    else:
        try:
            # forkserver: workers never inherit the caller's threads (a progress display) or their locks
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures: list[Future[list[Outcome]]] = [pool.submit(_check, job) for job in jobs]
                for future in as_completed(futures):
                    outcomes += future.result()
                    if on_progress:
                        on_progress(len(outcomes), total)
        except BrokenProcessPool as error:
            raise DrivestackError(
                f"a validation worker process died ({error}); try fewer --workers"
            ) from error
    rejected = sorted(
        (Rejection(path, reason) for path, reason, _ in outcomes if reason), key=lambda r: str(r.path)
    )
    warnings = sorted(
        (warning for _, _, found in outcomes for warning in found), key=lambda w: str(w.path or "")
    )
    return ValidationReport(
        loaded=len(outcomes) - len(rejected), rejected=tuple(rejected), warnings=tuple(warnings)
    )


def _file_count(job: SourceFiles | Path) -> int:
    return 1 + len(job.solutions) if isinstance(job, SourceFiles) else 1


def _reason(error: DrivestackError) -> str:
    """The message of `error` without the file path (the report puts the path in front)."""
    if isinstance(error, InputError):
        return ": ".join(part for part in (error.element, error.problem) if part)
    return str(error)


def _check(job: SourceFiles | Path) -> list[Outcome]:
    """Load one scenario with its solutions (or one lone solution file); one outcome per file."""
    if isinstance(job, Path):
        try:
            read_solution(job)
        except DrivestackError as error:
            return [(job, _reason(error), ())]
        return [(job, None, ())]
    outcomes: list[Outcome] = []
    try:
        scenario = read_scenario(job.scenario)
        outcomes.append((job.scenario, None, scenario.warnings))
    except DrivestackError as error:
        outcomes.append((job.scenario, _reason(error), ()))
        return outcomes + [outcome for solution in job.solutions for outcome in _check(solution)]
    for solution in job.solutions:
        try:
            attach_solution(scenario, solution)
        except DrivestackError as error:
            outcomes.append((solution, _reason(error), ()))
        else:
            outcomes.append((solution, None, ()))
    return outcomes
