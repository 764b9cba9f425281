"""The body of the ``events`` verb: which events of a host's history to read back.

A host's history numbers its events by ``seq`` (from 1, never reused, kept across
restarts, unlike an event's ``event_id``, which starts again at 1 with each run), so
``since`` is a cursor: ask with the last ``seq`` seen to get only what came after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from paglets.core.errors import ProtocolError

MAX_EVENTS = 10_000
"""The most events one answer holds."""


@dataclass(frozen=True)
class EventQuery:
    """Which events to read: those numbered above ``since``, matching the filters.

    Attributes:
        since: only events whose ``seq`` is above this (0: from the first kept).
        last: only the newest ``last`` of the matching events (None: from the oldest).
        agent_id: only events about this paglet ("" for any).
        kind: only events of this kind, such as ``dispatch`` ("" for any).
        limit: at most this many events (the oldest matching, unless ``last``).

    Raises:
        ProtocolError: a field of the wrong type or out of range.
    """

    since: int = 0
    last: int | None = None
    agent_id: str = ""
    kind: str = ""
    limit: int = MAX_EVENTS

    def __post_init__(self) -> None:
        for name in ("since", "limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ProtocolError(f"events: {name} must be a whole number >= 0, not {value!r}")
        if self.last is not None and (
            not isinstance(self.last, int) or isinstance(self.last, bool) or self.last < 1
        ):
            raise ProtocolError(f"events: last must be a whole number >= 1, not {self.last!r}")
        for name in ("agent_id", "kind"):
            if not isinstance(getattr(self, name), str):
                raise ProtocolError(f"events: {name} must be a string")

    @property
    def count(self) -> int:
        """How many events the answer may hold at most."""
        wanted = self.limit if self.last is None else min(self.last, self.limit)
        return min(wanted, MAX_EVENTS)

    def to_wire(self) -> dict[str, Any]:
        """The query as a map (the verb's body)."""
        return asdict(self)

    @classmethod
    def from_wire(cls, body: Any) -> EventQuery:
        """Read a query from the verb's body (None: every kept event, oldest first).

        Raises:
            ProtocolError: not a map, an unknown field, or a bad value.
        """
        if body is None:
            return cls()
        if not isinstance(body, dict):
            raise ProtocolError("events needs a map of since, last, agent_id, kind, limit")
        unknown = set(body) - set(cls.__dataclass_fields__)
        if unknown:
            raise ProtocolError(f"events: unknown fields {sorted(map(str, unknown))}")
        return cls(**body)
