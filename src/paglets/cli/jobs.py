"""``paglets jobs``: compute slots across the mesh (status, queue, why, history, rm).

Every command asks the compute-slots paglet of each online host the entry host knows
(``--host NAME`` narrows to one), or of an embedded in-process host when none answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from paglets.cli.embedded import Entry, open_entry
from paglets.cli.entry import ClientOptions
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import console, fail, print_json
from paglets.cli.sizes import human_size
from paglets.core.errors import PagletError
from paglets.system.compute_slots import ask
from paglets.system.host_services import start_host_services

QUEUED = "queued"

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Compute jobs and slots.")

EntryOption = Annotated[str | None, typer.Option("--entry", help="Host name or address.")]
HostOption = Annotated[str | None, typer.Option("--host", help="Only this host (a name).")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]
T = TypeVar("T")


@contextmanager
def _entry(
    entry: str | None, timeout: float, api_key_env: str | None, insecure: bool
) -> Iterator[Entry]:
    try:
        with open_entry(entry, ClientOptions(timeout, api_key_env, insecure)) as found:
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
    action: Callable[[Entry], T],
) -> T:  # fmt: skip
    with _entry(entry, timeout, api_key_env, insecure) as found:
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


def _age(since: float | None) -> str:
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
            [[h, j["job_id"][:8], j["cpu_cores"], _age(j["submitted"]), j["reason"]]
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


@app.command()
def status(
    queue: Annotated[bool, typer.Option("--queue", help="List queued jobs.")] = False,
    jobs: Annotated[bool, typer.Option("--jobs", help="List running jobs.")] = False,
    usage: Annotated[bool, typer.Option("--usage", help="Show running jobs' usage.")] = False,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Free slots, queue and running jobs of every online host."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure, lambda f: each_host(f, host, "status")
    )
    if json_output:
        print_json(answers)
    else:
        print_status(answers, queue, jobs, usage)


@app.command("queue")
def queue_command(
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Queued jobs of every online host, oldest first, with why they wait."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure, lambda f: each_host(f, host, "status")
    )
    if json_output:
        print_json(
            [
                {
                    "host": i["host"],
                    "queued": [j for j in i["answer"]["jobs"] if j["status"] == QUEUED],
                }
                for i in answers
                if "answer" in i
            ]
        )
        return
    print_status(answers, queue=True, jobs=False, usage=False)


@app.command()
def why(
    job_id: Annotated[str, typer.Argument(help="The job id (as status shows it, or whole).")],
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Why a job waits (or where it runs, or how it ended)."""

    def find(found: Entry) -> dict[str, Any]:
        for item in each_host(found, host, "status"):
            for job in item.get("answer", {}).get("jobs", []):
                if job["job_id"].startswith(job_id):
                    address = item["answer"]["address"]
                    answer = ask(found.client, address, "why", {"job_id": job["job_id"]})
                    return {"host": item["host"], **answer}
        for item in each_host(found, host, "history"):
            for entry_ in item.get("answer", []):
                if entry_["job_id"].startswith(job_id):
                    return {
                        "host": item["host"],
                        "job_id": entry_["job_id"],
                        "status": entry_["outcome"],
                        "reason": entry_["error"],
                        "ahead": 0,
                    }
        raise PagletError(f"no job {job_id} on any host asked")

    answer = run_on_entry(entry, timeout, api_key_env, insecure, find)
    if json_output:
        print_json(answer)
        return
    ahead = f" ({answer['ahead']} ahead of it)" if answer.get("ahead") else ""
    print(f"{answer['job_id']} on {answer['host']}: {answer['status']}{ahead}")
    if answer.get("reason"):
        print(f"  {answer['reason']}")


@app.command()
def history(
    limit: Annotated[int, typer.Option(help="Jobs per host.")] = 20,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """The last finished jobs of every online host: outcome, runtime and peaks."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure,
        lambda f: each_host(f, host, "history", {"limit": limit}),
    )  # fmt: skip
    if json_output:
        print_json(answers)
        return
    rows = []
    for item in answers:
        for e in item.get("answer", []):
            runtime = e["ended"] - e["started"] if e.get("started") else 0.0
            rows.append([item["host"], e["job_id"][:8], e["label"], e["outcome"],
                         f"{runtime:.1f}s", human_size(e["peak_rss"])])  # fmt: skip
    print_table("finished jobs", ["host", "job", "label", "outcome", "ran", "peak RSS"], rows)


@app.command()
def rm(
    job_id: Annotated[str, typer.Argument(help="The job id (whole, or a unique prefix).")],
    force: Annotated[bool, typer.Option("--force", help="Kill it if it runs.")] = False,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Cancel a queued job; a running one only with --force."""

    def cancel(found: Entry) -> dict[str, Any]:
        for item in each_host(found, host, "status"):
            for job in item.get("answer", {}).get("jobs", []):
                if job["job_id"].startswith(job_id):
                    args = {"job_id": job["job_id"], "force": force}
                    address = item["answer"]["address"]
                    return {"host": item["host"], **ask(found.client, address, "cancel", args)}
        raise PagletError(f"no queued or running job {job_id} on any host asked")

    answer = run_on_entry(entry, timeout, api_key_env, insecure, cancel)
    if json_output:
        print_json(answer)
    else:
        print(f"cancelled {answer['job_id']} on {answer['host']} (it was {answer['was']})")
