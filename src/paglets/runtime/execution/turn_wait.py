"""Waiting for an action queued for a paglet's turn (see ``LocalPaglet.run_in_turn``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from paglets.core.errors import InvalidAgentError, ReplyTimeoutError
from paglets.core.messages import FutureReply

LEFT_CHECK = 0.1
"""Seconds between looks at whether the paglet left while its action waited."""


def wait_for_turn(
    future: FutureReply,
    claim: threading.Lock,
    left: Callable[[], str],
    agent_id: str,
    timeout: float | None,
) -> Any:
    """Return the action's result once it ran; fail it if its turn can never come.

    ``claim`` is taken by whoever decides first: the action as it starts, or this
    wait as it gives up, so an action either runs or is refused, never both. A paglet
    that left (``left()`` names how: moved, deactivated, disposed) holds its mailbox
    for good, so an action queued after it left would wait forever.

    Raises:
        ReplyTimeoutError: the turn did not come within ``timeout``; nothing ran.
        InvalidAgentError: the paglet left this host first; nothing ran.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = LEFT_CHECK if deadline is None else min(LEFT_CHECK, deadline - time.monotonic())
        if future.wait_for_reply(max(wait, 0.0)):
            return future.get_reply(None)
        how = left()
        if how and claim.acquire(blocking=False):
            raise InvalidAgentError(f"paglet {agent_id} was {how} meanwhile; nothing was done")
        if deadline is not None and time.monotonic() >= deadline:
            if claim.acquire(blocking=False):
                raise ReplyTimeoutError(
                    f"paglet {agent_id} stayed busy for {timeout}s; nothing was done"
                )
            return future.get_reply(None)  # it started: its result comes
