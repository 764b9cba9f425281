"""The host's event history in its database: every context event, kept across restarts.

The event log (:mod:`~paglets.runtime.event_log`) keeps the last events in memory; this
listener also appends each one to the ``events`` table. Recording only queues it (the
listener is quick, so events may still be recorded on the I/O thread); a thread writes
the queue once a second, in one transaction committed at ``NORMAL`` (history is
bookkeeping: a power cut may cost its last second, a ``kill -9`` nothing already
written, and no event costs a commit on a hot path). The table keeps the newest
:data:`KEEP` rows.

:meth:`EventHistory.query` (and :func:`select_events`, for a store read while its host
is down) reads it back: each event as its ``to_wire`` map plus its ``seq``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack

from paglets.core.context_events import ContextEvent
from paglets.core.errors import PagletError
from paglets.runtime.persistence.host_store import HostStore
from paglets.wire.event_query import EventQuery

log = logging.getLogger(__name__)

KEEP = 100_000
"""Rows the ``events`` table keeps (the oldest go first)."""

FLUSH_EVERY = 1.0
"""Seconds between two writes of the queued events."""


class EventHistory:
    """Queues context events and writes them to the host database in batches."""

    def __init__(self, db: HostStore, keep: int = KEEP) -> None:
        self._db = db
        self._keep = keep
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one batch at a time, so seq follows the order
        self._queue: deque[ContextEvent] = deque(maxlen=keep)  # bounded if writes fail
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="event-history", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def record(self, event: ContextEvent) -> None:
        """Queue ``event`` (an event log listener; never blocks)."""
        with self._lock:
            self._queue.append(event)

    def flush(self) -> int:
        """Write every queued event now; return how many were written.

        Raises:
            StoreError: the database refused the write (the events are dropped, logged).
        """
        with self._flushing:
            with self._lock:
                events = list(self._queue)
                self._queue.clear()
            if not events:
                return 0
            rows = [(e.timestamp, e.kind, e.agent_id, _detail(e)) for e in events]
            with self._db.transaction(durable=False) as db:
                db.executemany(
                    "INSERT INTO events (at, kind, agent_id, detail) VALUES (?, ?, ?, ?)", rows
                )
                db.execute(
                    "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?",
                    (self._keep,),
                )
            return len(rows)

    def query(self, query: EventQuery) -> list[dict[str, Any]]:
        """The kept events ``query`` asks for, oldest first (see :func:`select_events`).

        What is still queued is written first, so every event recorded before the call
        is in the answer.

        Raises:
            HostStoppedError: the store is closed.
        """
        self._flush_logged()
        return select_events(self._db.query, query)

    def stop(self) -> None:
        """Stop the thread and write what is still queued."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self._flush_logged()

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except PagletError as exc:  # closed under us, or a full disk: history only
            log.warning("event history not written: %s", exc)


def _detail(event: ContextEvent) -> bytes:
    wire: dict[str, Any] = event.to_wire()
    return bytes(msgpack.packb(wire, use_bin_type=True, default=repr))


def select_events(
    run: Callable[[str, tuple[Any, ...]], list[Any]], query: EventQuery
) -> list[dict[str, Any]]:
    """Read the events ``query`` asks for from an ``events`` table, oldest first.

    Args:
        run: runs a read on the database and returns its rows (``HostStore.query``).
        query: which events.

    Returns:
        Each event's ``to_wire`` map with its ``seq``; a row that no longer decodes
        keeps its kind, agent and time, with ``error`` saying so.
    """
    where: list[str] = ["seq > ?"]
    params: list[Any] = [query.since]
    if query.agent_id:
        where.append("agent_id = ?")
        params.append(query.agent_id)
    if query.kind:
        where.append("kind = ?")
        params.append(query.kind)
    newest = query.last is not None
    rows = run(
        f"SELECT seq, at, kind, agent_id, detail FROM events WHERE {' AND '.join(where)} "
        f"ORDER BY seq {'DESC' if newest else 'ASC'} LIMIT ?",
        (*params, query.count),
    )
    if newest:
        rows.reverse()
    return [_event_of(*row) for row in rows]


def _event_of(seq: int, at: float, kind: str, agent_id: str, detail: bytes) -> dict[str, Any]:
    try:
        wire = msgpack.unpackb(detail, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        wire = None
    if not isinstance(wire, dict):
        wire = {"error": "this history row no longer decodes"}
    return {"kind": kind, "agent_id": agent_id, "timestamp": at, **wire, "seq": seq}
