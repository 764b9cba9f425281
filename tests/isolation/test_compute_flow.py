"""How a compute job travels: a paglet from submission, inactive while it waits."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from compute_jobs import GateJob, GateState, SleepJob, SleepState

from helpers import TIMEOUT, wait_for
from host_process import start_host_process, stop_process
from paglets.core.agent import INACTIVE
from paglets.core.context_events import ARRIVAL, CREATE, DISPATCH
from paglets.core.errors import PagletError
from paglets.runtime.host import Host
from paglets.system.compute_job import submit_compute_job, wait_compute_job
from paglets.system.compute_slots import ask

JOB_TIMEOUT = 6 * TIMEOUT
ONE_CPU = {"compute_cpus": (0,), "compute_max_load_per_cpu": None}


def _row(host: Host, job_id: str) -> dict[str, object]:
    (row,) = [j for j in ask(host, host.address, "status")["jobs"] if j["job_id"] == job_id]
    return dict(row)


def test_a_waiting_job_is_an_inactive_paglet_its_queue_row_names(  # type: ignore[no-untyped-def]
    compute_host, tmp_path: Path
) -> None:
    host: Host = compute_host("slots", persistence_dir=tmp_path / "store", **ONE_CPU)
    gate = tmp_path / "gate"
    busy = submit_compute_job(host, GateJob, GateState(gate=str(gate)))
    queued = submit_compute_job(host, SleepJob, SleepState(seconds=0.0))
    assert (busy.decision, queued.decision) == ("run", "wait")
    paglet = str(_row(host, queued.job_id)["job_paglet"])
    assert _row(host, queued.job_id)["agent_id"] == ""  # no process runs it
    inactive = wait_for(lambda: paglet in {p.agent_id for p in host.get_proxies(INACTIVE)})
    assert inactive
    info = host.get_proxy(paglet).info()
    assert not info["active"] and not info.get("pid")
    gate.touch()
    assert wait_compute_job(host, busy, JOB_TIMEOUT)["outcome"] == "succeeded"
    entry = wait_compute_job(host, queued, JOB_TIMEOUT)
    assert entry["outcome"] == "succeeded" and entry["result"]["cpus"] == [0]
    assert host.get_proxy(paglet) is None  # disposed once its end was recorded


def test_a_job_dispatches_itself_to_the_host_that_runs_it(compute_host) -> None:  # type: ignore[no-untyped-def]
    alpha: Host = compute_host("alpha", compute_cpus=(0,), compute_reserved_cpus=(0,))
    beta: Host = compute_host("beta", peers=[alpha.address], **ONE_CPU)
    alpha.wait_for_host("beta", TIMEOUT)
    seen: list[object] = []
    alpha.add_listener(seen.append)
    beta.add_listener(seen.append)
    job = submit_compute_job(alpha, SleepJob, SleepState(seconds=0.0), target=beta.address)
    assert job.host == "beta" and job.decision == "run"
    assert wait_compute_job(alpha, job, JOB_TIMEOUT)["outcome"] == "succeeded"
    kinds = {(getattr(e, "kind", ""), getattr(e, "host_name", "")): e for e in seen}
    created = kinds[(CREATE, "alpha")]
    assert getattr(kinds[(DISPATCH, "alpha")], "agent_id", "") == created.agent_id  # type: ignore[attr-defined]
    assert getattr(kinds[(ARRIVAL, "beta")], "agent_id", "") == created.agent_id  # type: ignore[attr-defined]


def test_a_submit_through_a_host_without_compute_slots_fails_clearly(  # type: ignore[no-untyped-def]
    make_host,
) -> None:
    bare: Host = make_host("bare")
    with pytest.raises(PagletError, match="compute slots"):
        submit_compute_job(bare, SleepJob, SleepState(seconds=0.0), target=bare.address)


def test_a_job_lost_with_its_killed_host_runs_again_after_the_restart(  # type: ignore[no-untyped-def]
    compute_host, tmp_path: Path
) -> None:
    """Its paglet died with the process; the queue row's copy brings it back."""
    home: Host = compute_host("home", **ONE_CPU)
    here = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, *sys.path])}
    env["PAGLETS_MAX_LOAD_PER_CPU"] = "none"
    store = tmp_path / "store"
    options = ("--name", "worker", "--peer", home.address, "--persistence-dir", str(store),
               "--allow-module", "compute_jobs")  # fmt: skip
    process, address = start_host_process(*options, env=env, insecure=False)
    gate = tmp_path / "gate"
    try:
        state = GateState(gate=str(gate), rerun_if_lost=True)
        job = submit_compute_job(home, GateJob, state, target=address)
        assert job.host == "worker" and job.decision == "run"
        wait_for(lambda: _row_at(home, address, job.job_id)["agent_id"], JOB_TIMEOUT)
    finally:
        stop_process(process, signal.SIGKILL)
    gate.touch()  # the run after the restart passes at once
    again, address = start_host_process(*options, env=env, insecure=False)
    try:
        entry = wait_compute_job(home, replace(job, address=address), JOB_TIMEOUT)
        assert entry["outcome"] == "succeeded", entry
    finally:
        stop_process(again)


def _row_at(where: Host, address: str, job_id: str) -> dict[str, object]:
    rows = [j for j in ask(where, address, "status")["jobs"] if j["job_id"] == job_id]
    return dict(rows[0]) if rows else {"agent_id": ""}


def test_a_job_stopped_while_it_places_itself_places_itself_after_the_restart(  # type: ignore[no-untyped-def]
    make_host, compute_host, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    bare: Host = make_host("keeper", persistence_dir=store)  # no slots yet: it waits for them
    state = SleepState(seconds=0.0, label="stopped-while-placing", job_id="placing-1")
    proxy = bare.create(SleepJob, state)  # as submit_compute_job creates it, on a bare host
    slot = bare._registry.get(proxy.agent_id)
    assert slot is not None and wait_for(lambda: slot.run_alive)  # placing itself
    bare.stop()
    host: Host = compute_host("keeper", persistence_dir=store, **ONE_CPU)

    def ended() -> list[dict[str, object]]:
        history = ask(host, host.address, "history")
        return [entry for entry in history if entry["label"] == "stopped-while-placing"]

    (entry,) = wait_for(ended, timeout=JOB_TIMEOUT)
    assert entry["outcome"] == "succeeded", entry
