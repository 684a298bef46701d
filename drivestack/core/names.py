"""Names that come from outside (file names on disk, ids read from data) made safe to store, print
and use as file names.

Two rules, one per direction:
- `display_text`: a file name (or a message naming one) as text for tables and messages. Bytes that
  are not UTF-8 (which Python carries as lone surrogates and which Arrow, JSON and terminals refuse)
  become `\\xNN`; control characters (newline, tab, escape, ...) become their backslash escapes, so
  a name is always one line.
- `safe_file_name`: an id (e.g. a CommonRoad `benchmarkID`) as one file name: only letters, digits,
  `_`, `-` and `.` (every other character becomes `_`), no leading dot (so never `..` nor hidden),
  never empty, at most `MAX_FILE_NAME` characters. A name that had to change gets `-` and the first
  8 hex digits of the id's sha256 appended, so two ids never share a file name by being cleaned alike.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

MAX_FILE_NAME = 96
"""Longest file-name stem `safe_file_name` returns [characters]; leaves room for suffixes and the
temporary-name prefixes writers add, well under the usual 255-byte limit."""
_HASH_DIGITS = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def display_text(path: str | Path) -> str:
    """`path` (or any text naming one) as valid, single-line UTF-8 text: undecodable bytes as `\\xNN`,
    control characters escaped (see the module docstring). For storing and printing only: open files
    by the path itself."""
    text = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def is_utf8(path: str | Path) -> bool:
    """Whether `path` is valid UTF-8 (Arrow and Parquet refuse to write under any other path)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_file_name(name: str) -> str:
    """`name` as a file name that stays in its folder (no separators, no `..`), at most
    `MAX_FILE_NAME` characters; unchanged when it is already such a name (see the module docstring)."""
    cleaned = _UNSAFE.sub("_", name).lstrip(".")
    if cleaned == name and 0 < len(name) <= MAX_FILE_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_DIGITS]
    stem = cleaned[: MAX_FILE_NAME - _HASH_DIGITS - 1] or "unnamed"
    return f"{stem}-{digest}"
