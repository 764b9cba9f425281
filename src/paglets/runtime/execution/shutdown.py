"""A graceful stop: every active paglet goes to the store, with its mailbox, in a bound.

1. Every idle paglet is prepared on the calling thread (it takes its turn at once:
   ``on_deactivating``, state and mailbox snapshot) and they are written in batches
   of :data:`BATCH`, one transaction (one fsync) each, so ten thousand paglets cost a
   handful of commits instead of ten thousand.
2. Each busy one gets a deactivation queued ahead of its messages, all in parallel,
   each waiting for its turn at most until the bound.
3. A paglet still busy then (or whose deactivation failed) is persisted anyway by
   :func:`persist_busy`, which says with which state.

Work arriving meanwhile is refused with a retryable ``HostStoppedError``
(the host's ``StopSignal``); the messages already accepted are kept in the store and
replayed in order after the next activation.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.context_events import DEACTIVATE
from paglets.core.errors import HostStoppedError, PagletError
from paglets.persistence.persistency import DeactivationRequest
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.activation import Activation
from paglets.runtime.execution.leaving import Leaving, policy_of, split_queued
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.codec import encode_state

log = logging.getLogger(__name__)

BATCH = 500
"""Idle paglets written per transaction at stop."""
CHILD_STATE_WAIT = 1.0
"""Seconds a stop waits for a busy isolated paglet's child to report its state."""


@dataclass(frozen=True)
class StopScope:
    """What a graceful stop works on: the paglets registered, the store, the log.

    Args:
        name: the host's name (for the errors callers get).
        registry: the active paglets, emptied by the stop.
        store: where they are kept.
        events: where the deactivations are recorded.
        pool: the workers busy paglets are waited for on.
    """

    name: str
    registry: Registry
    store: PagletStore
    events: EventLog
    pool: WorkerPool


@dataclass
class ShutdownReport:
    """What a graceful stop did with the active paglets."""

    deactivated: int = 0
    persisted_busy: dict[str, str] = field(default_factory=dict)  # agent id -> which state
    failed: dict[str, str] = field(default_factory=dict)  # agent id -> error


def stop_paglets(host: StopScope, activation: Activation, bound: float) -> int:
    """Take every active paglet off the host as it stops; return how many were kept.

    With a persistence dir each is deactivated into the store (:func:`deactivate_all`);
    without one they are disposed (their ``run()`` sees ``is_leaving``) and what waited
    in their mailboxes fails with ``HostStoppedError``. Then the wake-up thread stops
    and callers still owed a reply are told.
    """
    activation.stopping = True
    kept = 0
    if host.store.durable:
        report = deactivate_all(host, activation, bound)
        kept = report.deactivated + len(report.persisted_busy)
    else:
        slots = host.registry.slots()
        for slot in slots:  # every child is told first, so their ends overlap
            slot.execution.begin_stop()
        for slot in slots:
            queued = slot.leave(PagletStatus.DISPOSED)
            host.registry.remove(slot.agent_id)
            slot.fail_queued(queued, HostStoppedError(f"host {host.name} stopped"))
    activation.stop()
    return kept


def deactivate_all(host: StopScope, activation: Activation, bound: float) -> ShutdownReport:
    """Deactivate every active paglet of the host within ``bound`` seconds."""
    report = ShutdownReport()
    deadline = time.monotonic() + bound
    prepared: list[Leaving] = []
    busy: list[LocalPaglet] = []
    for slot in host.registry.slots():
        try:
            ran, leaving = slot.mailbox.run_if_idle(
                lambda slot=slot: activation.prepare(slot, None, "host-stop")  # type: ignore[misc]
            )
        except Exception as exc:  # on_deactivating raised: kept anyway, below
            report.failed[slot.agent_id] = f"{type(exc).__name__}: {exc}"
            continue
        if ran:
            prepared.append(leaving)
        else:
            busy.append(slot)
    for start in range(0, len(prepared), BATCH):
        chunk = prepared[start : start + BATCH]
        try:
            activation.finish(chunk)
            report.deactivated += len(chunk)
        except PagletError as exc:
            for each in chunk:
                report.failed[each.slot.agent_id] = f"{type(exc).__name__}: {exc}"
    report.deactivated += _wait_for_busy(host, activation, busy, deadline)
    left = host.registry.slots()  # busy past the bound, or failed above
    fresh = _refresh_children(left)
    for slot in left:
        try:
            how = persist_busy(host, activation, slot, fresh.get(slot.agent_id))
            report.persisted_busy[slot.agent_id] = how
            report.failed.pop(slot.agent_id, None)
            log.warning("paglet %s not deactivated within %.1fs: kept with %s",
                        slot.agent_id, bound, how)  # fmt: skip
        except PagletError as exc:
            report.failed[slot.agent_id] = f"{type(exc).__name__}: {exc}"
    for agent_id, error in report.failed.items():
        log.error("paglet %s could not be kept at stop: %s", agent_id, error)
    return report


