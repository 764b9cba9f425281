"""The entry hook an arrived paglet runs, and the event it gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paglets.core.agent import Paglet
from paglets.core.events import CloneEvent, MobilityEvent
from paglets.runtime.host_identity import HostIdentity
from paglets.wire.handoff_bodies import HandoffRecord


def arrival_hook(
    record: HandoffRecord, identity: HostIdentity, paglet: Paglet[Any], agent_id: str
) -> tuple[Any, Callable[[Any], None]]:
    """``on_clone`` and its event for a clone, else ``on_arrival`` and its event.

    Args:
        record: the transfer record the paglet arrived with.
        identity: the host it arrived at (this one).
        paglet: the installed paglet.
        agent_id: its id here.
    """
    source_name = record.source_name
    fields = identity.event_fields(agent_id)
    if record.reason == "clone":
        clone = CloneEvent(
            source_agent_id=record.source_agent_id,
            clone_agent_id=agent_id,
            source_host_name=source_name,
            source_host_address=record.source_address,
            target_host_name=identity.name,
            target_host_address=identity.address,
            **fields,  # type: ignore[arg-type]
        )
        return clone, paglet.on_clone
    event = MobilityEvent(
        source_host_name=source_name,
        target_host_name=identity.name,
        source_host_address=record.source_address,
        target_host_address=identity.address,
        reason=record.reason,
        **fields,  # type: ignore[arg-type]
    )
    return event, paglet.on_arrival
