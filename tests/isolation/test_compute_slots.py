"""Compute slots: admission, the persisted queue, leases, pinning, history (real processes)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from compute_jobs import GateJob, GateState, SleepJob, SleepState
from typer.testing import CliRunner

from helpers import TIMEOUT, wait_for
from paglets.cli.app import app
from paglets.core.errors import HostError
from paglets.runtime.host import Host
from paglets.system.compute.admission import EstimateError
from paglets.system.compute_job import submit_compute_job, wait_compute_job
from paglets.system.compute_slots import ComputeRejectedError, ask, local_service

JOB_TIMEOUT = 6 * TIMEOUT
"""Each job starts a Python process; on a loaded test machine that alone takes seconds."""
ONE_CPU = {"compute_cpus": (0,), "compute_max_load_per_cpu": None}


def test_a_job_runs_pinned_and_its_result_lands_in_the_history(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    job = submit_compute_job(host, SleepJob, SleepState(seconds=0.1))
    assert job.decision == "run" and job.host == "slots"
    entry = wait_compute_job(host, job, JOB_TIMEOUT)
    assert entry["outcome"] == "succeeded", entry
    assert entry["result"]["cpus"] == [0]
    assert entry["peak_rss"] > 0
    status = ask(host, host.address, "status")
    assert status["running"] == 0 and status["cores_free"] == 1
    assert host.info()["active"] == 0  # the job paglet is gone, the service is not counted


def test_a_second_job_waits_then_runs_when_the_first_ends(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    first = submit_compute_job(host, SleepJob, SleepState(seconds=0.5))
    second = submit_compute_job(host, SleepJob, SleepState(seconds=0.0))
    assert first.decision == "run" and second.decision == "wait"
    why = ask(host, host.address, "why", {"job_id": second.job_id})
    assert why["status"] == "queued" and why["reason"] == "waiting for 1 core (0 free)"
    done_first = wait_compute_job(host, first, JOB_TIMEOUT)
    done_second = wait_compute_job(host, second, JOB_TIMEOUT)
    assert done_second["started"] >= done_first["ended"] - 0.01


def test_estimates_that_never_fit_are_rejected_with_the_reason(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    with pytest.raises(ComputeRejectedError, match="needs 2 cores"):
        submit_compute_job(host, SleepJob, SleepState(cpu_cores=2))
    with pytest.raises(EstimateError):
        submit_compute_job(host, SleepJob, SleepState(cpu_cores=0))


def test_a_failing_job_is_reported_and_releases_its_lease(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    job = submit_compute_job(host, SleepJob, SleepState(fail=True))
    entry = wait_compute_job(host, job, JOB_TIMEOUT)
    assert entry["outcome"] == "failed" and "asked to fail" in entry["error"]
    assert local_service(host).cores_free() == 1


def test_the_queue_survives_a_restart(compute_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    closed = {"compute_cpus": (0,), "compute_max_load_per_cpu": -1.0}  # the gate never opens
    host: Host = compute_host("keeper", persistence_dir=store, **closed)
    queued = submit_compute_job(host, SleepJob, SleepState(seconds=0.0))
    assert queued.decision == "wait" and "load per cpu" in queued.reason
    host.stop(timeout=TIMEOUT)
    again: Host = compute_host("keeper", persistence_dir=store, **closed)
    why = ask(again, again.address, "why", {"job_id": queued.job_id})
    assert why["status"] == "queued"
    again.stop(timeout=TIMEOUT)
    opened: Host = compute_host("keeper", persistence_dir=store, **ONE_CPU)
    entry = wait_compute_job(opened, replace(queued, address=opened.address), JOB_TIMEOUT)
    assert entry["outcome"] == "succeeded"


def test_cancel_removes_a_queued_job_and_kills_a_running_one_only_when_forced(compute_host) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    running = submit_compute_job(host, SleepJob, SleepState(seconds=60))
    queued = submit_compute_job(host, SleepJob, SleepState(seconds=0.0))
    assert ask(host, host.address, "cancel", {"job_id": queued.job_id})["was"] == "queued"
    with pytest.raises(HostError, match="force"):
        ask(host, host.address, "cancel", {"job_id": running.job_id})
    status = wait_for(lambda: (s := ask(host, host.address, "status"))["jobs"][0]["agent_id"] and s)
    pid = host.get_proxy(status["jobs"][0]["agent_id"]).info()["pid"]
    ask(host, host.address, "cancel", {"job_id": running.job_id, "force": True})
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    entry = wait_compute_job(host, running, JOB_TIMEOUT)
    assert entry["outcome"] == "cancelled"
    assert local_service(host).cores_free() == 1


def test_a_full_host_redirects_to_a_peer_with_free_slots(compute_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alpha: Host = compute_host("alpha", **ONE_CPU)
    compute_host("beta", peers=[alpha.address], **ONE_CPU)
    alpha.wait_for_host("beta", TIMEOUT)
    # alpha stays full until the gate opens: a timed job could end (and free alpha)
    # before beta's free core reaches alpha's gossip view on a loaded machine
    gate = tmp_path / "gate"
    busy = submit_compute_job(alpha, GateJob, GateState(gate=str(gate)), target=alpha.address)
    assert busy.host == "alpha" and busy.decision == "run"
    wait_for(lambda: alpha.wait_for_host("beta", TIMEOUT).cores_free == 1, JOB_TIMEOUT)
    moved = submit_compute_job(alpha, SleepJob, SleepState(seconds=0.0), target=alpha.address)
    assert moved.host == "beta" and moved.decision == "run"
    assert wait_compute_job(alpha, moved, JOB_TIMEOUT)["outcome"] == "succeeded"
    gate.touch()
    assert wait_compute_job(alpha, busy, JOB_TIMEOUT)["outcome"] == "succeeded"


def test_jobs_rm_leaves_a_running_job_alone_unless_forced(compute_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: Host = compute_host("slots", **ONE_CPU)
    running = submit_compute_job(host, GateJob, GateState(gate=str(tmp_path / "gate")))
    wait_for(lambda: ask(host, host.address, "status")["jobs"][0]["status"] == "running")
    runner = CliRunner()
    refused = runner.invoke(app, ["jobs", "rm", running.job_id[:8], "--entry", host.address])
    assert refused.exit_code == 1, refused.output
    assert f"job {running.job_id} is running on slots; --force kills it" in refused.stderr
    assert "Traceback" not in refused.output
    assert ask(host, host.address, "status")["running"] == 1
    forced = runner.invoke(
        app, ["jobs", "rm", running.job_id[:8], "--force", "--entry", host.address]
    )
    assert forced.exit_code == 0, forced.output
    assert f"cancelled {running.job_id} on slots (it was running)" in forced.stdout
    assert wait_compute_job(host, running, JOB_TIMEOUT)["outcome"] == "cancelled"
