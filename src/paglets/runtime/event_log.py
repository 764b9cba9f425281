"""A host's event log: its last context events, and the listeners told of each.

The events themselves are :class:`~paglets.core.context_events.ContextEvent`; this
module numbers them, stamps where and when, keeps a bounded window and calls listeners.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from paglets.core.context_events import ContextEvent, ContextListener

log = logging.getLogger(__name__)

Listener = ContextListener


class EventLog:
    """The last ``size`` events, numbered from 1, and the listeners told of each."""

    def __init__(self, size: int = 1000) -> None:
        self._events: deque[ContextEvent] = deque(maxlen=size)
        self._listeners: list[Listener] = []
        self._slow: list[Listener] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._where: Callable[[], tuple[str, str]] = lambda: ("", "")

    def locate(self, where: Callable[[], tuple[str, str]]) -> None:
        """Stamp every later event with the ``(host name, host address)`` ``where`` returns."""
        self._where = where

    def record(
        self,
        kind: str,
        agent_id: str = "",
        *,
        class_name: str = "",
        message_id: str = "",
        service_name: str = "",
        error: str = "",
        **data: Any,
    ) -> ContextEvent:
        """Append an event and tell every listener (a failing listener is logged).

        Args:
            kind: what happened (see :mod:`paglets.core.context_events`).
            agent_id: the paglet it is about.
            class_name: the paglet's class path.
            message_id: the message it is about.
            service_name: the service it is about.
            error: what went wrong.
            data: further facts, kept in the event's ``data``.
        """
        host_name, host_address = self._where()
        with self._lock:
            event = ContextEvent(
                next(self._seq),
                kind,
                host_name,
                host_address,
                time.time(),
                agent_id,
                class_name,
                message_id,
                service_name,
                data,
                error,
            )
            self._events.append(event)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("context event listener %r failed", listener)
        return event

    def add_listener(self, listener: Listener, *, quick: bool = False) -> None:
        """Call ``listener(event)`` for every later event.

        Args:
            listener: called on the thread that records the event.
            quick: the listener never blocks, so events may be recorded on the I/O
                thread (see :attr:`all_quick`).
        """
        with self._lock:
            self._listeners.append(listener)
            if not quick:
                self._slow.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if listener in self._slow:
                self._slow.remove(listener)

    @property
    def all_quick(self) -> bool:
        """Whether every listener was added as quick (none may block)."""
        return not self._slow

    def since(self, since: int = 0, limit: int | None = None) -> list[ContextEvent]:
        """Return the kept events numbered above ``since``, oldest first.

        Args:
            since: the last ``event_id`` the caller has seen (0: from the start).
            limit: at most this many (the oldest of them), so a reader pages forward
                by passing the last ``event_id`` it got; None: all.

        Raises:
            ValueError: ``since`` or ``limit`` is negative or not an int.
        """
        if type(since) is not int or since < 0:
            raise ValueError(f"since must be an event_id >= 0, not {since!r}")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ValueError(f"limit must be an int >= 0 or None, not {limit!r}")
        with self._lock:
            found = [event for event in self._events if event.event_id > since]
        return found if limit is None else found[:limit]
