"""Job groups, memory policy and lost hosts (real job processes, one real host killed)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from compute_jobs import CollectingSleepJob, CollectingSleepState, HogState, MemoryHogJob
from typer.testing import CliRunner

from helpers import TIMEOUT, wait_for
from host_process import start_host_process, stop_process
from paglets.cli.app import app
from paglets.cli.compute_groups import app as groups_app
from paglets.core.messages import Message
from paglets.runtime.host import Host
from paglets.system.compute_groups import (
    collector_proxy,
    group_summary,
    submit_compute_job_group,
    wait_group,
)
from paglets.system.compute_job import submit_compute_job, wait_compute_job
from paglets.system.compute_slots import ask

JOB_TIMEOUT = 6 * TIMEOUT
ONE_CPU = {"compute_cpus": (0,), "compute_max_load_per_cpu": None}
MB = 1024 * 1024


def test_a_group_collects_each_result_and_failure_exactly_once(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("home", **ONE_CPU)
    states = [CollectingSleepState(value=n) for n in range(3)]
    states.append(CollectingSleepState(value=9, fail=True))
    states.append(CollectingSleepState(value=7, cpu_cores=64))  # never fits: rejected
    group = submit_compute_job_group(host, CollectingSleepJob, states, label="squares")
    summary = wait_group(host, group, JOB_TIMEOUT)
    assert summary["complete"], summary
    assert summary["total"] == 5 and summary["succeeded"] == 3 and summary["failed"] == 2
    squares = sorted(r["square"] for r in summary["results"].values())
    assert squares == [0, 1, 4]
    failures = list(summary["failures"].values())
    assert any("asked to fail" in text for text in failures)
    assert any("rejected" in text and "64 cores" in text for text in failures)
    # a repeated report (the slots retry) changes nothing
    first = group.job_ids[0]
    repeat = {"job_id": first, "outcome": "failed", "error": "late", "result": None}
    assert collector_proxy(host, group).send(Message("job-finished", repeat)) is False
    again = group_summary(host, group)
    assert again["succeeded"] == 3 and again["duplicates"] == 1
    assert first in again["results"]
    listed = CliRunner().invoke(app, ["jobs", "groups", "--entry", host.address, "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["group_id"] == group.group_id and row["succeeded"] == 3 and row["failed"] == 2
    shown = CliRunner().invoke(groups_app, ["show", group.group_id[:8], "--entry", host.address])
    assert shown.exit_code == 0, shown.output
    assert "3 succeeded, 2 failed" in shown.stdout


def test_a_collector_placed_elsewhere_returns_home_when_complete(compute_host) -> None:  # type: ignore[no-untyped-def]
    home: Host = compute_host("home", **ONE_CPU)
    away: Host = compute_host("away", peers=[home.address], **ONE_CPU)
    home.wait_for_host("away", TIMEOUT)
    states = [CollectingSleepState(value=n) for n in range(2)]
    group = submit_compute_job_group(
        home, CollectingSleepJob, states, return_home_when_complete=True, collector_host="away"
    )
    assert group.collector_url == away.address
    assert wait_group(home, group, JOB_TIMEOUT)["succeeded"] == 2
    wait_for(lambda: home.get_proxy(group.collector_id, include_inactive=False), JOB_TIMEOUT)
    assert group_summary(home, group)["host"] == "home"


def test_a_job_over_its_memory_estimate_is_killed_by_policy(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    events: list[object] = []
    host.add_listener(events.append)
    kill = HogState(megabytes=200, hold=30.0, memory=120 * MB, memory_policy="kill")
    job = submit_compute_job(host, MemoryHogJob, kill)
    entry = wait_compute_job(host, job, JOB_TIMEOUT)
    assert entry["outcome"] == "killed" and "memory estimate" in entry["error"], entry
    assert entry["peak_rss"] > 120 * MB and entry["ended"] - entry["started"] < 30.0
    assert any(getattr(e, "kind", "") == "compute-over-memory" for e in events)
    report = HogState(megabytes=200, hold=1.0, memory=120 * MB)  # policy "report"
    kept = wait_compute_job(host, submit_compute_job(host, MemoryHogJob, report), JOB_TIMEOUT)
    assert kept["outcome"] == "succeeded" and kept["peak_rss"] > kept["memory"]


def test_a_killed_host_s_job_is_reported_lost_and_run_again(compute_host) -> None:  # type: ignore[no-untyped-def]
    home: Host = compute_host("home", **ONE_CPU)
    here = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, *sys.path])}
    env["PAGLETS_MAX_LOAD_PER_CPU"] = "none"
    process, address = start_host_process(
        "--name", "doomed", "--peer", home.address, "--tag", "doomed",
        "--allow-module", "compute_jobs", env=env, insecure=False,
    )  # fmt: skip
    try:
        home.wait_for_host("doomed", TIMEOUT)
        wait_for(lambda: home.wait_for_host("doomed", TIMEOUT).cores_free > 0, JOB_TIMEOUT)
        states = [
            CollectingSleepState(value=3, seconds=60, slow_on="doomed", rerun_if_lost=True),
            CollectingSleepState(value=4, seconds=60, slow_on="doomed"),
        ]
        for state in states:
            state.prefer_tags = ["doomed"]
        group = submit_compute_job_group(home, CollectingSleepJob, states)
        running = wait_for(
            lambda: (
                len([j for j in ask(home, address, "status")["jobs"] if j["agent_id"]]) == 2
                and ask(home, address, "status")["jobs"]
            ),
            JOB_TIMEOUT,
        )
        assert len(running) == 2
    finally:
        stop_process(process, signal.SIGKILL)
    summary = wait_group(home, group, JOB_TIMEOUT)
    lost = {entry["job_id"]: entry for entry in summary["lost"]}
    assert set(lost) == set(group.job_ids), summary
    assert all(entry["host"] == "doomed" for entry in lost.values())
    rerun, reported = group.job_ids
    assert lost[rerun]["rerun"] and not lost[reported]["rerun"]
    assert "went offline" in summary["failures"][reported]
    assert summary["results"][rerun] == {"square": 9, "host": "home"}  # run again at home
