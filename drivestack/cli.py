"""The `drivestack` command line: thin typer commands over the library."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.text import Text

# typer (0.29) vendors click; its usage errors are only importable from there
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from drivestack.core.errors import ConfigError, DrivestackError
from drivestack.core.limits import DEFAULT_RUN_LIMITS
from drivestack.core.names import display_text
from drivestack.data.query_limits import QueryLimits

if TYPE_CHECKING:
    import pyarrow as pa

    from drivestack.data.query import OutputFormat
    from drivestack.plan import PlannerOptions
    from drivestack.sim.world import SimConfig

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help=__doc__,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[default: ...]" literally
)
# markup off: text from data (ids, file names, values, units such as "[s]") prints literally; style with Text
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)
QUERY_LIMITS = QueryLimits()


def _bar(label: str) -> Progress:
    """A progress bar on stderr (shown only on a terminal, gone when done): label, bar, count, time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err_console, transient=True)


_SUFFIXES = {"gif": (".gif",), "mp4": (".mp4",), "mcap": (".mcap",), "png": (".png",)}


def _check_output(option: str, path: Path, suffix: str | None = None) -> None:
    """ConfigError before any work when `path` cannot be the file `--option` writes: wrong suffix (the
    option's, or `suffix`), a folder, or under a file or a folder this user cannot write."""
    import os

    shown = display_text(path)
    expected = (suffix,) if suffix is not None else _SUFFIXES.get(option, (path.suffix.lower(),))
    if path.suffix.lower() not in expected:
        raise ConfigError(f"--{option} {shown}: expected a file name ending in {expected[0]}")
    if path.is_dir():
        raise ConfigError(f"--{option} {shown}: is a folder, expected a file name")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"--{option} {shown}: {display_text(folder)} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--{option} {shown}: cannot write in {display_text(folder)}")


