"""The I/O thread: one thread that owns sockets and runs callbacks handed to it.

Other threads never touch a socket; they hand work over with :meth:`IOThread.call_soon`,
which appends to a queue and, only when the loop may be asleep in ``poll``, writes one
byte to a wake-up pipe. A ``zmq.Poller`` waits on the sockets and that pipe together.
Callbacks must be quick: anything that may block runs on worker threads instead.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from paglets.core.errors import HostStoppedError

log = logging.getLogger(__name__)

ReadCallback = Callable[[zmq.Socket[Any]], None]

_MAX_SLEEP_MS = 1000
"""Longest poll: a hand-over always wakes the loop through the pipe; this bounds the
wait even so, and costs one wake-up a second on an idle loop."""


class IOThread:
    """A poll loop on a thread of its own, with thread-safe hand-over of callbacks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._poller = zmq.Poller()
        self._readers: dict[Any, ReadCallback] = {}
        self._writers: dict[Any, ReadCallback] = {}
        self._calls: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._poller.register(self._wake_read, zmq.POLLIN)
        self._sleeping = False
        self._stopping = False
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"paglets-io-{name}", daemon=True)
        self._on_stop: list[Callable[[], None]] = []

    # lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> None:
        """Start the loop; return once it runs.

        Raises:
            RuntimeError: the loop did not start within ``timeout``.
        """
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"I/O thread {self.name} did not start within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        """Run the stop callbacks on the loop, end it and wait for the thread."""
        if not self._thread.is_alive():
            self._close_pipe()
            return
        self.call_soon(self._request_stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("I/O thread %s did not stop within %ss", self.name, timeout)
        else:
            self._close_pipe()

    def add_stop_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop as it stops (close sockets, fail pending calls)."""
        self._on_stop.append(callback)

    @property
    def is_running(self) -> bool:
        """Whether the loop thread runs and was not asked to stop."""
        return self._thread.is_alive() and not self._stopping

    def in_loop(self) -> bool:
        """Whether the caller runs on the loop thread."""
        return threading.current_thread() is self._thread

    # hand-over ------------------------------------------------------------------------

    def call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop thread soon. Safe from any thread.

        Raises:
            HostStoppedError: the loop has stopped.
        """
        if self._stopping and not self.in_loop():
            raise HostStoppedError(f"I/O thread {self.name} has stopped")
        self._calls.append((callback, args))
        if self._sleeping:
            try:
                os.write(self._wake_write, b"\0")
            except (BlockingIOError, OSError):
                pass  # a full pipe already wakes the loop; a closed one means we stopped

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop after ``delay`` seconds. Loop thread only."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), callback))

    def add_reader(self, socket: zmq.Socket[Any], callback: ReadCallback) -> None:
        """Call ``callback(socket)`` whenever ``socket`` is readable. Loop thread only."""
        self._readers[socket] = callback
        self._update(socket)

    def watch_writable(self, socket: zmq.Socket[Any], callback: ReadCallback | None) -> None:
        """Call ``callback(socket)`` when ``socket`` is writable (None stops it)."""
        if callback is None:
            self._writers.pop(socket, None)
        else:
            self._writers[socket] = callback
        self._update(socket)

    def remove_socket(self, socket: zmq.Socket[Any]) -> None:
        """Stop watching ``socket``. Loop thread only."""
        self._readers.pop(socket, None)
        self._writers.pop(socket, None)
        self._update(socket)

    def _update(self, socket: zmq.Socket[Any]) -> None:
        flags = (zmq.POLLIN if socket in self._readers else 0) | (
            zmq.POLLOUT if socket in self._writers else 0
        )
        if flags:
            self._poller.register(socket, flags)
        else:
            try:
                self._poller.unregister(socket)
            except KeyError:
                pass

    # the loop -------------------------------------------------------------------------

    def _request_stop(self) -> None:
        self._stopping = True

    def _run(self) -> None:
        self._started.set()
        try:
            while not self._stopping:
                self._run_calls()
                timeout_ms = self._run_timers()
                if self._stopping:
                    break
                self._sleeping = True
                if self._calls:
                    timeout_ms = 0
                try:
                    events = self._poller.poll(timeout_ms)
                finally:
                    self._sleeping = False
                for socket, event in events:
                    if socket == self._wake_read:
                        self._drain_pipe()
                        continue
                    if event & zmq.POLLIN and socket in self._readers:
                        self._guarded(self._readers[socket], socket)
                    if event & zmq.POLLOUT and socket in self._writers:
                        self._guarded(self._writers[socket], socket)
        finally:
            self._stopping = True
            self._run_calls()
            for callback in self._on_stop:
                self._guarded(callback)

    def _run_calls(self) -> None:
        calls = self._calls
        for _ in range(len(calls)):
            callback, args = calls.popleft()
            self._guarded(callback, *args)

    def _run_timers(self) -> int:
        timers = self._timers
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            _, _, callback = heapq.heappop(timers)
            self._guarded(callback)
        if not timers:
            return _MAX_SLEEP_MS
        return min(_MAX_SLEEP_MS, max(0, int((timers[0][0] - time.monotonic()) * 1000) + 1))

    def _guarded(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("I/O thread %s: callback %r failed", self.name, callback)

    def _drain_pipe(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _close_pipe(self) -> None:
        for fd in (self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_read = self._wake_write = -1
