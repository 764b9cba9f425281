"""The compute-slots service, eager on every host, and how to talk to it.

Each host runs one :class:`~paglets.system.compute.service.ComputeSlots` and answers
for it through a system paglet with the well-known id :data:`COMPUTE_SLOTS_ID`. Its
message kinds: ``status``, ``submit`` (from a job paglet placing itself), ``cancel``
(``job_id``, ``force``), ``history`` (``limit``), ``clear-history``, ``result``
(``job_id``, ``wait`` seconds), ``why`` (``job_id``), ``placed`` (a job's placement,
sent to its submitter's host), ``placement`` (``agent_id`` of the job paglet,
``wait``: that report) and ``create-job`` (a ``submit`` request: create that job
paglet here, which places itself; a lost job run again; answers its agent id).
Every reply is plain values.
The host's gossip facts carry ``cores_free`` from the service's real leases, so a
submitter picks a target from its own view of the mesh.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.runtime.system_paglets import (
    add_stop_hook,
    add_system_paglet,
    remove_stop_hook,
    remove_system_paglet,
    set_free_cores,
)
from paglets.system.compute.admission import EstimateError, JobEstimate
from paglets.system.compute.service import ComputeSlots

log = logging.getLogger(__name__)

COMPUTE_SLOTS_ID = "c0e9a7e5000040008000000000000001"
"""The agent id of the compute-slots paglet, the same on every host."""

_SERVICES: dict[str, ComputeSlots] = {}  # by host address: several hosts share a process
_READY: set[str] = set()  # addresses whose slots paglet answers
_ATTACHED = threading.Condition()


class ComputeRejectedError(PagletError):
    """A compute job can never fit where it was sent (the text says why)."""


@dataclass
class ComputeSlotsState(PagletState):
    """The service paglet keeps nothing itself: the queue is the service's."""


class ComputeSlotsPaglet(Paglet[ComputeSlotsState]):
    """Answers compute-slots requests for the service of its host."""

    State = ComputeSlotsState

    def handle_message(self, message: Message) -> Any:
        service = _SERVICES.get(self.context.address)
        if service is None:
            raise PagletError(f"host {self.context.name} runs no compute slots")
        args = message.args
        kind = message.kind
        if kind == "status":
            return service.status()
        if kind == "submit":
            return service.submit(dict(args))
        if kind == "cancel":
            return service.cancel(str(args["job_id"]), bool(args.get("force", False)))
        if kind == "history":
            limit = args.get("limit")
            return _plain_history(service.queue.history(None if limit is None else int(limit)))
        if kind == "clear-history":
            return service.queue.clear_history()
        if kind == "result":
            wait = min(float(args.get("wait", 0.0)), 60.0)
            entry = service.wait_finished(str(args["job_id"]), wait)
            return None if entry is None else _plain_history([entry])[0]
        if kind == "why":
            return why(service, str(args["job_id"]))
        if kind == "placed":
            return service.placements.put(dict(args))
        if kind == "placement":
            wait = min(float(args.get("wait", 0.0)), 60.0)
            return service.placements.get(str(args["agent_id"]), wait)
        if kind == "create-job":
            return service.create_job(dict(args))
        return self.not_handled()


def _plain_history(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, "result": entry.get("result")} for entry in entries]


def why(service: ComputeSlots, job_id: str) -> dict[str, Any]:
    """Why a job waits (or that it runs, or how it ended).

    Raises:
        PagletError: the job is unknown here.
    """
    row = service.queue.get(job_id)
    if row is not None:
        text = row.reason if row.status == "queued" else f"running on cpus {list(row.cpus)}"
        ahead = [r.job_id for r in service.queue.queued() if r.seq < row.seq]
        return {"job_id": job_id, "status": row.status, "reason": text, "ahead": len(ahead)}
    entry = service.queue.finished(job_id)
    if entry is not None:
        return {"job_id": job_id, "status": entry["outcome"], "reason": entry["error"], "ahead": 0}
    raise PagletError(f"no job {job_id} on host {service.host.name}")


