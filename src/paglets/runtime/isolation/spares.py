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


def spawn_child(preload: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """Start a child process that imports ``preload``, then waits for its launch map."""
    return subprocess.Popen(
        [*CHILD_COMMAND, *preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
    )


class SparePool:
    """Up to ``size`` warm children of one host, ``preload`` imported. Thread-safe."""

    def __init__(self, size: int, preload: tuple[str, ...] = ()) -> None:
        self._size = size
        self._preload = preload
        self._spares: deque[subprocess.Popen[bytes]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._fill()

    def _fill(self) -> None:
        with self._lock:
            while not self._closed and len(self._spares) < self._size:
                self._spares.append(spawn_child(self._preload))

    def take(self) -> subprocess.Popen[bytes] | None:
        """A live spare, or None; :meth:`refill` starts another in its place."""
        with self._lock:
            found = None
            while self._spares and found is None:
                candidate = self._spares.popleft()
                if candidate.poll() is None:
                    found = candidate
                else:
                    candidate.wait()
        return found

    def refill(self) -> None:
        """Start spares up to the size again."""
        self._fill()

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


def keep_spares(address: str, size: int, preload: tuple[str, ...] = ()) -> SparePool:
    """Keep ``size`` warm children for the host at ``address`` (until :func:`drop_spares`).

    Each imports the modules ``preload`` names while it waits (the base classes of the
    paglets it will run): a job launch then skips those imports too.
    """
    pool = SparePool(size, preload)
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
    """A warm child for the host at ``address``, if it keeps any.

    The spare is not replaced until :func:`refill_spares`: a new child booting beside
    the one just taken would slow that one's launch on a machine of few cores.
    """
    with _pools_lock:
        pool = _pools.get(address)
    return None if pool is None else pool.take()


def refill_spares(address: str) -> None:
    """Start warm children for the host at ``address`` up to the number it keeps."""
    with _pools_lock:
        pool = _pools.get(address)
    if pool is not None:
        pool.refill()
