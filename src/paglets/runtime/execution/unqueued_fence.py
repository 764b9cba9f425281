"""The fence that keeps UNQUEUED_PRIORITY handlers out of a paglet's snapshot.

An UNQUEUED_PRIORITY message bypasses the mailbox and runs at once on a worker of its own. While
the paglet moves or is persisted (its mailbox held) such a message waits in the
mailbox like any other, and the snapshot is taken only once the UNQUEUED_PRIORITY handlers that
started before the hold have returned, so no update they make escapes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class UnqueuedFence:
    """Counts running UNQUEUED_PRIORITY handlers of one paglet; lets a hand-off wait for none."""

    __slots__ = ("_running", "_done")

    def __init__(self) -> None:
        self._running = 0
        self._done = threading.Condition()

    def enter(self, held: Callable[[], bool]) -> bool:
        """Count one more handler, unless ``held()`` (then the caller queues it); atomic."""
        with self._done:
            if held():
                return False
            self._running += 1
            return True

    def run(self, handle: Callable[[Any], None], envelope: Any) -> None:
        """Run a handler counted by :meth:`enter` (on a worker), then uncount it."""
        try:
            handle(envelope)
        finally:
            with self._done:
                self._running -= 1
                self._done.notify_all()

    def wait(self, timeout: float | None) -> bool:
        """Wait until no counted handler runs; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._running == 0, timeout)
