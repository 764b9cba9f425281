"""Messages and the replies they bring back.

A :class:`Message` has a ``kind`` (what to do), an ``args`` dictionary and an optional
single ``arg``, and a ``priority``. A paglet's mailbox hands messages to its handler one
at a time, highest priority first and first-in first-out within one priority.
:data:`UNQUEUED_PRIORITY` messages skip the mailbox and are handled at once, beside
whatever the paglet is doing.

Every message also carries who sent it and how, filled by the runtime on delivery:
``message_type`` (:data:`SYNCHRONOUS`, :data:`FUTURE` or :data:`ONEWAY`, from the send
call used), ``sender`` (the agent id of the paglet whose handler or ``run()`` sent it;
None from outside any paglet), ``reply_to`` (the address of the sender's host),
``timestamp`` (seconds since the epoch, when it was made) and ``message_id`` (unique
in the mesh). The kind :data:`DEACTIVATE` is reserved: the receiving host deactivates
the paglet instead of handing it the message.

:class:`FutureReply` is the answer to ``send_future``; :class:`ReplySet` gathers the
futures of a multicast and hands them out as they complete.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from paglets.core.errors import PagletError, ReplyTimeoutError, SerializationError

MIN_PRIORITY = 1
NORMAL_PRIORITY = 5
MAX_PRIORITY = 10
UNQUEUED_PRIORITY = 0
"""Priority of a message that bypasses the mailbox and runs at once on its own thread."""

SYNCHRONOUS = "synchronous"
"""``message_type`` of a message sent with ``send``: the sender waits for the reply."""
FUTURE = "future"
"""``message_type`` of a message sent with ``send_future``: the reply comes as a future."""
ONEWAY = "oneway"
"""``message_type`` of a message sent with ``send_oneway``: nobody waits for a reply."""
MESSAGE_TYPES = (SYNCHRONOUS, FUTURE, ONEWAY)

DEACTIVATE = "_deactivate"
"""Reserved kind: the receiving paglet is deactivated (``args["duration"]``: seconds)."""

_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def new_message_id() -> str:
    """Return an id no other message of the mesh has (a random process prefix, a counter)."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER)}"


