"""Where a benchmark runs: in this process, in local worker processes, or on a Ray cluster.

`make_executor(backend, workers, address)` gives an `executors.Executor` for "sequential",
"processes" or "ray". `RayExecutor` runs each item as a Ray task (`ray.remote` of the same worker
function the process pool runs), on the cluster at `address`, or on a local Ray it starts with
`workers` CPUs when no address is given (and shuts down when done). Results come back in completion
order, an item's exception as its result (re-raised by Ray as a `RayTaskError`, unwrapped to the
original exception type where Ray can), and a task whose worker died after Ray's own retries as a
`WorkerDied` error, exactly as the other executors report them. Ray is an optional extra
(`pip install drivestack[ray]`): it is imported only when this backend is chosen.

The workers of a remote cluster need drivestack installed and the scenario files (or the store) at
the same paths as the driver; a local Ray starts its workers from this interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from drivestack.core.errors import ConfigError
from drivestack.parallel.executors import Executor, ProcessExecutor, SequentialExecutor, WorkerDied

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("sequential", "processes", "ray")


class RayExecutor:
    """Runs items as Ray tasks on the cluster at `address` (None: a local Ray with `workers` CPUs).

    At most `in_flight` tasks (default: twice the cluster's CPUs) are submitted at a time, so a
    long run keeps its memory bounded and its progress steady."""

    def __init__(
        self, address: str | None = None, workers: int | None = None, in_flight: int | None = None
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.address = address
        self.workers = workers
        self.in_flight = in_flight

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R | BaseException]]:
        """Results in completion order."""
        try:
            import ray
            from ray.exceptions import RayError, RayTaskError, WorkerCrashedError
        except ImportError as error:
            raise ConfigError("the ray backend needs the ray extra: pip install 'drivestack[ray]'") from error
        started = not ray.is_initialized()
        if started:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is None:
                options["num_cpus"] = self.workers
            ray.init(address=self.address, **options)
        try:
            task = ray.remote(fn)
            limit = self.in_flight or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
            queue = list(enumerate(items))[::-1]  # pop() takes the next item in order
            running: dict[Any, int] = {}
            while queue or running:
                while queue and len(running) < limit:
                    index, item = queue.pop()
                    running[task.remote(item)] = index
                done, _ = ray.wait(list(running), num_returns=1)
                for reference in done:
                    index = running.pop(reference)
                    result: R | BaseException
                    try:
                        result = ray.get(reference)
                    except RayTaskError as error:
                        cause = error.as_instanceof_cause()
                        result = cause if isinstance(cause, BaseException) else error
                    except WorkerCrashedError as error:
                        result = WorkerDied(f"a Ray worker died running this item: {error}")
                    except RayError as error:  # e.g. an exception that cannot be unpickled
                        result = error
                    yield items[index], result
        finally:
            if started:
                ray.shutdown()


def make_executor(backend: str | None, workers: int, address: str | None = None) -> Executor:
    """The executor of `backend` ("sequential", "processes", "ray"; None: sequential for one worker,
    processes for more) with `workers` workers (local Ray CPUs); `address` only for ray."""
    if backend is None:
        backend = "sequential" if workers == 1 else "processes"
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ConfigError(f"--address is for the ray backend, not {backend}")
    if backend == "sequential":
        return SequentialExecutor()
    if backend == "processes":
        return ProcessExecutor(workers)
    return RayExecutor(address, workers if address is None else None)
