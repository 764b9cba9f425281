"""Delivering messages to the paglets of one host, wherever each is in its life.

A message finds its paglet active (its mailbox), arriving (parked until it starts),
moved (answered with the forwarding address, or forwarded when nobody waits for a
reply), inactive (kept in the store, see :mod:`~paglets.runtime.execution.activation`)
or gone. While the host stops, every new message is refused with a retryable
``HostStoppedError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from paglets.core.errors import AgentMovedError, HostStoppedError, InvalidAgentError
from paglets.core.messages import FUTURE, FutureReply, Message, ReplySet
from paglets.net.transport import Transport
from paglets.remote.proxy import PagletProxy
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.runtime.execution.activation import Activation
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus, not_found
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.sender import current_sender
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mobility.handoff import Mobility
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.stop_signal import StopSignal


class Delivery:
    """The delivery verbs of :class:`~paglets.runtime.serving.operations.HostOperations`."""

    _identity: HostIdentity
    _stop: StopSignal
    _registry: Registry
    _store: PagletStore
    _transport: Transport
    backend: RemoteProxyBackend
    activation: Activation
    mobility: Mobility

    def deliver(self, agent_id: str, envelope: Envelope) -> None:
        """Hand ``envelope`` to the paglet, wherever it is in its life. Any thread."""
        if self._stop.is_set():
            envelope.respond(error=stopping_error(self._identity.name))
            return
        slot = self._registry.get(agent_id)
        if slot is not None:
            slot.deliver(envelope)
            return
        if self.mobility.arrivals.park(agent_id, envelope):
            return  # arriving: delivered once it started here
        slot = self._registry.get(agent_id)
        if slot is not None:  # it started meanwhile
            slot.deliver(envelope)
            return
        moved_to = self._registry.forwarding(agent_id)
        if moved_to:
            self.redirect_moved(agent_id, moved_to, envelope)
            return
        if self._store.contains(agent_id):
            self.activation.deliver_inactive(agent_id, envelope)
            return
        envelope.respond(error=not_found(agent_id, self._identity.name))

    def redirect(self, slot: LocalPaglet, envelope: Envelope) -> None:
        """Answer an envelope that reached a slot whose paglet is no longer active."""
        if slot.status is PagletStatus.MOVED:
            self.redirect_moved(slot.agent_id, slot.moved_to, envelope)
        elif slot.status is PagletStatus.DEACTIVATED:
            self.deliver(slot.agent_id, envelope)
        else:
            envelope.respond(error=InvalidAgentError(f"paglet {slot.agent_id} was disposed"))

    def redirect_moved(self, agent_id: str, moved_to: str, envelope: Envelope) -> None:
        """Tell the caller where the paglet went, or forward a one-way message there."""
        if envelope.wants_reply:
            envelope.respond(
                error=AgentMovedError(f"paglet {agent_id} moved to {moved_to}", moved_to)
            )
            return
        message = envelope.message
        if message is None and envelope.request is not None:
            self._transport.send_oneway(
                moved_to,
                envelope.request.verb,
                bytes(envelope.body or b""),
                fields={"to": agent_id, "p": envelope.priority},
                ordered=False,
            )
        elif message is not None:
            self.backend.send_oneway(moved_to, agent_id, message)

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

    def multicast(self, message: Message, exclude: Any = None) -> ReplySet:
        """Send ``message`` to every active paglet of this host but those in ``exclude``.

        Raises:
            TypeError: ``exclude`` is not None, an agent id or an iterable of ids.
        """
        skipped = excluded_ids(exclude)
        replies = ReplySet()
        sender = current_sender()
        for slot in self._registry.slots():
            if slot.agent_id in skipped:
                continue
            copy = dataclasses.replace(message, args=dict(message.args), message_type=FUTURE)
            if sender is not None:
                copy.sender = sender
            copy.reply_to = copy.reply_to or self._identity.address
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


def excluded_ids(exclude: Any) -> frozenset[str]:
    """The agent ids ``exclude`` names: None, one id, a proxy, or an iterable of those.

    Raises:
        TypeError: anything else.
    """
    if exclude is None:
        return frozenset()
    if isinstance(exclude, str):
        return frozenset((exclude,))
    if isinstance(exclude, PagletProxy):
        return frozenset((exclude.agent_id,))
    try:
        items = list(exclude)
    except TypeError:
        raise TypeError(
            f"exclude must be None, an agent id, a proxy or an iterable of them, not {exclude!r}"
        ) from None
    return frozenset(
        item.agent_id if isinstance(item, PagletProxy) else str(item) for item in items
    )
