"""Context events: a bounded log of what happened on a host, plus listeners."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContextEvent:
    """One thing that happened on a host (a paglet created, dispatched, ...)."""

    seq: int
    kind: str
    agent_id: str
    timestamp: float
    detail: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[ContextEvent], None]


class EventLog:
    """The last ``size`` events, numbered from 1, and the listeners told of each."""

    def __init__(self, size: int = 1000) -> None:
        self._events: deque[ContextEvent] = deque(maxlen=size)
        self._listeners: list[Listener] = []
        self._slow: list[Listener] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, kind: str, agent_id: str = "", **detail: Any) -> ContextEvent:
        """Append an event and tell every listener (a failing listener is logged)."""
        with self._lock:
            event = ContextEvent(next(self._seq), kind, agent_id, time.time(), detail)
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

    def since(self, seq: int = 0) -> list[ContextEvent]:
        """Return the kept events numbered above ``seq``, oldest first."""
        with self._lock:
            return [event for event in self._events if event.seq > seq]
