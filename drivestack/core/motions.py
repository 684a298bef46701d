"""A vocabulary of ego motions: N short drives, each in the ego frame at its start, and its file.

Every motion starts at the origin heading along +x (x, y [m], yaw [rad] relative to the start pose,
yaw unwrapped), with the speed [m/s] the driver had; all share one time grid `times` (T,) [s] from 0
at a fixed step. `drivestack.data.vocabulary` mines them from the recorded drivers of a store;
`plan.drivestack.vocabulary` turns them into proposals at the ego's pose.

The file is a NumPy `.npz` archive read with `allow_pickle=False` (no Python object is ever
rebuilt from it), bounded in size and shape before anything is decompressed, and checked field by
field: a file that is not a vocabulary, is of another version or breaks an invariant is refused
with one line naming it.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivestack.core.errors import InputError
from drivestack.core.files import as_new_file

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

VOCABULARY_VERSION = 1
"""Version of the vocabulary file layout this drivestack reads and writes."""

MAX_MOTIONS = 100_000
MAX_SAMPLES = 2_000
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Bounds on a vocabulary file: motions, samples per motion, and decompressed bytes of all arrays."""

_ARRAYS = ("times", "x", "y", "yaw", "speed", "weight", "speed_edges")
_ORIGIN = 1e-6  # [m], [rad] how far from the origin a motion's first sample may be


