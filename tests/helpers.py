"""Shared test helpers: one way to wait for a condition, and gates handlers block on.

Tests never sleep for a fixed time: they wait for a condition with :func:`wait_for`,
or on an event or future with a timeout. A :class:`Gate` lets a test hold a paglet's
handler (running on a host in this process) until the test opens it.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

TIMEOUT = 5.0
"""Seconds any single wait in the tests may take before the test fails."""

_T = TypeVar("_T")


def wait_for(predicate: Callable[[], _T], timeout: float = TIMEOUT, message: str = "") -> _T:
    """Poll ``predicate`` until it returns a truthy value; return that value.

    Raises:
        AssertionError: ``predicate`` stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout}s: {predicate}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for hosts given a fixed port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Gate:
    """A point where a handler announces it arrived and waits to be let through."""

    key: str
    entered: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def pass_through(self, timeout: float = 4 * TIMEOUT) -> bool:
        """Called by the handler: signal arrival, then wait for the test to open."""
        self.entered.set()
        return self.opened.wait(timeout)

    def wait_entered(self, timeout: float = TIMEOUT) -> None:
        """Called by the test: wait until a handler reached the gate."""
        assert self.entered.wait(timeout), f"no handler reached gate {self.key} in {timeout}s"

    def open(self) -> None:
        """Let the waiting handler go on."""
        self.opened.set()


_GATES: dict[str, Gate] = {}
_keys = itertools.count(1)


def new_gate() -> Gate:
    """A fresh gate, reachable by handlers through :func:`gate` and its key."""
    key = f"gate-{next(_keys)}"
    _GATES[key] = created = Gate(key)
    return created


def gate(key: str) -> Gate:
    """The gate with ``key`` (for handlers that got the key in a message)."""
    return _GATES[key]


def open_all_gates() -> None:
    """Open and forget every gate (test teardown: no handler stays blocked)."""
    for each in list(_GATES.values()):
        each.open()
    _GATES.clear()
