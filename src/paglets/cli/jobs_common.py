"""What every ``paglets jobs`` command shares: options, the entry, asking each host, tables.

Every command asks the compute-slots paglet of each online host the entry host knows
(``--host NAME`` narrows to one), or of an embedded in-process host (which then runs
the system services, compute slots included) when none answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from paglets.cli.embedded import EmbeddedOptions, Entry, open_entry
from paglets.cli.entry import ClientOptions
from paglets.cli.output import console, fail
from paglets.core.errors import PagletError
from paglets.core.sizes import human_size
from paglets.runtime.config import LOAD_VARIABLE, parse_load_gate
from paglets.system.compute_slots import ask
from paglets.system.host_services import start_host_services

QUEUED = "queued"

EntryOption = Annotated[str | None, typer.Option("--entry", help="Host name or address.")]
HostOption = Annotated[str | None, typer.Option("--host", help="Only this host (a name).")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]
MaxLoad = Annotated[
    str | None,
    typer.Option(
        "--max-load-per-cpu",
        metavar="N|none",
        help="Load gate of the in-process host, when no host runs: load per CPU from "
        "other work above which jobs wait (default: none, no gate; a host you run "
        "keeps its own).",
    ),
]
T = TypeVar("T")


def compute_example_host(max_load: str | None) -> EmbeddedOptions:
    """The embedded host of a compute example: its load gate is off unless asked for.

    The user runs the example on their own machine, in the foreground, so other work
    on it does not hold the jobs back; cores, RAM and temp storage still gate them.
    ``--max-load-per-cpu`` (else ``$PAGLETS_MAX_LOAD_PER_CPU``) sets a gate.

    Raises:
        typer.BadParameter: ``max_load`` is neither a number nor ``none``.
    """
    elsewhere = (
        ""
        if max_load is None
        else "--max-load-per-cpu is for an in-process host: {address} keeps its own gate"
    )
    if max_load is None and os.environ.get(LOAD_VARIABLE, "").strip():
        return EmbeddedOptions(notice=f"load gate from ${LOAD_VARIABLE}")
    try:
        gate = None if max_load is None else parse_load_gate(max_load, "--max-load-per-cpu")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    notice = (
        "no load gate (--max-load-per-cpu N sets one)"
        if gate is None
        else f"load gate {gate:g} per cpu"
    )
    return EmbeddedOptions({"compute_max_load_per_cpu": gate}, notice, elsewhere)


@contextmanager
def jobs_entry(
    entry: str | None,
    timeout: float,
    api_key_env: str | None,
    insecure: bool,
    embedded: EmbeddedOptions | None = None,
) -> Iterator[Entry]:
    try:
        options = ClientOptions(timeout, api_key_env, insecure)
        with open_entry(entry, options, embedded=embedded) as found:
            if found.host is not None:  # embedded: it runs the system services, compute too
                start_host_services(found.host)
            yield found
    except (ValueError, PagletError) as exc:
        fail(f"{type(exc).__name__}: {exc}" if isinstance(exc, PagletError) else str(exc))


def hosts_of(found: Entry, only: str | None) -> list[tuple[str, str]]:
    """``(name, address)`` of the entry host and its online peers (or only ``only``)."""
    view = found.client.mesh()
    own = view["self"]
    hosts = [(str(own["name"]), str(own["address"]))]
    hosts += [(str(p["name"]), str(p["address"])) for p in view["peers"] if p.get("online")]
    if only is not None:
        hosts = [h for h in hosts if h[0] == only]
        if not hosts:
            raise PagletError(f"no online host called {only}")
    return hosts


def each_host(
    found: Entry, only: str | None, kind: str, args: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Ask every host; a host that fails is listed with its error, not fatal."""
    answers = []
    for name, address in hosts_of(found, only):
        try:
            answers.append({"host": name, "answer": ask(found.client, address, kind, args)})
        except PagletError as exc:
            answers.append({"host": name, "error": f"{type(exc).__name__}: {exc}"})
    return answers


def run_on_entry(
    entry: str | None, timeout: float, api_key_env: str | None, insecure: bool,
    action: Callable[[Entry], T], embedded: EmbeddedOptions | None = None,
) -> T:  # fmt: skip
    with jobs_entry(entry, timeout, api_key_env, insecure, embedded) as found:
        try:
            return action(found)
        except PagletError as exc:
            fail(f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table whose cells wrap instead of being cut to an ellipsis."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


def cpu_ranges(cpus: list[int]) -> str:
    """``0-3,6`` for CPU ids 0, 1, 2, 3 and 6."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][1] == cpu - 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def age(since: float | None) -> str:
    return "" if not since else f"{time.time() - since:.0f}s"


def print_status(answers: list[dict[str, Any]], queue: bool, jobs: bool, usage: bool) -> None:
    """The slot table, then the queue / running jobs / usage tables asked for."""
    rows = []
    for item in answers:
        if "error" in item:
            rows.append([item["host"], "-", "-", "-", "-", item["error"]])
            continue
        s = item["answer"]
        rows.append([
            s["host"], f"{s['cores_free']}/{s['cores_total']}", s["queued"], s["running"],
            human_size(s["memory_available"]), f"{s['load']:.2f}",
        ])  # fmt: skip
    print_table("compute slots", ["host", "free", "queued", "running", "RAM free", "load"], rows)
    listed = [(i["host"], j) for i in answers if "answer" in i for j in i["answer"]["jobs"]]
    if queue:
        print_table(
            "queue",
            ["host", "job", "cores", "waiting", "why"],
            [[h, j["job_id"][:8], j["cpu_cores"], age(j["submitted"]), j["reason"]]
             for h, j in listed if j["status"] == "queued"],
        )  # fmt: skip
    if jobs or usage:
        print_table(
            "running",
            ["host", "job", "label", "cpus", "CPU %", "RSS", "work"],
            [[h, j["job_id"][:8], j["label"], cpu_ranges(j["cpus"]),
              j["usage"].get("cpu_percent", ""), human_size(j["usage"].get("rss", 0)),
              human_size(j["usage"].get("work_bytes", 0))]
             for h, j in listed if j["status"] == "running"],
        )  # fmt: skip
