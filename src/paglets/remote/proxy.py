"""PagletProxy: a handle to a paglet that may live on this host or another.

A proxy knows the paglet's id and the address where it was last seen. When the paglet
has moved on, the old host answers with the new address and the proxy follows it (up
to :data:`MAX_HOPS` times per call), so the caller does not notice.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from paglets.artifacts import ArtifactRef
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.core.errors import (
    AgentMovedError,
    HostError,
    InvalidAgentError,
    PagletError,
    ReplyTimeoutError,
)
from paglets.core.messages import FutureReply, Message
from paglets.core.refs import PagletProxyRef
from paglets.net.endpoint import normalize_address
from paglets.remote.proxy_backend import ProxyBackend

MAX_HOPS = 16
DEFAULT_MOVE_TIMEOUT = 30.0
"""Seconds a dispatch, clone or retract may take when the caller gives no timeout.

The proxy always tells the paglet's host this bound and waits longer than it, so a
failed move reaches the caller as the host's ``TransferError``, never as a time-out.
"""


def as_message(message: Message | str, args: dict[str, Any] | None = None) -> Message:
    """Accept a :class:`Message`, or a kind plus optional args."""
    if isinstance(message, Message):
        if args:
            message.args.update(args)
        return message
    return Message(message, dict(args or {}))


class PagletProxy:
    """A handle to one paglet. Cheap to create; safe to share between threads."""

    __slots__ = ("_agent_id", "_address", "_backend")

    def __init__(self, agent_id: str, address: str, backend: ProxyBackend) -> None:
        self._agent_id = agent_id
        self._address = normalize_address(address)
        self._backend = backend

    @property
    def agent_id(self) -> str:
        """The paglet's id."""
        return self._agent_id

    @property
    def address(self) -> str:
        """The address of the host where the paglet was last seen."""
        return self._address

    @property
    def host_url(self) -> str:
        """Same as :attr:`address` (the name the original package used)."""
        return self._address

    def _follow(self, call: Any) -> Any:
        for _ in range(MAX_HOPS):
            try:
                return call(self._address)
            except AgentMovedError as moved:
                if not moved.address:
                    raise
                self._address = normalize_address(moved.address)
        raise AgentMovedError(
            f"paglet {self._agent_id} moved more than {MAX_HOPS} times during one call",
            self._address,
        )

    # messages -------------------------------------------------------------------------

    def send(
        self,
        message: Message | str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        no_delay: bool = False,
    ) -> Any:
        """Send a message and wait for the reply.

        Args:
            message: a Message, or a message kind.
            args: named arguments (merged into the message's).
            timeout: seconds to wait (default: the transport's request timeout).
            no_delay: fail with PagletInactiveError instead of activating the paglet.

        Raises:
            NotHandledError: the paglet does not handle this kind.
            HostError: the handler raised.
            ReplyTimeoutError, PeerNotFoundError, InvalidAgentError: as named.
        """
        msg = as_message(message, args)
        return self._follow(
            lambda address: self._backend.send(address, self._agent_id, msg, timeout, no_delay)
        )

    def send_future(
        self,
        message: Message | str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        no_delay: bool = False,
    ) -> FutureReply:
        """Send a message; return at once with a :class:`FutureReply`."""
        msg = as_message(message, args)
        result = FutureReply()

        def attempt(address: str, hops: int) -> None:
            inner = self._backend.send_future(address, self._agent_id, msg, timeout, no_delay)

            def done(future: FutureReply) -> None:
                error = future.error()
                if isinstance(error, AgentMovedError) and error.address and hops < MAX_HOPS:
                    self._address = normalize_address(error.address)
                    attempt(self._address, hops + 1)
                elif error is not None:
                    result.set_error(error)
                else:
                    result.set_result(future.get_reply(0))

            inner.add_done_callback(done)

        attempt(self._address, 0)
        return result

    def send_oneway(self, message: Message | str, args: dict[str, Any] | None = None) -> None:
        """Send a message and do not wait; no reply, errors are only logged by the host."""
        self._backend.send_oneway(self._address, self._agent_id, as_message(message, args))

    def send_artifact(
        self,
        message: Message | str,
        path: str | PathLike[str],
        *,
        move: bool = False,
        name: str | None = None,
        args: dict[str, Any] | None = None,
        timeout: float | None = None,
        no_delay: bool = False,
    ) -> Any:
        """Upload a file to the paglet's host and send a message carrying its ref.

        The file becomes an artifact owned by the paglet on the host where it was last
        seen; its :class:`~paglets.artifacts.ArtifactRef` is put in the message args
        under ``"artifact"``. If the message is not delivered (the paglet is gone, does
        not handle the kind, the host is unreachable), the uploaded artifact is deleted
        again; it is kept when the handler ran and raised (``HostError``) or may
        still run (``ReplyTimeoutError``), since the handler may hold the ref. With
        ``move=True`` the local file is deleted, but only after the paglet answered.

        Returns:
            The paglet's reply.

        Raises:
            ArtifactNotFoundError: ``path`` is not a regular file.
            StorageQuotaError, IntegrityError: the upload failed; nothing was sent.
            PagletError: the delivery failed (the artifact was deleted again).
        """
        msg = as_message(message, args)
        address = self._address
        ref: ArtifactRef = self._backend.upload_artifact(address, path, name, self._agent_id)
        msg.args["artifact"] = ref
        try:
            reply = self.send(msg, timeout=timeout, no_delay=no_delay)
        except (HostError, ReplyTimeoutError):
            raise
        except PagletError:
            try:
                self._backend.delete_artifact(ref.host or address, ref.artifact_id)
            except PagletError:
                pass  # the delivery error is the one worth reporting
            raise
        if move:
            Path(path).unlink(missing_ok=True)
        return reply

    # mobility and lifecycle -----------------------------------------------------------

    def _control(self, op: str, args: dict[str, Any], timeout: float | None = None) -> Any:
        return self._follow(
            lambda address: self._backend.control(address, self._agent_id, op, args, timeout)
        )

    def dispatch(self, target: str, *, timeout: float | None = None) -> PagletProxy:
        """Move the paglet to ``target`` (host name or address); this proxy follows.

        Raises:
            TransferError: the move failed; the paglet stayed where it was.
        """
        limit = DEFAULT_MOVE_TIMEOUT if timeout is None else timeout
        address = self._control("dispatch", {"target": target, "timeout": limit}, limit)
        self._address = normalize_address(str(address))
        return self

    def clone(self, target: str | None = None, *, timeout: float | None = None) -> PagletProxy:
        """Copy the paglet (on its host, or on ``target``); return the copy's proxy."""
        limit = DEFAULT_MOVE_TIMEOUT if timeout is None else timeout
        reply = self._control("clone", {"target": target, "timeout": limit}, limit)
        return PagletProxy(str(reply["agent_id"]), str(reply["address"]), self._backend)

    def retract(self, *, timeout: float | None = None) -> PagletProxy:
        """Pull the paglet back to the host this proxy belongs to."""
        self._address = normalize_address(
            self._follow(
                lambda address: self._backend.retract(
                    address,
                    self._agent_id,
                    DEFAULT_MOVE_TIMEOUT if timeout is None else timeout,
                )
            )
        )
        return self

    def deactivate(self, duration: float | None = None, *, timeout: float | None = None) -> None:
        """Persist and unload the paglet (activated again after ``duration`` if given)."""
        self._control("deactivate", {"duration": duration}, timeout)

    def activate(self, *, timeout: float | None = None) -> None:
        """Load a deactivated paglet again."""
        self._control("activate", {}, timeout)

    def dispose(self, *, timeout: float | None = None) -> None:
        """Destroy the paglet."""
        self._control("dispose", {}, timeout)

    # inspection -----------------------------------------------------------------------

    def info(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Facts about the paglet: class, state flags, host, counters, failures."""
        result: dict[str, Any] = self._follow(
            lambda address: self._backend.info(address, self._agent_id, timeout)
        )
        return result

    def is_valid(self, *, timeout: float | None = None) -> bool:
        """Whether the paglet still exists (active or inactive)."""
        try:
            self.info(timeout=timeout)
        except InvalidAgentError:
            return False
        return True

    def is_active(self, *, timeout: float | None = None) -> bool:
        """Whether the paglet exists and is active."""
        return self.is_state(ACTIVE, timeout=timeout)

    def is_state(self, flags: int, *, timeout: float | None = None) -> bool:
        """Whether the paglet's state is one of ``flags`` (ACTIVE, INACTIVE or both)."""
        try:
            info = self.info(timeout=timeout)
        except InvalidAgentError:
            return False
        state = ACTIVE if info.get("active") else INACTIVE
        return bool(state & flags)

    # references -----------------------------------------------------------------------

    def ref(self) -> PagletProxyRef:
        """An encodable reference to the paglet (for state or messages)."""
        return PagletProxyRef(self._agent_id, self._address)

    def to_wire(self) -> dict[str, str]:
        """The proxy as a plain dict with ``agent_id`` and ``address``."""
        return {"agent_id": self._agent_id, "address": self._address}

    @classmethod
    def from_wire(cls, data: dict[str, str], backend: ProxyBackend) -> PagletProxy:
        """Rebuild a proxy from :meth:`to_wire` output, reaching it through ``backend``.

        Raises:
            PagletError: ``data`` lacks ``agent_id`` or ``address``.
        """
        try:
            return cls(str(data["agent_id"]), str(data.get("address") or data["host_url"]), backend)
        except KeyError as exc:
            raise PagletError(f"proxy data lacks {exc.args[0]!r}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PagletProxy) and other._agent_id == self._agent_id

    def __hash__(self) -> int:
        return hash(self._agent_id)

    def __repr__(self) -> str:
        return f"<PagletProxy {self._agent_id} at {self._address}>"
