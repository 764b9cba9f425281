"""Typed service contracts: what a service offers, and handles that call it.

A :class:`ServiceContract` names a service (``paglets.system.server_info``), a version
and its :class:`ServiceOperation` s. Each operation takes one request dataclass and
answers one reply dataclass (:class:`EmptyPayload` when there is nothing to say); both
travel with the msgpack codec (:mod:`paglets.wire.codec`), so their fields follow the
same rules as a paglet state's. A provider is a paglet (usually a
:class:`~paglets.services.provider.ServicePaglet`) that advertises the contract on its
host's context; a caller looks it up and gets a :class:`ServiceHandle`::

    handle = self.context.require_contract(SERVER_INFO, ServiceScope.MESH)
    summary = handle.call("summary")              # a ServerSummary

Errors, all under :class:`~paglets.core.errors.HostError`:

- an unknown operation, or a request or reply of the wrong type, raises
  :class:`~paglets.core.errors.ServiceContractError` naming the operation and types,
  on the caller's side before anything is sent, and on the provider's side too;
- no provider raises :class:`~paglets.core.errors.ServiceNotFoundError`;
- an error class an operation declares in ``errors`` is raised again as that class on
  the caller's side (its text kept), whatever host raised it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paglets.core.errors import (
    HostError,
    InvalidAgentError,
    ServiceContractError,
    ServiceNotFoundError,
)
from paglets.core.messages import Message
from paglets.core.runtime_values import ServiceScope
from paglets.runtime.serving.service_records import ServiceRecord
from paglets.runtime.serving.service_registry import ServiceEndpoint

CALL_KIND = "service.call"
"""The message kind of an operation call: args ``{contract, operation, request}``."""
LEASE_KIND = "service.lease"
"""The message kind of a lease: args ``{lease, seconds}`` (0 seconds releases it)."""


@dataclass
class EmptyPayload:
    """The request or reply of an operation that carries nothing."""


@dataclass(frozen=True)
class ServiceOperation:
    """One operation of a contract.

    Attributes:
        name: how callers name it; the provider's method of that name answers it
            unless ``method`` says otherwise.
        request_type, reply_type: the dataclasses it takes and answers.
        errors: exception classes it may raise; they arrive as themselves.
        description: one line for documentation and ``--help``.
        method: the provider method answering it ('' = ``name``).
    """

    name: str
    request_type: type = EmptyPayload
    reply_type: type = EmptyPayload
    errors: tuple[type[Exception], ...] = ()
    description: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        for kind, cls in (("request", self.request_type), ("reply", self.reply_type)):
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise TypeError(f"operation {self.name!r}: the {kind} type must be a dataclass")

    @property
    def method_name(self) -> str:
        """The provider method that answers this operation."""
        return self.method or self.name

    def check_request(self, contract: str, request: Any) -> None:
        """Raise ServiceContractError unless ``request`` is a ``request_type``."""
        if type(request) is not self.request_type:
            raise ServiceContractError(
                f"{contract}.{self.name} takes a {self.request_type.__qualname__} request, "
                f"not {type(request).__qualname__}"
            )

    def check_reply(self, contract: str, reply: Any) -> None:
        """Raise ServiceContractError unless ``reply`` is a ``reply_type``."""
        if type(reply) is not self.reply_type:
            raise ServiceContractError(
                f"{contract}.{self.name} answers a {self.reply_type.__qualname__}, "
                f"not {type(reply).__qualname__}"
            )


@dataclass(frozen=True)
class ServiceContract:
    """A named, versioned set of typed operations.

    Attributes:
        name: the service's name, dotted (``paglets.system.server_info``).
        operations: its operations.
        version: bumped when an operation changes incompatibly.
        description: one line about the service.
    """

    name: str
    operations: tuple[ServiceOperation, ...]
    version: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        names = [op.name for op in self.operations]
        if len(set(names)) != len(names):
            raise TypeError(f"contract {self.name!r} names an operation twice")

    @property
    def operation_names(self) -> tuple[str, ...]:
        """The names of its operations."""
        return tuple(op.name for op in self.operations)

    def operation(self, name: str) -> ServiceOperation:
        """The operation called ``name``.

        Raises:
            ServiceContractError: the contract has no such operation.
        """
        for op in self.operations:
            if op.name == name:
                return op
        known = ", ".join(self.operation_names)
        raise ServiceContractError(f"{self.name} has no operation {name!r} (it has: {known})")

    def bind(self, endpoint: ServiceEndpoint) -> ServiceHandle:
        """A typed handle calling the provider behind ``endpoint``."""
        return ServiceHandle(self, endpoint)


class ServiceHandle:
    """Calls one provider of one contract with typed requests and replies.

    Handles come from ``context.lookup_contract`` / ``require_contract``; they stay
    valid while the provider is deactivated (the call activates it) and start a lazy
    resident provider on first use.
    """

    def __init__(self, contract: ServiceContract, endpoint: ServiceEndpoint) -> None:
        self.contract = contract
        self._endpoint = endpoint

    @property
    def record(self) -> ServiceRecord:
        """Where the provider is (its agent id once started)."""
        return self._endpoint.record

    @property
    def host_name(self) -> str:
        """The provider's host."""
        return self._endpoint.record.host_name

    def call(self, operation: str, request: Any = None, *, timeout: float | None = None) -> Any:
        """Call ``operation`` with ``request`` (None: an EmptyPayload); return the reply.

        Raises:
            ServiceContractError: unknown operation, or a request/reply of the wrong type.
            ServiceNotFoundError: the provider is gone from its host.
            Exception: one of the operation's declared ``errors``, as the provider raised it.
            HostError: the provider raised something else (remote type and text kept).
            RemoteHostError: the provider's host did not answer in time.
        """
        op = self.contract.operation(operation)
        if request is None and op.request_type is EmptyPayload:
            request = EmptyPayload()
        op.check_request(self.contract.name, request)
        message = Message(
            CALL_KIND,
            {"contract": self.contract.name, "operation": op.name, "request": request},
        )
        try:
            reply = self._send(message, timeout)
        except HostError as exc:
            raise _declared_error(op, exc) from None
        op.check_reply(self.contract.name, reply)
        return reply

    def _send(self, message: Message, timeout: float | None) -> Any:
        proxy = self._endpoint.proxy(timeout)
        try:
            return proxy.send(message, timeout=timeout)
        except InvalidAgentError:
            # a resident provider that was disposed: nothing ran, so start it again once
            if not self._endpoint.forget_provider(proxy.agent_id):
                raise
            return self._endpoint.proxy(timeout).send(message, timeout=timeout)

    def lease(self, seconds: float, *, timeout: float | None = None) -> ServiceLease:
        """Keep the provider active for ``seconds`` (renewable), even when idle."""
        lease = ServiceLease(self, seconds)
        lease.renew(timeout=timeout)
        return lease

    def _send_lease(self, lease_id: str, seconds: float, timeout: float | None) -> Any:
        message = Message(LEASE_KIND, {"lease": lease_id, "seconds": float(seconds)})
        return self._send(message, timeout)

    def __repr__(self) -> str:
        record = self.record
        return f"<ServiceHandle {self.contract.name} on {record.host_name} {record.agent_id}>"


