"""Executors run a function over many items and hand back each result as it completes.

`SequentialExecutor` runs in this process (debugging, tests); `ProcessExecutor` runs in a pool of
worker processes. Both yield `(item, result)` in completion order, where the result is the
function's return value or the exception it raised, so one bad item never stops the others. A
worker process that dies (segfault, out of memory) breaks the pool: the pool is rebuilt and the
items that were in flight are tried again; an item in flight during `max_attempts` breaks is
reported with a `WorkerDied` error.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, TypeVar

from drivestack.core.errors import ConfigError, DrivestackError

T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(DrivestackError):
    """A worker process died while running an item."""


class Executor(Protocol):
    """Runs `fn` over `items`, yielding (item, result or exception) as each completes."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R | BaseException]]:
        """Results in completion order."""
        ...


class SequentialExecutor:
    """Runs items one after another in this process."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R | BaseException]]:
        """Results in item order."""
        for item in items:
            try:
                yield item, fn(item)
            except Exception as error:  # reported per item, as the process executor does
                yield item, error


class ProcessExecutor:
    """Runs items in `workers` worker processes (started with "spawn": no state inherited).

    At most two items per worker are in flight, so a broken pool loses little work.
    """

    def __init__(self, workers: int, max_attempts: int = 2) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.max_attempts = max_attempts

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R | BaseException]]:
        """Results in completion order."""
        queue = list(enumerate(items))[::-1]  # pop() takes the next item in order
        attempts = [0] * len(items)
        context = multiprocessing.get_context("spawn")
        while queue:
            broken: list[int] = []
            with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
                running: dict[Future[R], int] = {}
                while queue or running:
                    while queue and len(running) < 2 * self.workers:
                        index, item = queue.pop()
                        running[pool.submit(fn, item)] = index
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        error = future.exception()
                        if isinstance(error, BrokenProcessPool):
                            broken.append(index)
                            continue
                        yield items[index], error if error is not None else future.result()
                    if broken:
                        broken += list(running.values())
                        for future in running:
                            future.cancel()
                        break
            for index in sorted(set(broken), reverse=True):
                attempts[index] += 1
                if attempts[index] >= self.max_attempts:
                    yield (
                        items[index],
                        WorkerDied(f"a worker process died {attempts[index]} times running this item"),
                    )
                else:
                    queue.append((index, items[index]))
