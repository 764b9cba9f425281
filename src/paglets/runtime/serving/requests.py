"""The server side of the protocol: each incoming verb to the host operation it asks for.

Runs first on the I/O thread: ``msg`` requests are queued straight into the paglet's
mailbox (their body is decoded later, on the worker that handles them) and ``ping`` is
answered at once; a small ``create`` that runs no user code and imports nothing is done
at once too (:meth:`~paglets.runtime.execution.lifecycle.Lifecycle.quick_create`); ``art.*`` verbs
go to the :class:`~paglets.runtime.artifacts.service.ArtifactService`; every other verb
may block, so it moves to a worker thread.

The mesh and hand-off verbs run on the *control lane*: ``hello``, ``mesh``, ``abort``
and ``transfer.status`` on a small pool of their own that never runs user code, so
they are answered within a bound whatever the paglets do with the worker pool (the
last two write the transfer record, so they stay off the I/O thread). A ``transfer``
(prepare: decode, pull files) and a ``transfer.commit`` (start: the arriving paglet's
hooks) take a worker; at most ``max_transfers`` of them run at once. A ``transfer``
over the bound is refused; a ``transfer.commit`` is always taken (refusing it would
only delay a paglet already decided), but counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from paglets.core.errors import (
    LimitExceededError,
    PagletError,
    ProtocolError,
)
from paglets.core.messages import check_priority
from paglets.net.transport import IncomingRequest
from paglets.runtime.artifacts.service import ArtifactService
from paglets.runtime.config import HostConfig
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.lifecycle import NO_IMPORTS
from paglets.runtime.execution.local_paglet import decode_args
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mesh.membership import Membership
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.runtime.serving.event_queries import EventQueries
from paglets.runtime.serving.operations import HostOperations
from paglets.runtime.serving.service_registry import ServiceRegistry
from paglets.wire import protocol
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import encode_state, encode_value
from paglets.wire.control_bodies import ControlBody, StateReply, list_flags
from paglets.wire.create_body import CreateBody
from paglets.wire.handoff_bodies import HandoffRecord, transfer_id
from paglets.wire.service_body import ServiceQuery

log = logging.getLogger(__name__)

CONTROL_VERBS = frozenset(
    {protocol.VERB_HELLO, protocol.VERB_ABORT, protocol.VERB_MESH, protocol.VERB_TRANSFER_STATUS}
)
"""Verbs served on the control lane: they never wait behind user code."""

ANSWERED = object()
"""A handler's result meaning it replies by itself, perhaps later and on another thread."""

QUICK_CREATE_MAX_BODY = 16 * 1024
"""Larger create requests are decoded on a worker, never on the I/O thread."""