@app.command()
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Scenario units (files or folders of any format), solution files, or folders."),
    ],
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes [default: CPU count].")] = None,
) -> None:
    """Load every scenario (each of a multi-scenario file) and solution file; print each rejected one
    (path, or path#member), each warning (what was dropped while a file still loaded) and a final
    count."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from drivestack.data.validate import validate as validate_files

    columns = (TextColumn("validating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("validate", total=None)
        report = validate_files(
            paths,
            workers=workers,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    for rejection in report.rejected:
        typer.echo(f"{display_text(rejection.label)}: {rejection.reason}")
    for warning in report.warnings:
        typer.echo(f"warning: {display_text(str(warning))}")
    warned = f", {len(report.warnings)} warnings" if report.warnings else ""
    typer.echo(f"{report.loaded} loaded, {len(report.rejected)} rejected{warned}")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Argument(help="Folder for scenarios/ and solutions/.")],
    kind: Annotated[str, typer.Option(help="highway, merge or intersection.")] = "intersection",
    count: Annotated[int, typer.Option(min=0, help="Number of scenarios.")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Seed (same seed, same scenarios).")] = 0,
    gzip: Annotated[bool, typer.Option(help="Write .xml.gz instead of .xml.")] = False,
) -> None:
    """Generate procedural CommonRoad scenarios with traffic, lights, a planning problem and a
    recorded human-like ego (solution file)."""
    from drivestack.data.generate import generate as generate_files

    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{display_text(out_dir)}: is a file, expected a folder for the scenarios")
    with _bar("generating") as progress:
        task = progress.add_task("generate", total=count)
        written = generate_files(
            out_dir,
            kind,
            count,
            seed,
            compress=gzip,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    for files in written:
        console.print(f"{display_text(files.scenario)}  {display_text(files.solution.name)}", highlight=False)
    if not written:
        err_console.print("--count 0: no scenario generated", highlight=False)


# --------------------------------------------------------------------------- scenario store

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Store directory [default: $DRIVESTACK_STORE, else ./drivestack-store]."),
]
WhereOption = Annotated[str | None, typer.Option("--where", help="SQL condition on `scenarios` columns.")]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", help="Required tag, file or mined (repeatable: all must hold).")
]
BackendOption = Annotated[
    str | None,
    typer.Option(help="sequential, processes or ray [default: sequential for 1 worker, else processes]."),
]
AddressOption = Annotated[
    str | None, typer.Option(help="Ray cluster address (ray backend) [default: a local Ray].")
]


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Scenario units (files or folders of any format), folders; solutions matched."),
    ],
    store: StoreOption = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Workers (processes or local Ray CPUs) [default: CPU count].")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Scenarios per committed batch.")] = 32,
    backend: BackendOption = None,
    address: AddressOption = None,
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="Exit 0 even when files were rejected (pipelines).")
    ] = False,
) -> None:
    """Ingest recorded scenarios of any format into the store: skips stored content, rejects bad and
    unknown files with reasons (exit 1 when any file was rejected, unless --allow-rejects)."""
    import os

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from drivestack.data.ingest import ingest as ingest_paths
    from drivestack.data.store import Store

    opened = Store.open(store, create=True)
    columns = (
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} scenarios/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("ingest", total=None, rate="-")

        def advance(done: int, total: int) -> None:
            speed = progress.tasks[0].speed
            progress.update(task, completed=done, total=total, rate=f"{speed:.1f}" if speed else "-")

        report = ingest_paths(
            paths,
            opened,
            workers=workers or os.cpu_count() or 1,
            batch_size=batch_size,
            progress=advance,
            backend=backend,
            address=address,
        )
    from rich.table import Table

    summary = Table(title=f"ingest into {opened.root} ({report.seconds:.1f} s)")
    summary.add_column("result")
    summary.add_column("files", justify="right")
    summary.add_column("detail")
    summary.add_row("added", str(len(report.added)), f"{report.track_rows} track rows")
    stored = sum(skip.stored is not None for skip in report.skipped)
    detail = f"{stored} already stored, {len(report.skipped) - stored} repeated in this run"
    summary.add_row("skipped", str(len(report.skipped)), detail)
    summary.add_row("rejected", str(len(report.rejected)), "")
    summary.add_row("warnings", str(len(report.warnings)), "dropped or guessed in added files")
    console.print(summary)
    for rejection in report.rejected:
        console.print(f"rejected {rejection.file}: {rejection.reason}", highlight=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"warning: {display_text(str(warning))}", highlight=False, soft_wrap=True)
    if report.rejected and not allow_rejects:
        err_console.print(f"{len(report.rejected)} file(s) rejected (see above)", highlight=False)
        raise typer.Exit(code=1)


@app.command()
def scenarios(
    store: StoreOption = None,
    where: WhereOption = None,
    tag: TagOption = None,
    set_name: Annotated[str | None, typer.Option("--set", help="Only members of this set.")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many (in key order).")] = None,
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """List the stored scenarios matching the filters (a table whose keys never wrap, CSV or JSON)."""
    from drivestack.data.query import check_tags, output_format, scenario_summary
    from drivestack.data.store import ScenarioFilter, Store

    chosen = output_format(output)
    opened = Store.open(store)
    check_tags(opened, tag or ())
    flt = ScenarioFilter(where=where, tags=tuple(tag or ()), set_name=set_name, limit=limit)
    _print_result(scenario_summary(opened, flt), chosen, "scenarios")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One read-only SELECT, PIVOT or EXPLAIN over the store views.")],
    store: StoreOption = None,
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    memory_mib: Annotated[int, typer.Option(min=16, help="Memory limit [MiB].")] = QUERY_LIMITS.memory_mib,
    threads: Annotated[int, typer.Option(min=1, help="Worker threads.")] = QUERY_LIMITS.threads,
    timeout: Annotated[float, typer.Option(min=0.001, help="Wall-time limit [s].")] = QUERY_LIMITS.timeout_s,
    table_rows: Annotated[
        int, typer.Option(min=1, help="Rows shown as a table; csv and json write every row.")
    ] = QUERY_LIMITS.table_rows,
) -> None:
    """Run read-only SQL over the store (views: scenarios, tracks, lanes, goals, tags, sets, ...)."""
    from drivestack.data.query import output_format
    from drivestack.data.store import Store

    chosen = output_format(output)
    limits = QueryLimits(memory_mib=memory_mib, threads=threads, timeout_s=timeout, table_rows=table_rows)
    _print_result(Store.open(store, limits=limits).query(sql), chosen, "rows", table_rows)


def _print_result(result: pa.Table, output: OutputFormat, noun: str, table_rows: int | None = None) -> None:
    """`result` on stdout: CSV or JSON streamed row by row, else a rich table titled "<rows> <noun>"
    whose keys never wrap, cut after `table_rows` rows (None: all) with a hint on stderr."""
    from drivestack.data.query import OutputFormat, to_rich, write_csv, write_json

    if output == OutputFormat.CSV:
        write_csv(result, sys.stdout)
    elif output == OutputFormat.JSON:
        write_json(result, sys.stdout)
    elif table_rows is not None and result.num_rows > table_rows:
        console.print(to_rich(result, f"{result.num_rows} {noun} (first {table_rows} shown)", table_rows))
        err_console.print(
            f"{result.num_rows - table_rows} more rows not shown: use --format csv (or json) for all of them",
            highlight=False,
        )
    else:
        console.print(to_rich(result, title=f"{result.num_rows} {noun}"))


store_app = typer.Typer(no_args_is_help=True, help="The scenario store itself.")
app.add_typer(store_app, name="store")


@store_app.command("check")
def store_check(store: StoreOption = None) -> None:
    """Verify every committed file byte for byte against its SHA-256 in the manifest; exit 1 naming the
    table and file of each mismatch (opening a store checks only sizes and Parquet footers)."""
    from drivestack.data.store import Store

    opened = Store.open(store, check=False)
    files = opened.manifest.files
    with err_console.status(f"verifying {len(files)} files"):
        damaged = opened.check()
    for damage in damaged:
        typer.echo(f"{damage.entry.table}: {opened.root / damage.entry.path}: {damage.problem}")
    if damaged:
        typer.echo(f"{len(damaged)} of {len(files)} files failed verification in {opened.root}")
        raise typer.Exit(code=1)
    size = sum(entry.bytes for entry in files) / 1e6
    typer.echo(f"ok: {len(files)} files ({size:.1f} MB) match their SHA-256 checksums in {opened.root}")


set_app = typer.Typer(no_args_is_help=True, help="Named scenario sets.")
app.add_typer(set_app, name="set")


@set_app.command("create")
def set_create(
    name: Annotated[str, typer.Argument(help="Set name (letters, digits, '_', '.', '-').")],
    store: StoreOption = None,
    where: WhereOption = None,
    tag: TagOption = None,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Sample this many (seeded, deterministic).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    replace: Annotated[bool, typer.Option(help="Overwrite an existing set of that name.")] = False,
) -> None:
    """Create a set from the scenarios matching the filters (a seeded sample with --limit)."""
    from drivestack.data.sets import create_set
    from drivestack.data.store import Store

    members = create_set(Store.open(store), name, where, tag or (), limit, seed, replace)
    console.print(f"set {name}: {len(members)} scenarios")


@set_app.command("list")
def set_list(store: StoreOption = None) -> None:
    """List the sets with their sizes and definitions."""
    from drivestack.data.query import to_rich
    from drivestack.data.sets import list_sets
    from drivestack.data.store import Store

    console.print(to_rich(list_sets(Store.open(store)), title="sets"))


@set_app.command("show")
def set_show(name: Annotated[str, typer.Argument(help="Set name.")], store: StoreOption = None) -> None:
    """Show a set's definition and its scenarios."""
    from drivestack.data.query import scenario_summary, to_rich
    from drivestack.data.sets import set_definition
    from drivestack.data.store import ScenarioFilter, Store

    opened = Store.open(store)
    definition = set_definition(opened, name)
    console.print(
        ", ".join(f"{key}={value}" for key, value in vars(definition).items() if value not in (None, ()))
    )
    console.print(to_rich(scenario_summary(opened, ScenarioFilter(set_name=name)), title=f"set {name}"))


