"""A paglet's mailbox: messages wait here and are handled one at a time.

Order is priority first (10 before 1), then arrival. The mailbox holds no thread while
it is empty: the first message schedules a *drain* on the worker pool, which handles
messages until none is left. The thread running a drain holds the paglet's *turn*:
only the holder of the turn runs the paglet's handler.

``wait_message`` lets a handler give the turn away (so later messages are handled)
and take it back when ``notify_message`` wakes it. ``hold`` stops draining while the
paglet moves or is persisted; what is queued meanwhile can be taken out and redirected.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from paglets.runtime.execution.workers import WorkerPool

_turn = threading.local()
log = logging.getLogger(__name__)


class _Waiter:
    __slots__ = ("notified",)

    def __init__(self) -> None:
        self.notified = False


class Mailbox:
    """Priority-ordered envelopes for one paglet, handled serially on pool threads."""

    def __init__(
        self,
        pool: WorkerPool,
        handle: Callable[[Any], None],
        on_taken: Callable[[int], None] | None = None,
    ) -> None:
        self._pool = pool
        self._handle = handle
        self._on_taken = on_taken  # told the size of each envelope that leaves the queue
        self.bytes = 0
        self._lock = threading.Lock()
        self._waiting: threading.Condition | None = None  # built on first wait_message
        self._queue: list[tuple[int, int, int | None, Any]] = []
        self._seq = itertools.count()
        self._busy = False
        self._held = False
        self._resuming = 0
        self._waiters: list[_Waiter] = []

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def _cond(self) -> threading.Condition:
        waiting = self._waiting
        if waiting is None:
            with self._lock:
                if self._waiting is None:
                    self._waiting = threading.Condition(self._lock)
                waiting = self._waiting
        return waiting

    def post(self, envelope: Any, priority: int, size: int | None = None) -> None:
        """Queue ``envelope``; start a drain if nobody holds the turn.

        Args:
            envelope: what the handle callback gets.
            priority: higher first.
            size: its bytes, counted until it leaves the queue (``on_taken`` is told);
                None: not counted (actions).
        """
        with self._lock:
            heapq.heappush(self._queue, (-priority, next(self._seq), size, envelope))
            self.bytes += size or 0
            if self._busy or self._held or self._resuming:
                return
            self._busy = True
        self._pool.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._resuming or self._held or not self._queue:
                    self._busy = False
                    if self._resuming and self._waiting is not None:
                        self._waiting.notify_all()
                    return
                _, _, size, envelope = heapq.heappop(self._queue)
                self.bytes -= size or 0
            if size is not None and self._on_taken is not None:
                self._on_taken(size)
            _turn.mailbox = self
            try:
                self._handle(envelope)
            except Exception:
                # The handler callback answers its own errors; anything escaping it is
                # a bug, and must not leave the mailbox busy with nobody draining it.
                log.exception("mailbox: handling an envelope failed")
            finally:
                _turn.mailbox = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Act as the turn holder while the mailbox is held (hooks run this way)."""
        previous = getattr(_turn, "mailbox", None)
        _turn.mailbox = self
        try:
            yield
        finally:
            _turn.mailbox = previous

    def run_if_idle(self, action: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``action`` on the calling thread as the turn holder, if nobody needs the turn.

        Returns:
            ``(True, result)`` when it ran; ``(False, None)`` when the paglet is busy,
            held or has messages waiting (then the caller queues the action instead).
        """
        with self._lock:
            if self._busy or self._held or self._resuming or self._queue:
                return False, None
            self._busy = True
        previous = getattr(_turn, "mailbox", None)
        _turn.mailbox = self
        try:
            return True, action()
        finally:
            _turn.mailbox = previous
            with self._lock:
                drain = bool(self._queue) and not self._held and not self._resuming
                if not drain:
                    self._busy = False
                    if self._resuming and self._waiting is not None:
                        self._waiting.notify_all()
            if drain:
                self._pool.submit(self._drain)

    def holds_turn(self) -> bool:
        """Whether the calling thread holds this mailbox's turn."""
        return getattr(_turn, "mailbox", None) is self

    # holding while moving -------------------------------------------------------------

    @property
    def held(self) -> bool:
        """Whether :meth:`hold` stopped handling (a move or a persist is under way)."""
        return self._held

    def hold(self) -> None:
        """Stop handling: envelopes still queue, but no drain runs until :meth:`release`."""
        with self._lock:
            self._held = True

    def release(self) -> None:
        """Undo :meth:`hold` and handle what queued meanwhile."""
        with self._lock:
            self._held = False
            if self._busy or self._resuming or not self._queue:
                return
            self._busy = True
        self._pool.submit(self._drain)

    def take_all(self) -> list[Any]:
        """Remove and return every queued envelope, highest priority first."""
        with self._lock:
            items = sorted(self._queue, key=lambda item: item[:2])
            self._queue.clear()
            self.bytes = 0
        if self._on_taken is not None:
            for _, _, size, _ in items:
                if size is not None:
                    self._on_taken(size)
        return [item[3] for item in items]

    # wait / notify ----------------------------------------------------------------------

    def wait_message(self, timeout: float | None) -> bool:
        """Pause the calling handler until notified; see the module docstring.

        Returns:
            True if notified, False if ``timeout`` passed first.
        """
        waiter = _Waiter()
        has_turn = self.holds_turn()
        start_drain = False
        with self._cond:
            self._waiters.append(waiter)
            if has_turn:
                if self._queue and not self._held:
                    start_drain = True
                else:
                    self._busy = False
        if start_drain:
            self._pool.submit(self._drain)
        with self._cond:
            notified = self._cond.wait_for(lambda: waiter.notified, timeout)
            if not notified:
                self._waiters.remove(waiter)
            if has_turn:
                self._resuming += 1
                self._cond.wait_for(lambda: not self._busy)
                self._resuming -= 1
                self._busy = True
        return bool(notified)

    def notify_message(self) -> None:
        """Wake the longest-waiting handler paused in :meth:`wait_message`."""
        with self._cond:
            if self._waiters:
                self._waiters.pop(0).notified = True
                self._cond.notify_all()

    def notify_all_messages(self) -> None:
        """Wake every handler paused in :meth:`wait_message`."""
        with self._cond:
            for waiter in self._waiters:
                waiter.notified = True
            self._waiters.clear()
            self._cond.notify_all()
