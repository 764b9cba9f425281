"""Telling about the bounded resources: ``run-long`` events and the ``info()`` figures.

A ``run()`` that never returns is allowed (a paglet may live in its loop), but it holds
one of the host's ``max_run_threads`` slots for good, so the host says so: once, with a
``run-long`` event, when it has run ``run_report_after`` seconds, and in ``info()``.
"""

from __future__ import annotations

import logging
from typing import Any

from paglets.core.context_events import RUN_LONG
from paglets.core.errors import PagletError
from paglets.net.iothread import IOThread
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.workers import WorkerPool

log = logging.getLogger(__name__)

LIMIT_SETTINGS = (
    "max_queued_messages",
    "max_mailbox_bytes",
    "max_host_queued_messages",
    "max_host_queued_bytes",
    "max_paglets",
    "max_transfers",
    "max_uploads",
    "max_upload_fds",
    "max_run_threads",
    "max_workers",
    "max_inflight_per_peer",
)
"""The ``HostConfig`` settings that bound what a peer can make this host hold."""


class RunReports:
    """Checks the run slots about once a second on the I/O thread; reports the long ones."""

    def __init__(
        self, run_slots: RunSlots, io: IOThread, control_pool: WorkerPool, events: EventLog
    ) -> None:
        self._run_slots = run_slots
        self._io = io
        self._control_pool = control_pool
        self._events = events
        self._interval = max(0.05, min(1.0, run_slots.report_after / 4))

    def start(self) -> None:
        """Schedule the first check (stops by itself with the transport)."""
        self._schedule()

    def _schedule(self) -> None:
        io = self._io
        try:
            io.call_soon(io.call_later, self._interval, self._check)
        except PagletError:
            pass  # stopped

    def _check(self) -> None:
        overdue = self._run_slots.overdue()
        if overdue:
            try:
                self._control_pool.submit(self._report, overdue)
            except RuntimeError:
                return  # the host is stopping
        self._schedule()

    def _report(self, overdue: list[tuple[str, float]]) -> None:
        for agent_id, seconds in overdue:
            log.warning(
                "paglet %s: run() has held a thread for %.0f s (one of %d)",
                agent_id,
                seconds,
                self._run_slots.limit,
            )
            self._events.record(RUN_LONG, agent_id, seconds=round(seconds, 1))


def limits_info(config: HostConfig, budget: QueueBudget, run_slots: RunSlots) -> dict[str, Any]:
    """The limits and what is held against them, for ``Host.info()``."""
    return {
        "limits": {name: getattr(config, name) for name in LIMIT_SETTINGS},
        "queued": budget.snapshot(),
        "run": run_slots.snapshot(),
    }
