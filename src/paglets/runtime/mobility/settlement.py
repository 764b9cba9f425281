"""Settling hand-offs that the first round trip left open: one thread per host.

Every ``interval`` seconds it looks at the unsettled transfer records
(:meth:`~paglets.runtime.persistence.transfer_log.TransferLog.unsettled`):

* ``out`` / ``committed``: the target was not told, or its ``started`` was lost:
  send ``transfer.commit`` again (it is idempotent) until it answers ``started``.
* ``in`` / ``prepared`` past its deadline: ask the source ``transfer.status`` and do
  what it decided; ``pending`` or no answer: ask again later (backing off to 5 s).
  A target never decides on its own, so a paglet whose source is unreachable waits,
  prepared and not running, until the source answers.

At start-up (:meth:`Settlement.recover`), before the thread runs: an ``out`` record
still ``prepared`` is aborted (nothing decided it; the paglet is restored from its
checkpoint, or from the record when the host died holding it), an ``in`` record
``committed`` is started (the host died between the commit and the start), and staging
dirs no open ``in`` record names are removed (:mod:`~paglets.runtime.mobility.staging`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from paglets.core.errors import PagletError
from paglets.runtime.execution.registry import Registry
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.mobility.arrivals import STARTED, Arrivals
from paglets.runtime.mobility.source_side import SourceSide
from paglets.runtime.mobility.staging import sweep_staging
from paglets.runtime.persistence import transfer_log as phases
from paglets.runtime.persistence.paglet_store import PagletStore, StoredPaglet
from paglets.runtime.persistence.transfer_log import IN, OUT, TransferLog, TransferRecord
from paglets.wire.handoff_bodies import HandoffRecord
from paglets.wire.protocol import VERB_TRANSFER_COMMIT, VERB_TRANSFER_STATUS

log = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0
_KEEP_SETTLED = 24 * 3600.0


class Settlement:
    """Finishes open hand-offs by asking the other side; see the module docstring."""

    def __init__(
        self,
        transfers: TransferLog,
        arrivals: Arrivals,
        source: SourceSide,
        restore: Callable[[StoredPaglet, str], object],
        *,
        host_name: str,
        registry: Registry,
        store: PagletStore,
        work_area: WorkArea,
        interval: float = 0.5,
    ) -> None:
        self._host_name = host_name
        self._work_area = work_area
        self._registry = registry
        self._store = store
        self._log = transfers
        self._arrivals = arrivals
        self._source = source
        self._ask: Callable[[str, str, Any, float], Any] = source.call
        self._restore = restore
        self._interval = interval
        self._next: dict[str, tuple[float, float]] = {}  # tid -> (next try, backoff)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._passes = 0
        self._quiet_at = -1  # log version at which the last pass found nothing open
        self._born = time.time()  # staging dirs older than this are from a previous run

    def recover(self) -> None:
        """Resolve what a previous run of this host left open (see the module docstring)."""
        entries = self._log.unsettled()
        arriving = [entry.tid for entry in entries if entry.role == IN]
        sweep_staging(self._work_area, arriving, self._born)
        for entry in entries:
            if entry.role == OUT and entry.phase == phases.PREPARED:
                self._abort_own(entry)
            elif entry.role == IN and entry.phase == phases.COMMITTED:
                self._arrivals.start_recovered(entry.tid, entry.record)
            elif entry.role == IN and entry.phase == phases.PREPARED:
                self._next[entry.tid] = (0.0, self._interval)  # ask at once

    def _abort_own(self, entry: TransferRecord) -> None:
        self._log.move(entry.tid, OUT, phases.ABORTED, expect=phases.PREPARED, durable=False)
        record = HandoffRecord.from_wire(entry.record)
        if record.reason == "clone":
            return  # the original never left
        agent_id = entry.agent_id
        store = self._store
        if self._registry.get(agent_id) is not None or store.contains(agent_id):
            return  # restored from its checkpoint already
        log.warning(
            "transfer %s aborted at start-up: paglet %s restored from it", entry.tid, agent_id
        )
        self._restore(
            StoredPaglet(
                agent_id,
                record.class_path,
                record.state_class_path,
                record.state,
                time.time(),
            ),
            "transfer-aborted",
        )

    def start(self) -> None:
        """Start the thread (returns once it runs)."""
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(started,), name=f"settle-{self._host_name}", daemon=True
        )
        self._thread.start()
        started.wait(5.0)

    def _loop(self, started: threading.Event) -> None:
        started.set()
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except PagletError as exc:  # the store closed under us: stopping
                log.debug("settlement pass ended: %s", exc)
            except Exception:
                log.exception("settlement pass failed")

    def tick(self) -> None:
        """One pass over the unsettled records (skipped while nothing was written)."""
        self._source.flush_started()
        version = self._log.version
        if version == self._quiet_at:
            return
        now = time.time()
        open_tids = set()
        entries = self._log.unsettled()
        if not entries:
            self._quiet_at = version
        for entry in entries:
            if self._stop.is_set():
                return
            open_tids.add(entry.tid)
            due, backoff = self._next.get(entry.tid, (0.0, self._interval))
            if entry.role == OUT and entry.phase == phases.COMMITTED:
                if self._source.was_started(entry.tid):
                    continue  # "started" came after this pass flushed: the next one will
                if not due:  # first seen: the source thread is telling it right now
                    self._next[entry.tid] = (now + 2 * self._interval, self._interval)
                elif now >= due:
                    self._resend_commit(entry, backoff)
            elif entry.role == IN and entry.phase == phases.PREPARED:
                if now >= max(entry.deadline, due):
                    self._ask_source(entry, backoff)
        for tid in list(self._next):
            if tid not in open_tids:
                del self._next[tid]
        self._passes += 1
        if self._passes % 7200 == 1:  # at the first pass, then about hourly
            self._log.forget_settled(now - _KEEP_SETTLED)

    def _later(self, tid: str, backoff: float) -> None:
        self._next[tid] = (time.time() + backoff, min(backoff * 2, _MAX_BACKOFF))

    def _resend_commit(self, entry: TransferRecord, backoff: float) -> None:
        try:
            answer = self._ask(entry.peer, VERB_TRANSFER_COMMIT, entry.tid, 2.0)
        except PagletError as exc:
            log.info(
                "transfer %s: %s still not told of the commit (%s)", entry.tid, entry.peer, exc
            )
            self._later(entry.tid, backoff)
            return
        if answer == STARTED:
            self._log.move(entry.tid, OUT, phases.DONE, expect=phases.COMMITTED, durable=False)
        else:
            self._later(entry.tid, backoff)

    def _ask_source(self, entry: TransferRecord, backoff: float) -> None:
        try:
            answer = self._ask(entry.peer, VERB_TRANSFER_STATUS, entry.tid, 2.0)
        except PagletError as exc:
            log.info("transfer %s: source %s does not answer (%s)", entry.tid, entry.peer, exc)
            self._later(entry.tid, backoff)
            return
        if answer == phases.COMMITTED:
            try:
                self._arrivals.commit(entry.tid)
            except PagletError as exc:
                log.error("transfer %s committed by its source but not started: %s", entry.tid, exc)
                self._later(entry.tid, backoff)
        elif answer == phases.ABORTED:
            self._arrivals.abort(entry.tid)
        else:
            self._later(entry.tid, backoff)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread; what is still open is settled after the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self._source.flush_started()
        except PagletError as exc:
            log.debug("hand-offs left to mark done after the restart: %s", exc)
