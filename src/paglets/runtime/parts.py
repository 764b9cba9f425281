"""The parts of one host that its modules share, wired once by ``Host``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paglets.core.events import PagletEvent
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.runtime.artifacts.store import ArtifactStore
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.classpath import ClassPolicy

if TYPE_CHECKING:
    from paglets.runtime.serving.local_backend import LocalProxyBackend


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
    backend: LocalProxyBackend | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

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

    def require_backend(self) -> LocalProxyBackend:
        """The host backend (set once the host started)."""
        assert self.backend is not None, "host backend not wired"
        return self.backend


__all__ = ["HostParts", "PagletEvent"]
