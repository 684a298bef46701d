"""The per-step result every metric returns: values on the run's steps and where they are defined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class StepValues:
    """A metric's value at each simulated step, `values` (T,) in the metric's unit, and `valid` (T,)
    marking the steps where it is defined (elsewhere `values` holds NaN or a neutral filler)."""

    values: FloatArray
    valid: BoolArray

    @staticmethod
    def everywhere(values: FloatArray) -> StepValues:
        """Values defined at every step."""
        return StepValues(np.asarray(values, dtype=np.float64), np.ones(len(values), dtype=bool))