class ServiceLease:
    """A promise from a caller that it will call again soon: the provider stays active.

    Use as a context manager, or call :meth:`release`. A lease not renewed lapses
    after its ``seconds``, so a caller that crashes never pins a provider for good.
    """

    def __init__(self, handle: ServiceHandle, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("a lease lasts a positive number of seconds")
        self.handle = handle
        self.seconds = float(seconds)
        self.lease_id = uuid.uuid4().hex

    def renew(self, seconds: float | None = None, *, timeout: float | None = None) -> None:
        """Extend the lease by ``seconds`` (default: its length) from now."""
        if seconds is not None:
            self.seconds = float(seconds)
        self.handle._send_lease(self.lease_id, self.seconds, timeout)

    def release(self, *, timeout: float | None = None) -> None:
        """End the lease now; the provider's idle timer runs again."""
        self.handle._send_lease(self.lease_id, 0.0, timeout)

    def __enter__(self) -> ServiceLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _declared_error(op: ServiceOperation, exc: HostError) -> Exception:
    """The declared error class ``exc`` stands for, else ``exc`` itself."""
    for cls in op.errors:
        names = {cls.__name__, cls.__qualname__, f"{cls.__module__}.{cls.__qualname__}"}
        if exc.remote_type in names:
            try:
                return cls(exc.remote_message)
            except Exception:  # an error class with another constructor: keep HostError
                return exc
    return exc


def describe(contract: ServiceContract) -> Mapping[str, Any]:
    """The contract as a plain map (docs, ``--json``)."""
    return {
        "name": contract.name,
        "version": contract.version,
        "description": contract.description,
        "operations": [
            {
                "name": op.name,
                "request": op.request_type.__qualname__,
                "reply": op.reply_type.__qualname__,
                "description": op.description,
            }
            for op in contract.operations
        ],
    }


__all__ = [
    "CALL_KIND",
    "LEASE_KIND",
    "EmptyPayload",
    "ServiceContract",
    "ServiceContractError",
    "ServiceNotFoundError",
    "ServiceHandle",
    "ServiceLease",
    "ServiceOperation",
    "ServiceRecord",
    "ServiceScope",
    "describe",
]
