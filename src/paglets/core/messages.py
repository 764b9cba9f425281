"""Messages and the replies they bring back.

A :class:`Message` has a ``kind`` (what to do), an ``args`` dictionary and an optional
single ``arg``, and a ``priority``. A paglet's mailbox hands messages to its handler one
at a time, highest priority first and first-in first-out within one priority.
:data:`UNQUEUED` messages skip the mailbox and are handled at once, beside whatever the
paglet is doing.

:class:`FutureReply` is the answer to ``send_future``; :class:`ReplySet` gathers the
futures of a multicast and hands them out as they complete.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from paglets.core.errors import PagletError, ReplyTimeoutError

MIN_PRIORITY = 1
NORMAL_PRIORITY = 5
MAX_PRIORITY = 10
UNQUEUED = 0
"""Priority of a message that bypasses the mailbox and runs at once on its own thread."""


def check_priority(priority: int) -> int:
    """Return ``priority`` if it is :data:`UNQUEUED` or within 1..10, else raise ValueError."""
    if type(priority) is not int or not (
        priority == UNQUEUED or MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise ValueError(
            f"message priority must be {MIN_PRIORITY}..{MAX_PRIORITY} or UNQUEUED, not {priority!r}"
        )
    return priority


@dataclass(slots=True)
class Message:
    """A message for a paglet.

    Args:
        kind: what the message asks for; handlers switch on it.
        args: named arguments (encodable values, see the codec).
        arg: one unnamed argument, for messages that carry a single value.
        priority: 1 (lowest) .. 10 (highest), or :data:`UNQUEUED`.
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    arg: Any = None
    priority: int = NORMAL_PRIORITY

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"message kind must be a non-empty string, not {self.kind!r}")
        if self.args is None:
            self.args = {}
        elif not isinstance(self.args, dict):
            raise ValueError(f"message args must be a dict, not {type(self.args).__name__}")
        check_priority(self.priority)

    def get_arg(self, name: str | None = None, default: Any = None) -> Any:
        """Return the named argument (or ``default``), or the single ``arg`` when no name."""
        if name is None:
            return self.arg
        return self.args.get(name, default)

    def set_arg(self, name: str, value: Any) -> Message:
        """Set a named argument and return the message, for chaining."""
        self.args[name] = value
        return self

    def same_kind(self, kind: str) -> bool:
        """Return whether this message is of ``kind``."""
        return self.kind == kind


_PENDING = object()


class FutureReply:
    """The reply to a message that is still on its way.

    Completed exactly once, from any thread, with a value or an error. Waiting never
    outlives its timeout; the transport also completes every future with an error when
    its own request timeout passes or the host stops, so nothing waits forever.
    """

    __slots__ = ("_done", "_value", "_error", "_callbacks", "_guard")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._value: Any = _PENDING
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[FutureReply], None]] | None = None
        self._guard = threading.Lock()

    def set_result(self, value: Any) -> bool:
        """Complete with ``value``; return False if the future was already complete."""
        return self._complete(value, None)

    def set_error(self, error: BaseException) -> bool:
        """Complete with ``error``; return False if the future was already complete."""
        return self._complete(None, error)

    def _complete(self, value: Any, error: BaseException | None) -> bool:
        with self._guard:
            if self._value is not _PENDING:
                return False
            self._value = value
            self._error = error
            callbacks, self._callbacks = self._callbacks, None
        self._done.release()
        for callback in callbacks or ():
            callback(self)
        return True

    def add_done_callback(self, callback: Callable[[FutureReply], None]) -> None:
        """Call ``callback(self)`` once the future completes (at once if it already has)."""
        with self._guard:
            if self._value is _PENDING:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        callback(self)

    def is_available(self) -> bool:
        """Return whether the reply (or error) has arrived."""
        return self._value is not _PENDING

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until complete; return False if ``timeout`` seconds passed first."""
        if self._value is not _PENDING:
            return True
        acquired = self._done.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))
        if acquired:
            self._done.release()
        return acquired

    def get_reply(self, timeout: float | None = None) -> Any:
        """Return the reply, waiting up to ``timeout`` seconds (None: until it completes).

        Raises:
            ReplyTimeoutError: no reply within ``timeout``.
            PagletError: the error the call failed with (remote errors included).
        """
        if not self.wait(timeout):
            raise ReplyTimeoutError(f"no reply within {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value

    def error(self) -> BaseException | None:
        """Return the error this future failed with, or None (also while pending)."""
        return self._error

    def __repr__(self) -> str:
        if self._value is _PENDING:
            return "<FutureReply pending>"
        return f"<FutureReply {'error' if self._error else 'ok'}>"


class ReplySet:
    """The futures of one multicast, handed out in the order they complete."""

    def __init__(self, futures: list[FutureReply] | None = None) -> None:
        self._cond = threading.Condition()
        self._all: list[FutureReply] = []
        self._completed: deque[FutureReply] = deque()
        self._taken = 0
        for future in futures or ():
            self.add_future_reply(future)

    def add_future_reply(self, future: FutureReply) -> None:
        """Add a future to the set."""
        with self._cond:
            self._all.append(future)
        future.add_done_callback(self._on_done)

    def _on_done(self, future: FutureReply) -> None:
        with self._cond:
            self._completed.append(future)
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._all)

    @property
    def futures(self) -> list[FutureReply]:
        """Every future of the set, in the order they were added."""
        return list(self._all)

    def count_available(self) -> int:
        """Return how many futures have completed."""
        return sum(1 for future in self._all if future.is_available())

    def is_any_available(self) -> bool:
        """Return whether a completed future is waiting to be taken."""
        with self._cond:
            return bool(self._completed)

    def has_more_futures(self) -> bool:
        """Return whether some future has not been taken with :meth:`next_future` yet."""
        with self._cond:
            return self._taken < len(self._all)

    def next_future(self, timeout: float | None = None) -> FutureReply:
        """Take the next completed future, waiting up to ``timeout`` seconds.

        Raises:
            ReplyTimeoutError: none completed within ``timeout``.
            LookupError: every future has been taken already.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._completed:
                if self._taken >= len(self._all):
                    raise LookupError("every future of this ReplySet was taken")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ReplyTimeoutError(f"no further reply within {timeout}s")
                self._cond.wait(remaining)
            self._taken += 1
            return self._completed.popleft()

    def wait_for_all_replies(self, timeout: float | None = None) -> bool:
        """Wait until every future completed; return False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for future in list(self._all):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not future.wait(remaining):
                return False
        return True

    def replies(self, timeout: float | None = None) -> list[Any]:
        """Wait for all and return every reply value, in the order futures were added.

        Raises:
            ReplyTimeoutError: not every reply arrived within ``timeout``.
            PagletError: the first error a future failed with.
        """
        if not self.wait_for_all_replies(timeout):
            raise ReplyTimeoutError(f"not every reply arrived within {timeout}s")
        return [future.get_reply(0) for future in self._all]

    def __iter__(self) -> Iterator[FutureReply]:
        """Yield futures as they complete until every one was taken."""
        while self.has_more_futures():
            yield self.next_future()


__all__ = [
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "NORMAL_PRIORITY",
    "UNQUEUED",
    "FutureReply",
    "Message",
    "PagletError",
    "ReplySet",
    "check_priority",
]
