"""Host: one process's place in the mesh, where paglets live.

``Host`` has its parts built once by :mod:`~paglets.runtime.assembly` (transport, worker
pool, registry, store, event log, peers...) and exposes the documented verbs; behaviour
lives in the modules assembled:
:mod:`~paglets.runtime.serving.operations`, :mod:`~paglets.runtime.execution.lifecycle`,
:mod:`~paglets.runtime.mobility.handoff`, :mod:`~paglets.runtime.mesh.membership` and
:mod:`~paglets.runtime.serving.requests`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.messages import Message, ReplySet
from paglets.core.refs import PagletProxyRef
from paglets.remote.client import HostClient
from paglets.remote.default_backend import register_host_backend, unregister_host_backend
from paglets.remote.proxy import PagletProxy
from paglets.remote.proxy_args import as_message
from paglets.runtime.artifacts.store import ArtifactStore
from paglets.runtime.assembly import HostAssembly
from paglets.runtime.config import DEFAULT_PORT, HostConfig
from paglets.runtime.execution.run_reports import RunReports
from paglets.runtime.execution.shutdown import StopScope, stop_paglets
from paglets.runtime.host_control import HostControlVerbs
from paglets.runtime.host_mesh import HostMeshVerbs
from paglets.runtime.host_setup import (
    check_create_args,
    files_root,
    host_config,
    register_addresses,
    resolve_host_secret,
)
from paglets.runtime.persistence.event_history import EventHistory
from paglets.runtime.serving.service_registry import ServiceRegistry
from paglets.wire.protocol import VERB_PING

log = logging.getLogger(__name__)


class Host(HostAssembly, HostMeshVerbs, HostControlVerbs):
    """A host that runs paglets and talks to the rest of the mesh.

    Args:
        name: the host's name in the mesh.
        host: the interface to bind (``127.0.0.1`` keeps it on this machine).
        port: the port to bind (0: the OS chooses).
        peers: seed addresses greeted at start.
        mesh: False runs the host alone (no gossip, seeds or discovery).
        mesh_version: hosts only talk to hosts of the same version (default ``dev``).
        mesh_multicast, mesh_lan_discovery: find peers with zeroconf; None (the
            default) turns it on only when ``host`` is not a loopback address.
        tags, properties: what other hosts see of this one.
        persistence_dir: where inactive paglets and files are kept (None: memory and
            a temporary directory).
        api_key: the mesh secret (None: ``PAGLETS_API_KEY`` or the config dir's).
        allowed_modules: module prefixes whose classes may arrive.
        config: the whole :class:`HostConfig` at once, instead of the above.
        options: further :class:`HostConfig` fields.

    Raises:
        TypeError: an unknown keyword or a wrong type (the message names it).
        ValueError: a bad value, e.g. a port out of range.
    """

    def __init__(
        self,
        name: str = "paglets",
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        peers: Iterable[str] = (),
        mesh: bool = True,
        mesh_version: str | None = None,
        mesh_multicast: bool | None = None,
        mesh_lan_discovery: bool | None = None,
        tags: Iterable[str] = (),
        properties: Mapping[str, str] | None = None,
        persistence_dir: str | Path | None = None,
        api_key: str | None = None,
        allowed_modules: Iterable[str] = (),
        *,
        config: HostConfig | None = None,
        **options: Any,
    ) -> None:
        if config is None:
            config = host_config(
                name,
                host,
                port,
                peers,
                mesh,
                mesh_version,
                mesh_multicast,
                mesh_lan_discovery,
                tags,
                properties,
                persistence_dir,
                api_key,
                allowed_modules,
                options,
            )
        self.config = config
        self.secret = resolve_host_secret(config)
        root, self._remove_temp_root = files_root(self, config)
        self._assemble(config, self.secret, root)  # every part, wired once (assembly.py)
        self._client: HostClient | None = None
        self._started = False
        self._stopped = threading.Event()
        # a stop from another thread waits for a start in progress, then undoes all of it
        self._lifecycle = threading.RLock()

    @property
    def artifacts(self) -> ArtifactStore:
        """This host's artifact store (blobs, metadata, quotas)."""
        return self._artifacts

    # lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """This host's name."""
        return self.config.name

    @property
    def address(self) -> str:
        """The bound endpoint ``tcp://HOST:PORT`` (after start)."""
        return self._identity.address

    def start_background(self, timeout: float = 10.0) -> Host:
        """Bind, start the I/O thread, join the mesh; return once the host answers.

        Joining is done when this returns: every seed that answers within
        ``join_timeout`` (2 s) has greeted this host and been greeted back, so names
        resolve at once on both sides; a seed that is down delays start by at most
        that bound (it is retried in the background).

        Raises:
            zmq.ZMQError: the port (or the gossip ``pub_port``) could not be bound.
            PagletError: the host did not answer itself within ``timeout``.
        """
        with self._lifecycle:
            return self._start_once(timeout)

    def _start_once(self, timeout: float) -> Host:
        if self._started:
            return self
        self._transport.start(timeout)
        self._started = True
        register_addresses(self._transport, self._identity)
        self._start_store()
        self._transport.call(self.address, VERB_PING, timeout=timeout)
        if self.config.mesh:
            try:
                self._membership.start(self.config.peers)
            except BaseException:
                self.stop(timeout)  # e.g. pub_port taken: leave nothing running
                raise
        self._run_reports = RunReports(
            self._run_slots, self._transport.io, self._control_pool, self._events
        )
        self._run_reports.start()
        register_host_backend(self._backend)
        self._events.record("host-started", "", address=self.address)
        log.info("host %s listening on %s", self.name, self.address)
        return self

    def _start_store(self) -> None:
        """Bring back what the store kept: durable paglets, open hand-offs, wake-ups."""
        store = self._store
        for problem in store.db.problems:
            self._events.record("store-problem", "", problem=problem)
        if store.durable:  # the event history survives restarts in the host database
            self._history = EventHistory(store.db)
            self._events.add_listener(self._history.record, quick=True)
            self._history.start()
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

    def serve_forever(self) -> None:
        """Start (if needed) and serve until :meth:`stop` is called or Ctrl-C."""
        self.start_background()
        try:
            while not self._stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully: active paglets go to the store with their mailboxes.

        Within ``timeout`` every active paglet is deactivated with the messages it had
        accepted (delivered in order after its next activation); one still busy then
        is persisted anyway (docs/durability.md says with which state). Work that
        arrives meanwhile gets a retryable ``HostStoppedError``. Without a persistence
        dir the store is in memory, so active paglets are discarded (their ``run()``
        sees ``is_leaving``). Calls still pending fail with ``HostStoppedError``.
        Safe from any thread: a stop during a start waits for the start to finish.
        """
        with self._lifecycle:
            if self._started and not self._stopped.is_set():
                self._stop_started(timeout)

    def _stop_started(self, timeout: float) -> None:
        self._stop.run_hooks(self.name)  # services first, while their paglets are here
        self._stop.set()
        unregister_host_backend(self._backend)
        self._membership.stop()
        operations = self._operations
        operations.settlement.stop()
        scope = StopScope(self.name, self._registry, self._store, self._events, self._pool)
        kept = stop_paglets(scope, operations.activation, timeout)
        self._events.record("host-stopped", "", deactivated=kept)
        if self._client is not None:
            self._client.close()
        self._transport.stop(timeout)
        self._pool.stop(timeout=min(timeout, 2.0))
        self._control_pool.stop(timeout=min(timeout, 2.0))
        self._artifact_service.close()
        if self._history is not None:
            self._history.stop()
        self._store.close()
        self._artifacts.close()
        self._work_area.close()
        if self._remove_temp_root is not None:
            self._remove_temp_root()
        self._stopped.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the host and wait until it stopped (see :meth:`stop`)."""
        self.stop(timeout)
        self.wait_stopped(timeout)

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

    @property
    def client(self) -> HostClient:
        """A :class:`HostClient` bound to this host (made on first use, closed at stop)."""
        if self._client is None:
            self._client = HostClient(
                address=self.address,
                api_key=None if self.secret is None else self.secret.value,
                insecure=self.secret is None,
                allowed_modules=tuple(self.config.allowed_modules),
            )
        return self._client

    # paglets --------------------------------------------------------------------------

    def create(
        self,
        cls: type[Paglet[Any]],
        state: PagletState | None = None,
        init: Any = None,
        agent_id: str | None = None,
    ) -> PagletProxy:
        """Create a paglet on this host; ``on_creation`` ran and ``run()`` started.

        Raises:
            SerializationError: the state cannot be encoded.
            PagletError: ``on_creation`` raised (the paglet was not created), or
                ``agent_id`` is taken.
            TypeError: ``cls`` is not a Paglet class or ``agent_id`` not a str.
        """
        check_create_args(cls, state, agent_id)
        return self._operations.create(cls, state, init, agent_id=agent_id)

    def create_remote(
        self,
        address_or_name: str,
        cls: type[Paglet[Any]],
        state: PagletState | None = None,
        init: Any = None,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Create a paglet on another host (a name or an address); return its proxy."""
        check_create_args(cls, state, None)
        return self._operations.create(cls, state, init, address_or_name, timeout)

    def get_proxy(self, agent_id: str, include_inactive: bool = True) -> PagletProxy | None:
        """The proxy of a paglet of this host, or None when there is none.

        Args:
            agent_id: the paglet's id.
            include_inactive: also find a deactivated paglet.
        """
        if not isinstance(include_inactive, bool):
            raise TypeError(f"include_inactive must be True or False, not {include_inactive!r}")
        known = self._registry.get(agent_id) is not None or (
            include_inactive and self._store.contains(agent_id)
        )
        return self._operations.proxy_of(agent_id, self.address) if known else None

    def get_proxies(self, flags: int = ACTIVE) -> list[PagletProxy]:
        """Proxies of this host's paglets in the state flags (ACTIVE, INACTIVE or both)."""
        return self._operations.proxies(flags)

    def proxy(
        self, ref: PagletProxyRef | dict[str, str] | str, address: str | None = None
    ) -> PagletProxy:
        """A proxy that reaches any paglet through this host: for a ref, a ``to_wire()``
        dict, or an agent id (here, or at ``address``)."""
        if isinstance(ref, PagletProxyRef):
            return self._operations.proxy_of(ref.agent_id, ref.host_url)
        if isinstance(ref, dict):
            return PagletProxy.from_wire(ref, self._backend)
        return self._operations.proxy_of(ref, address or self.address)

    def get_state(self, agent_id: str, state_cls: type[PagletState] | None = None) -> PagletState:
        """A copy of a local paglet's state (active, or inactive given ``state_cls``).

        Raises:
            InvalidAgentError: no such paglet here.
        """
        return self._operations.state_copy(agent_id, state_cls)

    def list_agents(self, flags: int = ACTIVE | INACTIVE) -> list[dict[str, Any]]:
        """Info maps (id, class, state, counters) of this host's paglets."""
        return self._operations.list_infos(flags)

    def multicast_message(
        self, kind: str | Message, args: dict[str, Any] | None = None, exclude: Any = None
    ) -> ReplySet:
        """Send a message to every active paglet here but ``exclude`` (an id or ids)."""
        return self._operations.multicast(as_message(kind, args), exclude)

    @property
    def service_registry(self) -> ServiceRegistry:
        """This host's service records (what ``paglets.services`` advertises into)."""
        return self._service_registry

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address or '(not started)'}>"
