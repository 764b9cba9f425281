"""``paglets jobs groups`` and the classic ``paglets-compute-groups``: job groups.

A group lives as its :class:`~paglets.system.compute_groups.ResultCollectorPaglet`
on some host; listing asks every online host (``--host NAME`` narrows) for its
collectors and each collector for its summary.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs_common import (
    EntryOption,
    HostOption,
    Timeout,
    age,
    hosts_of,
    print_table,
    run_on_entry,
)
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.core.agent import ACTIVE
from paglets.core.classes import class_path
from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.system.compute_groups import ResultCollectorPaglet

COLLECTOR_CLASS = class_path(ResultCollectorPaglet)

app = typer.Typer(add_completion=False, help="Compute job groups (with no command: list them).")

GroupArgument = Annotated[str, typer.Argument(help="The group id (whole, or a unique prefix).")]


def list_groups(found: Entry, only: str | None, results: bool = False) -> list[dict[str, Any]]:
    """The summary of every group whose collector lives on an asked host."""
    rows: list[dict[str, Any]] = []
    for name, address in hosts_of(found, only):
        try:
            agents = found.client.list_agents(address, ACTIVE)
        except PagletError as exc:
            rows.append({"host": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        for info in agents:
            if info.get("class") != COLLECTOR_CLASS:
                continue
            proxy = found.client.get_proxy(str(info["agent_id"]), address)
            try:
                summary = proxy.send(Message("summary", {"results": results}))
            except PagletError as exc:
                rows.append({"host": name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            rows.append({"host": name, "address": address, **summary})
    return rows


def _find(found: Entry, group_id: str, only: str | None) -> dict[str, Any]:
    matches = [
        row
        for row in list_groups(found, only, results=True)
        if str(row.get("group_id", "")).startswith(group_id)
    ]
    if len(matches) != 1:
        what = "no group" if not matches else f"{len(matches)} groups match"
        raise PagletError(f"{what} {group_id} on the hosts asked")
    return matches[0]


@app.command("list")
def groups(
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Job groups on every online host: done, failed, pending, lost."""
    rows = run_on_entry(entry, timeout, api_key_env, insecure, lambda f: list_groups(f, host))
    if json_output:
        print_json(rows)
        return
    print_table(
        "job groups",
        ["host", "group", "label", "done", "failed", "pending", "lost", "age"],
        [[r["host"], r["group_id"][:8], r["label"], f"{r['succeeded']}/{r['total']}",
          r["failed"], len(r["pending"]), len(r["lost"]), age(r["created"])]
         if "error" not in r else [r["host"], "-", "-", "-", "-", "-", "-", r["error"]]
         for r in rows],
    )  # fmt: skip


@app.command()
def show(
    group_id: GroupArgument,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """One group's summary: each job's result or failure."""
    row = run_on_entry(entry, timeout, api_key_env, insecure, lambda f: _find(f, group_id, host))
    if json_output:
        print_json(row)
        return
    state = "complete" if row["complete"] else f"{len(row['pending'])} pending"
    print(f"group {row['group_id']} ({row['label']}) on {row['host']}: {state}")
    print(f"  {row['succeeded']} succeeded, {row['failed']} failed, {len(row['lost'])} lost")
    table = [[job[:8], "ok", str(value)] for job, value in row.get("results", {}).items()]
    table += [[job[:8], "failed", text] for job, text in row["failures"].items()]
    table += [[job[:8], "pending", ""] for job in row["pending"]]
    print_table("jobs", ["job", "outcome", "result or error"], table)


@app.command()
def dispose(
    group_id: GroupArgument,
    host: HostOption = None, entry: EntryOption = None, timeout: Timeout = 10.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Forget a group: dispose of its collector (jobs still running are not touched)."""

    def drop(found: Entry) -> dict[str, Any]:
        row = _find(found, group_id, host)
        found.client.get_proxy(str(row["collector"]), str(row["address"])).dispose()
        return {"group_id": row["group_id"], "host": row["host"], "disposed": True}

    answer = run_on_entry(entry, timeout, api_key_env, insecure, drop)
    if json_output:
        print_json(answer)
    else:
        print(f"disposed group {answer['group_id']} on {answer['host']}")


@app.callback(invoke_without_command=True)
def _list_by_default(context: typer.Context) -> None:
    if context.invoked_subcommand is None:
        groups()


def main() -> None:
    """Run ``paglets-compute-groups`` (``list`` when no command is given)."""
    app()
