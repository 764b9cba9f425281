"""An elastic pool of worker threads that run paglet code.

A task never waits behind a blocked one while the pool is below its cap: when no worker
is idle, a new one starts. Workers idle for ``idle_timeout`` seconds exit, so a host
with thousands of idle paglets holds only a handful of threads.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

_STOP = None


class WorkerPool:
    """Threads that run submitted callables, growing on demand up to ``max_workers``."""

    def __init__(self, name: str, max_workers: int = 1024, idle_timeout: float = 30.0) -> None:
        self.name = name
        self.max_workers = max_workers
        self.idle_timeout = idle_timeout
        self._tasks: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._idle = 0
        self._count = 0
        self._stopped = False
        self._warned_full = False
        self._threads: set[threading.Thread] = set()
        self._held = threading.local()

    @property
    def size(self) -> int:
        """How many worker threads exist now."""
        return self._count

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a worker thread.

        Raises:
            RuntimeError: the pool was stopped.
        """
        held: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = getattr(
            self._held, "tasks", None
        )
        if held is not None and self._held.first_started:
            if self._stopped:
                raise RuntimeError(f"worker pool {self.name} is stopped")
            held.append((fn, args))
            return
        if held is not None:
            self._held.first_started = True
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"worker pool {self.name} is stopped")
            self._tasks.put((fn, args))
            if self._idle > 0:
                self._idle -= 1
                return
            if self._count >= self.max_workers:
                if not self._warned_full:
                    self._warned_full = True
                    log.warning(
                        "worker pool %s is at its cap of %d threads; tasks wait",
                        self.name,
                        self.max_workers,
                    )
                return
            self._count += 1
            thread = threading.Thread(
                target=self._work, name=f"paglets-{self.name}-{self._count}", daemon=True
            )
            self._threads.add(thread)
        thread.start()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Start the first task this thread submits inside the block; hold the rest.

        The I/O thread reads requests in batches. The first task starts at once, so a
        lone request waits for nothing; waking a worker for each of the others would
        make the threads fight over the GIL once per message, so they start together
        when the block ends, in the order they were submitted.
        """
        if getattr(self._held, "tasks", None) is not None:
            yield  # already holding: the outer block starts them
            return
        tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._held.tasks = tasks
        self._held.first_started = False
        try:
            yield
        finally:
            self._held.tasks = None
            for index, (fn, args) in enumerate(tasks):
                try:
                    self.submit(fn, *args)
                except RuntimeError:
                    left = len(tasks) - index
                    log.warning("worker pool %s stopped: %d held tasks not run", self.name, left)
                    break

    def _work(self) -> None:
        tasks = self._tasks
        try:
            while True:
                try:
                    item = tasks.get(timeout=self.idle_timeout)
                except queue.Empty:
                    with self._lock:
                        if self._idle > 0 and tasks.empty():
                            self._idle -= 1
                            self._count -= 1
                            return
                    continue
                if item is _STOP:
                    with self._lock:
                        self._count -= 1
                    return
                fn, args = item
                try:
                    fn(*args)
                except BaseException:
                    log.exception("worker pool %s: task %r failed", self.name, fn)
                with self._lock:
                    self._idle += 1
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting tasks; let queued tasks finish; wait up to ``timeout`` for threads."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            threads = list(self._threads)
            for _ in threads:
                self._tasks.put(_STOP)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
