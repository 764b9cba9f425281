"""The host-side operations on paglets: control verbs, queries, creation, moves.

Local calls (a proxy held on this host) and remote ones (the request router) both end
here, so a paglet behaves the same whoever asks and from where. Delivering messages is
:mod:`~paglets.runtime.serving.delivery`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from paglets.persistence.persistency import DeactivationRequest
from paglets.persistence.storage import ManagedStorage
from paglets.remote.proxy import PagletProxy
from paglets.runtime.execution.activation import Activation
from paglets.runtime.execution.host_context import HostContext
from paglets.runtime.execution.lifecycle import Lifecycle
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus, not_found
from paglets.runtime.mobility.handoff import Mobility
from paglets.runtime.mobility.settlement import Settlement
from paglets.runtime.mobility.tickets import check_preconditions, ticket_of, with_retries
from paglets.runtime.parts import HostParts
from paglets.runtime.persistence.class_storage import ClassStorage
from paglets.runtime.serving.delivery import Delivery, stopping_error
from paglets.wire.codec import decode_state, encode_state
from paglets.wire.create_body import CreateBody
from paglets.wire.protocol import VERB_CREATE

log = logging.getLogger(__name__)


class HostOperations(Delivery):
    """Routes messages and control operations to the paglets of one host."""

    def __init__(self, parts: HostParts, resolve_target: Callable[[str], str]) -> None:
        self._parts = parts
        self.resolve_target = resolve_target
        self.context = HostContext(parts, self)
        self.storage = ClassStorage(parts)
        self.lifecycle = Lifecycle(parts, self, self.context)
        self.activation = Activation(parts, self.lifecycle, self)
        self.mobility = Mobility(parts, self.lifecycle, self)
        self.mobility.arrivals.redirect = self.redirect_moved
        self.mobility.arrivals.requeue = self.deliver
        self.settlement = Settlement(
            parts,
            self.mobility.transfers,
            self.mobility.arrivals,
            self.mobility.source,
            self.activation.restore,
        )

    # control --------------------------------------------------------------------------

    def _active_slot(self, agent_id: str) -> LocalPaglet:
        slot = self._parts.registry.get(agent_id)
        if slot is not None:
            return slot
        if not self.mobility.arrivals.wait_arrival(agent_id, self._parts.config.transfer_timeout):
            raise TransferError(f"paglet {agent_id} is still arriving on {self._parts.name}")
        slot = self._parts.registry.get(agent_id)
        if slot is not None:
            return slot
        moved_to = self._parts.registry.forwarding(agent_id)
        if moved_to:
            raise AgentMovedError(f"paglet {agent_id} moved to {moved_to}", moved_to)
        if self._parts.store.contains(agent_id):
            return self.activation.activate(agent_id)
        raise not_found(agent_id, self._parts.name)

    def control(self, agent_id: str, op: str, args: dict[str, Any], timeout: float | None) -> Any:
        """Run a control operation (the ``control`` verb and local proxies).

        Raises:
            HostStoppedError: the host is stopping (retry elsewhere or later).
            PagletError: an unknown op, or whatever the operation raises.
        """
        if self._parts.stopping.is_set():
            raise stopping_error(self._parts.name)
        if op == "activate":
            self._active_slot(agent_id)
            return True
        if op == "dispose" and self._parts.registry.get(agent_id) is None:
            if self._parts.store.contains(agent_id):
                self.lifecycle.dispose_inactive(agent_id)
                self.activation.dispose_inactive(agent_id)
                return True
        if op == "deactivate" and self._parts.registry.get(agent_id) is None:
            if self._parts.store.contains(agent_id):
                return True
        slot = self._active_slot(agent_id)
        asked = args.get("timeout")  # a remote proxy's own timeout, from the wire
        if not (isinstance(asked, int | float) and 0 < asked < 86_400):
            asked = None
        limit = asked or timeout or self._parts.config.transfer_timeout
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
            self._parts.events.record(
                TRANSFER_FAILED,
                slot.agent_id,
                class_name=slot.class_path,
                error=str(exc),
                stage=exc.stage,
            )
            raise

    def info(self, agent_id: str) -> dict[str, Any]:
        """Facts about a paglet of this host, active or inactive (or arriving: waits)."""
        slot = self._parts.registry.get(agent_id)
        if slot is None and self.mobility.arrivals.wait_arrival(
            agent_id, self._parts.config.transfer_timeout
        ):
            slot = self._parts.registry.get(agent_id)
        if slot is not None:
            return slot.info(self._parts.name)
        moved_to = self._parts.registry.forwarding(agent_id)
        if moved_to:
            raise AgentMovedError(f"paglet {agent_id} moved to {moved_to}", moved_to)
        stored = self._parts.store.load(agent_id)
        if stored is None:
            raise not_found(agent_id, self._parts.name)
        return {
            "agent_id": agent_id,
            "class": stored.class_path,
            "state_class": stored.state_class_path,
            "active": False,
            "status": "inactive",
            "host": self._parts.name,
            "address": self._parts.address,
            "deactivated_at": stored.deactivated_at,
        }

    def state_copy(self, agent_id: str, state_cls: type[PagletState] | None = None) -> PagletState:
        """A decoded copy of a local paglet's state (inactive ones need ``state_cls``).

        Raises:
            InvalidAgentError: no such paglet here.
            PagletError: an inactive paglet and no ``state_cls``.
        """
        slot = self._parts.registry.get(agent_id)
        if slot is not None:
            with slot.paglet.locked():
                raw = encode_state(slot.paglet.state)
            cls: type[PagletState] = state_cls or type(slot.paglet.state)
        else:
            stored = self._parts.store.load(agent_id)
            if stored is None:
                raise InvalidAgentError(f"no paglet {agent_id} on host {self._parts.name}")
            if state_cls is None:
                raise PagletError(f"give the state class of inactive paglet {agent_id}")
            raw, cls = stored.state, state_cls
        return decode_state(raw, cls, self._parts.policy)

    def list_infos(self, flags: int) -> list[dict[str, Any]]:
        """Info maps of the paglets in the given state flags."""
        infos: list[dict[str, Any]] = []
        if flags & ACTIVE:
            infos.extend(slot.info(self._parts.name) for slot in self._parts.registry.slots())
        if flags & INACTIVE:
            for agent_id in self._parts.store.ids():
                try:
                    infos.append(self.info(agent_id))
                except PagletError:
                    continue
        return infos

    # LocalPagletOperations: a paglet's self-operations ----------------------------------

    def _move(
        self, slot: LocalPaglet, op: str, options: dict[str, Any], limit: float | None
    ) -> PagletProxy:
        """Dispatch or clone ``slot`` as its ticket says; return the resulting proxy."""
        ticket = ticket_of(options, self._parts.config.transfer_timeout)
        address = self.resolve_target(ticket.destination)
        check_preconditions(self._parts, address, ticket)
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
        return self.proxy_of(slot.agent_id, self._parts.address)

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
        return PagletProxy(address, agent_id, self._parts.require_backend())

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
        if self._parts.stopping.is_set():
            raise stopping_error(self._parts.name)
        if target is not None:
            address = self.resolve_target(target)
            if not self._parts.is_local(address):
                return self.create_remote(address, cls, state, init, timeout)
        slot = self.lifecycle.create(cls, state, init, agent_id)
        return self.proxy_of(slot.agent_id, self._parts.address)

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
        agent_id = self._parts.require_backend().call(address, VERB_CREATE, body, timeout=timeout)
        return self.proxy_of(str(agent_id), address)

    def proxies(self, flags: int) -> list[PagletProxy]:
        """Proxies of this host's paglets in the given state flags."""
        ids: list[str] = []
        if flags & ACTIVE:
            ids.extend(slot.agent_id for slot in self._parts.registry.slots())
        if flags & INACTIVE:
            ids.extend(self._parts.store.ids())
        return [self.proxy_of(agent_id, self._parts.address) for agent_id in ids]
