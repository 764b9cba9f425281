"""Services a host starts with itself (``HostConfig.eager_services``), and their paglets.

A service is named ``module:function``; the function takes the started host and
returns an object with ``close()``. Services live in higher layers (``paglets.system``),
so they are imported by name here. A service that fails to start is logged and left
out: the host serves without it.

A service answers the mesh through a *system paglet*: a paglet with a well-known agent
id, reachable like any other but left out of listings, counts and the event log, and
never moved, persisted or disposed by the host's own verbs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from paglets.core.agent import Paglet
from paglets.core.classes import class_path
from paglets.core.errors import HostStoppedError
from paglets.runtime.execution.local_paglet import LocalPaglet, PagletStatus

log = logging.getLogger(__name__)


def start_eager_services(host: Any, paths: Sequence[str]) -> list[Any]:
    """Start each ``module:function`` service for ``host``; return the started ones."""
    started: list[Any] = []
    for path in paths:
        module_name, _, attribute = path.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
            started.append(factory(host))
        except Exception:
            log.exception("host %s: eager service %s did not start", host.name, path)
    return started


def stop_eager_services(services: Sequence[Any]) -> None:
    """Close started services, last started first."""
    for service in reversed(services):
        try:
            service.close()
        except Exception:
            log.exception("eager service %r did not close cleanly", service)


def add_system_paglet(host: Any, cls: type[Paglet[Any]], agent_id: str) -> LocalPaglet:
    """Put a paglet of ``cls`` (default state, no hooks) on ``host`` under ``agent_id``."""
    parts = host._parts
    operations = host._operations
    paglet = cls()
    slot = LocalPaglet(
        paglet,
        agent_id,
        class_path(cls),
        class_path(cls.State),
        parts.pool,
        operations,
        parts.policy,
        parts.address,
        parts.config.max_queued_messages,
        parts.work_area,
        parts.events,
    )
    paglet._bind(agent_id, cls.State(), operations.lifecycle.context, slot)
    parts.registry.add_system(slot)
    return slot


def remove_system_paglet(host: Any, slot: LocalPaglet) -> None:
    """Take a system paglet off ``host``; messages still queued for it fail."""
    queued = slot.leave(PagletStatus.DISPOSED)
    host._parts.registry.remove(slot.agent_id)
    slot.fail_queued(queued, HostStoppedError(f"host {host.name} stopped"))


def set_free_cores(host: Any, provider: Any) -> None:
    """Let ``provider(sample)`` say how many cores the host publishes as free."""
    heartbeat = host._membership.heartbeat
    facts = getattr(heartbeat, "facts", None)
    if facts is not None:
        facts.set_free_cores(provider)
