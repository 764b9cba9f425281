"""How ``paglets search`` prints what the hosts find: lines, JSON lines, or one JSON document.

Plain lines stream as records arrive, each prefixed with its host, grep style:
``HOST:PATH:LINE:TEXT`` for a match (``HOST:PATH-LINE-TEXT`` for context, as ripgrep
marks it; ``LINE`` only with ``-n``), ``HOST:PATH:COUNT`` for ``-c``, ``HOST:PATH`` for
``-l`` and ``find``. Streaming with a prefix, rather than a block per host, shows the
first hit at once however slow the other hosts are, keeps every line self-contained
for a pipe, and still keeps each host's lines in its own order. Errors and the per-host
summary go to stderr, so stdout holds hits only.

``--jsonl`` streams one object per line: the records (``match``, ``context``,
``count``, ``file``, ``error``, each with ``host``), a ``host`` object when a host
finishes (``state``, ``partial``, ``error``, ``records``, ``seconds``, ``engine``) and a
last ``summary`` object. ``--json`` prints one document at the end with the results
ordered per host.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from paglets.cli.output import print_json

FINAL = ("done", "error", "timeout", "cancelled")
errors = Console(stderr=True, width=80, highlight=False)


def plain_line(record: dict[str, Any], line_numbers: bool) -> str | None:
    """The plain line of one record (None for errors: they go to stderr)."""
    kind = record["type"]
    prefix = f"{record['host']}:{record['path']}"
    if kind == "match":
        return (
            f"{prefix}:{record['line']}:{record['text']}"
            if line_numbers
            else (f"{prefix}:{record['text']}")
        )
    if kind == "context":
        return (
            f"{prefix}-{record['line']}-{record['text']}"
            if line_numbers
            else (f"{prefix}-{record['text']}")
        )
    if kind == "count":
        return f"{prefix}:{record['count']}"
    if kind == "file":
        return prefix
    return None


class SearchPrinter:
    """Prints one search in the chosen format; call :meth:`record`, :meth:`hosts`, :meth:`end`."""

    def __init__(self, fmt: str, line_numbers: bool) -> None:
        self._fmt = fmt
        self._line_numbers = line_numbers
        self._kept: list[dict[str, Any]] = []
        self._reported: set[str] = set()
        self.found = 0
        self.errors = 0

    def record(self, record: dict[str, Any]) -> None:
        """One record, as it arrives."""
        if record["type"] == "error":
            self.errors += 1
        elif record["type"] != "context":
            self.found += 1
        if self._fmt == "json":
            self._kept.append(record)
        elif self._fmt == "jsonl":
            _write(json.dumps(record, ensure_ascii=False))
        else:
            line = plain_line(record, self._line_numbers)
            if line is None:
                errors.print(f"{record['host']}: {record['message']}", markup=False)
            else:
                _write(line)

    def hosts(self, statuses: list[dict[str, Any]]) -> None:
        """The hosts' latest statuses: a host that just finished is reported once."""
        if self._fmt != "jsonl":
            return
        for status in statuses:
            if status["state"] in FINAL and status["host"] not in self._reported:
                self._reported.add(status["host"])
                _write(json.dumps({"type": "host", **status}, ensure_ascii=False))

    def end(self, statuses: list[dict[str, Any]], seconds: float, query: dict[str, Any]) -> None:
        """The search is over: the summary (and the whole document with ``--json``)."""
        self.hosts(statuses)
        failed = [s for s in statuses if s["state"] != "done" or s["partial"]]
        summary = {
            "type": "summary",
            "hosts": len(statuses),
            "failed": len(failed),
            "found": self.found,
            "errors": self.errors,
            "seconds": round(seconds, 3),
        }
        if self._fmt == "jsonl":
            _write(json.dumps(summary))
        elif self._fmt == "json":
            order = {status["host"]: index for index, status in enumerate(statuses)}
            results = sorted(self._kept, key=lambda r: order.get(r["host"], len(order)))
            print_json({"query": query, "hosts": statuses, "results": results, "summary": summary})
        elif len(statuses) > 1 or failed or self.errors:
            _host_table(statuses)
            errors.print(
                f"{self.found} found on {len(statuses)} host(s) in {seconds:.2f}s"
                + (f", {len(failed)} failed or partial" if failed else ""),
                markup=False,
            )


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _host_table(statuses: list[dict[str, Any]]) -> None:
    table = Table(box=None, pad_edge=False)
    for name, justify in (("host", "left"), ("state", "left"), ("records", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    table.add_column("seconds", justify="right")
    table.add_column("note", overflow="fold", ratio=1)
    for status in statuses:
        state = status["state"] + (" (partial)" if status["partial"] else "")
        note = status["error"] or status["engine"]
        cells = (status["host"], state, str(status["records"]), f"{status['seconds']:.2f}", note)
        table.add_row(*(Text(cell) for cell in cells))
    errors.print(table)
