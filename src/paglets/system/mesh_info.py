"""The mesh-info system service: this host's gossip view of the mesh, as a contract.

Contract ``paglets.system.mesh_info`` (version 1): ``snapshot(EmptyPayload) ->
MeshSnapshot`` lists this host and every host it knows (online or not) with the facts
gossip carries; ``select_targets(TargetQuery) -> TargetSelection`` ranks the online
ones for placement as ``paglets mesh targets`` does
(:func:`~paglets.runtime.mesh.host_facts.rank_targets`) and says why the rest are left out.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from paglets.core.hosts import HostRef
from paglets.core.runtime_values import ResidentLifecycle
from paglets.net.peers import PeerInfo
from paglets.runtime.mesh.host_facts import TargetFilter, rank_targets, sample_machine
from paglets.services.contracts import EmptyPayload, ServiceContract, ServiceOperation
from paglets.services.provider import ServicePaglet, ServiceState


@dataclass
class MeshHost:
    """One host as the answering host sees it."""

    name: str = ""
    address: str = ""
    online: bool = True
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    active: int = 0
    cpu_count: int = 0
    load: float = 0.0
    cores_free: int = 0
    memory_free: int = 0
    work_free: int = 0
    last_seen: float = 0.0


@dataclass
class MeshSnapshot:
    """The answering host first, then the hosts it knows."""

    host: str = ""
    hosts: list[MeshHost] = field(default_factory=list)


@dataclass
class TargetQuery:
    """What a placement target must offer (see ``TargetFilter``)."""

    max_load_per_cpu: float | None = None
    min_memory: int = 0
    min_work_free: int = 0
    require_tags: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    include_self: bool = True
    limit: int = 0


@dataclass
class ExcludedHost:
    """A host that is not a target, and why."""

    name: str = ""
    reason: str = ""


@dataclass
class TargetSelection:
    """Targets best first, then the hosts left out."""

    host: str = ""
    targets: list[MeshHost] = field(default_factory=list)
    excluded: list[ExcludedHost] = field(default_factory=list)


MESH_INFO = ServiceContract(
    name="paglets.system.mesh_info",
    version=1,
    description="The gossip view of the mesh: hosts, liveness, facts, ranked targets.",
    operations=(
        ServiceOperation("snapshot", EmptyPayload, MeshSnapshot, description="every known host"),
        ServiceOperation("select_targets", TargetQuery, TargetSelection, description="rank"),
    ),
)


def _mesh_host(peer: PeerInfo) -> MeshHost:
    return MeshHost(
        name=peer.name,
        address=peer.address,
        online=peer.online,
        tags=list(peer.tags),
        properties=dict(peer.properties),
        active=peer.active,
        cpu_count=peer.cpu_count,
        load=peer.load,
        cores_free=peer.cores_free,
        memory_free=peer.memory_free,
        work_free=peer.work_free,
        last_seen=peer.last_seen,
    )


class MeshInfoService(ServicePaglet[ServiceState]):
    """Provides :data:`MESH_INFO` from its host's peer table."""

    CONTRACT = MESH_INFO
    RESIDENT_LIFECYCLE = ResidentLifecycle.LAZY
    IDLE_TIMEOUT = 300.0

    def _own(self) -> PeerInfo:
        context = self.context
        machine = sample_machine(Path(tempfile.gettempdir()))
        return PeerInfo(
            name=context.name,
            address=context.address,
            tags=tuple(context.tags),
            properties=dict(context.properties),
            active=len(context.get_proxies()),
            cpu_count=machine.cpu_count,
            load=machine.load,
            cores_free=machine.cpu_count,
            memory_free=machine.memory_free,
            memory_total=machine.memory_total,
            work_free=machine.work_free,
            last_seen=time.time(),
        )

    def _hosts(self) -> list[PeerInfo]:
        known = self.context.available_hosts(online_only=False, include_self=False)
        peers = [_peer_of(ref) for ref in known]
        return [self._own(), *sorted(peers, key=lambda p: p.name)]

    def snapshot(self, request: EmptyPayload) -> MeshSnapshot:
        """Answer ``snapshot``."""
        return MeshSnapshot(self.context.name, [_mesh_host(p) for p in self._hosts()])

    def select_targets(self, request: TargetQuery) -> TargetSelection:
        """Answer ``select_targets``."""
        exclude = [str(name) for name in request.exclude]
        if not request.include_self:
            exclude.append(self.context.name)
        wanted = TargetFilter(
            max_load_per_cpu=request.max_load_per_cpu,
            min_memory=int(request.min_memory),
            min_work_free=int(request.min_work_free),
            require_tags=tuple(str(tag) for tag in request.require_tags),
            exclude=tuple(exclude),
        )
        chosen, refused = rank_targets(self._hosts(), wanted)
        if request.limit > 0:
            chosen = chosen[: request.limit]
        return TargetSelection(
            self.context.name,
            [_mesh_host(p) for p in chosen],
            [ExcludedHost(p.name, why) for p, why in refused],
        )


def _peer_of(ref: HostRef) -> PeerInfo:
    """A host as the gossip table holds it, from what the context says of it."""
    return PeerInfo(
        name=ref.name,
        address=ref.url,
        mesh_version=ref.code_version,
        tags=tuple(ref.tags),
        properties=dict(ref.properties),
        active=ref.active_count,
        inactive=ref.inactive_count,
        cpu_count=ref.cpu_count,
        load=ref.load,
        memory_free=ref.memory_free,
        work_free=ref.work_free,
        cores_free=ref.cores_free,
        online=ref.online,
        last_seen=ref.last_seen,
    )
