"""The parts of one host that its modules share, wired once by ``Host``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paglets.core.events import PagletEvent
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.runtime.artifacts.store import ArtifactStore
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.roots import default_roots
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
    control: WorkerPool | None = None
    budget: QueueBudget | None = None
    run_slots: RunSlots | None = None
    files_roots: tuple[Path, ...] = field(default_factory=default_roots)
    set_properties: dict[str, Any] = field(default_factory=dict)
    service_registry: ServiceRegistry | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    stop_hooks: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events.locate(lambda: (self.name, self.address))

    @property
    def control_pool(self) -> WorkerPool:
        """The control lane's pool (mesh and hand-off verbs, heartbeat), else the pool."""
        return self.control if self.control is not None else self.pool

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

    def get_property(self, key: str, default: Any = None) -> Any:
        """A property set at run time, else a configured one, else ``default``."""
        if key in self.set_properties:
            return self.set_properties[key]
        return self.config.properties.get(key, default)

    def set_property(self, key: str, value: Any) -> None:
        """Set a run-time property of this host (it does not travel in gossip).

        Raises:
            TypeError: ``key`` is not a non-empty str.
        """
        if not isinstance(key, str) or not key:
            raise TypeError(f"property key must be a non-empty str, not {key!r}")
        self.set_properties[key] = value

    def require_backend(self) -> RemoteProxyBackend:
        """The host backend (set once the host started)."""
        assert self.backend is not None, "host backend not wired"
        return self.backend

    def require_service_registry(self) -> ServiceRegistry:
        """The host's service registry (set once the host is built)."""
        assert self.service_registry is not None, "service registry not wired"
        return self.service_registry


__all__ = ["HostParts", "PagletEvent"]
