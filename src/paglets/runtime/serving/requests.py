"""The server side of the protocol: each incoming verb to the host operation it asks for.

Runs first on the I/O thread: ``msg`` requests are queued straight into the paglet's
mailbox (their body is decoded later, on the worker that handles them) and ``ping`` is
answered at once; a small ``create`` that runs no user code and imports nothing is done
at once too (:meth:`~paglets.runtime.execution.lifecycle.Lifecycle.quick_create`); ``art.*`` verbs
go to the :class:`~paglets.runtime.artifacts.service.ArtifactService`; every other verb
may block, so it moves to a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from paglets.core.agent import ACTIVE
from paglets.core.errors import PagletError, ProtocolError
from paglets.core.messages import check_priority
from paglets.net.transport import IncomingRequest
from paglets.runtime.artifacts.service import ArtifactService
from paglets.runtime.execution.lifecycle import NO_IMPORTS
from paglets.runtime.execution.local_paglet import Envelope, decode_args
from paglets.runtime.mesh.membership import Membership
from paglets.runtime.parts import HostParts
from paglets.runtime.serving.operations import HostOperations
from paglets.wire import protocol
from paglets.wire.codec import encode_state, encode_value

log = logging.getLogger(__name__)

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
    ) -> None:
        self._parts = parts
        self._operations = operations
        self._membership = membership
        self._artifacts = artifacts or ArtifactService(parts)
        self._handlers: dict[str, Callable[[IncomingRequest, Any], Any]] = {
            protocol.VERB_HELLO: lambda request, body: membership.on_hello(body),
            protocol.VERB_CREATE: self._create,
            protocol.VERB_TRANSFER: lambda request, body: operations.mobility.receive(body),
            protocol.VERB_ABORT: lambda request, body: operations.mobility.abort(body),
            protocol.VERB_TRANSFER_COMMIT: lambda request, body: operations.mobility.commit(body),
            protocol.VERB_TRANSFER_STATUS: lambda request, body: operations.mobility.status(body),
            protocol.VERB_CONTROL: self._control,
            protocol.VERB_INFO: lambda request, body: operations.info(_target(request)),
            protocol.VERB_LIST: self._list,
            protocol.VERB_STATE: self._state,
            protocol.VERB_MESH: lambda request, body: membership.mesh_view(),
        }

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
        else:
            self._parts.pool.submit(self._run, request)

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
            request.reply(b"" if result is None else encode_value(result))
        except PagletError as exc:
            request.fail(exc)
        except Exception as exc:
            log.exception("%s request failed", request.verb)
            request.fail(exc)

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
