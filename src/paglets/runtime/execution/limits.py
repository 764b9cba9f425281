"""The bounded resources of one host: queued messages and bytes, and ``run()`` threads.

A peer can make a host hold two things for as long as it likes: messages waiting in
mailboxes (bytes it sent) and threads running ``run()`` (paglets it sent). Both are
counted here against the host's ``HostConfig`` limits; taking past a limit raises
:class:`~paglets.core.errors.LimitExceededError` naming the setting, and nothing is
taken.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from paglets.core.errors import LimitExceededError


def check_mailbox_room(
    agent_id: str,
    queued: int,
    queued_bytes: int,
    size: int,
    max_messages: int,
    max_bytes: int | None,
) -> None:
    """Refuse a message of ``size`` bytes that one paglet's mailbox has no room for.

    A message into an empty mailbox passes whatever its size (the host's budget still
    bounds it), so one large message is never refused by a paglet that waits for it.

    Raises:
        LimitExceededError: ``max_queued_messages`` or ``max_mailbox_bytes``.
    """
    if queued >= max_messages:
        raise LimitExceededError(
            f"the mailbox of paglet {agent_id} is full ({max_messages} messages waiting)",
            "max_queued_messages",
        )
    if max_bytes is not None and queued and queued_bytes + size > max_bytes:
        raise LimitExceededError(
            f"{size} more bytes would put the mailbox of paglet {agent_id} over "
            f"{max_bytes} bytes ({queued_bytes} waiting)",
            "max_mailbox_bytes",
        )


class QueueBudget:
    """Messages and body bytes queued in all the mailboxes of one host. Thread-safe."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.messages = 0
        self.bytes = 0

    def take(self, size: int) -> None:
        """Count one more queued message of ``size`` body bytes.

        Raises:
            LimitExceededError: ``max_host_queued_messages`` or ``max_host_queued_bytes``.
        """
        with self._lock:
            if self.messages >= self.max_messages:
                raise LimitExceededError(
                    f"the host holds {self.messages} queued messages already",
                    "max_host_queued_messages",
                )
            if self.bytes + size > self.max_bytes and self.messages > 0:
                raise LimitExceededError(
                    f"{size} more bytes would put the host's queued messages over "
                    f"{self.max_bytes} bytes ({self.bytes} queued)",
                    "max_host_queued_bytes",
                )
            self.messages += 1
            self.bytes += size

    def give_back(self, size: int) -> None:
        """A message of ``size`` bytes left its mailbox (handled, redirected, failed)."""
        with self._lock:
            self.messages = max(0, self.messages - 1)
            self.bytes = max(0, self.bytes - size)

    def snapshot(self) -> dict[str, int]:
        """The counts and limits, for ``info()``."""
        return {
            "messages": self.messages,
            "bytes": self.bytes,
            "max_messages": self.max_messages,
            "max_bytes": self.max_bytes,
        }


class MailboxBounds:
    """One paglet's mailbox limits and the host's budget, checked together."""

    def __init__(
        self, agent_id: str, max_messages: int, max_bytes: int | None, budget: QueueBudget | None
    ) -> None:
        self.agent_id = agent_id
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.budget = budget

    def admit(self, queued: int, queued_bytes: int, size: int, unqueued: bool) -> None:
        """Count a message of ``size`` bytes in, or refuse it (an unqueued one skips
        the mailbox's own limits, not the host's).

        Raises:
            LimitExceededError: naming the limit reached.
        """
        if not unqueued:
            check_mailbox_room(
                self.agent_id, queued, queued_bytes, size, self.max_messages, self.max_bytes
            )
        if self.budget is not None:
            self.budget.take(size)

    def give_back(self, size: int) -> None:
        """A counted message of ``size`` bytes left (handled, redirected or failed)."""
        if self.budget is not None:
            self.budget.give_back(size)


class RunSlot:
    """One taken slot of :class:`RunSlots`; :meth:`release` it once ``run()`` ended."""

    def __init__(self, slots: RunSlots, token: int) -> None:
        self._slots = slots
        self._token = token

    def release(self) -> None:
        """Give the slot back (again: nothing happens)."""
        self._slots.release(self._token)


class RunSlots:
    """The threads ``run()`` methods may hold at once. Thread-safe.

    A slot is taken when a paglet with a ``run()`` is installed (so a paglet that could
    not run is refused before it exists here) and given back when ``run()`` returns or
    the paglet leaves before it started. A ``run()`` that never returns keeps its slot
    and, after ``report_after`` seconds, is reported once (:meth:`overdue`).
    """

    def __init__(self, limit: int, report_after: float) -> None:
        self.limit = limit
        self.report_after = report_after
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._held: dict[int, tuple[str, float]] = {}
        self._reported: set[int] = set()

    def acquire(self, agent_id: str) -> int:
        """Take a slot for ``agent_id``'s ``run()``; return its token.

        Raises:
            LimitExceededError: ``max_run_threads`` slots are held.
        """
        with self._lock:
            if len(self._held) >= self.limit:
                raise LimitExceededError(
                    f"{len(self._held)} run() methods hold a thread already; "
                    f"paglet {agent_id} was not started",
                    "max_run_threads",
                )
            token = next(self._ids)
            self._held[token] = (agent_id, time.monotonic())
            return token

    def take(self, agent_id: str) -> RunSlot:
        """:meth:`acquire` a slot, as a :class:`RunSlot` to release.

        Raises:
            LimitExceededError: ``max_run_threads`` slots are held.
        """
        return RunSlot(self, self.acquire(agent_id))

    def release(self, token: int) -> None:
        """Give the slot ``token`` back (again: nothing happens)."""
        with self._lock:
            self._held.pop(token, None)
            self._reported.discard(token)

    def overdue(self) -> list[tuple[str, float]]:
        """``(agent id, seconds)`` of runs past ``report_after`` not reported before."""
        now = time.monotonic()
        found: list[tuple[str, float]] = []
        with self._lock:
            for token, (agent_id, since) in self._held.items():
                if token not in self._reported and now - since >= self.report_after:
                    self._reported.add(token)
                    found.append((agent_id, now - since))
        return found

    def snapshot(self) -> dict[str, Any]:
        """Slots in use, the limit, and the runs held longer than ``report_after``."""
        now = time.monotonic()
        with self._lock:
            held = list(self._held.values())
        return {
            "threads": len(held),
            "max_threads": self.limit,
            "long": sorted(
                (
                    {"agent_id": agent_id, "seconds": round(now - since, 1)}
                    for agent_id, since in held
                    if now - since >= self.report_after
                ),
                key=lambda entry: -float(entry["seconds"]),
            ),
        }
