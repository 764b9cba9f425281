"""``paglets examples analysis`` (classic ``paglets-analysis-jobs``): a campaign of jobs.

It submits ``--tasks`` :class:`~paglets.examples.analysis_jobs.AnalysisJobPaglet`
compute jobs as one job group (each one core by default, placed by the compute
slots of the mesh). The group's collector,
:class:`~paglets.examples.analysis_collector.AnalysisCollectorPaglet`, lives on the
home host (the entry host, or the in-process host when no host runs) and writes
one row per task to the SQLite file ``--db`` there: when the job is placed
(``status`` = the slots' decision), then when it ends (``status`` = its outcome,
with the figures of :func:`~paglets.examples.analysis_jobs.run_analysis`). This
command only creates the file's table up front and reads the rows back.

``--no-wait`` submits and returns: the collector stays on the entry host and keeps
writing the rows as the jobs end (``paglets-compute-groups dispose`` removes it
afterwards). It needs a host that outlives the command, so it is refused when the
command runs on an in-process host.
"""

from __future__ import annotations

import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs import EntryOption, Timeout, print_table, run_on_entry
from paglets.cli.jobs_common import MaxLoad, compute_example_host
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import fail, print_json
from paglets.cli.sizes import parse_size
from paglets.core.errors import ReplyTimeoutError
from paglets.examples.analysis_collector import (
    AnalysisCollectorPaglet,
    AnalysisCollectorState,
    campaign_rows,
    results_db,
)
from paglets.examples.analysis_jobs import AnalysisJobPaglet, AnalysisJobState
from paglets.system.compute_groups import (
    collector_proxy,
    group_summary,
    submit_compute_job_group,
    wait_group,
)

LIMITS = {"tasks": 10_000, "rows": 10_000_000, "features": 10_000, "trees": 100_000}


def campaign_states(
    tasks: int, rows: int, features: int, trees: int, target_runtime: float,
    cpu_cores: int, memory: int, temp_storage: int, seed: int,
) -> list[AnalysisJobState]:  # fmt: skip
    """One job state per task, seeds ``seed``, ``seed + 1``, ..."""
    return [
        AnalysisJobState(
            task=task,
            seed=seed + task,
            rows=rows,
            features=features,
            trees=trees,
            target_runtime=target_runtime,
            cpu_cores=cpu_cores,
            memory=memory,
            temp_storage=temp_storage,
            label=f"analysis {task + 1}/{tasks}",
        )  # fmt: skip
        for task in range(tasks)
    ]


def run_campaign(
    where: Any, states: list[AnalysisJobState], db: Path, timeout: float, wait: bool
) -> dict[str, Any]:
    """Submit the states' jobs as a group whose collector writes ``db``; read the rows.

    Returns:
        ``{"campaign", "db", "rows": [one map per task]}``.

    Raises:
        sqlite3.Error, OSError: ``db`` cannot be used (checked before submitting).
        ReplyTimeoutError: the jobs did not all end within ``timeout``.
    """
    campaign = uuid.uuid4().hex
    with results_db(db):  # a bad file fails here, before any job exists
        pass
    collector = AnalysisCollectorState(db=str(db), campaign=campaign)
    group = submit_compute_job_group(
        where, AnalysisJobPaglet, list(states), label="analysis",
        collector_cls=AnalysisCollectorPaglet, collector_state=collector,
    )  # fmt: skip
    summary = group_summary(where, group, results=False)
    for entry in sorted(summary["placed"].values(), key=lambda e: int(e.get("index", 0))):
        if entry.get("decision") == "wait":
            print(f"task {entry.get('index')} waits on {entry.get('host')}: "
                  f"{entry.get('reason')}", file=sys.stderr)  # fmt: skip
    if wait:
        summary = wait_group(where, group, timeout)
        collector_proxy(where, group).dispose()
        if not summary["complete"]:
            raise ReplyTimeoutError(f"the jobs did not all end within {timeout}s")
    if summary.get("db_error"):
        raise OSError(summary["db_error"])
    return {"campaign": campaign, "db": str(db), "rows": campaign_rows(db, campaign)}


