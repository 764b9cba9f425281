"""Warm child processes for isolated paglets: started ahead, imports already done.

Starting Python and importing pyzmq, psutil and the runtime takes a child process a
good part of a second on an idle machine and seconds on a busy one. A spare is a child
started ahead of need: it has done its imports and waits for its launch map on stdin,
so an isolated paglet that takes one skips that wait. A host keeps spares only when
a part of it asks (compute slots keep one per eligible core, at most a few).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import deque

CHILD_COMMAND = [sys.executable, "-m", "paglets.runtime.isolation.child"]

_pools: dict[str, SparePool] = {}
_pools_lock = threading.Lock()


def spawn_child() -> subprocess.Popen[bytes]:
    """Start a child process that waits for its launch map on stdin."""
    return subprocess.Popen(
        CHILD_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
    )


class SparePool:
    """Up to ``size`` warm children of one host. Thread-safe."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._spares: deque[subprocess.Popen[bytes]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._fill()

    def _fill(self) -> None:
        with self._lock:
            while not self._closed and len(self._spares) < self._size:
                self._spares.append(spawn_child())

    def take(self) -> subprocess.Popen[bytes] | None:
        """A live spare (then another is started in its place), or None."""
        with self._lock:
            found = None
            while self._spares and found is None:
                candidate = self._spares.popleft()
                if candidate.poll() is None:
                    found = candidate
                else:
                    candidate.wait()
        self._fill()
        return found

    def close(self) -> None:
        """End every spare (by its PID) and start no more."""
        with self._lock:
            self._closed = True
            spares, self._spares = list(self._spares), deque()
        for spare in spares:
            spare.kill()
            spare.wait()
            for stream in (spare.stdin, spare.stdout):
                if stream is not None:
                    stream.close()


def keep_spares(address: str, size: int) -> SparePool:
    """Keep ``size`` warm children for the host at ``address`` (until :func:`drop_spares`)."""
    pool = SparePool(size)
    with _pools_lock:
        old = _pools.pop(address, None)
        _pools[address] = pool
    if old is not None:
        old.close()
    return pool


def drop_spares(address: str) -> None:
    """End the warm children of the host at ``address``."""
    with _pools_lock:
        pool = _pools.pop(address, None)
    if pool is not None:
        pool.close()


def take_spare(address: str) -> subprocess.Popen[bytes] | None:
    """A warm child for the host at ``address``, if it keeps any."""
    with _pools_lock:
        pool = _pools.get(address)
    return None if pool is None else pool.take()
