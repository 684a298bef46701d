"""The one exception family of drivestack: every error a user can cause is a `DrivestackError`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DrivestackError(Exception):
    """Base of every error drivestack raises on purpose; the CLI prints it in one line."""


class InputError(DrivestackError):
    """A file (or other input) is not what drivestack expects: names the file, the element and the problem.

    `element` is a short locator such as ``lanelet 61 / leftBound`` or ``obstacle 8 / trajectory / state[3]``.
    """

    def __init__(self, path: str | Path | None, element: str | None, problem: str) -> None:
        self.path = str(path) if path is not None else None
        self.element = element
        self.problem = problem
        where = ": ".join(part for part in (self.path, self.element) if part)
        super().__init__(f"{where}: {problem}" if where else problem)

    def __reduce__(self) -> tuple[type[InputError], tuple[str | None, str | None, str]]:
        """Pickle by the constructor's arguments, so the error crosses process boundaries intact."""
        return (type(self), (self.path, self.element, self.problem))


@dataclass(frozen=True)
class InputWarning:
    """Something a reader dropped or guessed while the file still loaded: file, element and what happened.

    Readers return these with their result (e.g. `Scenario.warnings`), so they cross process
    boundaries with it; `validate` and `ingest` list them apart from rejections.
    """

    path: str | None
    element: str | None
    problem: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.path, self.element) if part)
        return f"{where}: {self.problem}" if where else self.problem

    @property
    def reason(self) -> str:
        """The message without the file path (for reports that put the path in front)."""
        return ": ".join(part for part in (self.element, self.problem) if part)


class StoreError(DrivestackError):
    """The scenario store is missing, corrupted, of a newer schema, or was asked to do something unsafe."""


class ConfigError(DrivestackError):
    """A configuration or command-line value is out of range or inconsistent."""


class GeometryError(DrivestackError):
    """Geometry input is degenerate: fewer than two distinct points, NaN or infinite values, bad spacing."""