@app.command()
def split(
    name: Annotated[str, typer.Argument(help="The set to split.")],
    store: StoreOption = None,
    by: Annotated[
        str, typer.Option(help="Group kept whole: recording, map, dataset or scenario.")
    ] = "recording",
    ratios: Annotated[str, typer.Option(help="Part sizes, comma-separated, summing to 1.")] = "0.8,0.2",
    names: Annotated[str | None, typer.Option(help="Part labels, e.g. train,val [default: 0,1,...].")] = None,
    seed: Annotated[int, typer.Option(help="Seed ordering equally large groups.")] = 0,
    replace: Annotated[bool, typer.Option(help="Overwrite existing part sets.")] = False,
) -> None:
    """Split a set into parts NAME-<label> that share no recording group (or map, dataset)."""
    from drivestack.core.errors import ConfigError
    from drivestack.data.sets import split_set
    from drivestack.data.store import Store

    try:
        weights = [float(value) for value in ratios.split(",")]
    except ValueError:
        raise ConfigError(f"--ratios must be comma-separated numbers, got {ratios!r}") from None
    labels = names.split(",") if names else None
    parts = split_set(Store.open(store), name, by, weights, labels, seed, replace)
    total = sum(len(keys) for keys in parts.values())
    for part, keys in parts.items():
        console.print(f"{part}: {len(keys)} scenarios ({len(keys) / max(total, 1):.1%})")


