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

from paglets.artifacts import check_name
from paglets.core.agent import ACTIVE
from paglets.core.errors import (
    ArtifactError,
    LimitExceededError,
    PagletError,
    ProtocolError,
    TransferError,
)
from paglets.core.messages import check_priority
from paglets.net.transport import IncomingRequest
from paglets.runtime.artifacts.service import ArtifactService
from paglets.runtime.execution.envelope import Envelope
from paglets.runtime.execution.lifecycle import NO_IMPORTS
from paglets.runtime.execution.local_paglet import decode_args
from paglets.runtime.mesh.membership import Membership
from paglets.runtime.parts import HostParts
from paglets.runtime.serving.event_queries import EventQueries
from paglets.runtime.serving.operations import HostOperations
from paglets.wire import protocol
from paglets.wire.codec import encode_state, encode_value

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
    """Turns incoming requests into host operations and their results into replies."""

    def __init__(
        self,
        parts: HostParts,
        operations: HostOperations,
        membership: Membership,
        artifacts: ArtifactService | None = None,
        events: EventQueries | None = None,
    ) -> None:
        self._parts = parts
        self._operations = operations
        self._membership = membership
        self._artifacts = artifacts or ArtifactService(parts)
        self._transfers = 0
        self._transfers_lock = threading.Lock()
        self._handlers: dict[str, Callable[[IncomingRequest, Any], Any]] = {
            protocol.VERB_HELLO: self._hello,
            protocol.VERB_CREATE: self._create,
            protocol.VERB_TRANSFER: lambda request, body: operations.mobility.receive(
                checked_record(body)
            ),
            protocol.VERB_ABORT: lambda request, body: operations.mobility.abort(body),
            protocol.VERB_TRANSFER_COMMIT: lambda request, body: operations.mobility.commit(body),
            protocol.VERB_TRANSFER_STATUS: lambda request, body: operations.mobility.status(body),
            protocol.VERB_CONTROL: self._control,
            protocol.VERB_INFO: lambda request, body: operations.info(_target(request)),
            protocol.VERB_LIST: self._list,
            protocol.VERB_STATE: self._state,
            protocol.VERB_MESH: lambda request, body: membership.mesh_view(),
            protocol.VERB_SERVICE: self._service,
        }
        queries = events or EventQueries(parts.events, lambda: None)
        self._handlers[protocol.VERB_EVENTS] = lambda request, body: queries.answer(body)

    def __call__(self, request: IncomingRequest) -> None:
        verb = request.verb
        if verb == protocol.VERB_MESSAGE:
            self._message(request)
        elif verb == protocol.VERB_PING:
            request.reply(
                encode_value(
                    {
                        "name": self._parts.name,
                        "address": self._parts.address,
                        "mesh_version": self._parts.config.mesh_version,
                        "active": len(self._parts.registry),
                        "time": time.time(),
                    }
                )
            )
        elif verb in protocol.ARTIFACT_VERBS:
            self._artifacts(request)
        elif verb == protocol.VERB_CREATE and self._quick_create(request):
            pass
        elif verb in CONTROL_VERBS:
            self._parts.control_pool.submit(self._run, request)
        elif verb == protocol.VERB_TRANSFER:
            self._start_transfer(request)
        elif verb == protocol.VERB_TRANSFER_COMMIT:
            self._start_transfer(request, refuse=False)
        else:
            self._parts.pool.submit(self._run, request)

    def _start_transfer(self, request: IncomingRequest, refuse: bool = True) -> None:
        limit = self._parts.config.max_transfers
        with self._transfers_lock:
            if refuse and self._transfers >= limit:
                request.fail(
                    LimitExceededError(
                        f"{self._transfers} paglets are arriving on {self._parts.name} already",
                        "max_transfers",
                    )
                )
                return
            self._transfers += 1
        self._parts.pool.submit(self._run_transfer, request)

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
            body = decode_args(request.body, self._parts.policy)
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
        cls_path, state_cls_path, state, init = _create_fields(body)
        slot = self._operations.lifecycle.create_from_wire(cls_path, state_cls_path, state, init)
        return slot.agent_id

    def _quick_create(self, request: IncomingRequest) -> bool:
        """Create on the I/O thread if that is safe; False leaves it to a worker."""
        if len(request.body) > QUICK_CREATE_MAX_BODY:
            return False
        try:
            body = decode_args(request.body, NO_IMPORTS)
            slot = self._operations.lifecycle.quick_create(*_create_fields(body))
        except PagletError:
            return False  # the worker tries again under the host's policy and tells why
        if slot is None:
            return False
        request.reply(encode_value(slot.agent_id))
        return True

    def _control(self, request: IncomingRequest, body: Any) -> Any:
        if not isinstance(body, list) or len(body) != 2 or not isinstance(body[1], dict):
            raise ProtocolError("control needs [op, args]")
        op, args = body
        return self._operations.control(_target(request), str(op), args, None)

    def _service(self, request: IncomingRequest, body: Any) -> Any:
        return self._parts.require_service_registry().on_request(body)

    def _list(self, request: IncomingRequest, body: Any) -> list[dict[str, Any]]:
        flags = body if isinstance(body, int) else ACTIVE
        return self._operations.list_infos(flags)

    def _state(self, request: IncomingRequest, body: Any) -> list[Any]:
        agent_id = _target(request)
        slot = self._parts.registry.get(agent_id)
        if slot is not None:
            with slot.paglet.locked():
                return [slot.state_class_path, encode_state(slot.paglet.state)]
        stored = self._parts.store.load(agent_id)
        if stored is None:
            self._operations.info(agent_id)  # raises moved / not found
            raise PagletError(f"no state for {agent_id}")
        return [stored.state_class_path, stored.state]


