"""The parts of one host that its modules share, wired once by ``Host``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from paglets.core.events import PagletEvent
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.runtime.artifacts.store import ArtifactStore
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.serving.service_registry import ServiceRegistry
from paglets.wire.classpath import ClassPolicy


@dataclass
class HostParts:
    """Shared references; no behaviour beyond address bookkeeping."""

    config: HostConfig
    transport: Transport
    pool: WorkerPool
    policy: ClassPolicy
    registry: Registry
    store: PagletStore
    events: EventLog
    peers: PeerTable
    artifacts: ArtifactStore
    transfers: ArtifactStreams
    work_area: WorkArea
    local_addresses: set[str] = field(default_factory=set)
    backend: RemoteProxyBackend | None = None
    service_registry: ServiceRegistry | None = None

    def __post_init__(self) -> None:
        self.events.locate(lambda: (self.name, self.address))

    @property
    def name(self) -> str:
        """This host's name."""
        return self.config.name

    @property
    def address(self) -> str:
        """This host's canonical address."""
        return self.transport.address

    def is_local(self, address: str) -> bool:
        """Whether ``address`` (canonical) is this host."""
        return address in self.local_addresses

    def event_fields(self, agent_id: str) -> dict[str, object]:
        """The fields every lifecycle event carries, for this host."""
        return {
            "agent_id": agent_id,
            "host_name": self.name,
            "host_address": self.address,
            "timestamp": time.time(),
        }

    def require_backend(self) -> RemoteProxyBackend:
        """The host backend (set once the host started)."""
        assert self.backend is not None, "host backend not wired"
        return self.backend

    def require_service_registry(self) -> ServiceRegistry:
        """The host's service registry (set once the host is built)."""
        assert self.service_registry is not None, "service registry not wired"
        return self.service_registry


__all__ = ["HostParts", "PagletEvent"]
