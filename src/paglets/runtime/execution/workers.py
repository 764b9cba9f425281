"""An elastic pool of worker threads that run paglet code.

A task never waits behind a blocked one while the pool is below its cap: when no worker
is idle, a new one starts. Workers idle for ``idle_timeout`` seconds exit, so a host
with thousands of idle paglets holds only a handful of threads.

Starting a thread waits until it runs, which on a busy machine takes milliseconds. With
``start_aside=True``, workers needed by tasks submitted inside :meth:`WorkerPool.holding`
(the I/O thread's batches) are started by a small starter thread instead, so a burst
of requests never stalls the I/O thread, and the ping it answers.
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

    def __init__(
        self,
        name: str,
        max_workers: int = 1024,
        idle_timeout: float = 30.0,
        *,
        start_aside: bool = False,
    ) -> None:
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
        self._to_start: queue.SimpleQueue[threading.Thread | None] | None = None
        self._starter: threading.Thread | None = None  # started with the first worker
        self._starting = 0  # workers handed to the starter that do not run yet
        if start_aside:
            self._to_start = queue.SimpleQueue()

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
            if self._starting and self._tasks.qsize() <= self._starting:
                return  # a worker on its way takes it
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
            aside = self._to_start is not None and getattr(self._held, "aside", False)
            thread = threading.Thread(
                target=self._work,
                args=(aside,),
                name=f"paglets-{self.name}-{self._count}",
                daemon=True,
            )
            self._threads.add(thread)
            starter = None
            if aside:
                self._starting += 1
                if self._starter is None:
                    starter = self._starter = threading.Thread(
                        target=self._start_threads, name=f"paglets-{self.name}-starter"
                    )
                    starter.daemon = True
        if not aside:
            thread.start()
            return
        assert self._to_start is not None
        self._to_start.put(thread)
        if starter is not None:
            starter.start()

    def _start_threads(self) -> None:
        assert self._to_start is not None
        while (thread := self._to_start.get()) is not None:
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
        self._held.aside = True
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
            self._held.aside = False

    def _work(self, aside: bool = False) -> None:
        tasks = self._tasks
        if aside:
            with self._lock:
                self._starting -= 1
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
        if self._to_start is not None:
            self._to_start.put(None)
            if self._starter is not None:
                self._starter.join(timeout)
        for thread in threads:
            if thread is not threading.current_thread() and thread.ident is not None:
                thread.join(timeout)
