"""``paglets sys`` (and the classic ``paglets-sysinfo``): host facts from every online host.

``summary``, ``load``, ``df [PATH...]`` and ``ps QUERY`` each create a survey paglet
(:mod:`paglets.system.survey`) on the entry host, which clones itself to every online
host and collects one server-info answer from each. Hosts that are offline, refuse the
copy or do not answer within ``--timeout`` are listed as errors below the table, never
left out; ``--json`` prints every row as the survey returned it. With no host to talk
to (and no ``--entry``), the survey runs on an in-process host for this machine, which
says so on stderr. The exit code is 1 only when no host answered at all.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from paglets.cli.embedded import open_entry
from paglets.cli.entry import ClientOptions
from paglets.cli.fitted_table import Column, print_fitted
from paglets.cli.options import ApiKeyEnv, EmbeddedEntry, Insecure, Json
from paglets.cli.output import console, fail, print_json, print_table
from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.core.sizes import human_size
from paglets.system.host_services import start_host_services
from paglets.system.survey import SurveyPaglet, SurveyState

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Host facts from every online host: summary, load, disk usage, processes.",
)

Timeout = Annotated[float, typer.Option(help="Seconds the survey may take in all.")]
REPLY_MARGIN = 5.0
"""Seconds the CLI waits beyond ``--timeout`` for the collector's own reply."""


def run_survey(
    state: SurveyState, entry: str | None, api_key_env: str | None, insecure: bool
) -> list[dict[str, Any]]:
    """Run one survey from the entry host and return its rows (entry host first).

    Raises:
        PagletError: no entry host, or the collector could not be created or answer.
        ValueError: bad options (an unset ``--api-key-env`` variable...).
    """
    options = ClientOptions(
        timeout=state.timeout + REPLY_MARGIN, api_key_env=api_key_env, insecure=insecure
    )
    with open_entry(entry, options) as found:
        if found.host is not None:
            start_host_services(found.host)
        collector = found.client.create(SurveyPaglet, state)
        try:
            rows: list[dict[str, Any]] = collector.send(
                Message("survey"), timeout=state.timeout + REPLY_MARGIN
            )
        finally:
            try:
                collector.dispose(timeout=REPLY_MARGIN)
            except PagletError:
                pass  # the entry host went away; nothing of ours is left to clean
    return rows


def _survey_or_fail(
    state: SurveyState, entry: str | None, api_key_env: str | None, insecure: bool
) -> list[dict[str, Any]]:
    try:
        return run_survey(state, entry, api_key_env, insecure)
    except ValueError as exc:
        fail(str(exc))
    except PagletError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


def _finish(question: str, rows: list[dict[str, Any]], json_output: bool, seconds: float) -> None:
    """Print the errors table (or the JSON) and exit 1 when no host answered."""
    if json_output:
        print_json({"question": question, "seconds": round(seconds, 3), "hosts": rows})
    else:
        failed = [row for row in rows if not row["ok"]]
        if failed:
            print_fitted(
                "hosts without an answer",
                [Column("host", 1), Column("address", 3, 10), Column("error", 2, 20)],
                [[r["host"], r["address"], r["error"]] for r in failed],
            )
        answered = len(rows) - len(failed)
        console.print(
            f"{answered} of {len(rows)} hosts answered in {seconds:.2f}s", highlight=False
        )
    if rows and not any(row["ok"] for row in rows):
        raise typer.Exit(1)


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["ok"] and isinstance(row.get("data"), dict)]


def _since(epoch: float) -> str:
    seconds = max(0.0, time.time() - epoch)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


