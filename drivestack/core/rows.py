"""Distinct rows of a batch, so that a compiled kernel whose rows do not depend on each other runs
once per distinct row: proposals often repeat (paths and speed profiles that coincide, e.g. every
target speed behind one binding leader)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


def distinct_rows(*arrays: NDArray[np.float64] | NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """The rows of `arrays` (each (B, ...), compared together) that differ bit for bit: the index of
    each distinct row (U,) in order of first occurrence (row 0 first) and each row's number among
    them (B,), so that `rows[first][number]` equals `rows`.

    Rows are grouped by their last and middle values of every float array, then each is checked
    against its group's first row in full; a row that differs stays a row of its own."""
    count = len(arrays[0])
    flat = [np.ascontiguousarray(array).reshape(count, int(np.prod(array.shape[1:]))) for array in arrays]
    words = [row.view(np.int64) if row.dtype == np.float64 else row.view(np.uint8) for row in flat]
    floats = [word for word in words if word.dtype == np.int64 and word.shape[1] > 0]
    keys = [word[:, column] for word in floats for column in (-1, word.shape[1] // 2)]
    everything = np.arange(count)
    if not keys or count == 0:
        return everything, everything
    order = np.lexsort(keys[::-1])  # stable: a group's rows in row order
    ordered = np.column_stack(keys)[order]
    starts = np.concatenate([[True], (ordered[1:] != ordered[:-1]).any(axis=1)])
    first = np.empty(count, dtype=np.int64)
    first[order] = order[starts][np.cumsum(starts) - 1]  # each row's group's first row
    repeats = np.flatnonzero(first != everything)
    same = np.ones(len(repeats), dtype=bool)
    for word in words:  # bit for bit, in full
        same &= (word[repeats] == word[first[repeats]]).all(axis=1)
    first[repeats[~same]] = repeats[~same]
    own = first == everything
    return np.flatnonzero(own), (np.cumsum(own) - 1)[first]
