"""Progress bars with throughput for long byte streams (only on a terminal, never with --json)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from paglets.cli.output import errors

Update = Callable[[int], None]
"""Called with the bytes done so far."""


@contextmanager
def stream_bar(label: str, total: int, enabled: bool) -> Iterator[Update]:
    """A progress bar on stderr for ``total`` bytes; yields the function that advances it.

    With ``enabled`` False (not a terminal, or ``--json``) nothing is drawn.
    """
    if not enabled:
        yield lambda done: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=False) as progress:
        task = progress.add_task(label, total=max(total, 1))
        yield lambda done: progress.update(task, completed=min(done, total))
        progress.update(task, completed=total)


def bars_enabled(json_output: bool) -> bool:
    """Whether to draw bars: on a terminal and not printing JSON."""
    return not json_output and errors.is_terminal
