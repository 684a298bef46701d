"""Compiled kernels are cached per state of the sources, so a change in one file recompiles the
kernels of every other file that calls into it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import drivestack
from drivestack import numba_cache_dir


def test_cache_folder_follows_every_source_file(tmp_path: Path) -> None:
    package, home = tmp_path / "pkg", tmp_path / "cache"
    (package / "core").mkdir(parents=True)
    (package / "core" / "dynamics.py").write_text("def law(): return 1\n")
    (package / "proposals.py").write_text("from core.dynamics import law\n")
    first = numba_cache_dir(package, home)
    assert first.parent == home / "drivestack" / "numba"
    assert numba_cache_dir(package, home) == first  # same sources, same kernels
    (package / "core" / "dynamics.py").write_text("def law(): return 2\n")
    assert numba_cache_dir(package, home) != first  # the caller's kernels are compiled afresh


def _fresh_interpreter_prints(script: str, cache_home: Path) -> str:
    """What `script` prints in a new interpreter, as a user's, whose cache home is `cache_home`."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache_home)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_kernels_are_cached_in_the_folder_of_the_installed_sources(tmp_path: Path) -> None:
    # importing drivestack points numba at the folder
    script = "from drivestack.core.dynamics import idm; print(idm.idm_law.stats.cache_path)"
    printed = _fresh_interpreter_prints(script, tmp_path)
    folder = numba_cache_dir(Path(drivestack.__file__).resolve().parent, tmp_path)
    assert Path(printed).is_relative_to(folder)


def test_an_unwritable_cache_home_leaves_numba_its_own_choice(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    script = "import os, drivestack; print(os.environ.get('NUMBA_CACHE_DIR', 'unset'))"
    assert _fresh_interpreter_prints(script, blocked) == "unset"
