"""Timed activations: one thread for every paglet deactivated with a duration.

The times themselves live in the host store (``inactive_paglets.wake_at``), so a
wake-up survives a restart: at start-up the host schedules every stored one, and one
already due fires at once. Here they are a heap ordered by time and one daemon thread
that sleeps until the earliest (or until a new earlier one is added), so ten thousand
sleeping paglets cost ten thousand heap entries, not ten thousand threads.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class WakeScheduler:
    """Calls ``wake(agent_id)`` at each scheduled time, on its own thread."""

    def __init__(self, name: str, wake: Callable[[str], None]) -> None:
        self._name = name
        self._wake = wake
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}  # agent id -> its current time (others are stale)
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def schedule(self, agent_id: str, at: float) -> None:
        """Wake ``agent_id`` at ``at`` (``time.time()`` seconds); replaces an earlier call."""
        with self._cond:
            if self._stopped:
                return
            self._due[agent_id] = at
            heapq.heappush(self._heap, (at, agent_id))
            if self._thread is None:
                started = threading.Event()
                self._thread = threading.Thread(
                    target=self._loop, args=(started,), name=f"wake-{self._name}", daemon=True
                )
                self._thread.start()
                started.wait(5.0)  # the thread sets it before it takes the lock
            self._cond.notify()

    def cancel(self, agent_id: str) -> None:
        """Forget the wake-up of ``agent_id`` (it was activated or disposed)."""
        with self._cond:
            self._due.pop(agent_id, None)

    def pending(self) -> int:
        """How many wake-ups are scheduled."""
        with self._cond:
            return len(self._due)

    def _loop(self, started: threading.Event) -> None:
        started.set()
        while True:
            with self._cond:
                while not self._stopped:
                    while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                        heapq.heappop(self._heap)  # cancelled or rescheduled
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.time()
                    if delay <= 0:
                        break
                    self._cond.wait(delay)
                if self._stopped:
                    return
                _, agent_id = heapq.heappop(self._heap)
                self._due.pop(agent_id, None)
            try:
                self._wake(agent_id)
            except Exception:
                log.exception("timed activation of %s failed", agent_id)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread; pending wake-ups stay in the store for the next start."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
