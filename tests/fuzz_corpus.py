"""Hostile CommonRoad files made from recorded ones by code (nothing binary is committed), and a runner
that feeds them to the real `drivestack` command in bounded subprocesses.

`corpus(seed, per_kind)` mutates small recorded files of several datasets: truncations and byte flips
(of the XML and of the gzip stream), duplicated elements, giant and non-finite numbers, deep nesting,
huge element counts (the 80 MB `<a/>` bomb of issue 21 item 2 among them), far time steps and goal
windows (item 3), absurd time step sizes (item 7), other encodings (UTF-16, UTF-32, UTF-7, EBCDIC,
Latin-1) and odd file names. `run(command, case, folder)` writes a case and runs `drivestack <command>`
on it with an address-space limit (RLIMIT_AS) and a timeout, and returns its exit code, output, wall
time and peak resident memory (from `wait4`). Imported by `tests/test_fuzz_cli.py` (a seeded sample)
and `benchmarks/fuzz.py` (the whole corpus).
"""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from recorded_data import COMMONROAD_ROOT

DRIVESTACK = str(Path(sys.executable).parent / "drivestack")
LAUNCHER = Path(__file__).with_name("measured_launch.py")
SCENARIOS = (  # small files of four datasets and both format versions
    "highd/scenarios/DEU_LocationCUpper6-1_65865_T-5940.cr.xml.gz",
    "mona/scenarios/C-DEU_MONAMerge-2_2320_T-2365.xml.gz",
    "ngsim/2018b/USA_Peach-1_1_T-1.xml.gz",
    "sind/scenarios/CHN_SIND-852_2331_T-2334.cr.xml.gz",
)
SOLUTION = "highd/solutions/DEU_LocationCUpper6-1_65865_T-5940.solution.xml.gz"
GIANT_NUMBERS = ("1e308", "-1e308", "1e300", "99999999999999999999", "1e-320", "nan", "inf", "1e7", "")
MEMORY_LIMIT = 3 * 1024**3
"""Address space a case's process may reserve [bytes]; the unfixed reader needed 2.8 GB resident."""
COMMANDS = {
    "validate": ["validate", "--workers", "1"],
    "ingest": ["ingest", "--workers", "1", "--store", "store"],
    "simulate": ["simulate", "--planner", "constant-velocity"],
}
FOOTPRINT_MARGIN = 1.25
"""How far above its footprint (`footprint`: its peak on the unmodified file) a command may peak."""
MEMORY_PER_XML_BYTE = 4
"""Peak resident memory a case may add per byte of its decompressed document."""

_NUMBER = re.compile(rb">(-?[0-9][0-9.eE+-]*)<")
_LEAF = re.compile(rb"<(x|y|exact|length|width|radius|time)>[^<]*</\1>")
_BLOCK = re.compile(rb"<(state|point|lanelet|dynamicObstacle|ksState)[ >].*?</\1>", re.DOTALL)


@dataclass(frozen=True)
class Case:
    """One hostile file: `name` (unique, for reports), the `kind` of mutation, the file name to write,
    its bytes, the size of its decompressed document [bytes], and whether it is a scenario file."""

    name: str
    kind: str
    file_name: str
    data: bytes
    xml_size: int
    scenario: bool = True


