"""The ``events`` verb: a host's event history, read back with filters.

A host with a store answers from its history table
(:class:`~paglets.runtime.persistence.event_history.EventHistory`), so the events of
earlier runs are there too; a host without one answers from its in-memory event log
(the last ``event_log_size`` events of this run, ``seq`` being their ``event_id``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paglets.runtime.event_log import EventLog
from paglets.runtime.persistence.event_history import EventHistory
from paglets.wire.event_query import EventQuery


class EventQueries:
    """Answers event queries from the history when there is one, else from the log.

    Args:
        events: the host's in-memory event log.
        history: returns the host's history once its store started (None: no store).
    """

    def __init__(self, events: EventLog, history: Callable[[], EventHistory | None]) -> None:
        self._events = events
        self._history = history

    def answer(self, body: Any) -> list[dict[str, Any]]:
        """Answer the verb's body (an :class:`EventQuery` map).

        Raises:
            ProtocolError: the body is no such map.
            HostStoppedError: the host's store is closed.
        """
        return self.query(EventQuery.from_wire(body))

    def query(self, query: EventQuery) -> list[dict[str, Any]]:
        """The events ``query`` asks for, oldest first, each its wire map with ``seq``."""
        history = self._history()
        if history is not None:
            return history.query(query)
        found = [
            event
            for event in self._events.since(query.since)
            if (not query.agent_id or event.agent_id == query.agent_id)
            and (not query.kind or event.kind == query.kind)
        ]
        found = found[-query.count :] if query.last is not None else found[: query.count]
        return [{**event.to_wire(), "seq": event.event_id} for event in found]
