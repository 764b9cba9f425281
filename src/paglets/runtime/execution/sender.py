"""Which paglet is sending: the agent id behind the handler or ``run()`` of this thread.

The runtime stamps it on every message sent from there (``Message.sender``), so the
receiver knows who asked without the sender saying so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_sending = threading.local()


def current_sender() -> str | None:
    """The agent id of the paglet whose code runs on this thread, or None."""
    agent_id: str | None = getattr(_sending, "agent_id", None)
    return agent_id


@contextmanager
def sending_as(agent_id: str) -> Iterator[None]:
    """Mark the calling thread as running ``agent_id``'s code for the ``with`` block."""
    outer = getattr(_sending, "agent_id", None)
    _sending.agent_id = agent_id
    try:
        yield
    finally:
        _sending.agent_id = outer
