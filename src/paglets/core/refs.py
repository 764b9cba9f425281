"""Plain, encodable references to paglets, for use in state and message arguments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PagletProxyRef:
    """Where a paglet was last known to live: its id and its host's address.

    A ref is data: it can sit in a paglet's state or a message. Turn it into a live
    proxy with ``context.proxy(ref)`` inside a paglet, or ``host.proxy(ref)``.
    """

    agent_id: str
    address: str

    def to_wire(self) -> dict[str, str]:
        """Return the ref as a plain dict."""
        return {"agent_id": self.agent_id, "address": self.address}

    @classmethod
    def from_wire(cls, data: dict[str, str]) -> PagletProxyRef:
        """Build a ref from :meth:`to_wire` output (or a proxy's ``to_wire()``)."""
        return cls(agent_id=str(data["agent_id"]), address=str(data["address"]))
