"""SIGINT and SIGTERM for a long-running command, with a handler that takes no lock.

A Python signal handler runs on the main thread, between two bytecodes of whatever
that thread was doing. If it calls ``Event.set()`` while the main thread sits in
``Event.wait()`` holding the Event's lock, it waits for a lock its own thread holds:
the process hangs for good (seen with ``while not stop.wait(0.5)``). So the handler
here only counts the signal; a byte on a pipe (``signal.set_wakeup_fd``, written by
the C-level handler) wakes the main thread, which decides what the count means.
Other threads may wake it through the same pipe with :meth:`StopSignals.wake`.
"""

from __future__ import annotations

import os
import select
import signal
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Counts SIGINT/SIGTERM and wakes the main thread; install once, from the main thread."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.count = 0
        self.last = 0
        self._previous: dict[int, object] = {}
        self._previous_fd = -1

    def install(self) -> StopSignals:
        """Install the handlers and the wake-up pipe; return self."""
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in _SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def uninstall(self) -> None:
        """Put the previous handlers back and close the pipe."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # No lock, no I/O: an int bump is all a handler may safely do here.
        self.count += 1
        self.last = signum

    def wake(self) -> None:
        """Wake the main thread from another thread (a phase ended)."""
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the main thread is awake anyway

    def wait(self, timeout: float) -> None:
        """Block until a signal or :meth:`wake` (or ``timeout`` seconds); drain the pipe."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if ready:
            try:
                while os.read(self._read, 512):
                    pass
            except BlockingIOError:
                pass
