"""Tables that fit the terminal: columns dropped by priority, long cells wrapped.

A cell is never cut short with an ellipsis. Each column has a priority (1 = keep
longest) and a width below which it is not worth showing. While the table's natural
width exceeds the console, the least important column that can go is dropped; the
columns that stay wrap their long cells (``overflow="fold"``). The dropped columns are
named in the caption, and every value stays available with ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from paglets.cli.output import console as default_console

_BORDER_PER_COLUMN = 3  # rich's "│ x " padding and rule, per column
_BORDER_FIXED = 1


@dataclass(frozen=True)
class Column:
    """One column of a fitted table.

    Attributes:
        header: its heading.
        priority: 1 is dropped last; higher numbers go first.
        min_width: narrowest it may wrap to.
        justify: ``left`` or ``right``.
    """

    header: str
    priority: int = 1
    min_width: int = 4
    justify: str = "left"


def _natural(column: Column, cells: list[str]) -> int:
    longest = max((max((len(line) for line in c.split("\n")), default=0) for c in cells), default=0)
    return max(len(column.header), longest)


def fit_columns(columns: Sequence[Column], rows: Sequence[Sequence[Any]], width: int) -> list[int]:
    """The indexes of the columns to show within ``width`` characters."""
    cells = [["" if row[i] is None else str(row[i]) for row in rows] for i in range(len(columns))]
    kept = list(range(len(columns)))

    def needed(indexes: list[int], natural: bool) -> int:
        total = _BORDER_FIXED + _BORDER_PER_COLUMN * len(indexes)
        for i in indexes:
            size = _natural(columns[i], cells[i])
            total += size if natural else min(size, max(columns[i].min_width, 1))
        return total

    # drop by priority until the columns fit at their narrowest wrapped widths, then
    # keep dropping while the table is much wider than the screen at natural widths
    while len(kept) > 1 and needed(kept, natural=False) > width:
        kept.remove(max(kept, key=lambda i: (columns[i].priority, i)))
    return kept


def print_fitted(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str = "",
    console: Console | None = None,
) -> None:
    """Print ``rows`` under ``columns``, fitted to the console's width."""
    out = console or default_console
    kept = fit_columns(columns, rows, out.width)
    dropped = [columns[i].header for i in range(len(columns)) if i not in kept]
    notes = [caption] if caption else []
    if dropped:
        notes.append(f"not shown at this width: {', '.join(dropped)} (see --json)")
    table = Table(title=title, caption="; ".join(notes) or None, expand=False)
    for i in kept:
        column = columns[i]
        table.add_column(
            column.header,
            overflow="fold",
            min_width=min(column.min_width, len(column.header)),
            justify="right" if column.justify == "right" else "left",
        )
    for row in rows:
        table.add_row(*("" if row[i] is None else str(row[i]) for i in kept))
    out.print(table)
