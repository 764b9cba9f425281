"""A graceful stop: every active paglet goes to the store, with its mailbox, in a bound.

First every idle paglet is deactivated on the calling thread (it takes its turn at
once). Each busy one gets a deactivation queued ahead of its messages, all of them in
parallel, each waiting at most until the bound. A paglet still busy then is persisted
anyway (:meth:`~paglets.runtime.execution.activation.Activation.persist_busy` says
with which state). Work arriving meanwhile is refused with a retryable
``HostStoppedError`` (``HostParts.stopping``), and the messages already accepted are
kept in the store and replayed in order after the next activation.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from paglets.core.errors import PagletError, ReplyTimeoutError
from paglets.runtime.execution.activation import Activation
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus
from paglets.runtime.parts import HostParts

log = logging.getLogger(__name__)


@dataclass
class ShutdownReport:
    """What a graceful stop did with the active paglets."""

    deactivated: int = 0
    persisted_busy: dict[str, str] = field(default_factory=dict)  # agent id -> which state
    failed: dict[str, str] = field(default_factory=dict)  # agent id -> error


def deactivate_all(parts: HostParts, activation: Activation, bound: float) -> ShutdownReport:
    """Deactivate every active paglet of the host within ``bound`` seconds."""
    report = ShutdownReport()
    deadline = time.monotonic() + bound
    lock = threading.Lock()
    busy: list[LocalPaglet] = []
    for slot in parts.registry.slots():
        ran, error = slot.mailbox.run_if_idle(lambda slot=slot: _try(activation, slot))  # type: ignore[misc]
        if not ran:
            busy.append(slot)
        elif error:
            report.failed[slot.agent_id] = error
        else:
            report.deactivated += 1
    left = threading.Semaphore(0)
    late: list[LocalPaglet] = []

    def one(slot: LocalPaglet) -> None:
        try:
            slot.run_in_turn(
                lambda: _deactivate(activation, slot), max(0.0, deadline - time.monotonic())
            )
            with lock:
                report.deactivated += 1
        except ReplyTimeoutError:
            with lock:
                late.append(slot)
        except Exception as exc:
            with lock:
                report.failed[slot.agent_id] = f"{type(exc).__name__}: {exc}"
        finally:
            left.release()

    for slot in busy:
        parts.pool.submit(one, slot)
    for _ in busy:
        left.acquire(timeout=max(0.1, deadline - time.monotonic() + 1.0))
    with lock:
        stragglers = list(late) + [
            each for each in busy if each.status is PagletStatus.ACTIVE and each not in late
        ]
    for slot in stragglers:
        if slot.status is not PagletStatus.ACTIVE:
            continue
        try:
            report.persisted_busy[slot.agent_id] = activation.persist_busy(slot)
            log.warning(
                "paglet %s was busy past the %.1fs stop bound: kept with %s",
                slot.agent_id,
                bound,
                report.persisted_busy[slot.agent_id],
            )
        except PagletError as exc:
            report.failed[slot.agent_id] = f"{type(exc).__name__}: {exc}"
    for agent_id, error in report.failed.items():
        log.error("paglet %s could not be kept at stop: %s", agent_id, error)
    return report


def _try(activation: Activation, slot: LocalPaglet) -> str | None:
    try:
        _deactivate(activation, slot)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _deactivate(activation: Activation, slot: LocalPaglet) -> None:
    if slot.status is PagletStatus.ACTIVE:
        activation.deactivate(slot, None, reason="host-stop")
