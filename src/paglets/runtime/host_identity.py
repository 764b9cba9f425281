"""Who a host is: its name, its canonical address and every address it answers at."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class HostIdentity:
    """A host's name and addresses, as every part of it names the host.

    The address is read when asked (the transport knows it only once bound); the
    local addresses are recorded once at start (a wildcard bind answers at several).

    Args:
        name: the host's name in the mesh.
        address: returns the bound, canonical address (empty before start).
    """

    __slots__ = ("_address", "_local", "_name")

    def __init__(self, name: str, address: Callable[[], str]) -> None:
        self._name = name
        self._address = address
        self._local: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """This host's name."""
        return self._name

    @property
    def address(self) -> str:
        """This host's canonical address."""
        return self._address()

    def is_local(self, address: str) -> bool:
        """Whether ``address`` (canonical) is this host."""
        return address in self._local

    def add_local(self, addresses: Iterable[str]) -> None:
        """Record further addresses (canonical) this host answers at."""
        self._local = self._local | frozenset(addresses)

    def event_fields(self, agent_id: str) -> dict[str, object]:
        """The fields every lifecycle event of ``agent_id`` carries, for this host."""
        return {
            "agent_id": agent_id,
            "host_name": self._name,
            "host_address": self._address(),
            "timestamp": time.time(),
        }
