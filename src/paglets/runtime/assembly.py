"""Assembling one host, in one place: every part built once, in dependency order.

:class:`~paglets.runtime.host.Host` inherits :class:`HostAssembly` and calls
:meth:`HostAssembly._assemble` once from its constructor. Each part gets, as explicit
arguments, only the collaborators it uses (and only the config values it reads), so no
part is built half-wired and none reaches its neighbours through a shared bag. The
small values several parts share are one concept each: :class:`HostIdentity` (name
and addresses), :class:`HostProperties` and :class:`StopSignal`.

The one circle left is by nature: a proxy to a local paglet goes through the host's
operations, and the operations hand out such proxies. ``HostOperations`` breaks it by
building its own proxy backend, whose local lane is the operations object itself.
"""

from __future__ import annotations

from pathlib import Path

from paglets.net.mesh_secret import MeshSecret
from paglets.net.peers import PeerTable
from paglets.net.security import derive_keys, host_identity
from paglets.net.transport import Transport, TransportConfig
from paglets.remote.blob_stream import StreamSettings
from paglets.runtime.artifacts.service import ArtifactService
from paglets.runtime.artifacts.store import ArtifactStore, StoreLimits
from paglets.runtime.artifacts.streams import ArtifactStreams, StreamBoard
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.roots import resolve_roots, warn_if_unrestricted
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.host_properties import HostProperties
from paglets.runtime.mesh.directory import MeshDirectory
from paglets.runtime.mesh.membership import Membership
from paglets.runtime.persistence.event_history import EventHistory
from paglets.runtime.persistence.host_store import HostStore
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.serving.event_queries import EventQueries
from paglets.runtime.serving.operations import HostOperations
from paglets.runtime.serving.requests import RequestRouter
from paglets.runtime.stop_signal import StopSignal
from paglets.wire.classpath import ClassPolicy


def host_transport(config: HostConfig, secret: MeshSecret | None) -> Transport:
    """The transport of a host (not bound yet), with CURVE keys when there is a secret."""
    return Transport(
        config.name,
        TransportConfig(
            bind_host=config.host,
            port=config.port,
            max_message_size=config.max_message_size,
            default_timeout=config.request_timeout,
            max_inflight_per_peer=config.max_inflight_per_peer,
            keys=None if secret is None else derive_keys(secret.value),
            identity=None if secret is None else host_identity(config.persistence_dir),
            port_tries=config.port_tries,
            link_idle_ttl=config.link_idle_ttl,
        ),
    )


def artifact_store(config: HostConfig, root: Path, store: PagletStore) -> ArtifactStore:
    """The artifact store under ``root``, its metadata in the host database."""
    limits = StoreLimits(
        config.artifact_max_size,
        config.artifact_storage_quota,
        config.artifact_partial_ttl,
        config.max_upload_fds,
    )
    return ArtifactStore(root, limits, store.db.path)


def artifact_streams(
    config: HostConfig, transport: Transport, artifacts: ArtifactStore
) -> ArtifactStreams:
    """How artifacts and carried files move between hosts."""
    settings = StreamSettings(
        config.artifact_chunk_size,
        config.artifact_window,
        config.artifact_chunk_timeout,
        config.artifact_retries,
    )
    return ArtifactStreams(transport, artifacts, settings, StreamBoard())


class HostAssembly:
    """The parts of one host, as :meth:`_assemble` built them (private to the host)."""

    def _assemble(self, config: HostConfig, secret: MeshSecret | None, root: Path) -> None:
        """Build every part of the host from ``config``, in dependency order.

        Args:
            config: the host's config.
            secret: the mesh secret (None: plain sockets).
            root: where artifacts and work dirs live.
        """
        # first: it locks the directory, so a second host on it fails before binding
        store = self._store = PagletStore(
            HostStore(config.persistence_dir, config.store_synchronous)
        )
        transport = self._transport = host_transport(config, secret)
        identity = self._identity = HostIdentity(config.name, lambda: transport.address)
        events = self._events = EventLog(config.event_log_size)
        events.locate(lambda: (identity.name, identity.address))
        pool = self._pool = WorkerPool(
            config.name, max_workers=config.max_workers, start_aside=True
        )
        control = self._control_pool = WorkerPool(
            f"{config.name}-control", max_workers=config.control_workers
        )
        policy = self._policy = ClassPolicy(tuple(config.allowed_modules))
        registry = self._registry = Registry()
        peers = self._peers = PeerTable(config.max_peers)
        self._artifacts = artifact_store(config, root, store)
        self._transfers = artifact_streams(config, transport, self._artifacts)
        roots = resolve_roots(config.files_roots)
        warn_if_unrestricted(config.name, roots)
        self._work_area = WorkArea(root, roots, store.db.path)
        self._budget = QueueBudget(config.max_host_queued_messages, config.max_host_queued_bytes)
        self._run_slots = RunSlots(config.max_run_threads, config.run_report_after)
        self._properties = HostProperties(config.properties)
        self._stop = StopSignal()
        self._membership = Membership(
            config=config,
            identity=identity,
            transport=transport,
            peers=peers,
            events=events,
            control_pool=control,
            policy=policy,
            registry=registry,
            store=store,
        )
        self._directory = MeshDirectory(config, identity, peers, registry, store)
        self._operations = operations = HostOperations(
            self._directory,
            config=config,
            identity=identity,
            transport=transport,
            properties=self._properties,
            stop=self._stop,
            pool=pool,
            policy=policy,
            registry=registry,
            store=store,
            events=events,
            peers=peers,
            work_area=self._work_area,
            streams=self._transfers,
            budget=self._budget,
            run_slots=self._run_slots,
            files_roots=roots,
        )
        self._backend = operations.backend
        self._service_registry = operations.service_registry
        self._artifact_service = ArtifactService(
            self._artifacts,
            self._transfers,
            identity=identity,
            pool=pool,
            policy=policy,
            max_uploads=config.max_uploads,
        )
        self._history: EventHistory | None = None  # opened by start()
        router = self._router = RequestRouter(
            operations,
            self._membership,
            self._artifact_service,
            config=config,
            identity=identity,
            registry=registry,
            store=store,
            policy=policy,
            pool=pool,
            control_pool=control,
            service_registry=self._service_registry,
            events=EventQueries(events, lambda: self._history),
        )
        transport.serve(router, batch_scope=pool.holding)
