"""``paglets jobs ps``, ``top`` and ``hosts``: the mesh's jobs and slots at a glance."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs_common import (
    EntryOption,
    HostOption,
    Timeout,
    age,
    cpu_ranges,
    each_host,
    hosts_of,
    print_table,
    run_on_entry,
)
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.core.sizes import human_size

MAX_TOP_ROUNDS = 100_000
"""``top --watch`` stops after this many refreshes (Ctrl-C stops it sooner)."""


def job_rows(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every queued and running job of the answers, with its host, running ones first."""
    jobs = [
        {"host": item["host"], **job}
        for item in answers
        if "answer" in item
        for job in item["answer"]["jobs"]
    ]
    jobs.sort(key=lambda j: (j["status"] != "running", j["submitted"]))
    return jobs


def _flag(job: dict[str, Any]) -> str:
    return " (over memory)" if job.get("over_memory") else ""


def ps(
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Every queued and running job of every online host, one row per job."""
    answers = run_on_entry(
        entry, timeout, api_key_env, insecure, lambda f: each_host(f, host, "status")
    )
    jobs = job_rows(answers)
    if json_output:
        print_json(jobs)
        return
    print_table(
        "jobs",
        ["host", "job", "label", "status", "cores", "cpus", "age", "RSS"],
        [[j["host"], j["job_id"][:8], j["label"], j["status"] + _flag(j), j["cpu_cores"],
          cpu_ranges(j["cpus"]), age(j["started"] or j["submitted"]),
          human_size(j["usage"].get("rss", 0)) if j["usage"] else ""]
         for j in jobs],
    )  # fmt: skip
    _errors(answers)


def _errors(answers: list[dict[str, Any]]) -> None:
    for item in answers:
        if "error" in item:
            print(f"{item['host']}: {item['error']}")


def _top_rows(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    running = [j for j in job_rows(answers) if j["status"] == "running"]
    running.sort(key=lambda j: -float(j["usage"].get("cpu_percent", 0.0) or 0.0))
    return running


def top(
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Running jobs of every online host, busiest first: CPU %, RSS, work dir, peaks."""

    def rounds(found: Entry) -> None:
        for _ in range(MAX_TOP_ROUNDS if watch else 1):
            answers = each_host(found, host, "status")
            running = _top_rows(answers)
            if json_output:
                print_json(running)
            else:
                print_table(
                    "running jobs",
                    ["host", "job", "label", "CPU %", "RSS", "peak RSS", "work"],
                    [[j["host"], j["job_id"][:8], j["label"] + _flag(j),
                      j["usage"].get("cpu_percent", ""), human_size(j["usage"].get("rss", 0)),
                      human_size(j["usage"].get("peak_rss", 0)),
                      human_size(j["usage"].get("work_bytes", 0))]
                     for j in running],
                )  # fmt: skip
                _errors(answers)
            if watch:
                time.sleep(max(0.2, interval))

    try:
        run_on_entry(entry, timeout, api_key_env, insecure, rounds)
    except KeyboardInterrupt:
        pass


def hosts(
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Every online host's compute slots: cores, queue, RAM, load, tags."""

    def ask_all(found: Entry) -> list[dict[str, Any]]:
        view = found.client.mesh()
        tags = {str(view["self"]["name"]): list(view["self"].get("tags", ()))}
        tags.update({str(p["name"]): list(p.get("tags", ())) for p in view["peers"]})
        rows = []
        for item in each_host(found, host, "status"):
            row: dict[str, Any] = {"host": item["host"], "tags": tags.get(item["host"], [])}
            if "answer" in item:
                s = item["answer"]
                row.update({key: s[key] for key in (
                    "address", "cores_total", "cores_free", "queued", "running",
                    "memory_available", "temp_free", "load", "cpu_count", "max_load_per_cpu",
                )})  # fmt: skip
            else:
                row["error"] = item["error"]
            rows.append(row)
        return rows

    rows = run_on_entry(entry, timeout, api_key_env, insecure, ask_all)
    if json_output:
        print_json(rows)
        return
    print_table(
        "compute hosts",
        ["host", "cores", "queued", "running", "RAM free", "temp free", "load", "tags"],
        [[r["host"], f"{r['cores_free']}/{r['cores_total']}", r["queued"], r["running"],
          human_size(r["memory_available"]), human_size(r["temp_free"]),
          f"{r['load']:.2f}", ",".join(r["tags"])]
         if "error" not in r else [r["host"], "-", "-", "-", "-", "-", "-", r["error"]]
         for r in rows],
    )  # fmt: skip


__all__ = ["hosts", "hosts_of", "job_rows", "ps", "top"]
