"""``paglets examples analysis`` (classic ``paglets-analysis-jobs``): a campaign of jobs.

It submits ``--tasks`` :class:`~paglets.examples.analysis_jobs.AnalysisJobPaglet`
compute jobs (each one core by default, placed by the compute slots of the mesh),
waits for each, and keeps one row per task in the SQLite file ``--db`` of the home
host: the machine this command runs on, which is the entry host's when that host is
local, or the in-process host's when no host runs. The row is written when the job is
submitted (``status`` = the slots' decision) and completed when it ends (``status`` =
its outcome, with the figures of :func:`~paglets.examples.analysis_jobs.run_analysis`).

``--no-wait`` submits and returns: the rows keep the decision, and the outcomes stay
in the hosts' job history (``paglets jobs history``). It needs a host that outlives
the command, so it is refused when the command runs on an in-process host.

Table ``analysis_results`` (one campaign per run, ``campaign`` a uuid hex):
``campaign, task, job_id, host, status, error, rows, features, trees, train_accuracy,
test_accuracy, accuracy_std, bootstrap_rounds, top_feature, seconds, cpus,
submitted_at, finished_at``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs import EntryOption, Timeout, print_table, run_on_entry
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import fail, print_json
from paglets.cli.sizes import parse_size
from paglets.examples.analysis_jobs import AnalysisJobPaglet, AnalysisJobState
from paglets.system.compute_job import SubmittedJob, submit_compute_job, wait_compute_job

SCHEMA = """
CREATE TABLE IF NOT EXISTS analysis_results (
    campaign TEXT NOT NULL,
    task INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    rows INTEGER,
    features INTEGER,
    trees INTEGER,
    train_accuracy REAL,
    test_accuracy REAL,
    accuracy_std REAL,
    bootstrap_rounds INTEGER,
    top_feature INTEGER,
    seconds REAL,
    cpus TEXT,
    submitted_at REAL NOT NULL,
    finished_at REAL,
    PRIMARY KEY (campaign, task)
)
"""
FIGURES = (
    "rows", "features", "trees", "train_accuracy", "test_accuracy", "accuracy_std",
    "bootstrap_rounds", "top_feature", "seconds",
)  # fmt: skip
LIMITS = {"tasks": 10_000, "rows": 10_000_000, "features": 10_000, "trees": 100_000}


@contextmanager
def results_db(path: Path) -> Iterator[sqlite3.Connection]:
    """The results file, its table created; each ``with conn:`` block is one transaction.

    Raises:
        sqlite3.Error: it cannot be opened or is not an SQLite file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30.0)) as conn:
        with conn:
            conn.execute(SCHEMA)
        yield conn


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
    """Submit every state's job, record it, wait for each (if ``wait``) and record its end.

    Returns:
        ``{"campaign", "db", "rows": [one map per task]}``.

    Raises:
        ComputeRejectedError: a job can never fit (jobs submitted before it stay).
        ReplyTimeoutError: the jobs did not all end within ``timeout``.
    """
    campaign = uuid.uuid4().hex
    with results_db(db) as conn:
        submitted: list[tuple[AnalysisJobState, SubmittedJob]] = []
        for state in states:
            job = submit_compute_job(where, AnalysisJobPaglet, state)
            submitted.append((state, job))
            if job.decision != "run":
                print(f"task {state.task} waits on {job.host}: {job.reason}", file=sys.stderr)
            with conn:
                conn.execute(
                    "INSERT INTO analysis_results (campaign, task, job_id, host, status, "
                    "submitted_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (campaign, state.task, job.job_id, job.host, job.decision, time.time()),
                )
        deadline = time.monotonic() + timeout
        for state, job in submitted if wait else ():
            left = max(1.0, deadline - time.monotonic())
            _record_end(conn, campaign, state.task, wait_compute_job(where, job, left))
        cursor = conn.execute(
            "SELECT * FROM analysis_results WHERE campaign = ? ORDER BY task", (campaign,)
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {"campaign": campaign, "db": str(db), "rows": rows}


def _record_end(conn: sqlite3.Connection, campaign: str, task: int, entry: dict[str, Any]) -> None:
    result = entry.get("result") if isinstance(entry.get("result"), dict) else {}
    assert isinstance(result, dict)
    figures = [result.get(name) for name in FIGURES]
    with conn:
        conn.execute(
            f"UPDATE analysis_results SET status = ?, error = ?, "
            f"{', '.join(f'{name} = ?' for name in FIGURES)}, cpus = ?, finished_at = ? "
            "WHERE campaign = ? AND task = ?",
            (
                entry["outcome"], entry.get("error") or "", *figures,
                json.dumps(result.get("cpus", [])), entry.get("ended") or time.time(),
                campaign, task,
            ),
        )  # fmt: skip


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
    entry: EntryOption = None, timeout: Timeout = 3600.0,
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

    answer = run_on_entry(entry, 30.0, api_key_env, insecure, work)
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
    for row in failed:
        print(f"task {row['task']}: {row['status']} {row['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of ``paglets-analysis-jobs``."""
    typer.run(analysis)
