"""Scenarios per second of one core for the WOMD and ScenarioNet readers, on the sample files.

Run: `.venv/bin/python benchmarks/read_waymo_formats.py [DATA_ROOT] [--repeats 10]` (default
../shared/data). Every sample file each reader sniffs is read `repeats` times, the files taking
turns; the time is the process's CPU time (one core; the machine may be shared), and the rate is
scenarios per CPU second. Also prints each format's raw bytes per scenario.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import ModuleType

from drivestack.data.formats import scenarionet, womd

READERS: tuple[tuple[ModuleType, str], ...] = (
    (womd, "womd/*.tfrecord"),
    (scenarionet, "scenarionet/*/*.pkl"),
)


def readable(reader: ModuleType, root: Path, pattern: str) -> list[tuple[Path, str]]:
    """(file, member) of every scenario the reader reads among the files matching `pattern`."""
    found = []
    for path in sorted(root.glob(pattern)):
        if not reader.sniff(path):
            continue
        for member in reader.members(path):
            try:
                reader.read(path, member)
            except Exception:  # a file the reader rejects (the tf.Example sample) is not timed
                continue
            found.append((path, member))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    for reader, pattern in READERS:
        scenarios = readable(reader, args.root, pattern)
        if not scenarios:
            print(f"{reader.FORMAT}: no sample files under {args.root}")
            continue
        started = time.process_time()
        for _ in range(args.repeats):
            for path, member in scenarios:
                reader.read(path, member)
        seconds = time.process_time() - started
        count = args.repeats * len(scenarios)
        size = sum(path.stat().st_size for path in {path for path, _ in scenarios}) / len(scenarios)
        print(
            f"{reader.FORMAT}: {count} reads of {len(scenarios)} scenarios in {seconds:.2f} CPU s: "
            f"{count / seconds:.1f} scenarios/s per core ({1e3 * seconds / count:.0f} ms each), "
            f"{size / 1e6:.2f} MB raw per scenario"
        )


if __name__ == "__main__":
    main()
