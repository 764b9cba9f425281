"""The host-side operations on paglets: control verbs, queries, creation, moves.

Local calls (a proxy held on this host) and remote ones (the request router) both end
here, so a paglet behaves the same whoever asks and from where. Delivering messages is
:mod:`~paglets.runtime.serving.delivery`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.context_events import TRANSFER_FAILED
from paglets.core.errors import (
    AgentMovedError,
    InvalidAgentError,
    LifecycleError,
    PagletError,
    TransferError,
)
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.persistence.persistency import DeactivationRequest
from paglets.persistence.storage import ManagedStorage
from paglets.remote.proxy import PagletProxy
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.activation import Activation
from paglets.runtime.execution.host_context import ContextPlace, HostContext
from paglets.runtime.execution.lifecycle import Lifecycle
from paglets.runtime.execution.limits import QueueBudget, RunSlots
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus, not_found
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.files.work_area import WorkArea
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.host_properties import HostProperties
from paglets.runtime.isolation.runner import IsolationHost
from paglets.runtime.mesh.directory import MeshDirectory
from paglets.runtime.mobility.handoff import Mobility
from paglets.runtime.mobility.settlement import Settlement
from paglets.runtime.mobility.tickets import check_preconditions, ticket_of, with_retries
from paglets.runtime.persistence.class_storage import ClassStorage
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.serving.delivery import Delivery, stopping_error
from paglets.runtime.serving.local_backend import LocalProxyBackend
from paglets.runtime.serving.queries import PagletQueries
from paglets.runtime.serving.service_registry import ServiceRegistry
from paglets.runtime.stop_signal import StopSignal
from paglets.wire.classpath import ClassPolicy
from paglets.wire.create_body import CreateBody
from paglets.wire.protocol import VERB_CREATE

log = logging.getLogger(__name__)


class HostOperations(Delivery, PagletQueries):
    """Routes messages and control operations to the paglets of one host.

    It builds the paglet-side parts in dependency order, each given what it uses:
    the proxy backend (whose local lane is this object), the service registry, the
    context every paglet sees, then lifecycle, activation, mobility and settlement.

    Args:
        directory: what the host knows of the mesh (targets resolve there).
        config: the host's config.
        the rest: the host's shared parts, as :mod:`~paglets.runtime.assembly`
            built them.
    """

    def __init__(
        self,
        directory: MeshDirectory,
        *,
        config: HostConfig,
        identity: HostIdentity,
        properties: HostProperties,
        stop: StopSignal,
        transport: Transport,
        pool: WorkerPool,
        policy: ClassPolicy,
        registry: Registry,
        store: PagletStore,
        events: EventLog,
        peers: PeerTable,
        work_area: WorkArea,
        streams: ArtifactStreams,
        budget: QueueBudget,
        run_slots: RunSlots,
        files_roots: tuple[Path, ...],
    ) -> None:
        self._config = config
        self._identity = identity
        self._stop = stop
        self._transport = transport
        self._policy = policy
        self._registry = registry
        self._store = store
        self._events = events
        self._directory = directory
        self.resolve_target = directory.resolve_target
        self.backend = LocalProxyBackend(self, transport, policy, identity, config.request_timeout)
        self.service_registry = ServiceRegistry(
            lambda: identity.name,
            lambda: identity.address,
            transport,
            peers,
            policy,
            self.proxy_of,
            events,
        )
        place = ContextPlace(
            identity,
            properties,
            tuple(config.tags),
            files_roots,
            self,
            self.service_registry,
            directory,
        )
        self.context = HostContext(place)
        self.storage = ClassStorage(work_area, config.paglet_storage_quota)
        isolation = IsolationHost(
            identity,
            transport,
            policy,
            events,
            work_area,
            tuple(config.tags),
            properties.configured,
        )
        self.lifecycle = Lifecycle(
            self,
            self.context,
            config=config,
            stop=stop,
            pool=pool,
            policy=policy,
            work_area=work_area,
            budget=budget,
            run_slots=run_slots,
            isolation=isolation,
            identity=identity,
            registry=registry,
            store=store,
            events=events,
        )
        self.activation = Activation(
            self.lifecycle,
            self,
            identity=identity,
            registry=registry,
            store=store,
            events=events,
            pool=pool,
            work_area=work_area,
        )
        self.mobility = Mobility(
            self.lifecycle,
            self,
            config=config,
            redirect=self.redirect_moved,
            requeue=self.deliver,
            backend=self.backend,
            stop=stop,
            work_area=work_area,
            streams=streams,
            peers=peers,
            transport=transport,
            identity=identity,
            registry=registry,
            store=store,
            events=events,
        )
        self.settlement = Settlement(
            self.mobility.transfers,
            self.mobility.arrivals,
            self.mobility.source,
            self.activation.restore,
            host_name=identity.name,
            registry=registry,
            store=store,
            work_area=work_area,
        )

    # control --------------------------------------------------------------------------

    def _active_slot(self, agent_id: str) -> LocalPaglet:
        slot = self._registry.get(agent_id)
        if slot is not None:
            return slot
        if not self.mobility.arrivals.wait_arrival(agent_id, self._config.transfer_timeout):
            raise TransferError(f"paglet {agent_id} is still arriving on {self._identity.name}")
        slot = self._registry.get(agent_id)
        if slot is not None:
            return slot
        moved_to = self._registry.forwarding(agent_id)
        if moved_to:
            raise AgentMovedError(f"paglet {agent_id} moved to {moved_to}", moved_to)
        if self._store.contains(agent_id):
            return self.activation.activate(agent_id)
        raise not_found(agent_id, self._identity.name)

    def control(self, agent_id: str, op: str, args: dict[str, Any], timeout: float | None) -> Any:
        """Run a control operation (the ``control`` verb and local proxies).

        Raises:
            HostStoppedError: the host is stopping (retry elsewhere or later).
            PagletError: an unknown op, or whatever the operation raises.
        """
        if self._stop.is_set():
            raise stopping_error(self._identity.name)
        if op == "activate":
            self._active_slot(agent_id)
            return True
        if op == "dispose" and self._registry.get(agent_id) is None:
            if self._store.contains(agent_id):
                self.lifecycle.dispose_inactive(agent_id)
                self.activation.dispose_inactive(agent_id)
                return True
        if op == "deactivate" and self._registry.get(agent_id) is None:
            if self._store.contains(agent_id):
                return True
        slot = self._active_slot(agent_id)
        asked = args.get("timeout")  # a remote proxy's own timeout, from the wire
        if not (isinstance(asked, int | float) and 0 < asked < 86_400):
            asked = None
        limit = asked or timeout or self._config.transfer_timeout
        if op in ("dispatch", "clone"):
            options = {**args, "timeout": asked or timeout}
            if op == "clone" and not args.get("target"):
                return self._clone_here(slot, limit)
            moved = self._move(slot, op, options, limit)
            if op == "dispatch":
                return moved.host_url
            return {"agent_id": moved.agent_id, "host_url": moved.host_url}
        if op == "retract":
            to_address = self.resolve_target(str(args.get("to", "")))
            return slot.run_in_turn(
                lambda: self._moving(slot, lambda: self.mobility.revert(slot, to_address, limit)),
                limit,
            )
        if op == "deactivate":
            try:
                request = DeactivationRequest.from_wire(args.get("request"))
            except ValueError as exc:
                raise LifecycleError(str(exc)) from None
            slot.run_in_turn(
                lambda: self._moving(slot, lambda: self.activation.deactivate(slot, request)),
                limit,
            )
            return True
        if op == "dispose":
            slot.run_in_turn(
                lambda: self._moving(slot, lambda: self.lifecycle.dispose(slot)), limit
            )
            return True
        raise PagletError(f"unknown control operation {op!r}")

    def _moving(self, slot: LocalPaglet, action: Callable[[], Any]) -> Any:
        if slot.status is PagletStatus.MOVED:
            raise AgentMovedError(f"paglet {slot.agent_id} moved to {slot.moved_to}", slot.moved_to)
        if slot.status is not PagletStatus.ACTIVE:
            raise InvalidAgentError(f"paglet {slot.agent_id} is {slot.status.value}")
        try:
            return action()
        except TransferError as exc:
            self._events.record(
                TRANSFER_FAILED,
                slot.agent_id,
                class_name=slot.class_path,
                error=str(exc),
                stage=exc.stage,
            )
            raise

    # LocalPagletOperations: a paglet's self-operations ----------------------------------

    def _move(
        self, slot: LocalPaglet, op: str, options: dict[str, Any], limit: float | None
    ) -> PagletProxy:
        """Dispatch or clone ``slot`` as its ticket says; return the resulting proxy."""
        ticket = ticket_of(options, self._config.transfer_timeout)
        address = self.resolve_target(ticket.destination)
        check_preconditions(self._directory, self._identity.name, address, ticket)
        arrival = ticket.arrival_mode.value

        def attempt() -> PagletProxy:
            if op == "dispatch":
                new_address = self.mobility.dispatch(
                    slot, address, timeout=ticket.timeout, arrival=arrival
                )
                return self.proxy_of(slot.agent_id, new_address)
            clone_id, clone_address = self.mobility.clone(
                slot, address, timeout=ticket.timeout, arrival=arrival
            )
            return self.proxy_of(clone_id, clone_address)

        proxy: PagletProxy = slot.run_in_turn(
            lambda: self._moving(slot, lambda: with_retries(ticket, attempt)), limit
        )
        return proxy

    def _clone_here(self, slot: LocalPaglet, limit: float | None) -> dict[str, str]:
        clone_id, address = slot.run_in_turn(
            lambda: self._moving(slot, lambda: self.mobility.clone(slot, None, timeout=limit)),
            limit,
        )
        return {"agent_id": clone_id, "host_url": address}

    def dispatch_slot(self, slot: LocalPaglet, options: dict[str, Any]) -> PagletProxy:
        return self._move(slot, "dispatch", options, None)

    def clone_slot(self, slot: LocalPaglet, options: dict[str, Any]) -> PagletProxy:
        if options.get("target") is None:
            reply = self._clone_here(slot, options.get("timeout"))
            return self.proxy_of(reply["agent_id"], reply["host_url"])
        return self._move(slot, "clone", options, None)

    def deactivate_slot(self, slot: LocalPaglet, request: DeactivationRequest) -> PagletProxy:
        slot.run_in_turn(
            lambda: self._moving(slot, lambda: self.activation.deactivate(slot, request)), None
        )
        return self.proxy_of(slot.agent_id, self._identity.address)

    def persistent_storage(self, slot: LocalPaglet) -> ManagedStorage:
        return self.storage.of(slot.class_path)

    def move(self, agent_id: str, op: str, target: str) -> PagletProxy:
        """Dispatch or clone the local paglet ``agent_id`` to ``target``."""
        slot = self._active_slot(agent_id)
        if op == "dispatch":
            return self.dispatch_slot(slot, {"target": target})
        return self.clone_slot(slot, {"target": target})

    def dispose_slot(self, slot: LocalPaglet) -> None:
        slot.run_in_turn(lambda: self._moving(slot, lambda: self.lifecycle.dispose(slot)), None)

    def proxy_of(self, agent_id: str, address: str) -> PagletProxy:
        return PagletProxy(address, agent_id, self.backend)

    # ContextServices ------------------------------------------------------------------

    def create(
        self,
        cls: type[Paglet[Any]],
        state: PagletState | None,
        init: Any,
        target: str | None = None,
        timeout: float | None = None,
        *,
        agent_id: str | None = None,
    ) -> PagletProxy:
        """Create a paglet here (``target`` None or this host) or on another host."""
        if self._stop.is_set():
            raise stopping_error(self._identity.name)
        if target is not None:
            address = self.resolve_target(target)
            if not self._identity.is_local(address):
                return self.create_remote(address, cls, state, init, timeout)
        slot = self.lifecycle.create(cls, state, init, agent_id)
        return self.proxy_of(slot.agent_id, self._identity.address)

    def create_remote(
        self,
        address: str,
        cls: type[Paglet[Any]],
        state: PagletState | None,
        init: Any,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Create a paglet on the host at ``address``; return its proxy."""
        if state is None:
            state = cls.State()
        body = CreateBody.of(class_path(cls), state, init).to_wire()
        agent_id = self.backend.call(address, VERB_CREATE, body, timeout=timeout)
        return self.proxy_of(str(agent_id), address)

    def proxies(self, flags: int) -> list[PagletProxy]:
        """Proxies of this host's paglets in the given state flags."""
        ids: list[str] = []
        if flags & ACTIVE:
            ids.extend(slot.agent_id for slot in self._registry.slots())
        if flags & INACTIVE:
            ids.extend(self._store.ids())
        return [self.proxy_of(agent_id, self._identity.address) for agent_id in ids]
