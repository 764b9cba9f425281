"""CounterPaglet: the smallest useful paglet, a counter that keeps its count when it moves.

Message kinds (every reply is ``{"count": N}``):

- ``increment``: add ``args["by"]`` (default 1) to the count;
- ``get``: read the count;
- ``reset``: set the count back to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message


@dataclass
class CounterState(PagletState):
    """The count; it travels with the paglet and survives deactivation."""

    count: int = 0


class CounterPaglet(Paglet[CounterState]):
    """Counts; answers ``increment``, ``get`` and ``reset``."""

    State = CounterState

    def handle_message(self, message: Message) -> Any:
        """Handle one counter message; see the module docstring for the kinds."""
        if message.kind == "increment":
            self.state.count += int(message.get_arg("by", 1))
        elif message.kind == "reset":
            self.state.count = 0
        elif message.kind != "get":
            return self.not_handled()
        return {"count": self.state.count}
