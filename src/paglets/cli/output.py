"""Printing results: rich tables on a terminal, JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


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
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


def fail(message: str, code: int = 1) -> None:
    """Print an error on stderr and exit with ``code``."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