@app.command("train-vocabulary")
def train_vocabulary(
    set_name: Annotated[
        str, typer.Argument(metavar="SET", help="Stored set to learn from (e.g. a split's part).")
    ],
    out: Annotated[Path, typer.Option(help="Vocabulary file to write (.npz).")],
    store: StoreOption = None,
    size: Annotated[int, typer.Option(min=1, max=10_000, help="Motions kept (at most).")] = 256,
    seed: Annotated[int, typer.Option(min=0, help="k-means seed (same seed, same vocabulary).")] = 0,
    horizon: Annotated[float, typer.Option(min=0.5, max=30.0, help="Duration of each motion [s].")] = 8.0,
    egos_only: Annotated[
        bool,
        typer.Option("--egos-only", help="Learn from the recorded human egos only, not the recorded cars."),
    ] = False,
) -> None:
    """Mine a vocabulary of ego motions from a set's recorded drivers (clustered by start speed and
    shape) for the planner drivestack-vocab (`--vocabulary FILE` on simulate and bench)."""
    from drivestack.core.motions import save_vocabulary
    from drivestack.data.store import Store
    from drivestack.data.vocabulary import VocabularyConfig, train_vocabulary

    _check_output("out", out, ".npz")
    config = VocabularyConfig(size=size, seed=seed, horizon=horizon, egos_only=egos_only)
    opened = Store.open(store)
    with _bar("learning motions") as progress:
        task = progress.add_task("train", total=None)
        vocabulary = train_vocabulary(opened, set_name, config, _advance(progress, task))
    save_vocabulary(vocabulary, out)
    facts = vocabulary.provenance
    console.print(
        f"wrote {display_text(out)}: {vocabulary.size} motions of {vocabulary.horizon:g} s from "
        f"{facts['windows_clustered']} windows ({facts['windows_from_egos']} of recorded egos) of "
        f"{facts['scenarios_read']} scenarios of set {display_text(set_name)}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("split-check")
def split_check(
    names: Annotated[list[str], typer.Argument(help="Sets to check, or one split set (checks its parts).")],
    store: StoreOption = None,
    by: Annotated[str, typer.Option(help="Group: recording, map, dataset or scenario.")] = "recording",
) -> None:
    """Prove that no group is in two of the sets; exit 1 and list the shared groups otherwise."""
    from drivestack.data.sets import expand_split, shared_groups
    from drivestack.data.store import Store

    opened = Store.open(store)
    names = expand_split(opened, names)
    shared = shared_groups(opened, names, by)
    for group, sets in shared.items():
        console.print(f"{by} group {group} is in {', '.join(sets)}", highlight=False)
    if shared:
        console.print(f"LEAK: {len(shared)} {by} group(s) shared")
        raise typer.Exit(code=1)
    console.print(f"ok: no {by} group is shared between {', '.join(names)}")


# --------------------------------------------------------------------------- mining and pictures


@app.command()
def mine(
    store: StoreOption = None,
    detector: Annotated[
        list[str] | None, typer.Option("--detector", help="Detector to run (repeatable) [default: all].")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Workers (processes or local Ray CPUs).")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Scenarios per worker task.")] = 32,
    backend: BackendOption = None,
    address: AddressOption = None,
) -> None:
    """Run detectors over the scenarios not mined yet by their current version; print tag counts."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from drivestack.data.mining import select
    from drivestack.data.mining.runner import mine_store, tag_counts
    from drivestack.data.store import Store

    opened = Store.open(store)
    chosen = [found.name for found in select(detector)]
    columns = (TextColumn("mining"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("mine", total=None)
        report = mine_store(
            opened,
            chosen,
            workers=workers,
            batch_size=batch_size,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            backend=backend,
            address=address,
        )
    counts = {tag: (scenarios, rows) for tag, scenarios, rows in tag_counts(opened)}
    table = Table(title=f"mined {report.scenarios} scenarios in {report.seconds:.1f} s")
    for column in ("tag", "scenarios", "rows", "mined now", "already mined"):
        table.add_column(column, justify="left" if column == "tag" else "right")
    for name in chosen:
        scenarios_with, rows = counts.get(name, (0, 0))
        table.add_row(
            name, str(scenarios_with), str(rows), str(report.mined[name]), str(report.already[name])
        )
    console.print(table)
    for failure in report.failures:
        console.print(
            f"failed {failure.detector} on {failure.scenario_key}: {failure.error}", highlight=False
        )
    if report.failures:
        raise typer.Exit(code=1)


@app.command()
def show(
    scenario_id: Annotated[str, typer.Argument(help="Scenario key or benchmark id.")],
    store: StoreOption = None,
    png: Annotated[
        Path | None, typer.Option(help="Picture file [default: ./<scenario id as a safe file name>.png].")
    ] = None,
    step: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Step to draw [default: the chosen tag's first step, else where the ego is first known].",
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            help="Draw this tag's first row (with --agent, that agent's; with --step, one active there)."
        ),
    ] = None,
    agent: Annotated[int | None, typer.Option(help="Draw the first tag row of this agent.")] = None,
    problem: Annotated[
        int | None,
        typer.Option(help="Planning problem whose ego frames the view [default: the tag's, else the first]."),
    ] = None,
    source_map: Annotated[
        bool,
        typer.Option(
            help="Beside the picture, draw the source file's own map (WOMD, ScenarioNet, AV2) over the "
            "converted lanes."
        ),
    ] = True,
) -> None:
    """Print a scenario's summary and tags, and draw it from above (lanes, agents, ego, goal, tags).

    The view is framed on one ego and holds the agents of the tags in focus wherever they are: the
    tag chosen by --tag/--agent, else the tags active at the step drawn. For a scenario converted
    from another format, a second panel draws the source file's own map polylines over the
    converted lanes (--no-source-map: not)."""
    from rich.table import Table

    from drivestack.core.facts import motion_time_step
    from drivestack.core.names import safe_file_name
    from drivestack.data.formats.registry import COMMONROAD, source_polylines
    from drivestack.data.mining.runner import scenario_tags
    from drivestack.data.store import Store
    from drivestack.viz.bev import choose_focus, render_scene, save_png
    from drivestack.viz.summary import scenario_summary

    if png is not None:
        _check_output("png", png)
    opened = Store.open(store)
    key = opened.resolve(scenario_id)
    scenario = opened.load_scenario(key)
    if step is not None and step >= scenario.num_steps:
        raise ConfigError(f"--step {step}: {scenario.scenario_id} has steps 0 to {scenario.num_steps - 1}")
    tags = scenario_tags(opened, key)
    if tag is not None and tag not in {found.tag for found in tags}:
        known = ", ".join(sorted({found.tag for found in tags})) or "none"
        raise ConfigError(f"unknown tag {display_text(tag)} for {scenario.scenario_id}; its tags: {known}")
    dt = motion_time_step(scenario)
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for field, value in scenario_summary(scenario, tags, key, dt):
        table.add_row(field, value)
    console.print(table)
    focus, step = choose_focus(tags, step, tag, agent, problem)
    source = None
    if source_map and opened.index()[key].get("source_format") != COMMONROAD:  # a lanelet map is its own
        try:
            source = source_polylines(scenario.source_file)
        except DrivestackError as error:
            console.print(f"note: source map not drawn: {error}", highlight=False)
    with _bar("drawing") as progress:
        task = progress.add_task("draw", total=2)
        figure = render_scene(scenario, step, tags, dt=dt, focus=focus, problem_id=problem, source=source)
        progress.update(task, completed=1)
        written = save_png(figure, png or Path(f"{safe_file_name(scenario.scenario_id)}.png"))
        progress.update(task, completed=2)
    console.print(f"picture: {display_text(written)}", highlight=False)


# --------------------------------------------------------------------------- simulation and benchmarks


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated option as a tuple of names."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


MaxStepsOption = Annotated[
    int, typer.Option(min=1, help="At most this many steps per run (a longer run ends by step_cap).")
]


def _sim_config(max_steps: int) -> SimConfig:
    """The simulator settings of a run capped at `max_steps` steps."""
    from drivestack.core.limits import RunLimits
    from drivestack.sim.world import SimConfig

    return SimConfig(limits=RunLimits(max_steps=max_steps))


VocabularyOption = Annotated[
    Path | None,
    typer.Option(help="Motion vocabulary (.npz, from train-vocabulary) for the planner drivestack-vocab."),
]


def _planner_options(vocabulary: Path | None) -> PlannerOptions:
    """The planner options the CLI's flags give."""
    from drivestack.plan import PlannerOptions

    return PlannerOptions(vocabulary=str(vocabulary) if vocabulary is not None else None)