def check_priority(priority: int) -> int:
    """Return ``priority`` if it is :data:`UNQUEUED_PRIORITY` or 1..10, else raise ValueError."""
    if type(priority) is not int or not (
        priority == UNQUEUED_PRIORITY or MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise ValueError(
            f"message priority must be {MIN_PRIORITY}..{MAX_PRIORITY} or "
            f"UNQUEUED_PRIORITY ({UNQUEUED_PRIORITY}), not {priority!r}"
        )
    return priority


@dataclass(slots=True)
class Message:
    """A message for a paglet.

    Args:
        kind: what the message asks for; handlers switch on it.
        args: named arguments (encodable values, see the codec).
        arg: one unnamed argument, for messages that carry a single value.
        priority: 1 (lowest) .. 10 (highest), or :data:`UNQUEUED_PRIORITY`.
        sender: agent id of the sending paglet (the runtime fills it).
        reply_to: address of the sender's host (the runtime fills it).
        message_type: :data:`SYNCHRONOUS`, :data:`FUTURE` or :data:`ONEWAY` (set on send).
        timestamp: when the message was made, seconds since the epoch.
        message_id: unique id of the message.

    Raises:
        ValueError: an empty kind, args that are not a dict, a bad priority or type.
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    arg: Any = None
    priority: int = NORMAL_PRIORITY
    sender: str | None = None
    reply_to: str | None = None
    message_type: str = SYNCHRONOUS
    timestamp: float = field(default_factory=time.time)
    message_id: str = field(default_factory=new_message_id)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"message kind must be a non-empty string, not {self.kind!r}")
        if self.args is None:
            self.args = {}
        elif not isinstance(self.args, dict):
            raise ValueError(f"message args must be a dict, not {type(self.args).__name__}")
        check_priority(self.priority)
        if self.message_type not in MESSAGE_TYPES:
            raise ValueError(
                f"message_type must be one of {MESSAGE_TYPES}, not {self.message_type!r}"
            )

    def get_arg(self, name: str | None = None, default: Any = None) -> Any:
        """Return the named argument (or ``default``), or the single ``arg`` when no name."""
        if name is None:
            return self.arg
        return self.args.get(name, default)

    def set_arg(self, name: str, value: Any) -> Message:
        """Set a named argument and return the message, for chaining."""
        self.args[name] = value
        return self

    def same_kind(self, kind: str | Message) -> bool:
        """Return whether this message is of ``kind`` (a kind, or another message's kind)."""
        if isinstance(kind, Message):
            return self.kind == kind.kind
        return self.kind == kind

    def to_wire(self) -> dict[str, Any]:
        """Return the message as a map of plain fields (its args stay as they are)."""
        return {
            "kind": self.kind,
            "args": self.args,
            "arg": self.arg,
            "priority": self.priority,
            "sender": self.sender,
            "reply_to": self.reply_to,
            "message_type": self.message_type,
            "timestamp": self.timestamp,
            "message_id": self.message_id,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        """Rebuild a message from :meth:`to_wire`'s map (missing fields take defaults).

        Raises:
            SerializationError: ``data`` is not such a map, or a field is invalid.
        """
        if not isinstance(data, dict) or "kind" not in data:
            raise SerializationError(f"a message needs a map with a kind, not {data!r:.80}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SerializationError(f"unknown message fields {sorted(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"not a valid message: {exc}") from None


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

    def wait_for_reply(self, timeout: float | None = None) -> bool:
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
        if not self.wait_for_reply(timeout):
            raise ReplyTimeoutError(f"no reply within {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value

    def _typed_reply(self, timeout: float | None, kinds: tuple[type, ...], name: str) -> Any:
        value = self.get_reply(timeout)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise TypeError(f"the reply is {type(value).__name__} {value!r:.60}, not {name}")
        return value

    def get_boolean_reply(self, timeout: float | None = None) -> bool:
        """Return the reply, which must be a bool (TypeError otherwise; see get_reply)."""
        return bool(self._typed_reply(timeout, (bool,), "a bool"))

    def get_int_reply(self, timeout: float | None = None) -> int:
        """Return the reply, which must be an int, not a bool (TypeError otherwise)."""
        return int(self._typed_reply(timeout, (int,), "an int"))

    def get_float_reply(self, timeout: float | None = None) -> float:
        """Return the reply as a float; an int is accepted, a bool is not (TypeError)."""
        return float(self._typed_reply(timeout, (float, int), "a float"))

    def get_string_reply(self, timeout: float | None = None) -> str:
        """Return the reply, which must be a str (TypeError otherwise)."""
        return str(self._typed_reply(timeout, (str,), "a str"))

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

    def count_unavailable(self) -> int:
        """Return how many futures are still waiting for their reply."""
        return len(self._all) - self.count_available()

    def are_all_available(self) -> bool:
        """Return whether every future has completed."""
        return all(future.is_available() for future in self._all)

    def is_any_available(self) -> bool:
        """Return whether a completed future is waiting to be taken."""
        with self._cond:
            return bool(self._completed)

    def has_more_future_replies(self) -> bool:
        """Return whether some future has not been taken yet."""
        with self._cond:
            return self._taken < len(self._all)

    def get_next_future_reply(self) -> FutureReply | None:
        """Take the next completed future without waiting; None when none is ready."""
        with self._cond:
            if not self._completed:
                return None
            self._taken += 1
            return self._completed.popleft()

    def wait_for_next_future_reply(self, timeout: float | None = None) -> FutureReply:
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
            if not future.wait_for_reply(remaining):
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
        while self.has_more_future_replies():
            yield self.wait_for_next_future_reply()


__all__ = [
    "DEACTIVATE",
    "FUTURE",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "NORMAL_PRIORITY",
    "ONEWAY",
    "SYNCHRONOUS",
    "UNQUEUED_PRIORITY",
    "FutureReply",
    "Message",
    "PagletError",
    "ReplySet",
    "check_priority",
    "new_message_id",
]
