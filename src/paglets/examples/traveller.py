"""TravellerPaglet: visits a list of hosts with an itinerary and logs each one.

Create it with the destinations (host names or addresses) as ``init``, or with a
:class:`TravellerState` holding a plan. On creation its ``run()`` sets out for the
first destination; on each one it records the host name in ``state.visited`` (in
``on_arrival``, so a message that reaches it there already sees the entry) and leaves
for the next. On the last destination it stops and sets ``state.finished``. A hop that
fails leaves it where it is, with the reason in ``state.error``.

Message kinds:

- ``log``: reply ``{"visited": [...], "finished": bool, "remaining": [...],
  "error": str, "host": current host name}``;
- ``where``: reply with the name of the host it is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.events import CreationEvent, MobilityEvent
from paglets.core.itinerary import ItineraryAgentMixin, ItineraryPlan
from paglets.core.messages import Message


@dataclass
class TravellerState(PagletState):
    """The plan, the hosts visited so far, and how the trip ended."""

    itinerary: ItineraryPlan = field(default_factory=ItineraryPlan)
    visited: list[str] = field(default_factory=list)
    finished: bool = False
    error: str = ""


class TravellerPaglet(ItineraryAgentMixin, Paglet[TravellerState]):
    """Visits its itinerary's hosts one after the other and logs their names."""

    State = TravellerState

    def on_creation(self, event: CreationEvent) -> None:
        """Take the destinations from ``init`` (a list of host names or addresses)."""
        if event.init is not None:
            self.state.itinerary = ItineraryPlan([str(dest) for dest in event.init])

    def on_arrival(self, event: MobilityEvent) -> None:
        """Log the host through the itinerary helper."""
        self.itinerary_on_arrival(event)

    def on_destination_reached(self) -> None:
        """Record the host name of the destination just reached."""
        with self.locked_state() as state:
            state.visited.append(self.context.name)

    def on_itinerary_finished(self) -> None:
        """Stop on the last destination."""
        with self.locked_state() as state:
            state.finished = True

    def run(self) -> None:
        """Leave for the next destination (or stop at the end)."""
        try:
            self.continue_itinerary()
        except PagletError as exc:
            with self.locked_state() as state:
                state.error = f"{type(exc).__name__}: {exc}"

    def handle_message(self, message: Message) -> Any:
        """Answer ``log`` and ``where``; see the module docstring."""
        if message.kind == "log":
            with self.locked():
                state = self.state
                return {
                    "visited": list(state.visited),
                    "finished": state.finished,
                    "remaining": state.itinerary.remaining(),
                    "error": state.error,
                    "host": self.context.name,
                }
        if message.kind == "where":
            return self.context.name
        return self.not_handled()
