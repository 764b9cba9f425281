"""The host-side operations on paglets: delivery, control verbs, redirects.

Local calls (a proxy held on this host) and remote ones (the request router) both end
here, so a paglet behaves the same whoever asks and from where.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.errors import (
    AgentMovedError,
    HostStoppedError,
    InvalidAgentError,
    PagletError,
    TransferError,
)
from paglets.core.messages import FutureReply, Message, ReplySet
from paglets.remote.proxy import PagletProxy
from paglets.runtime.execution.activation import Activation
from paglets.runtime.execution.host_context import HostContext
from paglets.runtime.execution.lifecycle import Lifecycle
from paglets.runtime.execution.local_paglet import Envelope, LocalPaglet, PagletStatus, not_found
from paglets.runtime.mobility.handoff import Mobility
from paglets.runtime.mobility.settlement import Settlement
from paglets.runtime.parts import HostParts
from paglets.wire.codec import encode_state
from paglets.wire.protocol import VERB_CREATE

log = logging.getLogger(__name__)


class HostOperations:
    """Routes messages and control operations to the paglets of one host."""

    def __init__(self, parts: HostParts, resolve_target: Callable[[str], str]) -> None:
        self._parts = parts
        self.resolve_target = resolve_target
        self.context = HostContext(parts, self)
        self.lifecycle = Lifecycle(parts, self, self.context)
        self.activation = Activation(parts, self.lifecycle, self)
        self.mobility = Mobility(parts, self.lifecycle, self)
        self.mobility.arrivals.redirect = self._redirect_moved
        self.settlement = Settlement(
            parts,
            self.mobility.transfers,
            self.mobility.arrivals,
            self.mobility.call,
            self.activation.restore,
        )

    # delivery -------------------------------------------------------------------------

    def deliver(self, agent_id: str, envelope: Envelope) -> None:
        """Hand ``envelope`` to the paglet, wherever it is in its life. Any thread."""
        parts = self._parts
        if parts.stopping.is_set():
            envelope.respond(error=stopping_error(parts.name))
            return
        slot = parts.registry.get(agent_id)
        if slot is not None:
            slot.deliver(envelope)
            return
        if self.mobility.arrivals.park(agent_id, envelope):
            return  # arriving: delivered once it started here
        slot = parts.registry.get(agent_id)
        if slot is not None:  # it started meanwhile
            slot.deliver(envelope)
            return
        moved_to = parts.registry.forwarding(agent_id)
        if moved_to:
            self._redirect_moved(agent_id, moved_to, envelope)
            return
        if parts.store.contains(agent_id):
            self.activation.deliver_inactive(agent_id, envelope)
            return
        envelope.respond(error=not_found(agent_id, parts.name))

    def redirect(self, slot: LocalPaglet, envelope: Envelope) -> None:
        """Answer an envelope that reached a slot whose paglet is no longer active."""
        if slot.status is PagletStatus.MOVED:
            self._redirect_moved(slot.agent_id, slot.moved_to, envelope)
        elif slot.status is PagletStatus.DEACTIVATED:
            self.deliver(slot.agent_id, envelope)
        else:
            envelope.respond(error=InvalidAgentError(f"paglet {slot.agent_id} was disposed"))

    def _redirect_moved(self, agent_id: str, moved_to: str, envelope: Envelope) -> None:
        if envelope.wants_reply:
            envelope.respond(
                error=AgentMovedError(f"paglet {agent_id} moved to {moved_to}", moved_to)
            )
            return
        message = envelope.message
        if message is None and envelope.request is not None:
            self._parts.transport.send_oneway(
                moved_to,
                envelope.request.verb,
                bytes(envelope.body or b""),
                fields={"to": agent_id, "p": envelope.priority},
                ordered=False,
            )
        elif message is not None:
            self._parts.require_backend().send_oneway(moved_to, agent_id, message)

    def send_local(
        self, agent_id: str, message: Message, no_delay: bool = False, oneway: bool = False
    ) -> FutureReply | None:
        """Deliver a message to a paglet of this host; return its reply future."""
        future = None if oneway else FutureReply()
        self.deliver(
            agent_id,
            Envelope(message.priority, message=message, future=future, no_delay=no_delay),
        )
        return future

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
        if op == "dispatch":
            target = self.resolve_target(str(args.get("target", "")))
            return slot.run_in_turn(
                lambda: self._moving(
                    slot, lambda: self.mobility.dispatch(slot, target, timeout=limit)
                ),
                limit,
            )
        if op == "clone":
            raw = args.get("target")
            clone_target = self.resolve_target(str(raw)) if raw else None
            clone_id, address = slot.run_in_turn(
                lambda: self._moving(
                    slot, lambda: self.mobility.clone(slot, clone_target, timeout=limit)
                ),
                limit,
            )
            return {"agent_id": clone_id, "address": address}
        if op == "retract":
            to_address = self.resolve_target(str(args.get("to", "")))
            return slot.run_in_turn(
                lambda: self._moving(slot, lambda: self.mobility.revert(slot, to_address, limit)),
                limit,
            )
        if op == "deactivate":
            duration = args.get("duration")
            slot.run_in_turn(
                lambda: self._moving(
                    slot,
                    lambda: self.activation.deactivate(
                        slot, None if duration is None else float(duration)
                    ),
                ),
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
        return action()

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

    def dispatch_slot(self, slot: LocalPaglet, target: str, options: dict[str, Any]) -> Any:
        address = self.resolve_target(target)
        timeout = options.get("timeout")
        new_address = slot.run_in_turn(
            lambda: self._moving(
                slot, lambda: self.mobility.dispatch(slot, address, timeout=timeout)
            ),
            None,
        )
        return self.proxy_of(slot.agent_id, new_address)

    def clone_slot(self, slot: LocalPaglet, target: str | None, options: dict[str, Any]) -> Any:
        address = self.resolve_target(target) if target else None
        timeout = options.get("timeout")
        clone_id, clone_address = slot.run_in_turn(
            lambda: self._moving(slot, lambda: self.mobility.clone(slot, address, timeout=timeout)),
            None,
        )
        return self.proxy_of(clone_id, clone_address)

    def deactivate_slot(self, slot: LocalPaglet, duration: float | None) -> None:
        slot.run_in_turn(
            lambda: self._moving(slot, lambda: self.activation.deactivate(slot, duration)), None
        )

    def dispose_slot(self, slot: LocalPaglet) -> None:
        slot.run_in_turn(lambda: self._moving(slot, lambda: self.lifecycle.dispose(slot)), None)

    def proxy_of(self, agent_id: str, address: str) -> PagletProxy:
        return PagletProxy(agent_id, address, self._parts.require_backend())

    # ContextServices ------------------------------------------------------------------

    def create(
        self,
        cls: type[Paglet[Any]],
        state: PagletState | None,
        init: Any,
        target: str | None = None,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Create a paglet here (``target`` None or this host) or on another host."""
        if self._parts.stopping.is_set():
            raise stopping_error(self._parts.name)
        if target is not None:
            address = self.resolve_target(target)
            if not self._parts.is_local(address):
                return self.create_remote(address, cls, state, init, timeout)
        slot = self.lifecycle.create(cls, state, init)
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
        body = [class_path(cls), class_path(type(state)), encode_state(state), init]
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

    def multicast(self, message: Message) -> ReplySet:
        """Send ``message`` to every active paglet of this host."""
        replies = ReplySet()
        for slot in self._parts.registry.slots():
            copy = Message(message.kind, dict(message.args), message.arg, message.priority)
            future = FutureReply()
            replies.add_future_reply(future)
            slot.deliver(Envelope(copy.priority, message=copy, future=future))
        return replies


def stopping_error(host_name: str) -> HostStoppedError:
    """The retryable refusal of work that arrives while the host stops."""
    return HostStoppedError(
        f"host {host_name} is stopping: nothing was done; retry on another host or "
        "once it runs again"
    )