@dataclass(frozen=True, eq=False)
class MotionVocabulary:
    """N motions over T samples: `times` (T,) [s] (0, dt, 2 dt, ...); `x`, `y` [m], `yaw` [rad],
    `speed` [m/s] (N, T) relative to each motion's start pose; `weight` (N,) how many recorded
    windows each motion stands for; `speed_edges` (K + 1,) [m/s] the start-speed bins it was mined
    in; `provenance`: where it came from (set, store, seed, counts), as JSON-able text values."""

    times: FloatArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray
    weight: IntArray
    speed_edges: FloatArray
    provenance: dict[str, str | int | float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of motions N."""
        return int(self.x.shape[0])

    @property
    def start_speed(self) -> FloatArray:
        """(N,) [m/s] the speed each motion starts from."""
        return self.speed[:, 0]

    @property
    def horizon(self) -> float:
        """[s] the time the motions cover."""
        return float(self.times[-1])

    @property
    def dt(self) -> float:
        """[s] the step of the time grid."""
        return float(self.times[1] - self.times[0])

    def check(self, where: str | Path = "vocabulary") -> MotionVocabulary:
        """`self` when its invariants hold (shapes, finite values, an even time grid from 0, motions
        starting at the origin with non-negative speeds, positive weights, increasing bins); else
        InputError naming `where` and the broken one."""
        times = self.times
        if times.ndim != 1 or not 2 <= len(times) <= MAX_SAMPLES:
            raise InputError(where, "times", f"expected 2 to {MAX_SAMPLES} samples, got shape {times.shape}")
        shape = (self.size, len(times))
        if not 1 <= self.size <= MAX_MOTIONS:
            raise InputError(where, "x", f"expected 1 to {MAX_MOTIONS} motions, got {self.size}")
        for name in ("x", "y", "yaw", "speed"):
            values = getattr(self, name)
            if values.shape != shape:
                raise InputError(where, name, f"expected shape {shape}, got {values.shape}")
        for name in _ARRAYS:
            if not np.isfinite(getattr(self, name)).all():
                raise InputError(where, name, "holds NaN or infinite values")
        step = np.diff(times)
        if abs(float(times[0])) > 1e-9 or step[0] <= 0.0 or np.abs(step - step[0]).max() > 1e-6 * step[0]:
            raise InputError(where, "times", "expected an evenly spaced grid starting at 0 s")
        start = np.abs(np.stack([self.x[:, 0], self.y[:, 0], self.yaw[:, 0]]))
        if start.max() > _ORIGIN:
            raise InputError(where, "x", "every motion must start at the origin, heading along +x")
        if (self.speed < 0.0).any():
            raise InputError(where, "speed", "speeds must not be negative")
        if self.weight.shape != (self.size,) or (self.weight < 1).any():
            raise InputError(where, "weight", f"expected {self.size} counts of at least 1")
        edges = self.speed_edges
        if edges.ndim != 1 or len(edges) < 2 or (np.diff(edges) <= 0.0).any():
            raise InputError(where, "speed_edges", "expected at least two increasing speeds")
        return self


def save_vocabulary(vocabulary: MotionVocabulary, path: str | Path) -> Path:
    """Write `vocabulary` (checked first) to `path` atomically: a compressed `.npz` beside it, then a
    rename, so a reader sees the old file or the new one, never half of one."""
    target = Path(path)
    vocabulary.check(target)
    arrays: dict[str, Any] = {name: np.ascontiguousarray(getattr(vocabulary, name)) for name in _ARRAYS}
    meta = json.dumps({"version": VOCABULARY_VERSION, "provenance": vocabulary.provenance}, sort_keys=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, meta=np.array(meta), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        as_new_file(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def load_vocabulary(path: str | Path) -> MotionVocabulary:
    """The vocabulary in `path`; InputError (one line naming the file) when it is missing, not a
    vocabulary `.npz`, too large, holds Python objects, is of another version, or breaks an
    invariant (see `MotionVocabulary.check`)."""
    source = Path(path)
    if not source.is_file():
        raise InputError(source, None, "no such vocabulary file")
    try:
        with zipfile.ZipFile(source) as archive:
            members = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise InputError(source, None, f"not a vocabulary file (an .npz archive): {error}") from None
    expected = {f"{name}.npy" for name in ("meta", *_ARRAYS)}
    if set(members) != expected:
        found = ", ".join(sorted(members)[:8]) or "nothing"
        raise InputError(source, None, f"not a vocabulary file: holds {found}")
    if sum(members.values()) > MAX_FILE_BYTES:
        raise InputError(source, None, f"arrays larger than {MAX_FILE_BYTES >> 20} MiB once decompressed")
    try:
        with np.load(source, allow_pickle=False) as archive:
            meta = archive["meta"]
            if meta.dtype.kind != "U" or meta.ndim != 0:
                raise InputError(source, "meta", "expected one text value")
            header = json.loads(str(meta))
            _check_header(source, header)
            arrays = {name: archive[name] for name in _ARRAYS}
    except InputError:
        raise
    except (ValueError, OSError, EOFError, RecursionError, zipfile.BadZipFile) as error:
        reason = "holds Python objects (refused)" if "allow_pickle" in str(error) else f"damaged ({error})"
        raise InputError(source, None, f"not a readable vocabulary file: {reason}") from None
    for name, values in arrays.items():
        if values.dtype.kind not in "fiu":
            raise InputError(source, name, f"expected numbers, got dtype {values.dtype}")
    vocabulary = MotionVocabulary(
        times=arrays["times"].astype(np.float64),
        x=arrays["x"].astype(np.float64),
        y=arrays["y"].astype(np.float64),
        yaw=arrays["yaw"].astype(np.float64),
        speed=arrays["speed"].astype(np.float64),
        weight=arrays["weight"].astype(np.int64),
        speed_edges=arrays["speed_edges"].astype(np.float64),
        provenance=header["provenance"],
    )
    return vocabulary.check(source)


def _check_header(source: Path, header: object) -> None:
    """InputError unless `header` is {"version": VOCABULARY_VERSION, "provenance": {text: scalar}}."""
    if not isinstance(header, dict) or "version" not in header:
        raise InputError(source, "meta", "no version: not a vocabulary file")
    version = header["version"]
    if version != VOCABULARY_VERSION:
        shown = version if isinstance(version, int) and not isinstance(version, bool) else "unknown"
        raise InputError(
            source, "meta", f"vocabulary version {shown}, this drivestack reads version {VOCABULARY_VERSION}"
        )
    provenance = header.get("provenance")
    if not isinstance(provenance, dict) or not all(
        isinstance(value, str | int | float) and not isinstance(value, bool) for value in provenance.values()
    ):
        raise InputError(source, "meta", "provenance must map names to text or numbers")
