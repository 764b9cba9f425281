"""The paglets error tree.

Every error the runtime raises derives from :class:`PagletError`; the names are the
original package's where it has one::

    PagletError
    ├── SerializationError        a value cannot be encoded or decoded (names the field)
    ├── ClassResolutionError      a class path is malformed, unknown or of the wrong kind
    │   └── ClassNotAllowedError  the module is outside the allowed prefixes (never imported)
    ├── NotHandledError           the paglet returned ``not_handled()`` for this message kind
    ├── HostError                 a remote handler raised; keeps the remote type name and text
    │   ├── ServiceContractError  a service call broke its contract (unknown op, wrong type)
    │   └── ServiceNotFoundError  no provider of that contract is known
    ├── InvalidAgentError         no paglet with that id on that host (disposed, never existed)
    ├── PagletInactiveError       the paglet is deactivated and ``no_delay`` was asked
    ├── PagletCrashedError        the paglet's code (or its process) crashed; it takes no work
    ├── LifecycleError            a lifecycle step (dispatch, deactivate, dispose...) refused
    │   └── ResourceCleanupError  a registered resource's cleanup failed; the step was cancelled
    ├── TransferError             a dispatch, clone or retract did not commit; the paglet stayed
    ├── AgentMovedError           the paglet left that host; ``address`` says where it went
    ├── ForbiddenError            the caller may not do this (file outside the roots, policy)
    ├── ArtifactError             an artifact or a paglet's file could not be stored or moved
    │   ├── ArtifactNotFoundError no artifact with that id on that host (or no such file)
    │   ├── IntegrityError        the bytes received are not the bytes announced (hash, size)
    │   ├── StorageQuotaError     no room: over the size limit, the storage quota, or disk full
    │   └── DestinationExistsError  the destination file exists and overwrite was not asked
    ├── RemoteHostError           talking to another host failed
    │   ├── PeerNotFoundError     unknown host name, or an address nobody answers on
    │   ├── ReplyTimeoutError     no reply within the timeout
    │   ├── ProtocolError         malformed frame, wrong protocol or mesh version
    │   ├── AuthenticationError   the security handshake failed: wrong or missing mesh secret
    │   ├── OverloadedError       too many requests in flight, or a mailbox is full
    │   │   └── LimitExceededError  a host limit was reached (``limit`` names the setting)
    │   └── PayloadTooLargeError  a frame or value is over the configured size limit
    ├── HostStoppedError          the host (or client) stopped; pending calls are failed with it
    └── StoreError                the host store is locked by another host, corrupt or too new

Errors raised on another host travel by name: a ``PagletError`` subclass named in this
module is raised again as itself on the caller's side; any other exception becomes a
:class:`HostError` that keeps the remote type name and message. An error that carries
more than its text (``AgentMovedError.address``) declares those fields itself:
:meth:`PagletError.wire_extras` names them on the way out and
:meth:`PagletError.from_wire` takes them back, so the transport carries them without
knowing any error class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PagletError(Exception):
    """Base class of every error raised by paglets."""

    def wire_extras(self) -> dict[str, Any]:
        """The fields besides the text that rebuild this error on the caller's side.

        Returns:
            msgpack-ready values by field name; empty for errors that are their text.
        """
        return {}

    @classmethod
    def from_wire(cls, text: str, extras: Mapping[str, Any]) -> PagletError:
        """Rebuild an error of this class from its text and :meth:`wire_extras` fields."""
        return cls(text)


class SerializationError(PagletError):
    """A value could not be encoded or decoded; the message names the offending field."""


class ClassResolutionError(PagletError):
    """A class path is malformed, cannot be found, or is not of the required kind."""


class ClassNotAllowedError(ClassResolutionError):
    """A class path points outside the allowed module prefixes; nothing was imported."""


class NotHandledError(PagletError):
    """The paglet does not handle this message kind (its handler returned ``not_handled()``)."""


class HostError(PagletError):
    """A paglet handler (or service) raised an exception on its host.

    Attributes:
        remote_type: the qualified name of the exception type raised remotely.
        remote_message: its text.
    """

    def __init__(self, remote_type: str, remote_message: str | None = None) -> None:
        if remote_message is None:
            remote_type, remote_message = type(self).__name__, remote_type
        super().__init__(f"{remote_type}: {remote_message}")
        self.remote_type = remote_type
        self.remote_message = remote_message


class ServiceContractError(HostError):
    """A service call broke its contract: unknown operation, or a request of the wrong type."""


class ServiceNotFoundError(HostError):
    """No provider of the contract asked for is known (here, or on the mesh when asked)."""


class InvalidAgentError(PagletError):
    """No paglet with this id lives on the host asked."""


class PagletInactiveError(PagletError):
    """The paglet is deactivated and the caller asked not to wait for its activation."""


class PagletCrashedError(PagletError):
    """The paglet's code crashed (or its child process died); it accepts no more work."""


class LifecycleError(PagletError):
    """A lifecycle operation (dispatch, clone, deactivate, dispose...) could not proceed."""


class ResourceCleanupError(LifecycleError):
    """A registered resource's cleanup callback failed, so the operation was cancelled."""


class ForbiddenError(PagletError):
    """The caller may not do this: a path outside the host's file roots, or a policy refusal."""


