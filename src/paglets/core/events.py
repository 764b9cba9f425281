"""The events passed to lifecycle hooks. All are frozen dataclasses.

Every event carries ``agent_id``, ``host_name``, ``host_address`` and ``timestamp``
(seconds since the epoch) of the host the hook runs on; they are keyword-only, so the
fields of each kind of event may be given in order, as the original's are::

    MobilityEvent(source_host_name, source_host_address,
                  target_host_name, target_host_address, reason)
    CloneEvent(source_agent_id, clone_agent_id, source_host_name,
               source_host_address, target_host_name, target_host_address)
    PersistencyEvent(reason, request, policy)
    CreationEvent(init)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class PagletEvent:
    """Fields every lifecycle event carries."""

    agent_id: str = ""
    host_name: str = ""
    host_address: str = ""
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class CreationEvent(PagletEvent):
    """Passed to ``on_creation``; ``init`` is the creation argument."""

    init: Any = None


@dataclass(frozen=True, slots=True)
class MobilityEvent(PagletEvent):
    """Passed to ``on_dispatching``, ``on_arrival`` and ``on_reverting``.

    ``reason`` is ``"dispatch"`` or ``"retract"``. The source is the host the paglet
    leaves, the target the host it goes to (for a retract: the host that pulls it back).
    """

    source_host_name: str = ""
    source_host_address: str = ""
    target_host_name: str = ""
    target_host_address: str = ""
    reason: str = "dispatch"


@dataclass(frozen=True, slots=True)
class CloneEvent(PagletEvent):
    """Passed to ``on_cloning``, ``on_clone`` and ``on_cloned``.

    ``source_agent_id`` is the original's id; ``clone_agent_id`` the copy's (empty in
    ``on_cloning``, before the copy has one). The source host is the original's, the
    target host the copy's.
    """

    source_agent_id: str = ""
    clone_agent_id: str = ""
    source_host_name: str = ""
    source_host_address: str = ""
    target_host_name: str = ""
    target_host_address: str = ""


@dataclass(frozen=True, slots=True)
class PersistencyEvent(PagletEvent):
    """Passed to ``on_deactivating`` and ``on_activation``.

    ``reason`` is ``"deactivate"`` or ``"activate"``; ``request`` is the deactivation
    request that asked for it and ``policy`` the deactivation policy applied (None when
    the runtime has none to tell).
    """

    reason: str = ""
    request: Any = None
    policy: Any = None


@dataclass(frozen=True, slots=True)
class DisposalEvent(PagletEvent):
    """Passed to ``on_disposing``."""

    reason: str = "dispose"
