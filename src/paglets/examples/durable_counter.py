"""DurableCounterPaglet: a counter whose every acknowledged increment survives ``kill -9``.

The same messages as :mod:`paglets.examples.counter` (``increment``, ``get``,
``reset``), plus ``append`` (``args["item"]`` added to a list, to check order). With
``DURABLE = True`` the host writes the state to its store after each message that
changed it and before the reply leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message


@dataclass
class DurableCounterState(PagletState):
    """The count and the items appended, in order."""

    count: int = 0
    items: list[Any] = field(default_factory=list)


class DurableCounterPaglet(Paglet[DurableCounterState]):
    """Counts durably; answers ``increment``, ``append``, ``get`` and ``reset``."""

    State = DurableCounterState
    DURABLE = True

    def handle_message(self, message: Message) -> Any:
        """Handle one message; see the module docstring for the kinds."""
        if message.kind == "increment":
            self.state.count += int(message.get_arg("by", 1))
        elif message.kind == "append":
            self.state.items.append(message.get_arg("item"))
        elif message.kind == "reset":
            self.state.count = 0
            self.state.items.clear()
        elif message.kind != "get":
            return self.not_handled()
        return {"count": self.state.count, "items": list(self.state.items)}