@app.command()
def summary(
    entry: EmbeddedEntry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Platform, Python, CPUs, RAM and uptime of every online host."""
    started = time.monotonic()
    rows = _survey_or_fail(
        SurveyState(question="summary", timeout=timeout), entry, api_key_env, insecure
    )
    if not json_output:
        print_fitted(
            "hosts",
            [
                Column("host", 1, 6),
                Column("platform", 4, 12),
                Column("python", 5, 8),
                Column("cpus", 2, 4, "right"),
                Column("ram", 2, 6, "right"),
                Column("up", 3, 6, "right"),
            ],
            [
                [
                    d["host"],
                    d["platform"],
                    d["python"],
                    f"{d['cpu_logical']}/{d['cpu_physical']}",
                    human_size(d["memory_total"]),
                    _since(d["boot_time"]),
                ]
                for d in (row["data"] for row in _ok(rows))
            ],
            caption="cpus: logical/physical",
        )
    _finish("summary", rows, json_output, time.monotonic() - started)


@app.command()
def load(
    entry: EmbeddedEntry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """CPU, load average, memory, swap and GPUs of every online host."""
    started = time.monotonic()
    rows = _survey_or_fail(
        SurveyState(question="load", timeout=timeout), entry, api_key_env, insecure
    )
    if not json_output:
        table = []
        for d in (row["data"] for row in _ok(rows)):
            used = d["memory_total"] - d["memory_available"]
            gpus = ", ".join(f"{g['name']} {g['utilization']:.0f}%" for g in d.get("gpus") or ())
            table.append(
                [
                    d["host"],
                    f"{d['cpu_percent']:.0f}%",
                    f"{d['load_1']:.2f} {d['load_5']:.2f} {d['load_15']:.2f}",
                    f"{human_size(used)} / {human_size(d['memory_total'])}",
                    f"{d['swap_percent']:.0f}%",
                    gpus or "-",
                ]
            )
        print_fitted(
            "load",
            [
                Column("host", 1, 6),
                Column("cpu", 1, 4, "right"),
                Column("load 1/5/15", 2, 8),
                Column("memory used", 2, 10),
                Column("swap", 3, 4, "right"),
                Column("gpus", 4, 8),
            ],
            table,
        )
    _finish("load", rows, json_output, time.monotonic() - started)


@app.command()
def df(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Paths on each host (default: every mounted file system)."),
    ] = None,
    entry: EmbeddedEntry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Disk usage per path on every online host (paths are each host's own)."""
    started = time.monotonic()
    state = SurveyState(question="df", paths=list(paths or []), timeout=timeout)
    rows = _survey_or_fail(state, entry, api_key_env, insecure)
    if not json_output:
        table, unreadable = [], []
        for d in (row["data"] for row in _ok(rows)):
            for disk in d["disks"]:
                if disk["error"]:
                    unreadable.append([d["host"], disk["path"], disk["error"]])
                    continue
                table.append(
                    [
                        d["host"],
                        disk["path"],
                        disk["mountpoint"],
                        human_size(disk["total"]),
                        human_size(disk["used"]),
                        human_size(disk["free"]),
                        f"{disk['percent']:.0f}%",
                    ]
                )
        print_fitted(
            "disk usage",
            [
                Column("host", 1, 6),
                Column("path", 1, 10),
                Column("mounted on", 4, 10),
                Column("size", 3, 6, "right"),
                Column("used", 3, 6, "right"),
                Column("free", 2, 6, "right"),
                Column("use", 1, 4, "right"),
            ],
            table,
        )
        if unreadable:
            print_table("paths that could not be read", ["host", "path", "error"], unreadable)
    _finish("df", rows, json_output, time.monotonic() - started)


@app.command()
def ps(
    query: Annotated[str, typer.Argument(help="A pid, or part of a process name or command.")],
    limit: Annotated[int, typer.Option(help="Most processes shown per host.")] = 20,
    entry: EmbeddedEntry = None,
    timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None,
    insecure: Insecure = False,
    json_output: Json = False,
) -> None:
    """Processes matching QUERY on every online host, busiest first."""
    if limit < 0:
        fail("--limit must not be negative")
    started = time.monotonic()
    state = SurveyState(question="ps", query=query, limit=limit, timeout=timeout)
    rows = _survey_or_fail(state, entry, api_key_env, insecure)
    if not json_output:
        table, counts = [], []
        for d in (row["data"] for row in _ok(rows)):
            counts.append(f"{d['host']} {len(d['processes'])}/{d['matched']}")
            for proc in d["processes"]:
                table.append(
                    [
                        d["host"],
                        proc["pid"],
                        proc["user"],
                        f"{proc['cpu_percent']:.0f}%",
                        human_size(proc["memory_rss"]),
                        proc["name"],
                        proc["command"],
                    ]
                )
        print_fitted(
            f"processes matching {query!r}",
            [
                Column("host", 1, 6),
                Column("pid", 1, 5, "right"),
                Column("user", 4, 6),
                Column("cpu", 2, 4, "right"),
                Column("rss", 3, 7, "right"),
                Column("name", 2, 8),
                Column("command", 5, 16),
            ],
            table,
            caption="shown/matched: " + ", ".join(counts),
        )
    _finish("ps", rows, json_output, time.monotonic() - started)


def main() -> None:
    """Entry point of ``paglets-sysinfo``."""
    app()


if __name__ == "__main__":
    main()
