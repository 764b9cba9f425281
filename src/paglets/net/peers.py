"""The hosts this host knows: name, address, mesh version and the facts they publish."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from paglets.core.errors import PeerNotFoundError


@dataclass(frozen=True)
class PeerInfo:
    """What is known of another host. Frozen: updates replace the whole value."""

    name: str
    address: str
    mesh_version: str = ""
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    online: bool = True
    last_seen: float = field(default_factory=time.time)

    def to_wire(self) -> dict[str, Any]:
        """The facts as a plain map (for ``hello`` and the CLIs)."""
        return {
            "name": self.name,
            "address": self.address,
            "mesh_version": self.mesh_version,
            "tags": list(self.tags),
            "properties": dict(self.properties),
            "online": self.online,
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> PeerInfo:
        """Build from :meth:`to_wire` output.

        Raises:
            ValueError: a required field is missing or of the wrong type.
        """
        name, address = data.get("name"), data.get("address")
        if not isinstance(name, str) or not isinstance(address, str) or not name:
            raise ValueError("peer facts need a string 'name' and 'address'")
        tags = data.get("tags") or ()
        properties = data.get("properties") or {}
        return cls(
            name=name,
            address=address,
            mesh_version=str(data.get("mesh_version", "")),
            tags=tuple(str(tag) for tag in tags),
            properties={str(k): str(v) for k, v in dict(properties).items()},
            online=bool(data.get("online", True)),
            last_seen=time.time(),
        )


class PeerTable:
    """Known hosts by address, with lookup by name and waiting for a name."""

    def __init__(self) -> None:
        self._by_address: dict[str, PeerInfo] = {}
        self._cond = threading.Condition()

    def upsert(self, info: PeerInfo) -> bool:
        """Add or refresh a host; return whether it was new (or came back online)."""
        with self._cond:
            old = self._by_address.get(info.address)
            self._by_address[info.address] = info
            self._cond.notify_all()
            return old is None or not old.online

    def mark_offline(self, address: str) -> None:
        """Mark a host offline (it stays known)."""
        with self._cond:
            old = self._by_address.get(address)
            if old is not None and old.online:
                self._by_address[address] = replace(old, online=False)

    def get(self, address: str) -> PeerInfo | None:
        """Return the host at ``address``, or None."""
        with self._cond:
            return self._by_address.get(address)

    def by_name(self, name: str) -> PeerInfo | None:
        """Return the online host called ``name`` (else an offline one), or None."""
        with self._cond:
            return self._find(name)

    def _find(self, name: str) -> PeerInfo | None:
        matches = [info for info in self._by_address.values() if info.name == name]
        online = [info for info in matches if info.online]
        return (online or matches or [None])[0]

    def all(self) -> list[PeerInfo]:
        """Every known host, sorted by name."""
        with self._cond:
            return sorted(self._by_address.values(), key=lambda info: (info.name, info.address))

    def wait_for(self, name: str, timeout: float) -> PeerInfo:
        """Wait until a host called ``name`` is known.

        Raises:
            PeerNotFoundError: none within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                info = self._find(name)
                if info is not None:
                    return info
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    known = ", ".join(sorted({i.name for i in self._by_address.values()}))
                    raise PeerNotFoundError(
                        f"no host called {name!r} within {timeout}s (known: {known or 'none'})"
                    )
                self._cond.wait(remaining)
