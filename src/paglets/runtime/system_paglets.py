"""System paglets and stop hooks: how a service of a higher layer sits on a host.

A service (``paglets.system.compute_slots``) answers the mesh through a *system
paglet*: a paglet with a well-known agent id, reachable like any other but left out of
listings, counts and the event log, and never moved, persisted or disposed by the
host's own verbs. The host knows nothing of the service itself (imports go down the
layers); the service registers a *stop hook*, which ``Host.stop`` runs first, before
any paglet is deactivated, so the service stops while its jobs are still in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paglets.core.agent import Paglet
from paglets.core.classes import class_path
from paglets.core.errors import HostStoppedError
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus


def add_system_paglet(host: Any, cls: type[Paglet[Any]], agent_id: str) -> LocalPaglet:
    """Put a paglet of ``cls`` (default state, no hooks) on ``host`` under ``agent_id``.

    Args:
        host: a started :class:`~paglets.runtime.host.Host`.
        cls: the paglet class (its ``run()`` is not started).
        agent_id: the well-known id it answers under.

    Returns:
        Its slot, for :func:`remove_system_paglet`.
    """
    operations = host._operations
    paglet = cls()
    slot = LocalPaglet(
        paglet,
        agent_id,
        class_path(cls),
        class_path(cls.State),
        host._pool,
        operations,
        host._policy,
        host.address,
        host.config.max_queued_messages,
        host._work_area,
        host._events,
    )
    context = operations.lifecycle.context.for_agent(agent_id)
    paglet._bind(agent_id, cls.State(), context, slot)
    host._registry.add_system(slot)
    return slot


def remove_system_paglet(host: Any, slot: LocalPaglet) -> None:
    """Take a system paglet off ``host``; messages still queued for it fail."""
    queued = slot.leave(PagletStatus.DISPOSED)
    host._registry.remove(slot.agent_id)
    slot.fail_queued(queued, HostStoppedError(f"host {host.name} stopped"))


def set_free_cores(host: Any, provider: Callable[[Any], int] | None) -> None:
    """Let ``provider(sample)`` say how many cores the host publishes as free."""
    heartbeat = getattr(host._membership, "heartbeat", None)
    facts = getattr(heartbeat, "facts", None)
    if facts is not None:
        facts.set_free_cores(provider)


def add_stop_hook(host: Any, hook: Callable[[], None]) -> None:
    """Run ``hook`` when ``host`` stops, before its paglets are deactivated."""
    host._stop.add_hook(hook)


def remove_stop_hook(host: Any, hook: Callable[[], None]) -> None:
    """Forget a hook added with :func:`add_stop_hook` (absent: nothing happens)."""
    host._stop.remove_hook(hook)