_RECORD_TEXTS = ("tid", "agent_id", "class", "state_class", "reason", "source_name")
_MAX_ID = 128


def checked_record(record: Any) -> dict[str, Any]:
    """Refuse a ``transfer`` record whose fields have the wrong types, before decoding it.

    Ids name directories (work dirs, staging dirs), so they must be plain names.

    Raises:
        TransferError: not a map, a field missing or of the wrong type, a bad id.
    """
    if not isinstance(record, dict):
        raise TransferError("a transfer record must be a map")
    for key in (*_RECORD_TEXTS, "state"):
        if key not in record:
            raise TransferError(f"transfer record lacks {key!r}")
    for key in (*_RECORD_TEXTS, "source_address", "source_agent_id"):
        if key in record and not isinstance(record[key], str):
            raise TransferError(f"transfer record field {key!r} must be a string")
    if not isinstance(record["state"], bytes):
        raise TransferError("transfer record field 'state' must be bytes")
    if "files" in record and not isinstance(record["files"], list):
        raise TransferError("transfer record field 'files' must be a list")
    for key in ("tid", "agent_id"):
        value = record[key]
        try:
            check_name(value)
        except ArtifactError:
            raise TransferError(f"transfer record {key} {value[:40]!r} is not a plain id") from None
        if len(value) > _MAX_ID:
            raise TransferError(f"transfer record {key} is over {_MAX_ID} characters")
    return record


def _create_fields(body: Any) -> tuple[str, str, bytes, Any]:
    if not isinstance(body, list) or len(body) != 4:
        raise ProtocolError("create needs [class, state class, state, init]")
    cls_path, state_cls_path, state, init = body
    if not isinstance(state, bytes):
        raise ProtocolError("create needs the state as bytes")
    return str(cls_path), str(state_cls_path), state, init


def _target(request: IncomingRequest) -> str:
    agent_id = request.header.get("to")
    if not isinstance(agent_id, str) or not agent_id:
        raise ProtocolError(f"{request.verb} request lacks a 'to' agent id")
    return agent_id
