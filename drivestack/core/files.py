"""File permissions for what drivestack writes: every file gets what the user's umask gives new files.

Atomic writes go through a temporary file; `tempfile.mkstemp` creates it readable by its owner only
(0600), so without a fix a picture or report renamed into place would be private while a Parquet
file beside it is not. `new_file_mode` is the mode `open()` would have given (0666 less the umask).
"""

from __future__ import annotations

import os
from pathlib import Path


def new_file_mode() -> int:
    """The permission bits a newly created file gets in this process: 0o666 less the umask."""
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


def as_new_file(path: str | Path) -> None:
    """Give `path` (a temporary file about to be renamed into place) the mode of a new file."""
    os.chmod(path, new_file_mode())
