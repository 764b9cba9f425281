"""Context events: what happened on a host, as its event log and listeners see it.

A host keeps its last events in a bounded log (``Host.list_events(since, limit)``)
and calls its listeners (``Host.add_listener``) with each one as it is recorded. Every
event is a frozen :class:`ContextEvent` numbered from 1 per host (``event_id``).

Kinds about a paglet, with what ``data`` holds:

=====================  ===========================================================
kind                   when (data)
=====================  ===========================================================
``create``             a paglet was created here
``arrival``            a paglet arrived here (``source``, ``reason``: dispatch,
                       retract or clone)
``dispatch``           a paglet left for another host (``target``, ``reason``)
``retract``            a paglet left because another host pulled it back (``target``)
``clone``              a paglet was copied (``clone_agent_id``, ``target``)
``deactivate``         a paglet was stored inactive
``activate``           an inactive paglet was loaded again
``dispose``            a paglet was destroyed
``paglet-crashed``     its ``run()`` raised (``error``)
``run-long``           its ``run()`` has held a thread ``run_report_after`` seconds
                       (``seconds``); told once
``message-failed``     a message handler raised or did not handle the kind
                       (``message_kind``; ``message_id``, ``error``)
``transfer-failed``    a dispatch, clone or retract did not commit (``stage``: hook,
                       snapshot, prepare, transfer or commit; ``error``)
``quarantined``        a stored paglet could not be loaded (its class no longer
                       imports, its state no longer decodes): its record was moved
                       to the store's quarantine table (``reason``)
``service-*``          resident-service events (``service_name``)
=====================  ===========================================================

Host kinds (``host-started``, ``host-stopped``, ``host-joined``, ``host-restarted``,
``host-online``, ``host-offline``, ``name-clash``) describe the mesh;
``store-problem`` (``problem``) says what the host found wrong with its store at start
(a corrupt database kept aside, rows of an older layout, quarantined records). The original's
``message-queued`` and ``message-delivered`` are not recorded: one event per message
would cost more than the message itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

CREATE = "create"
ARRIVAL = "arrival"
DISPATCH = "dispatch"
RETRACT = "retract"
CLONE = "clone"
DEACTIVATE = "deactivate"
ACTIVATE = "activate"
DISPOSE = "dispose"
PAGLET_CRASHED = "paglet-crashed"
RUN_LONG = "run-long"
MESSAGE_QUEUED = "message-queued"
MESSAGE_DELIVERED = "message-delivered"
MESSAGE_FAILED = "message-failed"
TRANSFER_FAILED = "transfer-failed"
SERVICE_PREFIX = "service-"

PRESENCE_KINDS = frozenset(
    {CREATE, ARRIVAL, DISPATCH, RETRACT, CLONE, DEACTIVATE, ACTIVATE, DISPOSE}
)
"""Kinds that change which paglets a host holds (what the mesh's counts follow)."""


@dataclass(frozen=True, slots=True)
class ContextEvent:
    """One thing that happened on a host (a paglet created, dispatched, ...).

    Attributes:
        event_id: its number on this host, from 1, in the order recorded.
        kind: what happened (see the module docstring).
        host_name: the host it happened on.
        host_address: that host's address.
        timestamp: when, in seconds since the epoch.
        agent_id: the paglet it is about ("" for host events).
        class_name: the paglet's class path, when known.
        message_id: the message it is about, for message kinds.
        service_name: the service it is about, for service kinds.
        data: further facts of this kind of event.
        error: what went wrong, for the failure kinds ("" otherwise).
    """

    event_id: int
    kind: str
    host_name: str = ""
    host_address: str = ""
    timestamp: float = field(default_factory=time.time)
    agent_id: str = ""
    class_name: str = ""
    message_id: str = ""
    service_name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def to_wire(self) -> dict[str, Any]:
        """Return the event as a map of its fields."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ContextEvent:
        """Rebuild an event from :meth:`to_wire`'s map.

        Raises:
            ValueError: ``data`` is no such map.
        """
        if not isinstance(data, dict) or not {"event_id", "kind"} <= set(data):
            raise ValueError(f"a context event needs event_id and kind, not {data!r:.80}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown context event fields {sorted(unknown)}")
        return cls(**data)


ContextListener = Callable[[ContextEvent], None]
"""What ``Host.add_listener`` takes: called with every later event."""

__all__ = [
    "ACTIVATE",
    "ARRIVAL",
    "CLONE",
    "CREATE",
    "DEACTIVATE",
    "DISPATCH",
    "DISPOSE",
    "MESSAGE_DELIVERED",
    "MESSAGE_FAILED",
    "MESSAGE_QUEUED",
    "PAGLET_CRASHED",
    "PRESENCE_KINDS",
    "RETRACT",
    "RUN_LONG",
    "SERVICE_PREFIX",
    "TRANSFER_FAILED",
    "ContextEvent",
    "ContextListener",
]
