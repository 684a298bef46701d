"""The limits of one store query, as configuration: engine memory, threads, wall time, rows shown.

Kept free of heavy imports, so the command line reads the defaults without loading DuckDB or Arrow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from drivestack.core.errors import ConfigError


@dataclass(frozen=True)
class QueryLimits:
    """What one query may use and show; exceeding a limit stops it with a StoreError naming the limit.

    `memory_mib`: DuckDB's memory limit [MiB]; the result held in Python counts against it too, and
    nothing spills to disk. `threads`: DuckDB worker threads. `timeout_s`: wall time [s] before the
    statement is interrupted. `table_rows`: rows `drivestack query` renders as a table (about 1 s
    of rendering for 500 `tracks` rows); longer results print their first rows and a hint to use
    `--format csv`, which writes every row.
    """

    memory_mib: int = 2048
    threads: int = min(4, os.cpu_count() or 1)
    timeout_s: float = 60.0
    table_rows: int = 500

    def __post_init__(self) -> None:
        if self.memory_mib < 16 or self.threads < 1 or not self.timeout_s > 0 or self.table_rows < 1:
            raise ConfigError(
                f"query limits out of range: memory {self.memory_mib} MiB (>= 16), threads {self.threads} "
                f"(>= 1), timeout {self.timeout_s} s (> 0), table rows {self.table_rows} (>= 1)"
            )
