"""The verbs of a host about itself, its mesh, its properties and its event log.

:class:`Host` inherits them; they only read the peer table, the directory and the
event log the host assembled, so they live apart from the paglet verbs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from paglets.core.context_events import ContextEvent
from paglets.core.hosts import HostRef
from paglets.net.mesh_secret import MeshSecret, join_line
from paglets.net.peers import PeerInfo, PeerTable
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog, Listener
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.run_reports import limits_info
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.host_properties import HostProperties
from paglets.runtime.mesh.directory import MeshDirectory
from paglets.runtime.mesh.membership import Membership
from paglets.runtime.persistence.paglet_store import PagletStore


class HostMeshVerbs:
    """Mesh, property and event verbs over a host's parts."""

    config: HostConfig
    _identity: HostIdentity
    _properties: HostProperties
    _registry: Registry
    _store: PagletStore
    _pool: WorkerPool
    _peers: PeerTable
    _events: EventLog
    _budget: QueueBudget
    _run_slots: RunSlots
    _directory: MeshDirectory
    _membership: Membership
    secret: MeshSecret | None

    @property
    def secured(self) -> bool:
        """Whether this host's sockets use CURVE with a mesh secret."""
        return self.secret is not None

    def join_line(self) -> str:
        """The one line another machine runs to join this host's mesh (holds the secret)."""
        if self.secret is None:
            return f"paglets host --name NAME --insecure --peer {self._identity.address}"
        return join_line(self.secret)

    def info(self) -> dict[str, Any]:
        """Facts about this host."""
        return {
            **self._membership.facts(),
            "active": len(self._registry),
            "inactive": self._store.count(),
            "quarantined": len(self._store.quarantined()),
            "workers": self._pool.size,
            "peers": [peer.to_wire() for peer in self._peers.all()],
            **limits_info(self.config, self._budget, self._run_slots),
        }

    def with_config(self, **changes: Any) -> HostConfig:
        """A copy of this host's config with ``changes`` (for starting a sibling host)."""
        return replace(self.config, **changes)

    # properties -----------------------------------------------------------------------

    def get_property(self, key: str, default: Any = None) -> Any:
        """A property set with :meth:`set_property`, else a configured one, else ``default``."""
        return self._properties.get(key, default)

    def set_property(self, key: str, value: Any) -> None:
        """Set a property of this host (local: paglets see it, other hosts do not)."""
        self._properties.set(key, value)

    # mesh and events ------------------------------------------------------------------

    def available_hosts(self, online_only: bool = True, include_self: bool = True) -> list[HostRef]:
        """The hosts of the mesh this host knows (online ones and itself by default)."""
        return self._directory.available_hosts(online_only, include_self)

    def list_hosts(self) -> list[HostRef]:
        """Every host this host knows, online or not, itself first."""
        return self._directory.available_hosts(online_only=False, include_self=True)

    def peers(self) -> list[PeerInfo]:
        """The raw peer table: every other host's full facts (gossip ports, sequence)."""
        return self._peers.all()

    def mesh_view(self) -> dict[str, Any]:
        """This host's view of the mesh, as the ``mesh`` verb answers it (docs/mesh.md)."""
        return self._membership.mesh_view()

    def wait_for_host(self, name: str, timeout: float = 10.0) -> HostRef:
        """Wait until the host ``name`` (or address) is known and online.

        Raises:
            PeerNotFoundError: none within ``timeout``.
        """
        return self._directory.wait_for_host(name, timeout)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every later context event."""
        self._events.add_listener(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._events.remove_listener(listener)

    def list_events(self, since: int = 0, limit: int | None = None) -> list[ContextEvent]:
        """The kept context events numbered above ``since`` (the first ``limit``)."""
        return self._events.since(since, limit)

    def health(self) -> dict[str, Any]:
        """Name, address, mesh version, paglet counts and clock, as a ping answers."""
        return {
            "name": self.config.name,
            "address": self._identity.address,
            "mesh_version": self.config.mesh_version,
            "active": len(self._registry),
            "inactive": self._store.count(),
            "time": time.time(),
        }