@app.command()
def simulate(
    scenario: Annotated[
        str,
        typer.Argument(help="Scenario unit (file#member for one of several), or a stored scenario id / key."),
    ],
    planner: Annotated[
        str, typer.Option(help="Planner: drivestack, drivestack-vocab, idm, constant-velocity or log-replay.")
    ] = "drivestack",
    agents: Annotated[
        str,
        typer.Option(
            help="Other agents: log (replayed), idm (IDM on recorded paths) or reactive (log-anchored)."
        ),
    ] = "log",
    problem: Annotated[int | None, typer.Option(help="Planning problem id [default: each].")] = None,
    store: StoreOption = None,
    gif: Annotated[Path | None, typer.Option(help="Write the run as a GIF here.")] = None,
    mp4: Annotated[Path | None, typer.Option(help="Write the run as an MP4 here.")] = None,
    mcap: Annotated[Path | None, typer.Option(help="Write the run as an MCAP file (Foxglove) here.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write one frame of the run as a PNG here.")] = None,
    frame: Annotated[
        int, typer.Option(help="The frame --png shows: a step of the run (negative: from the end).")
    ] = 0,
    max_steps: MaxStepsOption = DEFAULT_RUN_LIMITS.max_steps,
    vocabulary: VocabularyOption = None,
) -> None:
    """Run a planner closed-loop on a scenario's planning problem(s) and print one line per problem:
    score, goal, collisions and what went wrong (with several problems, the files get the problem id
    in their names)."""
    from drivestack.bench import BenchConfig, find_scenario, run_one
    from drivestack.bench.replay import replay_row
    from drivestack.viz.outputs import numbered, write_outputs

    config = BenchConfig((planner,), (agents,), _sim_config(max_steps), _planner_options(vocabulary))
    outputs = {
        name: path for name, path in (("gif", gif), ("mp4", mp4), ("mcap", mcap), ("png", png)) if path
    }
    for name, path in outputs.items():
        _check_output(name, path)
    loaded = find_scenario(scenario, str(store) if store else None).load()
    if png is not None and not -loaded.num_steps <= frame < loaded.num_steps:
        raise ConfigError(f"--frame {frame}: {loaded.scenario_id} has {loaded.num_steps} steps")
    problems = [p for p in loaded.planning_problems if problem is None or p.id == problem]
    if not problems:
        known = ", ".join(str(p.id) for p in loaded.planning_problems) or "none"
        raise ConfigError(f"{loaded.scenario_id}: no planning problem {problem}; it has {known}")
    failed = False
    for chosen in problems:
        title = f"{display_text(loaded.scenario_id)} / problem {chosen.id} / {planner} / {agents} agents"
        with _bar(f"simulating problem {chosen.id}") as progress:
            task = progress.add_task("simulate", total=None)
            values = run_one(
                loaded,
                chosen,
                planner,
                agents,
                config.sim,
                _advance(progress, task),
                config.planner_options,
            )
        console.print(f"{title}: {_run_line(values)}", highlight=False, soft_wrap=True)
        if values["status"] != "ok":
            failed = True
            continue
        if outputs:
            row = {
                **values,
                "scenario_id": loaded.scenario_id,
                "planning_problem_id": chosen.id,
                "planner": planner,
                "agents": agents,
            }
            run = replay_row(row, config.sim, scenario=loaded, options=config.planner_options)
            files = {name: numbered(path, chosen.id, len(problems) > 1) for name, path in outputs.items()}
            with err_console.status("writing " + ", ".join(display_text(path) for path in files.values())):
                written = write_outputs(loaded, run.record, frame=frame, **files)
            for path in written:
                console.print(f"wrote {display_text(path)}", highlight=False)
    if failed:
        raise typer.Exit(code=1)


