"""Assembling one host's parts from its config, in one place.

``Host`` calls :func:`assemble_parts` once; every part gets what it uses from the
config here, so no module reads the whole config to build its neighbours.
"""

from __future__ import annotations

from pathlib import Path

from paglets.net.mesh_secret import MeshSecret
from paglets.net.peers import PeerTable
from paglets.net.security import derive_keys, host_identity
from paglets.net.transport import Transport, TransportConfig
from paglets.remote.blob_stream import StreamSettings
from paglets.runtime.artifacts.store import ArtifactStore, StoreLimits
from paglets.runtime.artifacts.streams import ArtifactStreams, StreamBoard
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.roots import resolve_roots, warn_if_unrestricted
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.parts import HostParts
from paglets.runtime.persistence.host_store import HostStore
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.classpath import ClassPolicy


def assemble_parts(config: HostConfig, secret: MeshSecret | None, root: Path) -> HostParts:
    """The transport, pool, stores and tables of a host, wired from ``config``.

    Args:
        config: the host's config.
        secret: the mesh secret (None: plain sockets).
        root: where artifacts and work dirs live.
    """
    # first: it locks the directory, so a second host on it fails before binding
    store = PagletStore(HostStore(config.persistence_dir, config.store_synchronous))
    transport = Transport(
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
    artifacts = ArtifactStore(
        root,
        StoreLimits(
            config.artifact_max_size,
            config.artifact_storage_quota,
            config.artifact_partial_ttl,
            config.max_upload_fds,
        ),
        store.db.path,
    )
    stream = StreamSettings(
        config.artifact_chunk_size,
        config.artifact_window,
        config.artifact_chunk_timeout,
        config.artifact_retries,
    )
    roots = resolve_roots(config.files_roots)
    warn_if_unrestricted(config.name, roots)
    return HostParts(
        config=config,
        transport=transport,
        pool=WorkerPool(config.name, max_workers=config.max_workers, start_aside=True),
        policy=ClassPolicy(tuple(config.allowed_modules)),
        registry=Registry(),
        store=store,
        events=EventLog(config.event_log_size),
        peers=PeerTable(config.max_peers),
        artifacts=artifacts,
        transfers=ArtifactStreams(transport, artifacts, stream, StreamBoard()),
        work_area=WorkArea(root, roots, store.db.path),
        control=WorkerPool(f"{config.name}-control", max_workers=config.control_workers),
        budget=QueueBudget(config.max_host_queued_messages, config.max_host_queued_bytes),
        run_slots=RunSlots(config.max_run_threads, config.run_report_after),
        files_roots=roots,
    )