def check_options(values: dict[str, float]) -> None:
    """Refuse options out of range.

    Raises:
        ValueError: one is out of range (the text names it).
    """
    for name, limit in LIMITS.items():
        if not 1 <= values[name] <= limit:
            raise ValueError(f"--{name} must be from 1 to {limit}")
    if values["rows"] < 10:
        raise ValueError("--rows must be at least 10 (a fifth of them are the test set)")
    if not 0 <= values["target_runtime"] <= 86_400:
        raise ValueError("--target-runtime must be from 0 to 86400 seconds")
    if values["cpu_cores"] < 1:
        raise ValueError("--cpu-cores must be at least 1")


COLUMNS = ["task", "host", "status", "test acc", "train acc", "seconds"]


def analysis(
    tasks: Annotated[int, typer.Option(help="Compute jobs to submit.")] = 20,
    db: Annotated[Path, typer.Option(help="SQLite file the results go to.")] = Path(
        "analysis_results.sqlite"
    ),
    rows: Annotated[int, typer.Option(help="Samples in each job's data set.")] = 2000,
    features: Annotated[int, typer.Option(help="Features per sample.")] = 16,
    trees: Annotated[int, typer.Option(help="Trees in each job's forest.")] = 30,
    target_runtime: Annotated[float, typer.Option(help="Seconds each job runs at least.")] = 150.0,
    memory: Annotated[str, typer.Option(help="RAM estimate per job (e.g. 256M).")] = "256M",
    cpu_cores: Annotated[int, typer.Option(help="CPU cores per job.")] = 1,
    temp_storage: Annotated[str, typer.Option(help="Scratch estimate per job.")] = "0",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for every job.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the first task's data.")] = 1,
    max_load: MaxLoad = None, entry: EntryOption = None, timeout: Timeout = 3600.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Run synthetic analysis jobs across the mesh; results go to an SQLite file."""
    values = {"tasks": tasks, "rows": rows, "features": features, "trees": trees,
              "target_runtime": target_runtime, "cpu_cores": cpu_cores}  # fmt: skip
    try:
        check_options(values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    memory_bytes, temp_bytes = parse_size(memory), parse_size(temp_storage)
    states = campaign_states(
        tasks, rows, features, trees, target_runtime, cpu_cores, memory_bytes, temp_bytes, seed
    )
    path = db.expanduser().resolve()

    def work(found: Entry) -> dict[str, Any]:
        if found.embedded and not wait:
            fail("--no-wait needs a running host: an in-process host ends with this command")
        where = found.host if found.host is not None else found.client
        try:
            return run_campaign(where, states, path, timeout, wait)
        except (sqlite3.Error, OSError) as exc:
            fail(f"cannot use {path} as the results file: {exc}")
        raise AssertionError("unreachable")

    answer = run_on_entry(entry, 30.0, api_key_env, insecure, work, compute_example_host(max_load))
    if json_output:
        print_json(answer)
    else:
        table = [
            [
                r["task"],
                r["host"],
                r["status"],
                r["test_accuracy"],
                r["train_accuracy"],
                r["seconds"],
            ]
            for r in answer["rows"]
        ]
        print_table(f"analysis campaign {answer['campaign'][:8]}", COLUMNS, table)
    print(f"results in {answer['db']} (campaign {answer['campaign']})", file=sys.stderr)
    failed = [r for r in answer["rows"] if r["status"] not in ("succeeded", "run", "wait")]
    if len(answer["rows"]) < len(states):
        fail(f"only {len(answer['rows'])} of {len(states)} tasks have a row in {answer['db']}")
    for row in failed:
        print(f"task {row['task']} {row['status']}: {row['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of ``paglets-analysis-jobs``."""
    typer.run(analysis)