class _Attached:
    """What ``attach`` returns: closing it stops the service and removes its paglet."""

    def __init__(self, host: Any, service: ComputeSlots, slot: Any) -> None:
        self.host = host
        self.service = service
        self.slot = slot
        self._closed = False
        add_stop_hook(host, self.close)

    def close(self) -> None:
        """Stop the service (idempotent); queued jobs stay in the store."""
        if self._closed:
            return
        self._closed = True
        remove_stop_hook(self.host, self.close)
        set_free_cores(self.host, None)
        with _ATTACHED:
            _READY.discard(self.host.address)
        remove_system_paglet(self.host, self.slot)
        _SERVICES.pop(self.host.address, None)
        self.service.close()


def attach(host: Any) -> _Attached:
    """Start the compute slots of a started host; they stop when the host stops.

    :func:`paglets.system.host_services.start_host_services` calls this for every
    host it serves (compute slots are an eager system service). Calling it again for
    a host that already runs them returns nothing new.

    Raises:
        PagletError: the host already runs compute slots.
    """
    if host.address in _SERVICES:
        raise PagletError(f"host {host.name} already runs compute slots")
    service = ComputeSlots(host)
    _SERVICES[host.address] = service
    slot = add_system_paglet(host, ComputeSlotsPaglet, COMPUTE_SLOTS_ID)
    set_free_cores(host, lambda sample: service.cores_free())
    with _ATTACHED:
        _READY.add(host.address)
        _ATTACHED.notify_all()
    return _Attached(host, service, slot)


def wait_attached(address: str, timeout: float) -> bool:
    """Whether the host at ``address`` runs compute slots in this process.

    Waits up to ``timeout`` seconds for a host still starting: a job it activates at
    start-up may run before its system services are attached.
    """
    with _ATTACHED:
        return _ATTACHED.wait_for(lambda: address in _READY, timeout)


def runs_on(host: Any) -> bool:
    """Whether ``host`` (in this process) runs compute slots."""
    return host.address in _SERVICES


def local_service(host: Any) -> ComputeSlots:
    """The compute slots of a host in this process.

    Raises:
        PagletError: it runs none (:func:`attach` was not called for it).
    """
    service = _SERVICES.get(host.address)
    if service is None:
        raise PagletError(f"host {host.name} runs no compute slots")
    return service


def lease_of(address: str, job_id: str, agent_id: str) -> list[int]:
    """The CPU ids the slots of the host at ``address`` lease to the job ([]: none).

    Only a running row of that job naming that paglet counts, so a copy of a job
    never takes another's lease.
    """
    service = _SERVICES.get(address)
    row = None if service is None or not job_id else service.queue.get(job_id)
    if row is None or row.status != "running" or row.agent_id != agent_id:
        return []
    return list(row.cpus)


def watch(address: str, agent_id: str) -> bool:
    """Have the slots of the host at ``address`` tick the paglet ``agent_id`` each second.

    Returns:
        False if that host runs no compute slots in this process.
    """
    service = _SERVICES.get(address)
    if service is None:
        return False
    service.watch(agent_id)
    return True


def wake(address: str) -> None:
    """Have the slots of the host at ``address`` look at their jobs now (never blocks)."""
    service = _SERVICES.get(address)
    if service is not None:
        service.poke()


def ask(
    where: Any,
    address: str,
    kind: str,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> Any:
    """Send one request to the compute-slots paglet of the host at ``address``.

    ``where`` is a host, a paglet context or a client.
    The request skips the mailbox queue, so a waiting ``result`` holds up nothing else.
    """
    if hasattr(where, "proxy"):  # a Host: its get_proxy finds only its own paglets
        proxy = where.proxy(COMPUTE_SLOTS_ID, address)
    else:  # a HostClient or a paglet context
        proxy = where.get_proxy(COMPUTE_SLOTS_ID, address)
    message = Message(kind, dict(args or {}), priority=UNQUEUED_PRIORITY)
    return proxy.send(message, timeout=timeout) if timeout is not None else proxy.send(message)


__all__ = [
    "COMPUTE_SLOTS_ID",
    "ComputeRejectedError",
    "ComputeSlots",
    "ComputeSlotsPaglet",
    "ComputeSlotsState",
    "EstimateError",
    "JobEstimate",
    "ask",
    "attach",
    "lease_of",
    "local_service",
    "runs_on",
    "wake",
    "watch",
    "why",
]