class RequestRouter:
    """Turns incoming requests into host operations and their results into replies.

    Args:
        operations: the host's paglet operations.
        membership: answers the mesh verbs.
        artifacts: answers the ``art.*`` verbs.
        config: the host's config (mesh version, ``max_transfers``).
        service_registry: answers the service verb.
        pool, control_pool: the workers of the paglet and the control lanes.
        the rest: what the quick answers (ping, state) read.
    """

    def __init__(
        self,
        operations: HostOperations,
        membership: Membership,
        artifacts: ArtifactService,
        *,
        config: HostConfig,
        identity: HostIdentity,
        registry: Registry,
        store: PagletStore,
        policy: ClassPolicy,
        pool: WorkerPool,
        control_pool: WorkerPool,
        service_registry: ServiceRegistry,
        events: EventQueries,
    ) -> None:
        self._config = config
        self._identity = identity
        self._registry = registry
        self._store = store
        self._policy = policy
        self._pool = pool
        self._control_pool = control_pool
        self._service_registry = service_registry
        self._operations = operations
        self._membership = membership
        self._artifacts = artifacts
        self._transfers = 0
        self._transfers_lock = threading.Lock()
        self._handlers: dict[str, Callable[[IncomingRequest, Any], Any]] = {
            protocol.VERB_HELLO: self._hello,
            protocol.VERB_CREATE: self._create,
            protocol.VERB_TRANSFER: lambda request, body: operations.mobility.receive(
                HandoffRecord.from_wire(body)
            ),
            protocol.VERB_ABORT: lambda request, body: operations.mobility.abort(transfer_id(body)),
            protocol.VERB_TRANSFER_COMMIT: lambda request, body: operations.mobility.commit(
                transfer_id(body)
            ),
            protocol.VERB_TRANSFER_STATUS: lambda request, body: operations.mobility.status(
                transfer_id(body)
            ),
            protocol.VERB_CONTROL: self._control,
            protocol.VERB_INFO: lambda request, body: operations.info(_target(request)),
            protocol.VERB_LIST: self._list,
            protocol.VERB_STATE: self._state,
            protocol.VERB_MESH: lambda request, body: membership.mesh_view(),
            protocol.VERB_SERVICE: self._service,
        }
        self._handlers[protocol.VERB_EVENTS] = lambda request, body: events.answer(body)

    def __call__(self, request: IncomingRequest) -> None:
        verb = request.verb
        if verb == protocol.VERB_MESSAGE:
            self._message(request)
        elif verb == protocol.VERB_PING:
            request.reply(
                encode_value(
                    {
                        "name": self._identity.name,
                        "address": self._identity.address,
                        "mesh_version": self._config.mesh_version,
                        "active": len(self._registry),
                        "time": time.time(),
                    }
                )
            )
        elif verb in protocol.ARTIFACT_VERBS:
            self._artifacts(request)
        elif verb == protocol.VERB_CREATE and self._quick_create(request):
            pass
        elif verb in CONTROL_VERBS:
            self._control_pool.submit(self._run, request)
        elif verb == protocol.VERB_TRANSFER:
            self._start_transfer(request)
        elif verb == protocol.VERB_TRANSFER_COMMIT:
            self._start_transfer(request, refuse=False)
        else:
            self._pool.submit(self._run, request)

    def _start_transfer(self, request: IncomingRequest, refuse: bool = True) -> None:
        limit = self._config.max_transfers
        with self._transfers_lock:
            if refuse and self._transfers >= limit:
                request.fail(
                    LimitExceededError(
                        f"{self._transfers} paglets are arriving on {self._identity.name} already",
                        "max_transfers",
                    )
                )
                return
            self._transfers += 1
        self._pool.submit(self._run_transfer, request)

    def _run_transfer(self, request: IncomingRequest) -> None:
        try:
            self._run(request)
        finally:
            with self._transfers_lock:
                self._transfers -= 1

    def _message(self, request: IncomingRequest) -> None:
        header = request.header
        try:
            agent_id = _target(request)
            priority = check_priority(header.get("p", 5))
        except (ProtocolError, ValueError) as exc:
            request.fail(ProtocolError(str(exc)))
            return
        envelope = Envelope(
            priority, body=request.body, request=request, no_delay=header.get("nd") is True
        )
        self._operations.deliver(agent_id, envelope)

    def _run(self, request: IncomingRequest) -> None:
        try:
            body = decode_args(request.body, self._policy)
            result = self._handlers[request.verb](request, body)
            if result is not ANSWERED:
                request.reply(b"" if result is None else encode_value(result))
        except PagletError as exc:
            request.fail(exc)
        except Exception as exc:
            log.exception("%s request failed", request.verb)
            request.fail(exc)

    def _hello(self, request: IncomingRequest, body: Any) -> object:
        self._membership.on_hello(
            body, request.peer_key, lambda answer: request.reply(encode_value(answer))
        )
        return ANSWERED

    def _create(self, request: IncomingRequest, body: Any) -> str:
        create = CreateBody.from_wire(body)
        slot = self._operations.lifecycle.create_from_wire(
            create.class_path, create.state_class_path, create.state, create.init
        )
        return slot.agent_id

    def _quick_create(self, request: IncomingRequest) -> bool:
        """Create on the I/O thread if that is safe; False leaves it to a worker."""
        if len(request.body) > QUICK_CREATE_MAX_BODY:
            return False
        try:
            create = CreateBody.decode(request.body, NO_IMPORTS)
            slot = self._operations.lifecycle.quick_create(
                create.class_path, create.state_class_path, create.state, create.init
            )
        except PagletError:
            return False  # the worker tries again under the host's policy and tells why
        if slot is None:
            return False
        request.reply(encode_value(slot.agent_id))
        return True

    def _control(self, request: IncomingRequest, body: Any) -> Any:
        control = ControlBody.from_wire(body)
        return self._operations.control(_target(request), control.op, control.args, None)

    def _service(self, request: IncomingRequest, body: Any) -> Any:
        return self._service_registry.on_request(ServiceQuery.from_wire(body))

    def _list(self, request: IncomingRequest, body: Any) -> list[dict[str, Any]]:
        return self._operations.list_infos(list_flags(body))

    def _state(self, request: IncomingRequest, body: Any) -> list[Any]:
        agent_id = _target(request)
        slot = self._registry.get(agent_id)
        if slot is not None:
            with slot.paglet.locked():
                return StateReply(slot.state_class_path, encode_state(slot.paglet.state)).to_wire()
        stored = self._store.load(agent_id)
        if stored is None:
            self._operations.info(agent_id)  # raises moved / not found
            raise PagletError(f"no state for {agent_id}")
        return StateReply(stored.state_class_path, stored.state).to_wire()


def _target(request: IncomingRequest) -> str:
    agent_id = request.header.get("to")
    if not isinstance(agent_id, str) or not agent_id:
        raise ProtocolError(f"{request.verb} request lacks a 'to' agent id")
    return agent_id
