"""The paglets on this host by id, and where the ones that left went."""

from __future__ import annotations

import threading
from collections import OrderedDict

from paglets.runtime.execution.local_paglet import LocalPaglet


class Registry:
    """Active slots by agent id, plus a bounded table of forwarding addresses."""

    def __init__(self, max_forwarding: int = 100_000) -> None:
        self._active: dict[str, LocalPaglet] = {}
        self._forwarding: OrderedDict[str, str] = OrderedDict()
        self._max_forwarding = max_forwarding
        self._lock = threading.Lock()

    def add(self, slot: LocalPaglet) -> None:
        """Register an active slot (it replaces a forwarding entry of the same id)."""
        with self._lock:
            self._active[slot.agent_id] = slot
            self._forwarding.pop(slot.agent_id, None)

    def get(self, agent_id: str) -> LocalPaglet | None:
        """The active slot of ``agent_id``, or None."""
        return self._active.get(agent_id)

    def remove(self, agent_id: str, moved_to: str = "") -> LocalPaglet | None:
        """Unregister a slot; remember ``moved_to`` as its forwarding address if given."""
        with self._lock:
            slot = self._active.pop(agent_id, None)
            if moved_to:
                self._forwarding[agent_id] = moved_to
                self._forwarding.move_to_end(agent_id)
                while len(self._forwarding) > self._max_forwarding:
                    self._forwarding.popitem(last=False)
            return slot

    def forwarding(self, agent_id: str) -> str | None:
        """Where ``agent_id`` went when it left, if remembered."""
        return self._forwarding.get(agent_id)

    def slots(self) -> list[LocalPaglet]:
        """Every active slot."""
        with self._lock:
            return list(self._active.values())

    def __len__(self) -> int:
        return len(self._active)
