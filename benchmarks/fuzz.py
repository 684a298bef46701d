"""Fuzz run: the whole hostile-file corpus of `tests/fuzz_corpus.py` through the real `drivestack`
command, each case in a subprocess limited in address space and time.

Prints the number of cases, crashes (a traceback or an exit code other than 0 / 1), hangs (over
`--hang` CPU seconds, 10 by default, or killed after 120 s of wall time), other problems (memory
beyond the bound, a refusal not said in one line naming the file), each problem, and the worst peak
resident memory per decompressed input size.
`tests/test_fuzz_cli.py` runs a seeded sample of the same cases in CI. Usage:

    .venv/bin/python benchmarks/fuzz.py [--per-kind 2] [--commands validate ingest simulate] [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_corpus import COMMANDS, Case, Verdict, corpus, judge, run

SIZE_BUCKETS = (100e3, 1e6, 10e6, 100e6, float("inf"))
"""Upper ends of the decompressed input sizes [bytes] the memory figures are grouped by."""


def one(command: str, case: Case, folder: Path, hang: float) -> tuple[str, Case, Verdict, int]:
    """(command, case, its verdict, its peak resident memory [bytes])."""
    outcome = run(COMMANDS[command], case, folder, timeout=max(120.0, 3 * hang))
    return command, case, judge(command, case, outcome, folder, hang), outcome.peak_bytes


def main() -> None:
    """Run every (command, case) pair and print the figures."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--per-kind", type=int, default=2, help="Cases per mutation kind and source file.")
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--jobs", type=int, default=2, help="Cases run at the same time.")
    parser.add_argument("--hang", type=float, default=10.0, help="A case slower than this hangs [s].")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cases = corpus(args.seed, args.per_kind)
    runnable = [(command, case) for command in args.commands for case in cases]
    pairs = [(command, case) for command, case in runnable if command != "simulate" or case.scenario]
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(one, command, case, Path(folder) / str(i), args.hang)
            for i, (command, case) in enumerate(pairs)
        ]
        results = [future.result() for future in futures]
    kinds: dict[str, int] = defaultdict(int)
    worst: dict[tuple[str, float], tuple[int, str]] = {}
    for command, case, verdict, peak in results:
        kinds[verdict.problem.split(" ", 1)[0] if verdict.problem else "ok"] += 1
        bucket = next(top for top in SIZE_BUCKETS if case.xml_size <= top)
        worst[command, bucket] = max(worst.get((command, bucket), (0, "")), (peak, case.name))
        if verdict.problem:
            print(f"PROBLEM {verdict.problem[:600]}")
    print(f"cases: {len(results)} ({', '.join(f'{n} {c}' for c, n in sorted(kinds.items()))})")
    print(f"crashes: {kinds['crash']}, hangs over {args.hang:g} CPU s: {kinds['hang']}")
    print("worst peak resident memory by decompressed input size:")
    for (command, bucket), (peak, name) in sorted(worst.items()):
        print(f"  {command:9s} input <= {bucket / 1e6:g} MB: {peak / 1e6:.0f} MB ({name})")


if __name__ == "__main__":
    main()
