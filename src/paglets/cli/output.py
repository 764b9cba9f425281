"""Printing results: rich tables on a terminal, JSON with ``--json``.

``rich`` is imported on first use, so a command that prints no table (``paglets
host``) starts without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    """The console of stdout."""
    errors: Console
    """The console of stderr."""


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def __getattr__(name: str) -> Any:
    if name == "console":
        return _console(False)
    if name == "errors":
        return _console(True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_json(value: Any) -> str:
    """Encode ``value`` as JSON; bytes become hex and other objects their ``str``."""

    def fallback(obj: Any) -> Any:
        if isinstance(obj, (bytes, bytearray)):
            return obj.hex()
        if isinstance(obj, (set, frozenset, tuple)):
            return list(obj)
        return str(obj)

    return json.dumps(value, indent=2, sort_keys=True, default=fallback)


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout."""
    print(to_json(value))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a rich table."""
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    _console(False).print(table)


def fail(message: str, code: int = 1) -> None:
    """Print an error on stderr and exit with ``code``.

    The message is one line however long (no wrap inserted at the console's width),
    so a long path stays whole for the reader, a terminal wraps it, and a pipe keeps it.
    """
    _console(True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
