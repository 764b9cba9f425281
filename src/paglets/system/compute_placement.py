"""How a compute job places itself: dispatch, ask the slots, wait inactive, report.

A job paglet is created on its submitter's host and, while it has no lease, runs
on that host's threads (its class defers its child process). Its ``run()`` calls
:func:`place_job`: it dispatches itself to its target host (the usual exactly-once
hand-off), asks that host's compute slots, and acts on the decision:

- ``run`` or ``wait``: the slots' queue row names the job's paglet; the job
  deactivates itself into the host store (no thread, no process) and the slots
  activate it once its slot is granted, which starts its child pinned to the lease;
- ``redirect``: it dispatches itself onward (at most ``MAX_REDIRECTS`` times);
- ``reject``: it can never fit there; it disposes itself.

Every decision that ends the placement (run, wait, reject, or a failure to get
anywhere) is sent to the compute slots of the submitter's host (``placed``), where
:func:`await_placement` picks it up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from paglets.core.classes import class_path
from paglets.core.errors import (
    HostStoppedError,
    PagletError,
    PeerNotFoundError,
    ReplyTimeoutError,
)
from paglets.persistence.persistency import DeactivationPolicy
from paglets.system.compute.service import encode_job_state
from paglets.system.compute_slots import ask, wait_attached, wake

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
PLACEMENT_TIMEOUT = 120.0
"""Seconds a submitter waits for its job's placement (a dispatch to a busy host)."""
WAITING = DeactivationPolicy(activate_on_message=False, activate_on_start=False)
"""A waiting job stays inactive until its slots activate it (messages are kept)."""
SLOTS_WAIT = 10.0
"""Seconds a job placing itself waits for its host's slots (a host still starting)."""
FAILED = "failed"
"""The placement decision of a job that could not get to any slots."""
RESTART_PATIENCE = 30.0
"""Seconds a report home, or a submitter's wait for it, outlasts a host that is away
(stopped or restarting) before it gives up."""
AWAY = (HostStoppedError, PeerNotFoundError)
"""What a host that is away (stopping, restarting) answers, or what is said for it."""


def _ask_patiently(where: Any, address: str, kind: str, args: dict[str, Any], wait: float) -> Any:
    """``ask``, again every 0.5 s while the host is away, for :data:`RESTART_PATIENCE` s."""
    give_up = time.monotonic() + RESTART_PATIENCE
    while True:
        try:
            return ask(where, address, kind, args, wait)
        except AWAY:
            if time.monotonic() >= give_up:
                raise
            time.sleep(0.5)


def submit_body(job_cls: type[Any], state: Any, job_id: str | None = None) -> dict[str, Any]:
    """The ``submit`` request of one job: class, encoded state, estimates, policy."""
    body: dict[str, Any] = {
        "class": class_path(job_cls),
        "state_class": class_path(type(state)),
        "state": encode_job_state(state),
        "cpu_cores": state.cpu_cores,
        "memory": state.memory,
        "temp_storage": state.temp_storage,
        "label": state.label or job_cls.__name__,
        "require_tags": list(state.require_tags),
        "exclude_tags": list(state.exclude_tags),
        "memory_policy": state.memory_policy,
        "rerun_if_lost": state.rerun_if_lost,
        "collector": dict(getattr(state, "collector", {}) or {}),
        "group_id": str(getattr(state, "group_id", "") or ""),
    }
    if job_id or state.job_id:
        body["job_id"] = job_id or state.job_id
    return body


def place_job(job: Any) -> None:
    """One placement step of ``job`` (a ComputeJobPaglet in its ``run()``, on a host thread)."""
    state, context = job.state, job.context
    here = (context.address, context.name)
    if state.target and state.target not in here:
        try:
            job.dispatch(state.target)
        except PagletError as exc:
            _end(job, FAILED, f"could not reach host {state.target}: {exc}")
        return  # it runs this again on arrival
    body = submit_body(type(job), state)
    body["agent_id"] = job.agent_id
    body["redirect"] = state.hops < MAX_REDIRECTS
    wait_attached(context.address, SLOTS_WAIT)  # else ``ask`` says it runs none
    try:
        answer = ask(context, context.address, "submit", body)
    except PagletError as exc:
        _end(job, FAILED, f"host {context.name} cannot take it: {exc}")
        return
    decision = str(answer["decision"])
    if decision == "redirect":
        with job.locked():
            state.hops += 1
            state.target = str(answer["target"])
        place_job(job)
        return
    _report(job, answer)
    if decision == "reject":
        job.dispose()
        return
    try:
        job.deactivate(reason="waiting for its compute slot", policy=WAITING)
    except PagletError as exc:  # cancelled meanwhile (disposed), or the store failed
        log.info("compute job %s not deactivated: %s", state.job_id, exc)
        return
    wake(context.address)


def _end(job: Any, decision: str, reason: str) -> None:
    context = job.context
    _report(job, {"decision": decision, "reason": reason, "host": context.name,
                  "address": context.address, "job_id": job.state.job_id})  # fmt: skip
    try:
        job.dispose()
    except PagletError:
        pass


def _report(job: Any, answer: dict[str, Any]) -> None:
    """Tell the submitter's host where the job stands (logged if it cannot be told)."""
    state = job.state
    note = {key: answer.get(key, "") for key in ("decision", "reason", "host", "address")}
    note["job_id"] = state.job_id
    note["agent_id"] = job.agent_id
    if not state.home:
        return
    try:
        _ask_patiently(job.context, state.home, "placed", note, 30.0)
    except PagletError as exc:
        log.warning("compute job %s: its submitter was not told: %s", state.job_id, exc)


def await_placement(
    where: Any, home: str, agent_id: str, timeout: float | None = None
) -> dict[str, Any]:
    """Wait for the placement the job paglet ``agent_id`` reported to the slots at ``home``.

    A ``home`` that restarts meanwhile is waited for (:data:`RESTART_PATIENCE`); the
    report is kept in its store.

    Raises:
        ReplyTimeoutError: none within ``timeout`` (default :data:`PLACEMENT_TIMEOUT`).
    """
    limit = PLACEMENT_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReplyTimeoutError(f"job {agent_id} reported no placement within {limit}s")
        wait = min(left, 20.0)
        args = {"agent_id": agent_id, "wait": wait}
        note = _ask_patiently(where, home, "placement", args, wait + 10.0)
        if note is not None:
            return dict(note)
