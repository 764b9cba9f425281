"""Results of a benchmark run: rows with bars, the printed table and the JSON file.

A :class:`Row` is one figure of ours next to the raw limit's figure for the same work.
A :class:`Bar` is the quality bar of design.md section 7 that the row is held to:
either a ratio to the limit (``ours / limit <= 2.5``) or an absolute figure
(``<= 250 MiB``). Missing a bar is reported, never raised: the run still exits 0.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Bar:
    """A pass/fail threshold.

    Attributes:
        on: ``"ratio"`` (ours / limit) or ``"value"`` (ours itself).
        op: ``"<="``, ``"<"`` or ``">="``.
        threshold: the number compared against.
    """

    on: str
    op: str
    threshold: float

    def check(self, ours: float | None, ratio: float | None) -> bool | None:
        """Whether the figure meets the bar; None when there is nothing to judge."""
        figure = ratio if self.on == "ratio" else ours
        if figure is None or math.isnan(figure):
            return None
        if self.op == "<=":
            return figure <= self.threshold
        if self.op == "<":
            return figure < self.threshold
        return figure >= self.threshold

    def text(self, unit: str) -> str:
        """How the bar reads in the table, e.g. ``ratio <= 2.5x`` or ``<= 250 MiB``."""
        if self.on == "ratio":
            return f"ratio {self.op} {self.threshold:g}x"
        return f"{self.op} {self.threshold:g} {unit}"


def ratio_at_most(threshold: float) -> Bar:
    return Bar("ratio", "<=", threshold)


def ratio_at_least(threshold: float) -> Bar:
    return Bar("ratio", ">=", threshold)


def value_at_most(threshold: float) -> Bar:
    return Bar("value", "<=", threshold)


def value_below(threshold: float) -> Bar:
    return Bar("value", "<", threshold)


@dataclass
class Row:
    """One figure of ours against the limit's.

    Attributes:
        metric: what was measured, in words.
        ours: our figure (None: not measured, see ``note``).
        limit: the raw limit's figure for the same work (None: no limit).
        unit: unit of both figures.
        bar: the quality bar, if this row has one.
        note: shown instead of a missing figure, or next to it.
    """

    metric: str
    ours: float | None
    limit: float | None
    unit: str
    bar: Bar | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / limit, when both exist."""
        if self.ours is None or self.limit is None or not self.limit:
            return None
        return self.ours / self.limit

    @property
    def passed(self) -> bool | None:
        """Whether the bar is met (None: no bar or nothing to judge)."""
        return None if self.bar is None else self.bar.check(self.ours, self.ratio)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["bar"] = None if self.bar is None else self.bar.text(self.unit)
        data["ratio"] = self.ratio
        data["passed"] = self.passed
        return data


@dataclass
class ScenarioResult:
    """What one scenario produced."""

    name: str
    status: str = "ok"  # ok | skipped | error
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "seconds": self.seconds,
            "rows": [row.to_json() for row in self.rows],
            "details": self.details,
        }


def _figure(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 100:
        return f"{value:.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"


def print_table(
    results: list[ScenarioResult], console: Console | None = None, caption: str = ""
) -> None:
    """Print every row: scenario, metric, ours, limit, ratio, bar, verdict and note."""
    console = console or Console()
    table = Table(title="paglets vs the raw pyzmq+msgpack limit", caption=caption)
    for column in ("scenario", "metric", "ours", "limit", "ratio", "bar", "ok", "note"):
        justify = "right" if column in ("ours", "limit", "ratio") else "left"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for result in results:
        if result.status != "ok" and not result.rows:
            status = "[red]error[/]" if result.status == "error" else result.status
            table.add_row(result.name, status, "", "", "", "", "", result.reason[:100])
            table.add_section()
            continue
        for index, row in enumerate(result.rows):
            missing = row.ours is None and row.note
            table.add_row(
                result.name if index == 0 else "",
                row.metric,
                row.note if missing else _figure(row.ours, row.unit),
                _figure(row.limit, row.unit),
                "-" if row.ratio is None else f"{row.ratio:.2f}x",
                "" if row.bar is None else row.bar.text(row.unit),
                {True: "[green]pass[/]", False: "[red]FAIL[/]", None: ""}[row.passed],
                "" if missing else row.note,
            )
        if result.status == "error":
            table.add_row("", "[red]error[/]", "", "", "", "", "", result.reason[:100])
        table.add_section()
    console.print(table)


def machine_info() -> dict[str, Any]:
    """Where the numbers come from: CPU count, Python, OS, library versions."""
    return {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "msgpack": ".".join(str(part) for part in msgpack.version),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def write_json(
    path: Path, results: list[ScenarioResult], mode: str, seconds: float, sockets: str
) -> None:
    """Write all figures of the run, with machine info and a timestamp, to ``path``."""
    document = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "unix_time": time.time(),
        "mode": mode,
        "sockets": sockets,
        "seconds": seconds,
        "machine": machine_info(),
        "scenarios": {result.name: result.to_json() for result in results},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(document), indent=2, allow_nan=False) + "\n")


def _plain(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON) and odd types as text."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
