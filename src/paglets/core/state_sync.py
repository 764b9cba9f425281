"""Locking a paglet's state, waiting for it to change or for the paglet to leave.

``Paglet`` inherits it; the runtime sets ``_state_lock`` (a re-entrant lock) and
``_state_changed`` (built on first use) when it binds the paglet. ``@state_locked``
makes a method run holding the lock, waking ``wait_state`` callers when it returns.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from paglets.core.state import StateT


class StateSync(Generic[StateT]):
    """The state lock, ``wait_state``, the notify calls and ``wait_leaving`` of a paglet."""

    _state: StateT
    _state_lock: threading.RLock
    _state_changed: threading.Condition | None
    _leaving: threading.Event | None
    _left: bool

    def _condition(self) -> threading.Condition:
        condition = self._state_changed
        if condition is None:
            with self._state_lock:
                if self._state_changed is None:
                    self._state_changed = threading.Condition(self._state_lock)
                condition = self._state_changed
        return condition

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this paglet's state lock (re-entrant) for the ``with`` block."""
        with self._state_lock:
            yield

    @contextmanager
    def locked_state(self) -> Iterator[StateT]:
        """Hold the state lock and yield the state; waiters are notified on exit."""
        condition = self._condition()
        with condition:
            try:
                yield self._state
            finally:
                condition.notify_all()

    def wait_state(self, predicate: Callable[[StateT], bool], timeout: float | None = None) -> bool:
        """Wait until ``predicate(state)`` holds; return False if ``timeout`` passed first.

        Others wake waiters with :meth:`notify_all_state_changed` or by leaving a
        :meth:`locked_state` block.
        """
        condition = self._condition()
        with condition:
            return condition.wait_for(lambda: predicate(self._state), timeout)

    def notify_state_changed(self) -> None:
        """Wake one :meth:`wait_state` caller so it checks its predicate again."""
        condition = self._condition()
        with condition:
            condition.notify()

    def notify_all_state_changed(self) -> None:
        """Wake every :meth:`wait_state` caller so it checks its predicate again."""
        condition = self._condition()
        with condition:
            condition.notify_all()

    def _mark_leaving(self) -> None:
        """Record that this instance left its host; wakes :meth:`wait_leaving`."""
        with self._state_lock:
            self._left = True
            if self._leaving is not None:
                self._leaving.set()

    def is_leaving(self) -> bool:
        """Whether this instance left its host (moved, deactivated or disposed).

        A long ``run()`` checks it, or waits on it with :meth:`wait_leaving`, to stop.
        """
        return self._left

    def wait_leaving(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early (True) when the paglet leaves."""
        with self._state_lock:
            if self._left:
                return True
            if self._leaving is None:
                self._leaving = threading.Event()
            leaving = self._leaving
        return leaving.wait(timeout)


R = TypeVar("R")


def state_locked(method: Callable[..., R]) -> Callable[..., R]:
    """Decorate a paglet method so it runs holding the state lock.

    Waiters in :meth:`Paglet.wait_state` are notified when it returns.
    """

    @functools.wraps(method)
    def locked_method(self: StateSync[Any], *args: Any, **kwargs: Any) -> R:
        with self.locked_state():
            return method(self, *args, **kwargs)

    return locked_method
