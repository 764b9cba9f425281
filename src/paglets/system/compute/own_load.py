"""The part of this machine's load average that the compute slots' own jobs make.

The load gate asks how busy *other* work keeps the machine. The 1-minute load average
lags: a job that ran for a minute still counts for most of a minute after it ended,
so taking only the cores leased *now* off the average would count it as other work
and hold the next jobs back for up to a minute. :class:`OwnLoad` follows the kernel's
formula instead (an exponentially damped average with a 60 s time constant, each
leased core one runnable task), so rising and falling it lags exactly as the load
average does, and ``load - own`` is the other work.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

LOAD_WINDOW = 60.0
"""Seconds: the time constant of the 1-minute load average."""


class OwnLoad:
    """A damped average of the cores the service's jobs hold. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._value = 0.0
        self._cores = 0
        self._at = clock()

    def observe(self, cores: int) -> float:
        """Note that ``cores`` are leased from now on; return the load they make now."""
        with self._lock:
            self._advance()
            self._cores = max(0, cores)
            return self._value

    def value(self) -> float:
        """The load the service's jobs make now (in runnable tasks)."""
        with self._lock:
            self._advance()
            return self._value

    def _advance(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._at)
        kept = math.exp(-elapsed / LOAD_WINDOW)
        self._value = self._value * kept + self._cores * (1.0 - kept)
        self._at = now
