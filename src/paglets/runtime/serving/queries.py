"""What a host answers about its paglets: facts, a copy of a state, listings.

:class:`~paglets.runtime.serving.operations.HostOperations` inherits these queries;
they read the registry (active paglets), the store (inactive ones) and, for a
paglet arriving right now, wait for its hand-off to settle.
"""

from __future__ import annotations

from typing import Any

from paglets.core.agent import ACTIVE, INACTIVE, PagletState
from paglets.core.errors import AgentMovedError, InvalidAgentError, PagletError
from paglets.runtime.config import HostConfig
from paglets.runtime.execution.local_paglet import not_found
from paglets.runtime.execution.registry import Registry
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mobility.handoff import Mobility
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state, encode_state


class PagletQueries:
    """The query verbs of :class:`~paglets.runtime.serving.operations.HostOperations`."""

    _config: HostConfig
    _identity: HostIdentity
    _registry: Registry
    _store: PagletStore
    _policy: ClassPolicy
    mobility: Mobility

    def info(self, agent_id: str) -> dict[str, Any]:
        """Facts about a paglet of this host, active or inactive (or arriving: waits)."""
        slot = self._registry.get(agent_id)
        if slot is None and self.mobility.arrivals.wait_arrival(
            agent_id, self._config.transfer_timeout
        ):
            slot = self._registry.get(agent_id)
        if slot is not None:
            return slot.info(self._identity.name)
        moved_to = self._registry.forwarding(agent_id)
        if moved_to:
            raise AgentMovedError(f"paglet {agent_id} moved to {moved_to}", moved_to)
        stored = self._store.load(agent_id)
        if stored is None:
            raise not_found(agent_id, self._identity.name)
        return {
            "agent_id": agent_id,
            "class": stored.class_path,
            "state_class": stored.state_class_path,
            "active": False,
            "status": "inactive",
            "host": self._identity.name,
            "address": self._identity.address,
            "deactivated_at": stored.deactivated_at,
        }

    def state_copy(self, agent_id: str, state_cls: type[PagletState] | None = None) -> PagletState:
        """A decoded copy of a local paglet's state (inactive ones need ``state_cls``).

        Raises:
            InvalidAgentError: no such paglet here.
            PagletError: an inactive paglet and no ``state_cls``.
        """
        slot = self._registry.get(agent_id)
        if slot is not None:
            with slot.paglet.locked():
                raw = encode_state(slot.paglet.state)
            cls: type[PagletState] = state_cls or type(slot.paglet.state)
        else:
            stored = self._store.load(agent_id)
            if stored is None:
                raise InvalidAgentError(f"no paglet {agent_id} on host {self._identity.name}")
            if state_cls is None:
                raise PagletError(f"give the state class of inactive paglet {agent_id}")
            raw, cls = stored.state, state_cls
        return decode_state(raw, cls, self._policy)

    def list_infos(self, flags: int) -> list[dict[str, Any]]:
        """Info maps of the paglets in the given state flags."""
        infos: list[dict[str, Any]] = []
        if flags & ACTIVE:
            infos.extend(slot.info(self._identity.name) for slot in self._registry.slots())
        if flags & INACTIVE:
            for agent_id in self._store.ids():
                try:
                    infos.append(self.info(agent_id))
                except PagletError:
                    continue
        return infos
