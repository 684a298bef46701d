"""The `drivestack` command line: thin typer commands over the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drivestack.core.errors import DrivestackError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _commands() -> None:
    """Keep `drivestack COMMAND ...` a command group even while only one command is registered."""


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Scenario / solution files or folders (walked recursively).")
    ],
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes [default: CPU count].")] = None,
) -> None:
    """Load every CommonRoad scenario and solution file; print each rejected one and a final count."""
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
        typer.echo(f"{rejection.path}: {rejection.reason}")
    typer.echo(f"{report.loaded} loaded, {len(report.rejected)} rejected")
    if not report.ok:
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point of the `drivestack` console script: a `DrivestackError` becomes one line and exit 1."""
    try:
        app()
    except DrivestackError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