def _wait_for_busy(
    host: StopScope, activation: Activation, busy: list[LocalPaglet], deadline: float
) -> int:
    """Queue a deactivation in each busy paglet's turn; return how many were done."""
    done = 0
    lock = threading.Lock()
    left = threading.Semaphore(0)

    def one(slot: LocalPaglet) -> None:
        nonlocal done
        try:
            slot.run_in_turn(
                lambda: _deactivate(activation, slot), max(0.0, deadline - time.monotonic())
            )
            with lock:
                done += 1
        except Exception as exc:  # timed out, or failed: persist_busy keeps it
            log.info("paglet %s: deactivation at stop did not run: %s", slot.agent_id, exc)
        finally:
            left.release()

    for slot in busy:
        host.pool.submit(one, slot)
    for _ in busy:
        left.acquire(timeout=max(0.1, deadline - time.monotonic() + 1.0))
    return done


def _refresh_children(slots: list[LocalPaglet]) -> dict[str, bool]:
    """Hold each mailbox, then ask every isolated child for its state at once.

    Returns:
        Agent id to whether its child answered within :data:`CHILD_STATE_WAIT` (only
        isolated paglets). Each child is told to end once it answered or the wait
        passed, so the ends overlap too.
    """
    for slot in slots:
        slot.checkpointer = None  # a late checkpoint must not revive it beside the row
        slot.mailbox.hold()
    children = [s for s in slots if not s.execution.in_process and s.last_checkpoint is None]
    answered: dict[str, bool] = {}

    def ask(slot: LocalPaglet) -> None:
        answered[slot.agent_id] = slot.execution.refresh(CHILD_STATE_WAIT)

    threads = [threading.Thread(target=ask, args=(s,), name="stop-refresh") for s in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CHILD_STATE_WAIT + 1.0)
    for slot in children:
        slot.execution.begin_stop()
    return {slot.agent_id: answered.get(slot.agent_id, False) for slot in children}


def _deactivate(activation: Activation, slot: LocalPaglet) -> None:
    if slot.status is PagletStatus.ACTIVE:
        activation.deactivate(slot, None, reason="host-stop")


def _on_message(paglet: Any) -> bool:
    try:
        return policy_of(paglet, DeactivationRequest(reason="host-stop")).activate_on_message
    except Exception:  # the busy paglet is kept all the same, with the default
        log.exception("%r: deactivation_policy raised at stop; the default applies", paglet)
        return True


def persist_busy(
    host: StopScope, activation: Activation, slot: LocalPaglet, fresh: bool | None = None
) -> str:
    """Persist a paglet still busy when the stop bound passed; return which state.

    A DURABLE paglet is kept with its last checkpoint: the state after the last handler
    that returned (consistent by construction; the running handler's change was never
    acknowledged). Another paglet is kept with its state as the state lock shows it
    (taken within 0.5 s, else read as is): the state after the last update a handler
    made under ``locked()``/``locked_state()``; for an isolated paglet its child reads
    it so (within :data:`CHILD_STATE_WAIT`, else the last state the child reported is
    kept). Either way with every message still waiting, and activated again at the
    next start. ``fresh`` says whether the child answered already (None: ask it now).
    """
    slot.checkpointer = None  # a late checkpoint must not revive it beside the row
    slot.mailbox.hold()
    paglet = slot.paglet
    if slot.last_checkpoint is not None:
        state, how = slot.last_checkpoint, "its last checkpoint"
    elif not (slot.execution.refresh(CHILD_STATE_WAIT) if fresh is None else fresh):
        state, how = encode_state(paglet.state), "the last state its child reported"
    else:
        lock = paglet._state_lock
        held = lock.acquire(timeout=0.5)
        try:
            state = encode_state(paglet.state)
        finally:
            if held:
                lock.release()
        how = "its state under the state lock" if held else "its state read unlocked"
    queued = slot.mailbox.take_all()
    messages, other = split_queued(queued)
    host.store.save(
        slot.agent_id,
        slot.class_path,
        slot.state_class_path,
        state,
        None,
        [(envelope.priority, body) for body, envelope in messages],
        activate_on_start=True,
        activate_on_message=_on_message(paglet),
    )
    slot.leave(PagletStatus.DEACTIVATED)
    host.registry.remove(slot.agent_id)
    host.events.record(
        DEACTIVATE,
        slot.agent_id,
        class_name=slot.class_path,
        reason="host-stop",
        kept=len(messages),
        busy=how,
    )
    activation.owe(slot.agent_id, [envelope for _, envelope in messages])
    for envelope in other:
        envelope.respond(error=HostStoppedError(f"host {host.name} stopped"))
    return how
