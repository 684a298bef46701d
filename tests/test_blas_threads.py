"""Importing drivestack first runs numpy's BLAS on one thread, unless the user chose a thread count."""

from __future__ import annotations

import os
import subprocess
import sys

from drivestack import BLAS_THREAD_VARIABLES

SCRIPT = (
    "import os, drivestack\n"
    "print(' '.join(os.environ.get(name, '-') for name in drivestack.BLAS_THREAD_VARIABLES))"
)


def _printed(**chosen: str) -> list[str]:
    """The thread variables a new interpreter sees after importing drivestack, with `chosen` set."""
    env = {key: value for key, value in os.environ.items() if key not in BLAS_THREAD_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**env, **chosen}, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_blas_runs_on_one_thread_by_default() -> None:
    assert _printed() == ["1"] * len(BLAS_THREAD_VARIABLES)


def test_a_thread_count_the_user_set_is_kept() -> None:
    printed = _printed(OMP_NUM_THREADS="2")
    assert printed[BLAS_THREAD_VARIABLES.index("OMP_NUM_THREADS")] == "2"
    assert "1" not in printed  # and the other variables are left alone too
