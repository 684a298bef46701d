"""drivestack: an open, Python-first L4 decision-planning stack and driving-data platform."""

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def sources_digest(package: Path) -> str:
    """A hex digest of every Python source file of `package` (names and contents)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def numba_cache_dir(package: Path, cache_home: Path) -> Path:
    """The folder numba keeps drivestack's compiled kernels in: one per state of the package's
    sources, because numba checks a cached kernel against its own file only and would keep using
    it after a compiled function it calls (in another file) changed."""
    return cache_home / "drivestack" / "numba" / sources_digest(package)


def _use_numba_cache_dir() -> None:
    """Point numba at `numba_cache_dir` before it is imported anywhere, unless the user set
    NUMBA_CACHE_DIR or the folder cannot be written (numba then keeps its own choice)."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = numba_cache_dir(Path(__file__).resolve().parent, home)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(folder, os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = str(folder)


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables BLAS libraries read their thread count from when they load."""


def _use_one_blas_thread() -> None:
    """Run numpy's BLAS on one thread, unless the user set a thread count. drivestack's products are
    small (a planner's (B, N) x (N, N) filters every step) and a benchmark already runs one process
    per core: extra BLAS threads only spin against each other (a planning step took 4x the wall and
    3.5x the CPU time with OpenBLAS's default threads on two loaded cores). Takes effect only when
    drivestack is imported before numpy, as the CLI and its worker processes do."""
    if any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        return
    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = "1"


_use_numba_cache_dir()
_use_one_blas_thread()