def _advance(progress: Progress, task: TaskID) -> Callable[[int, int], None]:
    """A `progress(done, total)` callback moving `task` of `progress`."""
    return lambda done, total: progress.update(task, completed=done, total=total)


def _run_line(values: dict[str, Any]) -> str:
    """One run's result in a line: score, goal, collisions, failure events; or its status and reason."""
    from drivestack.metrics.events import describe_events

    if values["status"] != "ok":
        return f"{values['status']}: {display_text(str(values.get('error') or ''))}"
    parts = [
        f"score {values['score']:.3f}",
        "goal reached" if values["goal_reached"] else "goal not reached",
        f"{values['collisions']} collision(s), {values['at_fault_collisions']} at fault",
        f"{values['steps']} steps ({values['termination']})",
        f"plan p50 {values['plan_ms_p50']:.1f} ms" if values["plan_ms_p50"] is not None else "no plan timed",
    ]
    return ", ".join(parts) + "".join(f"; {sentence}" for sentence in describe_events(values))


@app.command()
def bench(
    target: Annotated[
        str, typer.Argument(help="Scenario unit or folder (any format, mixed), or the name of a stored set.")
    ],
    planner: Annotated[
        str,
        typer.Option(
            help="Planner name(s), comma-separated: drivestack, drivestack-vocab, idm, constant-velocity, "
            "log-replay."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder: manifest.json and results.parquet.")],
    agents: Annotated[str, typer.Option(help="Agent mode(s), comma-separated: log, idm, reactive.")] = "log",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (1: in this process).")] = 1,
    limit: Annotated[int | None, typer.Option(min=0, help="Run only the first N scenarios.")] = None,
    store: StoreOption = None,
    backend: BackendOption = None,
    address: AddressOption = None,
    allow_errors: Annotated[
        bool, typer.Option("--allow-errors", help="Exit 0 even when runs errored (pipelines).")
    ] = False,
    max_steps: MaxStepsOption = DEFAULT_RUN_LIMITS.max_steps,
    vocabulary: VocabularyOption = None,
) -> None:
    """Run every scenario x problem x planner x agents combination not yet in OUT; print the aggregate
    (exit 1 when OUT holds error rows, unless --allow-errors)."""
    import shlex

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from drivestack.bench import (
        BenchConfig,
        ResultStore,
        bench_config_record,
        find_sources,
        run_bench,
    )
    from drivestack.parallel.backends import make_executor

    config = BenchConfig(
        _names(planner), _names(agents), _sim_config(max_steps), _planner_options(vocabulary)
    )
    sources = find_sources(target, str(store) if store else None, limit)
    if not sources:
        err_console.print(f"nothing to run: --limit {limit} selects no scenario", highlight=False)
        return
    executor = make_executor(backend, workers, address)
    record = bench_config_record(config, target, limit, workers) | {"backend": backend, "address": address}
    results = ResultStore(out, record)
    columns = (TextColumn("bench"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("bench", total=None)
        summary = run_bench(
            sources,
            config,
            results,
            executor,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    title = (
        f"{summary.scenarios_run} scenarios run, {summary.scenarios_done_before} already done, "
        f"{summary.errors} error rows, {summary.wall_s:.1f} s"
    )
    table = Table(title=title)
    aggregate = summary.aggregate
    for name in aggregate.column_names:
        table.add_column(name, justify="left" if name in ("planner", "agents") else "right")
    for row in aggregate.to_pylist():
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    Console(width=max(console.width, 150), markup=False).print(table)  # wide: the table has 12 columns
    if not summary.scenarios_run:
        console.print(
            f"all {len(sources)} scenarios were already done in {display_text(out)}", highlight=False
        )
    console.print(f"results: {display_text(out / 'results.parquet')}", highlight=False)
    console.print(f"next: drivestack report {shlex.quote(display_text(out))}", highlight=False)
    if summary.errors and not allow_errors:
        err_console.print(f"{summary.errors} run(s) errored (see the error column)", highlight=False)
        raise typer.Exit(code=1)


# --------------------------------------------------------------------------- looking at runs

RunPlannerOption = Annotated[
    str | None, typer.Option("--planner", help="Which planner's run [default: first].")
]
RunAgentsOption = Annotated[str | None, typer.Option("--agents", help="Which agents' run [default: first].")]
RunProblemOption = Annotated[int | None, typer.Option("--problem", help="Planning problem [default: first].")]


@app.command("export-mcap")
def export_mcap(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of `drivestack bench`.")],
    scenario_id: Annotated[str, typer.Argument(help="Scenario id of a run in it.")],
    out: Annotated[Path, typer.Argument(help="MCAP file to write.")],
    planner: RunPlannerOption = None,
    agents: RunAgentsOption = None,
    problem: RunProblemOption = None,
    store: StoreOption = None,
) -> None:
    """Write one benchmarked run (re-simulated from the manifest) as an MCAP file for Foxglove."""
    from drivestack.bench.replay import replay
    from drivestack.viz.mcap import LAYOUT, export_run

    run = replay(run_dir, scenario_id, planner, agents, problem, str(store) if store else None)
    export = export_run(run.scenario, run.record, out)
    row = run.row
    console.print(
        f"{export.path}: {row['scenario_id']} / problem {row['planning_problem_id']} / {row['planner']} / "
        f"{row['agents']} agents, {run.record.num_steps} steps",
        highlight=False,
    )
    console.print(f"Foxglove layout (Layouts, Import from file): {LAYOUT}", highlight=False, soft_wrap=True)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Output folder of `drivestack bench` (run A).")],
    other: Annotated[Path | None, typer.Argument(help="A second run (B) to compare against.")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML file [default: RUN_DIR/report.html].")] = None,
    worst: Annotated[int, typer.Option(min=0, help="Lowest-scoring runs (below 1) listed as the worst.")] = 8,
    baseline: Annotated[
        str | None, typer.Option(help="Planner every other is compared with [default: the first].")
    ] = None,
    viewer: Annotated[int, typer.Option(min=0, help="Runs shown in the run viewer (the worst first).")] = 200,
    store: StoreOption = None,
) -> None:
    """Write a self-contained HTML report of a benchmark run (or of run A against run B); click a run to
    play it back."""
    from drivestack.viz.report import ReportConfig, build_report, report_target, resimulated_note, save_report

    config = ReportConfig(worst=worst, viewer=viewer, baseline=baseline, store=str(store) if store else None)
    with err_console.status("writing the report") as status:
        built = build_report(run_dir, config, other, lambda message: status.update(Text(message)))
        target = save_report(built, report_target(run_dir, out), config.inline_bytes)
    if built.resimulated:
        err_console.print(resimulated_note(built.resimulated), highlight=False)
    console.print(f"report: {target}", highlight=False)


@app.command()
def demo(
    data: Annotated[
        Path | None, typer.Option(help="CommonRoad folder [default: a generated sample].")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the store, benchmark and report.")] = Path(
        "drivestack-demo"
    ),
    limit: Annotated[int, typer.Option(min=1, help="Scenarios benchmarked (a seeded sample).")] = 24,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes [default: 1, the demo is small].")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generated sample and the sample drawn.")] = 0,
    worst: Annotated[int, typer.Option(min=0, help="Lowest-scoring runs listed first in the report.")] = 6,
) -> None:
    """Ingest, mine, benchmark drivestack against idm (log and idm agents) and write the HTML report."""
    import dataclasses

    from drivestack.demo import DemoConfig, run_demo

    config = DemoConfig(data=data, out=out, limit=limit, seed=seed, worst=worst)
    if workers is not None:
        config = dataclasses.replace(config, workers=workers)
    result = run_demo(config, lambda message: err_console.print(message, highlight=False))
    steps = ", ".join(
        f"{name} {secs:.0f} s (CPU {result.cpu_seconds[name]:.0f} s)" for name, secs in result.seconds.items()
    )
    err_console.print(f"done in {sum(result.seconds.values()):.0f} s: {steps}", highlight=False)
    console.print(f"report: {result.report.resolve()}", highlight=False)


def main() -> None:
    """Entry point of the `drivestack` console script: an error becomes one `error:` line; exit 2 for a
    usage error (an unknown option, a bad option value, `ConfigError`), else 1. An `OSError`
    (read-only folder, full disk, a file where a folder belongs) is reported by the file it names.
    Characters the terminal cannot take (a file name's undecodable bytes) print as escapes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as error:  # `drivestack` or a group alone: its help
        typer.echo(error.ctx.get_help() if error.ctx else str(error))
        sys.exit(2)
    except UsageError as error:  # click's own usage errors, in one line like the others
        where = f"{error.ctx.command_path}: " if error.ctx else ""
        hint = f" (see {error.ctx.command_path} --help)" if error.ctx else ""
        _print_error(f"{where}{display_text(error.format_message())}{hint}")
        sys.exit(2)
    except typer.Abort:  # Ctrl-C at a prompt
        _print_error("aborted")
        sys.exit(130)
    except DrivestackError as error:
        _print_error(str(error))
        sys.exit(2 if isinstance(error, ConfigError) else 1)
    except OSError as error:
        where = f"{display_text(error.filename)}: " if error.filename is not None else ""
        _print_error(f"{where}{error.strerror or error}")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _print_error(message: str) -> None:
    """`message` as one literal line on stderr after a red "error:"."""
    err_console.print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
