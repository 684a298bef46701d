"""Running the real `drivestack` console script in a subprocess, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DRIVESTACK = str(Path(sys.executable).parent / "drivestack")
"""The console script installed beside the interpreter running the tests."""


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `drivestack ARGS` in `cwd` with a wide terminal (tables do not wrap); output captured."""
    return subprocess.run(
        [DRIVESTACK, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )
