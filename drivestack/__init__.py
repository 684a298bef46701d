"""drivestack: an open, Python-first L4 decision-planning stack and driving-data platform."""

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def numba_cache_dir(package: Path, cache_home: Path) -> Path:
    """The folder numba keeps drivestack's compiled kernels in: one per state of the package's
    sources, because numba checks a cached kernel against its own file only and would keep using
    it after a compiled function it calls (in another file) changed."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return cache_home / "drivestack" / "numba" / digest.hexdigest()


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


_use_numba_cache_dir()