class TransferError(PagletError):
    """A dispatch, clone or retract did not commit; the paglet stayed where it was.

    ``stage`` says where it stopped, when the source host knows: ``"hook"`` (a
    departure hook raised), ``"snapshot"`` (the state or files could not be packed),
    ``"prepare"`` (the transfer record could not be written), ``"transfer"`` (the
    target refused it or did not answer) or ``"commit"`` (the commit could not be
    recorded here); "" otherwise.
    """

    def __init__(self, message: str = "", stage: str = "") -> None:
        super().__init__(message)
        self.stage = stage


class AgentMovedError(PagletError):
    """The paglet left the host asked; proxies follow ``address`` without the caller noticing.

    Callers only see it when a paglet keeps moving faster than a proxy can follow.
    """

    def __init__(self, message: str, address: str = "") -> None:
        super().__init__(message)
        self.address = address

    def wire_extras(self) -> dict[str, Any]:
        """The forwarding address travels as the reply's ``to`` field."""
        return {"to": self.address}

    @classmethod
    def from_wire(cls, text: str, extras: Mapping[str, Any]) -> PagletError:
        """Rebuild the error with the forwarding address from ``to`` ('' if absent)."""
        return cls(text, str(extras.get("to", "")))


class ArtifactError(PagletError):
    """An artifact (or a file a paglet carries) could not be stored, found or moved.

    Also raised for names that are not plain file names (``../x``, absolute paths).
    """


class ArtifactNotFoundError(ArtifactError):
    """No artifact with this id on the host asked, or a registered file is missing."""


class IntegrityError(ArtifactError):
    """The bytes received do not match the announced size or sha256; nothing was kept."""


class StorageQuotaError(ArtifactError):
    """No room: the artifact is over the size limit, the store over its quota, or the disk full."""


class DestinationExistsError(ArtifactError):
    """The destination file exists and overwriting it was not asked for."""


class RemoteHostError(PagletError):
    """Talking to another host failed."""


class PeerNotFoundError(RemoteHostError):
    """The host name is unknown to the mesh, or nobody answers at the address."""


class ReplyTimeoutError(RemoteHostError):
    """No reply arrived within the timeout."""


class ProtocolError(RemoteHostError):
    """A frame was malformed, or spoke another protocol or mesh version."""


class AuthenticationError(RemoteHostError):
    """The security handshake with a host failed: the mesh secrets differ or one is missing."""


class OverloadedError(RemoteHostError):
    """A host refused work: too many requests in flight from one peer, or a full mailbox."""


class LimitExceededError(OverloadedError):
    """A bounded resource of the host is used up; nothing was taken, the host serves on.

    Attributes:
        limit: the name of the ``HostConfig`` setting that was reached
            (e.g. ``max_paglets``); rebuilt from the text on the caller's side.
    """

    def __init__(self, message: str, limit: str | None = None) -> None:
        if limit is None:
            head = message.split(" ", 1)[0]
            limit = head if head.isidentifier() else ""
        else:
            message = f"{limit} reached: {message}"
        super().__init__(message)
        self.limit = limit


class PayloadTooLargeError(RemoteHostError):
    """A frame or encoded value is larger than the configured limit."""


class HostStoppedError(PagletError):
    """The host or client stopped; calls still pending were failed with this error."""


_BY_NAME: dict[str, type[PagletError]] = {
    cls.__name__: cls
    for cls in (
        PagletError,
        SerializationError,
        ClassResolutionError,
        ClassNotAllowedError,
        NotHandledError,
        HostError,
        ServiceContractError,
        ServiceNotFoundError,
        InvalidAgentError,
        PagletInactiveError,
        PagletCrashedError,
        LifecycleError,
        ResourceCleanupError,
        ForbiddenError,
        TransferError,
        AgentMovedError,
        ArtifactError,
        ArtifactNotFoundError,
        IntegrityError,
        StorageQuotaError,
        DestinationExistsError,
        RemoteHostError,
        PeerNotFoundError,
        ReplyTimeoutError,
        ProtocolError,
        AuthenticationError,
        OverloadedError,
        LimitExceededError,
        PayloadTooLargeError,
        HostStoppedError,
    )
}


def error_to_wire(exc: BaseException) -> tuple[str, str]:
    """Return the ``(type name, text)`` pair that describes ``exc`` on the wire."""
    if isinstance(exc, HostError):
        return exc.remote_type, exc.remote_message
    cls = type(exc)
    if cls.__name__ in _BY_NAME and _BY_NAME[cls.__name__] is cls:
        return cls.__name__, str(exc)
    module = cls.__module__
    name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    return name, str(exc)


def error_extras(exc: BaseException) -> dict[str, Any]:
    """Return the extra wire fields ``exc`` declares (see :meth:`PagletError.wire_extras`)."""
    return exc.wire_extras() if isinstance(exc, PagletError) else {}


def error_from_wire(
    type_name: str, text: str, extras: Mapping[str, Any] | None = None
) -> PagletError:
    """Rebuild the error a remote host reported.

    Args:
        type_name: the remote exception type name.
        text: the remote exception text.
        extras: the extra fields that came with it (ignored by classes that declare none).

    Returns:
        The same paglets error class when ``type_name`` names one, else a
        :class:`HostError` carrying both.
    """
    cls = _BY_NAME.get(type_name)
    if cls is None:
        return HostError(type_name, text)
    return cls.from_wire(text, extras if extras is not None else {})


class StoreError(PagletError):
    """The host store cannot be used: locked by another host, corrupt, or too new."""


_BY_NAME[StoreError.__name__] = StoreError
