"""EchoPaglet: answers with what it was sent, sleeps on request, says where it is.

Message kinds:

- ``echo``: reply with the message's ``args`` (or its single ``arg`` when it has no
  named args);
- ``sleep``: block the handler for ``args["seconds"]`` (at most
  :data:`MAX_SLEEP_SECONDS`), waking early if the paglet leaves its host; reply
  ``{"slept": seconds}``. Handy to show priorities and timeouts;
- ``where``: reply with the name of the host the paglet is on;
- ``fail``: raise ``RuntimeError(args["text"])``, which the caller sees as a
  ``HostError``.

The state counts the messages handled, so a test can see it travel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message

MAX_SLEEP_SECONDS = 10.0
"""The longest a ``sleep`` message blocks, whatever it asks for."""


@dataclass
class EchoState(PagletState):
    """How many messages this paglet handled, wherever it was."""

    handled: int = 0


class EchoPaglet(Paglet[EchoState]):
    """Echoes; answers ``echo``, ``sleep``, ``where`` and ``fail``."""

    State = EchoState

    def handle_message(self, message: Message) -> Any:
        """Handle one message; see the module docstring for the kinds."""
        kind = message.kind
        if kind not in ("echo", "sleep", "where", "fail"):
            return self.not_handled()
        with self.locked():
            self.state.handled += 1
        if kind == "echo":
            return dict(message.args) if message.args else message.arg
        if kind == "sleep":
            seconds = min(max(float(message.get_arg("seconds", 0.0)), 0.0), MAX_SLEEP_SECONDS)
            started = time.monotonic()
            self.wait_leaving(seconds)
            return {"slept": round(time.monotonic() - started, 3)}
        if kind == "where":
            return self.context.name
        raise RuntimeError(str(message.get_arg("text", "failure on request")))
