"""``paglets jobs``: compute slots across the mesh.

``status``, ``queue``, ``why``, ``ps``, ``top``, ``hosts``, ``history``, ``groups`` and
``rm``. Status, history, ps and groups cover every online host by default, one
section or column per host; ``--host NAME`` narrows them (:mod:`paglets.cli.jobs_common`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paglets.cli.compute_groups import groups
from paglets.cli.embedded import Entry
from paglets.cli.jobs_common import (
    QUEUED,
    EntryOption,
    HostOption,
    Timeout,
    each_host,
    hosts_of,
    print_status,
    print_table,
    run_on_entry,
)
from paglets.cli.jobs_views import hosts, ps, top
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.core.errors import PagletError
from paglets.core.sizes import human_size
from paglets.system.compute_slots import ask

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Compute jobs and slots.")
app.command("ps")(ps)
app.command("top")(top)
app.command("hosts")(hosts)
app.command("groups")(groups)

__all__ = [
    "EntryOption",
    "HostOption",
    "Timeout",
    "app",
    "each_host",
    "history",
    "hosts_of",
    "print_status",
    "print_table",
    "rm",
    "run_on_entry",
]


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
            over = " (over memory)" if e.get("memory") and e["peak_rss"] > e["memory"] else ""
            rows.append([item["host"], e["job_id"][:8], e["label"], e["outcome"] + over,
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
                    if job.get("status") == "running" and not force:
                        raise PagletError(
                            f"job {job['job_id']} is running on {item['host']}; --force kills it"
                        )
                    args = {"job_id": job["job_id"], "force": force}
                    address = item["answer"]["address"]
                    return {"host": item["host"], **ask(found.client, address, "cancel", args)}
        raise PagletError(f"no queued or running job {job_id} on any host asked")

    answer = run_on_entry(entry, timeout, api_key_env, insecure, cancel)
    if json_output:
        print_json(answer)
    else:
        print(f"cancelled {answer['job_id']} on {answer['host']} (it was {answer['was']})")
