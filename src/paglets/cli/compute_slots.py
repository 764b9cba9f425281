"""``paglets-compute-slots``: the classic command (status, jobs, cancel, candidates)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs import history, rm
from paglets.cli.jobs_common import (
    EntryOption,
    HostOption,
    Timeout,
    each_host,
    hosts_of,
    print_status,
    print_table,
    run_on_entry,
)
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.system.compute.admission import JobEstimate
from paglets.system.compute_slots import ask

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Compute slots of the mesh.")
jobs_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Jobs of the slots.")
app.add_typer(jobs_app, name="jobs")
app.command("cancel")(rm)
jobs_app.command("history")(history)


@app.command()
def status(
    queue: Annotated[bool, typer.Option("--queue", help="List queued jobs.")] = False,
    jobs: Annotated[bool, typer.Option("--jobs", help="List running jobs.")] = False,
    blocked: Annotated[bool, typer.Option("--blocked", help="Queued jobs and why.")] = False,
    usage: Annotated[bool, typer.Option("--usage", help="Running jobs' usage.")] = False,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Free slots of every online host (and its queue, jobs, usage)."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure, lambda f: each_host(f, host, "status")
    )
    if json_output:
        print_json(answers)
    else:
        print_status(answers, queue or blocked, jobs, usage)


@jobs_app.command("list")
def jobs_list(
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Queued and running jobs of every online host."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure, lambda f: each_host(f, host, "status")
    )
    if json_output:
        print_json(
            [{"host": i["host"], "jobs": i.get("answer", {}).get("jobs", [])} for i in answers]
        )
    else:
        print_status(answers, queue=True, jobs=True, usage=False)


@jobs_app.command("clear")
def jobs_clear(
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Forget the finished-job history of every online host."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure, lambda f: each_host(f, host, "clear-history")
    )
    if json_output:
        print_json(answers)
        return
    for item in answers:
        print(f"{item['host']}: {item.get('answer', item.get('error'))} cleared")


@app.command()
def candidates(
    cpu_cores: Annotated[int, typer.Option(help="Cores the job needs.")] = 1,
    memory: Annotated[int, typer.Option(help="RAM bytes the job needs.")] = 0,
    temp_storage: Annotated[int, typer.Option(help="Temp storage bytes it needs.")] = 0,
    entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Hosts that could take a job of this size now, and why the others cannot."""
    try:
        estimate = JobEstimate(cpu_cores, memory, temp_storage)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    def rank(found: Entry) -> list[dict[str, Any]]:
        rows = []
        for name, address in hosts_of(found, None):
            s = ask(found.client, address, "status")
            why = ""
            if s["cores_free"] < estimate.cpu_cores:
                why = f"{s['cores_free']} cores free"
            elif s["memory_available"] - s["memory_leased"] < estimate.memory:
                why = "not enough RAM free"
            elif s["temp_free"] - s["temp_leased"] < estimate.temp_storage:
                why = "not enough temp storage free"
            rows.append({"host": name, "address": address, "fits": not why, "why": why,
                         "cores_free": s["cores_free"]})  # fmt: skip
        rows.sort(key=lambda r: (not r["fits"], -r["cores_free"], r["host"]))
        return rows

    rows = run_on_entry(entry, timeout, api_key_env, insecure, rank)
    if json_output:
        print_json(rows)
        return
    print_table(
        "candidates",
        ["host", "fits", "free", "why not"],
        [[r["host"], "yes" if r["fits"] else "no", r["cores_free"], r["why"]] for r in rows],
    )


def main() -> None:
    """Entry point of ``paglets-compute-slots``."""
    app()
