"""The events passed to lifecycle hooks. All are frozen dataclasses.

Every event carries ``agent_id``, ``host_name``, ``host_address`` and ``timestamp``
(seconds since the epoch) of the host the hook runs on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class PagletEvent:
    """Fields every lifecycle event carries."""

    agent_id: str
    host_name: str
    host_address: str
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreationEvent(PagletEvent):
    """Passed to ``on_creation``; ``init`` is the creation argument."""

    init: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilityEvent(PagletEvent):
    """Passed to ``on_dispatching``, ``on_arrival`` and ``on_reverting``.

    ``reason`` is ``"dispatch"`` or ``"retract"``.
    """

    source_host_name: str
    target_host_name: str
    source_address: str = ""
    target_address: str = ""
    reason: str = "dispatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class CloneEvent(PagletEvent):
    """Passed to ``on_cloning``, ``on_clone`` and ``on_cloned``.

    ``source_agent_id`` is the original's id; ``clone_agent_id`` the copy's (empty in
    ``on_cloning``, before the copy has one).
    """

    source_agent_id: str
    clone_agent_id: str = ""
    source_host_name: str = ""
    target_host_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PersistencyEvent(PagletEvent):
    """Passed to ``on_deactivating`` and ``on_activation``."""

    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisposalEvent(PagletEvent):
    """Passed to ``on_disposing``."""

    reason: str = "dispose"
