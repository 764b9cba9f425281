"""Host: one process's place in the mesh, where paglets live.

``Host`` wires the parts together (transport, worker pool, registry, store, event log,
peers) and exposes the documented verbs; behaviour lives in the modules it wires:
:mod:`~paglets.runtime.serving.operations`, :mod:`~paglets.runtime.execution.lifecycle`,
:mod:`~paglets.runtime.mobility.handoff`, :mod:`~paglets.runtime.mesh.membership` and
:mod:`~paglets.runtime.serving.requests`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from paglets.core.agent import ACTIVE, Paglet, PagletState
from paglets.core.errors import HostStoppedError, InvalidAgentError, PagletError
from paglets.core.messages import Message, ReplySet
from paglets.core.refs import PagletProxyRef
from paglets.net.endpoint import normalize_address, split_address
from paglets.net.mesh_secret import MeshSecret, join_line, resolve_secret
from paglets.net.peers import PeerInfo, PeerTable
from paglets.net.security import derive_keys
from paglets.net.transport import Transport, TransportConfig
from paglets.remote.blob_stream import StreamSettings
from paglets.remote.proxy import PagletProxy
from paglets.runtime.artifacts.service import ArtifactService
from paglets.runtime.artifacts.store import ArtifactStore, StoreLimits
from paglets.runtime.artifacts.streams import ArtifactStreams, StreamBoard
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import ContextEvent, EventLog, Listener
from paglets.runtime.execution.local_paglet import PagletStatus
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.shutdown import deactivate_all
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.mesh.membership import Membership
from paglets.runtime.parts import HostParts
from paglets.runtime.persistence.host_store import HostStore
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.serving.local_backend import LocalProxyBackend
from paglets.runtime.serving.operations import HostOperations
from paglets.runtime.serving.requests import RequestRouter
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state, encode_state
from paglets.wire.protocol import VERB_PING

log = logging.getLogger(__name__)

_WILDCARDS = {"0.0.0.0", "::", "*", ""}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Host:
    """A host that runs paglets and talks to the rest of the mesh.

    Args mirror :class:`~paglets.runtime.config.HostConfig`; pass ``config=`` to give
    the whole value at once.
    """

    def __init__(
        self,
        name: str = "paglets",
        host: str = "127.0.0.1",
        port: int = 0,
        peers: Iterable[str] = (),
        mesh_version: str = "dev",
        tags: Iterable[str] = (),
        properties: Mapping[str, str] | None = None,
        persistence_dir: str | Path | None = None,
        discovery: bool = False,
        api_key: str | None = None,
        allowed_modules: Iterable[str] = (),
        *,
        config: HostConfig | None = None,
        **options: Any,
    ) -> None:
        if config is None:
            config = HostConfig(
                name=name,
                host=host,
                port=port,
                peers=tuple(normalize_address(peer) for peer in peers),
                mesh_version=mesh_version,
                tags=tuple(tags),
                properties=dict(properties or {}),
                persistence_dir=None if persistence_dir is None else Path(persistence_dir),
                discovery=discovery,
                api_key=api_key,
                allowed_modules=("paglets.examples", "paglets.patterns", *allowed_modules),
                **options,
            )
        self.config = config
        self.secret = self._resolve_secret(config)
        transport = Transport(
            config.name,
            TransportConfig(
                bind_host=config.host,
                port=config.port,
                max_message_size=config.max_message_size,
                default_timeout=config.request_timeout,
                max_inflight_per_peer=config.max_inflight_per_peer,
                keys=None if self.secret is None else derive_keys(self.secret.value),
            ),
        )
        # first: it locks the directory
        store = PagletStore(HostStore(config.persistence_dir, config.store_synchronous))
        files_root = self._files_root(config)
        artifacts = ArtifactStore(
            files_root,
            StoreLimits(
                config.artifact_max_size,
                config.artifact_storage_quota,
                config.artifact_partial_ttl,
            ),
            store.db.path,
        )
        stream = StreamSettings(
            config.artifact_chunk_size,
            config.artifact_window,
            config.artifact_chunk_timeout,
            config.artifact_retries,
        )
        self._parts = HostParts(
            config=config,
            transport=transport,
            pool=WorkerPool(config.name, max_workers=config.max_workers),
            policy=ClassPolicy(tuple(config.allowed_modules)),
            registry=Registry(),
            store=store,
            events=EventLog(config.event_log_size),
            peers=PeerTable(),
            artifacts=artifacts,
            transfers=ArtifactStreams(transport, artifacts, stream, StreamBoard()),
            work_area=WorkArea(files_root, store.db.path),
        )
        self._membership = Membership(self._parts)
        self._operations = HostOperations(self._parts, self._membership.resolve_target)
        self._parts.backend = LocalProxyBackend(self._parts, self._operations)
        self._artifact_service = ArtifactService(self._parts)
        transport.serve(
            RequestRouter(self._parts, self._operations, self._membership, self._artifact_service),
            batch_scope=self._parts.pool.holding,
        )
        self._started = False
        self._stopped = threading.Event()

    def _files_root(self, config: HostConfig) -> Path:
        """Where artifacts and work dirs live: the persistence dir, else a temp dir."""
        if config.persistence_dir is not None:
            config.persistence_dir.mkdir(parents=True, exist_ok=True)
            self._temp_root: Path | None = None
            return config.persistence_dir
        label = "".join(c if c.isalnum() else "-" for c in config.name[:40])
        self._temp_root = Path(tempfile.mkdtemp(prefix=f"paglets-{label}-"))
        # removed at stop, or when a host that never started is collected
        self._remove_temp_root = weakref.finalize(self, shutil.rmtree, str(self._temp_root), True)
        return self._temp_root

    @staticmethod
    def _resolve_secret(config: HostConfig) -> MeshSecret | None:
        if config.insecure:
            if config.api_key or config.api_key_env:
                raise PagletError("insecure=True contradicts a mesh secret; choose one")
            if config.host not in _LOOPBACK:
                log.warning(
                    "host %s runs INSECURE on %s: anyone who can reach its port can run "
                    "any allowed paglet class on it",
                    config.name,
                    config.host,
                )
            return None
        try:
            return resolve_secret(config.api_key, config.api_key_env)
        except ValueError as exc:
            raise PagletError(str(exc)) from None

    @property
    def artifacts(self) -> ArtifactStore:
        """This host's artifact store (blobs, metadata, quotas)."""
        return self._parts.artifacts

    @property
    def secured(self) -> bool:
        """Whether this host's sockets use CURVE with a mesh secret."""
        return self.secret is not None

    def join_line(self) -> str:
        """The one line another machine runs to join this host's mesh (holds the secret)."""
        if self.secret is None:
            return f"paglets host --name NAME --insecure --peer {self.address}"
        return join_line(self.secret)

    # lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """This host's name."""
        return self.config.name

    @property
    def address(self) -> str:
        """The bound endpoint ``tcp://HOST:PORT`` (after start)."""
        return self._parts.address

    def start_background(self, timeout: float = 10.0) -> Host:
        """Bind, start the I/O thread, greet the seeds; return once the host answers.

        Raises:
            zmq.ZMQError: the port (or the gossip ``pub_port``) could not be bound.
            PagletError: the host did not answer itself within ``timeout``.
        """
        if self._started:
            return self
        self._parts.transport.start(timeout)
        self._started = True
        self._register_addresses()
        self._start_store()
        self._parts.transport.call(self.address, VERB_PING, timeout=timeout)
        try:
            self._membership.start(self.config.peers)
        except BaseException:
            self.stop(timeout)  # e.g. pub_port taken: leave nothing running
            raise
        self._parts.events.record("host-started", "", address=self.address)
        log.info("host %s listening on %s", self.name, self.address)
        return self

    def _start_store(self) -> None:
        """Bring back what the store kept: durable paglets, open hand-offs, wake-ups."""
        store = self._parts.store
        for problem in store.db.problems:
            self._parts.events.record("store-problem", "", problem=problem)
        self._operations.activation.start()
        self._operations.settlement.recover()
        self._operations.settlement.start()
        quarantined = store.quarantined()
        if quarantined:
            log.warning(
                "host %s: %d stored records are quarantined (unusable; kept, not deleted)",
                self.name,
                len(quarantined),
            )

    def _register_addresses(self) -> None:
        bound_host, port = split_address(self._parts.transport.address)
        local = self._parts.local_addresses
        if bound_host in _WILDCARDS:
            advertised = _primary_ipv4() or "127.0.0.1"
            self._parts.transport._address = normalize_address(f"{advertised}:{port}")
            local.update(
                normalize_address(f"{h}:{port}") for h in ("127.0.0.1", "localhost", advertised)
            )
        else:
            local.add(self._parts.transport.address)
            if bound_host in ("127.0.0.1", "localhost"):
                local.update(normalize_address(f"{h}:{port}") for h in ("127.0.0.1", "localhost"))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully: active paglets go to the store with their mailboxes.

        Within ``timeout`` every active paglet is deactivated with the messages it had
        accepted (delivered in order after its next activation); one still busy then
        is persisted anyway (docs/durability.md says with which state). Work that
        arrives meanwhile gets a retryable ``HostStoppedError``. Without a persistence
        dir the store is in memory, so active paglets are discarded (their ``run()``
        sees ``is_leaving``). Calls still pending fail with ``HostStoppedError``.
        """
        if not self._started or self._stopped.is_set():
            return
        self._parts.stopping.set()
        self._membership.stop()
        operations = self._operations
        operations.settlement.stop()
        operations.activation.stopping = True
        if self._parts.store.durable:
            report = deactivate_all(self._parts, operations.activation, timeout)
            kept = report.deactivated + len(report.persisted_busy)
        else:
            kept = 0
            for slot in self._parts.registry.slots():
                queued = slot.leave(PagletStatus.DISPOSED)
                self._parts.registry.remove(slot.agent_id)
                slot.fail_queued(queued, HostStoppedError(f"host {self.name} stopped"))
        operations.activation.stop()
        self._parts.events.record("host-stopped", "", deactivated=kept)
        self._parts.transport.stop(timeout)
        self._parts.pool.stop(timeout=min(timeout, 2.0))
        self._artifact_service.close()
        self._parts.store.close()
        self._parts.artifacts.close()
        self._parts.work_area.close()
        if self._temp_root is not None:
            self._remove_temp_root()
        self._stopped.set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until :meth:`stop` finished; return False on timeout."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Host:
        return self.start_background()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # paglets --------------------------------------------------------------------------

    def create(
        self, cls: type[Paglet[Any]], state: PagletState | None = None, init: Any = None
    ) -> PagletProxy:
        """Create a paglet on this host; ``on_creation`` has run when this returns.

        Raises:
            SerializationError: the state cannot be encoded.
            PagletError: ``on_creation`` raised (the paglet was not created).
        """
        return self._operations.create(cls, state, init)

    def create_remote(
        self,
        target: str,
        cls: type[Paglet[Any]],
        state: PagletState | None = None,
        init: Any = None,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Create a paglet on another host (a name or an address); return its proxy."""
        return self._operations.create(cls, state, init, target, timeout)

    def get_proxy(self, agent_id: str) -> PagletProxy:
        """The proxy of a paglet of this host (active or inactive).

        Raises:
            InvalidAgentError: no such paglet here.
        """
        if self._parts.registry.get(agent_id) is None and not self._parts.store.contains(agent_id):
            raise InvalidAgentError(f"no paglet {agent_id} on host {self.name}")
        return self._operations.proxy_of(agent_id, self.address)

    def get_proxies(self, flags: int = ACTIVE) -> list[PagletProxy]:
        """Proxies of this host's paglets in the state flags (ACTIVE, INACTIVE or both)."""
        return self._operations.proxies(flags)

    def proxy(
        self, ref: PagletProxyRef | dict[str, str] | str, address: str | None = None
    ) -> PagletProxy:
        """A proxy for a ref, a ``to_wire()`` dict, or an agent id (and address)."""
        if isinstance(ref, PagletProxyRef):
            return self._operations.proxy_of(ref.agent_id, ref.address)
        if isinstance(ref, dict):
            return PagletProxy.from_wire(ref, self._parts.require_backend())
        return self._operations.proxy_of(ref, address or self.address)

    def get_state(self, agent_id: str, state_cls: type[PagletState] | None = None) -> PagletState:
        """A copy of a local paglet's state (active or inactive).

        Raises:
            InvalidAgentError: no such paglet here.
        """
        slot = self._parts.registry.get(agent_id)
        if slot is not None:
            with slot.paglet.locked():
                raw = encode_state(slot.paglet.state)
            cls: type[PagletState] = state_cls or type(slot.paglet.state)
        else:
            stored = self._parts.store.load(agent_id)
            if stored is None:
                raise InvalidAgentError(f"no paglet {agent_id} on host {self.name}")
            if state_cls is None:
                raise PagletError(f"give the state class of inactive paglet {agent_id}")
            raw, cls = stored.state, state_cls
        return decode_state(raw, cls, self._parts.policy)

    def multicast_message(
        self, kind: str | Message, args: dict[str, Any] | None = None
    ) -> ReplySet:
        """Send a message to every active paglet on this host; replies come as they finish."""
        message = kind if isinstance(kind, Message) else Message(kind, dict(args or {}))
        return self._operations.multicast(message)

    def _control(self, agent_id: str, op: str, args: dict[str, Any], timeout: float | None) -> Any:
        return self._operations.control(agent_id, op, args, timeout)

    def dispatch(
        self, agent: str | PagletProxy, target: str, timeout: float | None = None
    ) -> PagletProxy:
        """Move a paglet of this host to ``target`` (host name or address)."""
        agent_id = agent.agent_id if isinstance(agent, PagletProxy) else agent
        address = self._control(agent_id, "dispatch", {"target": target}, timeout)
        return self._operations.proxy_of(agent_id, str(address))

    def clone(
        self, agent: str | PagletProxy, target: str | None = None, timeout: float | None = None
    ) -> PagletProxy:
        """Copy a paglet of this host (here, or to ``target``); return the copy's proxy."""
        agent_id = agent.agent_id if isinstance(agent, PagletProxy) else agent
        reply = self._control(agent_id, "clone", {"target": target}, timeout)
        return self._operations.proxy_of(str(reply["agent_id"]), str(reply["address"]))

    def retract(self, remote: str, agent_id: str, timeout: float | None = None) -> PagletProxy:
        """Pull the paglet ``agent_id`` from the host ``remote`` (name or address) to here."""
        address = self._membership.resolve_target(remote)
        proxy = self._operations.proxy_of(agent_id, address)
        return proxy.retract(timeout=timeout)

    def deactivate(
        self, agent_id: str, duration: float | None = None, timeout: float | None = None
    ) -> None:
        """Persist and unload a paglet of this host."""
        self._control(agent_id, "deactivate", {"duration": duration}, timeout)

    def activate(self, agent_id: str) -> None:
        """Load an inactive paglet of this host again."""
        self._control(agent_id, "activate", {}, None)

    def dispose(self, agent_id: str, timeout: float | None = None) -> None:
        """Destroy a paglet of this host."""
        self._control(agent_id, "dispose", {}, timeout)

    # mesh and events ------------------------------------------------------------------

    def available_hosts(self) -> list[PeerInfo]:
        """The other hosts this host knows."""
        return self._parts.peers.all()

    def mesh_view(self) -> dict[str, Any]:
        """This host's view of the mesh, as the ``mesh`` verb answers it (docs/mesh.md)."""
        return self._membership.mesh_view()

    def wait_for_host(self, name: str, timeout: float) -> PeerInfo:
        """Wait until a host called ``name`` is known.

        Raises:
            PeerNotFoundError: none within ``timeout``.
        """
        return self._parts.peers.wait_for(name, timeout)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every later context event."""
        self._parts.events.add_listener(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._parts.events.remove_listener(listener)

    def list_events(self, since: int = 0) -> list[ContextEvent]:
        """The kept context events numbered above ``since``."""
        return self._parts.events.since(since)

    def info(self) -> dict[str, Any]:
        """Facts about this host."""
        return {
            **self._membership.facts(),
            "active": len(self._parts.registry),
            "inactive": self._parts.store.count(),
            "quarantined": len(self._parts.store.quarantined()),
            "workers": self._parts.pool.size,
            "peers": [peer.to_wire() for peer in self._parts.peers.all()],
        }

    def with_config(self, **changes: Any) -> HostConfig:
        """A copy of this host's config with ``changes`` (for starting a sibling host)."""
        return replace(self.config, **changes)

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address or '(not started)'}>"


def _primary_ipv4() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family.name == "AF_INET" and not address.address.startswith("127."):
                return str(address.address)
    return None