@dataclass(frozen=True)
class Outcome:
    """What one `drivestack` run did: exit code (None: killed at the timeout), its output, wall time and
    CPU time [s] (on a shared machine the CPU time is what the case costs), peak resident memory [bytes]."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float
    peak_bytes: int


@dataclass(frozen=True)
class Verdict:
    """How a run went: `problem` ("" when none: "hang", "crash", "memory" or "output" with details),
    and the one line saying why the file was refused ("" when it was accepted)."""

    problem: str
    line: str


@cache
def original(name: str) -> bytes:
    """The decompressed XML of a recorded file."""
    return gzip.decompress((COMMONROAD_ROOT / name).read_bytes())


def _root_split(xml: bytes) -> tuple[bytes, bytes, bytes]:
    """(prolog and root start tag, content, closing root tag) of a document."""
    start = xml.index(b"<commonRoad") if b"<commonRoad" in xml else xml.index(b"<CommonRoadSolution")
    head_end = xml.index(b">", start) + 1
    tail_start = xml.rindex(b"</")
    return xml[:head_end], xml[head_end:tail_start], xml[tail_start:]


def truncate(xml: bytes, rng: random.Random) -> bytes:
    return xml[: rng.randrange(len(xml))]


def flip_bytes(xml: bytes, rng: random.Random) -> bytes:
    data = bytearray(xml)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    return bytes(data)


def duplicate_element(xml: bytes, rng: random.Random) -> bytes:
    """One leaf (a coordinate, a time) or block (a state, a lanelet) repeated up to 2,000 times."""
    pattern = rng.choice((_LEAF, _BLOCK))
    found = list(pattern.finditer(xml))
    match = rng.choice(found)
    copies = rng.choice((2, 20, 2000))
    return xml[: match.end()] + match.group(0) * copies + xml[match.end() :]


def giant_number(xml: bytes, rng: random.Random) -> bytes:
    """Up to three numbers replaced by huge, tiny, non-finite or empty ones."""
    found = list(_NUMBER.finditer(xml))
    for match in sorted(rng.sample(found, min(3, len(found))), key=lambda m: -m.start()):
        token = rng.choice(GIANT_NUMBERS).encode()
        xml = xml[: match.start(1)] + token + xml[match.end(1) :]
    return xml


def deep_nesting(xml: bytes, rng: random.Random) -> bytes:
    depth = rng.choice((100, 300, 100_000))
    head, content, tail = _root_split(xml)
    return head + b"<a>" * depth + b"</a>" * depth + content + tail


def empty_elements(xml: bytes, count: int) -> bytes:
    """`count` tiny empty elements `<a/>` inserted at the start of the root (item 2's bomb: 20 million,
    80 MB, under 100 kB gzipped)."""
    head, content, tail = _root_split(xml)
    return head + b"<a/>" * count + content + tail


def huge_count(xml: bytes, rng: random.Random) -> bytes:
    return empty_elements(xml, rng.choice((100_000, 3_000_000, 20_000_000)))


def far_steps(xml: bytes, far: int) -> bytes:
    """The last time step of the document's obstacles (or solution states) and its goal windows' ends
    moved to step `far` (item 3)."""
    obstacles = xml[: xml.find(b"<planningProblem")] if b"<planningProblem" in xml else xml
    steps = list(re.finditer(rb"<time>\s*<exact>\s*(\d+)\s*</exact>", obstacles)) or list(
        re.finditer(rb"<time>(\d+)</time>", obstacles)
    )
    last, text = steps[-1], str(far).encode()
    xml = xml[: last.start(1)] + text + xml[last.end(1) :]
    return re.sub(
        rb"<intervalEnd>\s*\d+\s*</intervalEnd>(\s*</time>)",
        rb"<intervalEnd>" + text + rb"</intervalEnd>\1",
        xml,
    )


def far_time_step(xml: bytes, rng: random.Random) -> bytes:
    return far_steps(xml, rng.choice((999_999, 1_000_001, 2**63 - 1)))


def time_step_size(xml: bytes, rng: random.Random) -> bytes:
    value = rng.choice((b"1e300", b"1e-300", b"0", b"-0.1", b"100000", b"nan"))
    return re.sub(rb'timeStepSize="[^"]*"', b'timeStepSize="' + value + b'"', xml, count=1)


def encoding(xml: bytes, rng: random.Random) -> bytes:
    """The document in another encoding (declared in an XML declaration where it needs one)."""
    text = xml.decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    name = rng.choice(("utf-16", "utf-32", "utf-16-be", "latin-1", "utf-7", "cp037", "utf-8-sig"))
    declared = f'<?xml version="1.0" encoding="{name}"?>\n'
    if name in ("utf-16-be", "latin-1", "utf-7", "cp037"):
        text = declared + text.replace('author="', 'author="Zoë ', 1)
    return text.encode(name)


def odd_name(xml: bytes, rng: random.Random) -> bytes:
    """The document unchanged (`case` gives it an odd file name)."""
    return xml


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": truncate,
    "flip_bytes": flip_bytes,
    "duplicate_element": duplicate_element,
    "giant_number": giant_number,
    "deep_nesting": deep_nesting,
    "huge_count": huge_count,
    "far_time_step": far_time_step,
    "time_step_size": time_step_size,
    "encoding": encoding,
    "odd_name": odd_name,
}
GZIP_MUTATIONS = ("gzip_truncate", "gzip_flip")
ODD_NAMES = ("with space.xml", "ünïcödé.xml.gz", "-leading-dash.xml", "x" * 200 + ".xml", "UPPER.XML.GZ")


def case(source: str, kind: str, number: int, seed: int) -> Case:
    """Mutation `kind` number `number` of recorded file `source` (deterministic in `seed`)."""
    rng = random.Random(f"{seed}/{source}/{kind}/{number}")
    xml = original(source)
    stem = Path(source).name.split(".")[0]
    name = f"{stem}/{kind}-{number}"
    if kind in GZIP_MUTATIONS:
        packed = gzip.compress(xml, mtime=0)
        cut = rng.randrange(10, len(packed))
        data = packed[:cut] if kind == "gzip_truncate" else flip_bytes(packed, rng)
        return Case(name, kind, f"{stem}.xml.gz", data, len(xml), source != SOLUTION)
    mutated = MUTATIONS[kind](xml, rng)
    file_name = rng.choice(ODD_NAMES) if kind == "odd_name" else f"{stem}.xml.gz"
    data = gzip.compress(mutated, mtime=0) if file_name.lower().endswith(".gz") else mutated
    return Case(name, kind, file_name, data, len(mutated), source != SOLUTION)


def corpus(seed: int, per_kind: int, kinds: tuple[str, ...] = (*MUTATIONS, *GZIP_MUTATIONS)) -> list[Case]:
    """`per_kind` cases of every mutation kind for every source file (scenarios and one solution)."""
    return [
        case(source, kind, number, seed)
        for source in (*SCENARIOS, SOLUTION)
        for kind in kinds
        for number in range(per_kind)
    ]


def run(command: list[str], case: Case, folder: Path, timeout: float = 120.0) -> Outcome:
    """`drivestack <command> <file>` on `case` written into `folder` (e.g. ["validate", "--workers",
    "1"]), its address space limited to `MEMORY_LIMIT` (through `measured_launch.py`, which measures the
    command's own CPU time and peak memory); killed after `timeout` seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.file_name
    path.write_bytes(case.data)
    out, err, report = folder / "stdout.txt", folder / "stderr.txt", folder / "usage.txt"
    report.unlink(missing_ok=True)
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    launch = [sys.executable, str(LAUNCHER), str(MEMORY_LIMIT), str(report), DRIVESTACK, *command, str(path)]
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            launch, stdout=stdout, stderr=stderr, cwd=folder, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seconds = time.perf_counter() - started
    text = out.read_text(errors="replace"), err.read_text(errors="replace")
    path.unlink()
    if not report.exists():  # killed at the timeout
        return Outcome(None, text[0], text[1], seconds, seconds, 0)
    code, cpu, peak_kib = report.read_text().split()
    return Outcome(int(code), text[0], text[1], seconds, float(cpu), int(peak_kib) * 1024)


def steady_run(command: list[str], case: Case, folder: Path) -> Outcome:
    """`run` twice, the second measured: the first compiles (and caches) the numba kernels the case
    needs, so the measured peak is the command's own, not the compiler's, whichever test or xdist
    worker happened to compile which kernel first (compiling added ~60 MB to `simulate`: 421 -> 483 MB)."""
    run(command, case, folder)
    return run(command, case, folder)


@cache
def footprint(command: str) -> int:
    """Steady peak resident memory [bytes] of `command` on the unmodified first recorded file, measured here:
    what the interpreter and libraries take differs between machines and fresh environments (127 MB
    for validate in one venv, 297 MB in a new clone of the same code), so budgets are relative to it."""
    xml = original(SCENARIOS[0])
    plain = Case("plain", "none", "plain.xml.gz", gzip.compress(xml, mtime=0), len(xml))
    with tempfile.TemporaryDirectory(prefix="drivestack-footprint-") as folder:
        outcome = steady_run(COMMANDS[command], plain, Path(folder))
    assert outcome.code == 0, f"{command} on an unmodified file: {outcome.stderr}"
    return outcome.peak_bytes


def memory_budget(command: str, xml_size: int) -> float:
    """Peak resident memory [bytes] `command` may reach on a document of `xml_size` bytes."""
    return FOOTPRINT_MARGIN * footprint(command) + MEMORY_PER_XML_BYTE * xml_size


def judge(command: str, case: Case, outcome: Outcome, folder: Path, seconds: float) -> Verdict:
    """What every run of `command` on `case` (written into `folder`) must do: finish within `seconds` of
    CPU time (and before `run`'s wall-clock timeout), exit 0 (accepted) or 1 (refused) without a
    traceback, stay within its footprint plus `MEMORY_PER_XML_BYTE` per document byte, and say why it
    refused the file in one line naming it."""
    tail = f"{command} {case.name}: {outcome.stderr[-1500:]}"
    if outcome.code is None or outcome.cpu_seconds > seconds:
        return Verdict(f"hang ({outcome.cpu_seconds:.1f} CPU s, {outcome.seconds:.1f} s): {tail}", "")
    if outcome.code not in (0, 1) or "Traceback" in outcome.stderr:
        return Verdict(f"crash (exit {outcome.code}): {tail}", "")
    if outcome.peak_bytes > memory_budget(command, case.xml_size):
        return Verdict(f"memory ({outcome.peak_bytes / 1e6:.0f} MB): {tail}", "")
    path = folder / case.file_name
    errors = [line for line in outcome.stderr.splitlines() if line.strip()]
    if command == "validate":
        lines = outcome.stdout.splitlines()
        accepted = outcome.code == 0 and lines == ["1 loaded, 0 rejected"]
        refused = len(lines) == 2 and lines[0].startswith(f"{path}: ") and lines[1] == "0 loaded, 1 rejected"
        line = lines[0] if refused and outcome.code == 1 else ""
        ok = not errors and (accepted or bool(line))
    elif command == "ingest":
        rejected = [line for line in outcome.stdout.splitlines() if line.startswith("rejected ")]
        line = rejected[0] if len(rejected) == 1 else ""
        summary = ["1 file(s) rejected (see above)"] if rejected else []
        accepted = outcome.code == 0 and not rejected
        refused = outcome.code == 1 and line.startswith(f"rejected {path.resolve()}: ")
        ok = errors == summary and (accepted or refused)
    else:
        line = errors[0] if len(errors) == 1 else ""
        ok = len(errors) <= 1 and (not errors or line.startswith(f"error: {path}: "))
    return Verdict("" if ok else f"output: {tail} {outcome.stdout[-1500:]}", line)
