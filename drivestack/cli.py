"""The `drivestack` command line: thin typer commands over the library."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from drivestack.core.errors import DrivestackError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Entry point of the `drivestack` console script: a `DrivestackError` becomes one line and exit 1."""
    try:
        app()
    except DrivestackError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
