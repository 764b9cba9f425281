"""Cursor drain: a paglet accumulates items; a client drains them by cursor, long-polling.

Every item a producer appends gets the next *cursor* (0, 1, 2...). A client asks "the
items from cursor N on, waiting up to T seconds for at least one" and gets a
:class:`DrainBatch`: the items, the cursor to ask from next time, whether the producer
is done, and how many items it missed (dropped before it asked). Asking from cursor N
also *releases* every item before N: the buffer is meant for one consumer, which
confirms what it got by asking for what follows.

The buffer lives in the paglet's state (it moves with the paglet; the state class
subclasses :class:`DrainState`) and is bounded by ``DRAIN_CAPACITY`` items, with one of
two policies when it is full (``DRAIN_POLICY``):

- :attr:`DrainPolicy.BLOCK` (default): :meth:`CursorDrainMixin.drain_append` waits
  until the consumer releases room, up to its timeout, then raises
  :class:`~paglets.core.errors.OverloadedError`; nothing is ever lost;
- :attr:`DrainPolicy.DROP_OLDEST`: the oldest unreleased items are dropped to make
  room; a consumer that asks from a dropped cursor gets ``missed`` > 0.

The ``_drain`` request is sent ``UNQUEUED_PRIORITY``, so a long poll never holds the mailbox:
the paglet's other messages (and a producer in ``run()``) go on meanwhile. One poll
waits at most ``DRAIN_MAX_WAIT`` seconds; :class:`DrainClient` asks again for longer.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from paglets.core.agent import PagletState
from paglets.core.errors import (
    LifecycleError,
    OverloadedError,
    ReplyTimeoutError,
    ServiceContractError,
)
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.patterns.reserved import PatternPaglet
from paglets.wire.codec import encode_value

DRAIN = "_drain"
"""Reserved kind of a drain request (args: cursor, wait, max_items)."""

_SLICE = 0.25
"""Seconds between two checks, while waiting, that the paglet is still here."""


class DrainPolicy(enum.Enum):
    """What a full buffer does with one more item."""

    BLOCK = "block"
    DROP_OLDEST = "drop-oldest"


@dataclass
class DrainState(PagletState):
    """State fields of the buffer; a draining paglet's state class subclasses it.

    Attributes:
        drain_items: the unreleased items, oldest first.
        drain_first: the cursor of ``drain_items[0]``.
        drain_done: the producer said it will append nothing more.
        drain_dropped: items dropped so far by the ``DROP_OLDEST`` policy.
    """

    drain_items: list[Any] = field(default_factory=list)
    drain_first: int = 0
    drain_done: bool = False
    drain_dropped: int = 0


@dataclass(frozen=True)
class DrainBatch:
    """One answer to a drain request.

    Attributes:
        items: the items from the cursor asked (or the oldest kept) on, in order.
        cursor: the cursor to ask from next time.
        done: the producer is done and every item was handed out: stop asking.
        missed: items between the cursor asked and the first one returned that were
            dropped (``DROP_OLDEST``) before anyone asked for them.
    """

    items: list[Any]
    cursor: int
    done: bool
    missed: int = 0

    def to_wire(self) -> dict[str, Any]:
        """Plain values, as the ``_drain`` reply carries them."""
        return {
            "items": self.items,
            "cursor": self.cursor,
            "done": self.done,
            "missed": self.missed,
        }

    @classmethod
    def from_wire(cls, data: Any) -> DrainBatch:
        """Read a ``_drain`` reply.

        Raises:
            ServiceContractError: the reply is not a drain batch.
        """
        try:
            return cls(
                list(data["items"]), int(data["cursor"]), bool(data["done"]), int(data["missed"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceContractError(f"not a drain batch: {exc}") from None


class CursorDrainMixin(PatternPaglet):
    """A bounded buffer of items that clients drain by cursor (see the module docstring).

    Mix it in before ``Paglet``; the state class must subclass :class:`DrainState`.
    """

    RESERVED_KINDS: ClassVar[dict[str, str]] = {DRAIN: "_answer_drain"}
    REQUIRED_STATE = DrainState
    DRAIN_CAPACITY: ClassVar[int] = 1000
    """Most unreleased items the buffer holds."""
    DRAIN_POLICY: ClassVar[DrainPolicy] = DrainPolicy.BLOCK
    """What :meth:`drain_append` does when the buffer is full."""
    DRAIN_MAX_WAIT: ClassVar[float] = 10.0
    """Longest wait of one drain request, in seconds."""
    DRAIN_MAX_ITEMS: ClassVar[int] = 1000
    """Most items one drain request returns."""

    def _buffer(self) -> DrainState:
        return self.pattern_state(DrainState)

    # the producer ---------------------------------------------------------------------

    def drain_append(self, item: Any, timeout: float | None = 10.0) -> int:
        """Append one item; return its cursor.

        Args:
            item: an encodable value.
            timeout: with ``BLOCK``, seconds to wait for room (None: wait as long as
                it takes, or until the paglet leaves).

        Raises:
            SerializationError: ``item`` cannot be encoded (nothing was appended).
            OverloadedError: the buffer stayed full for ``timeout`` seconds.
            LifecycleError: :meth:`drain_finish` was called already.
        """
        return self.drain_extend([item], timeout) - 1

    def drain_extend(self, items: Iterable[Any], timeout: float | None = 10.0) -> int:
        """Append items in order; return the cursor after the last one (see drain_append)."""
        pending = list(items)
        encode_value(pending)
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self.locked_state():
                buffer = self._buffer()
                if buffer.drain_done:
                    raise LifecycleError("the producer finished; nothing more can be appended")
                room = self.DRAIN_CAPACITY - len(buffer.drain_items)
                if self.DRAIN_POLICY is DrainPolicy.DROP_OLDEST and room < len(pending):
                    drop = min(len(buffer.drain_items), len(pending) - room)
                    del buffer.drain_items[:drop]
                    buffer.drain_first += drop
                    buffer.drain_dropped += drop
                    if len(pending) > self.DRAIN_CAPACITY:
                        skipped = len(pending) - self.DRAIN_CAPACITY
                        pending = pending[skipped:]
                        buffer.drain_first += skipped
                        buffer.drain_dropped += skipped
                    room = len(pending)
                take = pending[: max(room, 0)]
                buffer.drain_items.extend(take)
                pending = pending[len(take) :]
                if not pending:
                    return buffer.drain_first + len(buffer.drain_items)
            self._wait_for_room(end)

    def _wait_for_room(self, end: float | None) -> None:
        def has_room(_state: Any) -> bool:
            return len(self._buffer().drain_items) < self.DRAIN_CAPACITY

        while True:
            if self.is_leaving():
                raise LifecycleError("the paglet left its host while waiting for room")
            remaining = _SLICE if end is None else min(_SLICE, end - time.monotonic())
            if remaining <= 0:
                raise OverloadedError(
                    f"the drain buffer stayed full ({self.DRAIN_CAPACITY} items unreleased)"
                )
            if self.wait_state(has_room, remaining):
                return

    def drain_finish(self) -> None:
        """Say that nothing more will be appended; waiting clients get ``done``."""
        with self.locked_state():
            self._buffer().drain_done = True

    # the consumer side ----------------------------------------------------------------

    def drain_take(
        self, cursor: int, wait: float = 0.0, max_items: int | None = None
    ) -> DrainBatch:
        """Release the items before ``cursor``; return those from it on (see DrainBatch).

        Waits up to ``wait`` seconds (at most ``DRAIN_MAX_WAIT``) for at least one item
        or the producer's finish.

        Raises:
            ServiceContractError: ``cursor`` is negative or beyond the last item.
        """
        limit = (
            self.DRAIN_MAX_ITEMS
            if max_items is None
            else max(1, min(max_items, self.DRAIN_MAX_ITEMS))
        )
        end = time.monotonic() + max(0.0, min(wait, self.DRAIN_MAX_WAIT))
        with self.locked_state():
            self._release(cursor)
        while True:
            with self.locked_state():
                buffer = self._buffer()
                if buffer.drain_items or buffer.drain_done:
                    return self._batch(cursor, limit)
            remaining = min(_SLICE, end - time.monotonic())
            if remaining <= 0 or self.is_leaving():
                with self.locked_state():
                    return self._batch(cursor, limit)
            self.wait_state(
                lambda _state: bool(self._buffer().drain_items or self._buffer().drain_done),
                remaining,
            )

    def _release(self, cursor: int) -> None:
        buffer = self._buffer()
        end = buffer.drain_first + len(buffer.drain_items)
        if cursor < 0 or cursor > end:
            raise ServiceContractError(
                f"cursor {cursor} is outside 0..{end} (items produced so far)"
            )
        if cursor > buffer.drain_first:
            del buffer.drain_items[: cursor - buffer.drain_first]
            buffer.drain_first = cursor

    def _batch(self, cursor: int, limit: int) -> DrainBatch:
        buffer = self._buffer()
        missed = max(0, buffer.drain_first - cursor)
        items = list(buffer.drain_items[:limit])
        after = max(cursor, buffer.drain_first) + len(items)
        done = buffer.drain_done and after == buffer.drain_first + len(buffer.drain_items)
        return DrainBatch(items, after, done, missed)

    def _answer_drain(self, message: Message) -> dict[str, Any]:
        args = message.args
        try:
            cursor = int(args.get("cursor", 0))
            wait = float(args.get("wait", 0.0))
            max_items = args.get("max_items")
            limit = None if max_items is None else int(max_items)
        except (TypeError, ValueError) as exc:
            raise ServiceContractError(f"a drain request needs numbers: {exc}") from None
        return self.drain_take(cursor, wait, limit).to_wire()


class DrainClient:
    """Drains a :class:`CursorDrainMixin` paglet through its proxy, keeping the cursor."""

    def __init__(self, proxy: Any, cursor: int = 0) -> None:
        self.proxy = proxy
        self.cursor = cursor
        self.done = False
        self.missed = 0

    def drain(self, wait: float = 0.0, max_items: int | None = None) -> DrainBatch:
        """Ask for the items from the current cursor on; move the cursor past them.

        Args:
            wait: seconds to wait for at least one item (bounded by the paglet's cap).
            max_items: most items to take in this call.

        Raises:
            ServiceContractError: a bad cursor or reply; other PagletErrors as the proxy's.
        """
        args: dict[str, Any] = {"cursor": self.cursor, "wait": wait, "max_items": max_items}
        reply = self.proxy.send(
            Message(DRAIN, args, priority=UNQUEUED_PRIORITY), timeout=wait + 10.0
        )
        batch = DrainBatch.from_wire(reply)
        self.cursor, self.done = batch.cursor, batch.done
        self.missed += batch.missed
        return batch

    def items(self, timeout: float, poll: float = 2.0) -> Iterator[Any]:
        """Yield items as they come until the producer is done or ``timeout`` passed.

        Raises:
            ReplyTimeoutError: ``timeout`` passed before the producer was done.
        """
        end = time.monotonic() + timeout
        while not self.done:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise ReplyTimeoutError(f"the producer was not done within {timeout:g}s")
            yield from self.drain(min(poll, remaining)).items
