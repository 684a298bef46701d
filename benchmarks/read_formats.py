"""Every format's read rate on one core, and its store size against the raw files.

Run: `.venv/bin/python benchmarks/read_formats.py [DATA_ROOT] [--repeats 5] [--baseline TREE]`
(default ../shared/data: `womd`, `scenarionet`, `argoverse2`, `commonroad-io-tests`).

1. Read rate: every scenario the registry finds in a format's folder (members of multi-scenario
   files one by one; a scenario the reader rejects, like the cut-off tf.Example sample, is named
   and not timed) is read `--repeats` times, the scenarios taking turns; the rate is scenarios per
   CPU second of this process (one core; the machine may be shared).
2. Store size: each format's readable units are ingested into a fresh store (one worker); its
   bytes on disk (every committed file and the manifest) against the raw bytes of those units'
   files (`registry.unit_files`, what ingest hashes). Goal: store no larger than raw.

With `--baseline TREE` (a checkout of another commit, e.g. `git archive main | tar -x -C /tmp/base`)
the rates are measured `--rounds` times alternately in child processes importing TREE's drivestack
and this tree's, and the store sizes once for each.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drivestack.core.errors import DrivestackError
from drivestack.data.formats.registry import read_unit, unit_files, unit_members
from drivestack.data.ingest import ingest
from drivestack.data.sources import discover
from drivestack.data.store import Store

FOLDERS = {
    "womd": "womd",
    "scenarionet": "scenarionet",
    "av2": "argoverse2",
    "commonroad": "commonroad-io-tests",
}
"""Format name -> its sample folder under the data root."""
HERE = Path(__file__).resolve().parents[1]


def readable(folder: Path) -> tuple[list[tuple[Path, str, str | None, tuple[Path, ...]]], list[str]]:
    """(unit, format, member, solutions) of every scenario under `folder` that reads, and the
    one-line reasons of those that do not."""
    found, rejected = [], []
    for unit in discover([folder]).sources:
        for member in unit_members(unit.scenario, unit.format):
            try:
                read_unit(unit.scenario, unit.format, member, unit.solutions)
            except DrivestackError as error:
                rejected.append(str(error))
                continue
            found.append((unit.scenario, unit.format, member, unit.solutions))
    return found, rejected


def rates(root: Path, repeats: int, formats: list[str]) -> dict[str, dict[str, float]]:
    """Per format: scenarios read, CPU seconds, scenarios per CPU second."""
    result = {}
    for name, sub in FOLDERS.items():
        if name not in formats or not (root / sub).is_dir():
            continue
        scenarios, rejected = readable(root / sub)
        if not scenarios:
            continue
        started = time.process_time()
        for _ in range(repeats):
            for unit, format_name, member, solutions in scenarios:
                read_unit(unit, format_name, member, solutions)
        seconds = time.process_time() - started
        count = repeats * len(scenarios)
        result[name] = {"scenarios": len(scenarios), "rejected": len(rejected), "cpu_s": seconds}
        result[name]["rate"] = count / seconds
    return result


def sizes(root: Path, formats: list[str]) -> dict[str, dict[str, int]]:
    """Per format: raw bytes of the readable units' files (and decompressed, for gzip files) and bytes
    of a fresh store holding them."""
    result = {}
    for name, sub in FOLDERS.items():
        if name not in formats or not (root / sub).is_dir():
            continue
        scenarios, _ = readable(root / sub)
        units = sorted({(unit, format_name, solutions) for unit, format_name, _, solutions in scenarios})
        files = {
            path
            for unit, format_name, solutions in units
            for path in (*unit_files(unit, format_name), *solutions)
        }
        raw = sum(path.stat().st_size for path in files)
        unpacked = sum(
            len(gzip.decompress(path.read_bytes())) if path.suffix == ".gz" else path.stat().st_size
            for path in files
        )
        with tempfile.TemporaryDirectory() as folder:
            store = Store.open(Path(folder) / "store", create=True)
            report = ingest([unit for unit, _, _ in units], store, workers=1)
            stored = sum(path.stat().st_size for path in store.root.rglob("*") if path.is_file())
        result[name] = {"scenarios": len(report.added), "raw": raw, "unpacked": unpacked, "store": stored}
    return result


def child(tree: Path, root: Path, what: str, repeats: int, formats: list[str]) -> dict[str, dict[str, float]]:
    """`what` ("rates" or "sizes") measured by a child process importing `tree`'s drivestack."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        str(root),
        "--child",
        what,
        "--repeats",
        str(repeats),
        "--formats",
        *formats,
    ]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True, cwd=tree).stdout
    result: dict[str, dict[str, float]] = json.loads(output.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=HERE / ".." / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another drivestack tree to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds with --baseline")
    parser.add_argument("--formats", nargs="+", choices=tuple(FOLDERS), default=tuple(FOLDERS))
    parser.add_argument("--no-sizes", action="store_true", help="read rates only")
    parser.add_argument("--child", choices=("rates", "sizes"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.root.resolve()
    if args.child:
        print(
            json.dumps(
                rates(root, args.repeats, args.formats)
                if args.child == "rates"
                else sizes(root, args.formats)
            )
        )
        return
    trees = (
        {"this tree": HERE}
        if args.baseline is None
        else {"baseline": args.baseline.resolve(), "this tree": HERE}
    )
    print(f"data: {root}; load average {os.getloadavg()[0]:.2f} (other work slows CPU-second rates too)")
    print("\nread rate, one core (scenarios per CPU second)")
    for round_ in range(args.rounds if args.baseline else 1):
        for label, tree in trees.items():
            for name, row in child(tree, root, "rates", args.repeats, args.formats).items():
                print(
                    f"  round {round_ + 1} {label:9s} {name:12s} {row['rate']:7.1f}/s  "
                    f"({row['scenarios']:.0f} scenarios x {args.repeats}, {row['cpu_s']:.2f} CPU s, "
                    f"{row['rejected']:.0f} rejected)"
                )
    if args.no_sizes:
        return
    print("\nstore size against the raw files (goal: store <= raw)")
    for label, tree in trees.items():
        for name, row in child(tree, root, "sizes", args.repeats, args.formats).items():
            ratio = row["store"] / row["raw"]
            print(
                f"  {label:9s} {name:12s} {row['scenarios']:.0f} scenarios: raw {row['raw'] / 1e6:6.2f} MB, "
                f"store {row['store'] / 1e6:6.2f} MB ({ratio:.2f} x raw"
                + (
                    f", {row['store'] / row['unpacked']:.2f} x decompressed)"
                    if row["unpacked"] != row["raw"]
                    else ")"
                )
            )


if __name__ == "__main__":
    main()
