"""Load every scenario unit (of any registered format) and solution file under some paths and report
the ones that fail.

Each unit is read in worker processes: every scenario it holds (a WOMD file holds many, each member
counts as one), a CommonRoad scenario together with its solution files (`sources.discover` pairs
them). A solution file counts as a file of its own: it is loaded when it reads and fits its scenario
(same scenario id, known planning problems), rejected otherwise. A unit no reader claims is rejected
as of unknown format; one whose members cannot be listed is rejected as a whole.
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
from drivestack.data.formats.commonroad import attach_solution, read_solution
from drivestack.data.formats.registry import read_unit, unit_label, unit_members, unknown_format_reason
from drivestack.data.sources import SourceFiles, discover

Outcome = tuple[Path, str | None, str | None, tuple[InputWarning, ...]]
"""(file or folder, member or None, None when it loaded else why it was rejected, what the reader
warned about while loading it)."""


@dataclass(frozen=True)
class Rejection:
    """A file (or one `member` scenario of it) that did not load, and why (element and expectation,
    without the path)."""

    path: Path
    reason: str
    member: str | None = None

    @property
    def label(self) -> str:
        """The path, with "#<member>" for one scenario of a multi-scenario unit."""
        return unit_label(self.path, self.member)


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
    """Load every scenario unit and solution file under `paths` with `workers` processes (default:
    CPU count).

    `on_progress(units_done, units_total)` is called as units (a scenario file or folder with its
    solutions, or a lone solution file) finish. Raises `InputError` for a path that does not exist.
    """
    sources, orphans, unknown = discover(paths)
    jobs: list[SourceFiles | Path] = [*sources, *orphans]
    outcomes: list[Outcome] = [(path, None, unknown_format_reason(), ()) for path in unknown]
    workers = workers or os.cpu_count() or 1
    if on_progress:
        on_progress(0, len(jobs))
    if workers == 1:
        for done, job in enumerate(jobs, start=1):
            outcomes += _check(job)
            if on_progress:
                on_progress(done, len(jobs))
    else:
        try:
            # forkserver: workers never inherit the caller's threads (a progress display) or their locks
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures: list[Future[list[Outcome]]] = [pool.submit(_check, job) for job in jobs]
                for done, future in enumerate(as_completed(futures), start=1):
                    outcomes += future.result()
                    if on_progress:
                        on_progress(done, len(jobs))
        except BrokenProcessPool as error:
            raise DrivestackError(
                f"a validation worker process died ({error}); try fewer --workers"
            ) from error
    rejected = sorted(
        (Rejection(path, reason, member) for path, member, reason, _ in outcomes if reason),
        key=lambda r: (str(r.path), r.member or ""),
    )
    warnings = sorted(
        (warning for *_, found in outcomes for warning in found), key=lambda w: str(w.path or "")
    )
    return ValidationReport(
        loaded=len(outcomes) - len(rejected), rejected=tuple(rejected), warnings=tuple(warnings)
    )


def _reason(error: Exception) -> str:
    """The message of `error` without the file path (the report puts the path in front); an error
    that is not drivestack's (a reader's bug) with its type."""
    if isinstance(error, InputError):
        return ": ".join(part for part in (error.element, error.problem) if part)
    return str(error) if isinstance(error, DrivestackError) else f"{type(error).__name__}: {error}"


def _check(job: SourceFiles | Path) -> list[Outcome]:
    """Load one unit with its solutions (or one lone solution file); one outcome per scenario or file."""
    if isinstance(job, Path):
        try:
            read_solution(job)
        except DrivestackError as error:
            return [(job, None, _reason(error), ())]
        return [(job, None, None, ())]
    try:
        members = unit_members(job.scenario, job.format)
    except Exception as error:  # a unit that cannot be listed is one rejection, never a crash
        return [(job.scenario, None, _reason(error), ())]
    outcomes: list[Outcome] = []
    scenario = None
    for member in members:
        try:
            scenario = read_unit(job.scenario, job.format, member)
            outcomes.append((job.scenario, member, None, scenario.warnings))
        except Exception as error:  # one bad scenario is reported, the others are still read
            outcomes.append((job.scenario, member, _reason(error), ()))
            scenario = None
    if not job.solutions:
        return outcomes
    if scenario is None:
        return outcomes + [outcome for solution in job.solutions for outcome in _check(solution)]
    for solution in job.solutions:
        try:
            attach_solution(scenario, solution)
        except DrivestackError as error:
            outcomes.append((solution, None, _reason(error), ()))
        else:
            outcomes.append((solution, None, None, ()))
    return outcomes
