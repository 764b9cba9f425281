"""PagletProxy: a handle to a paglet that may live on this host or another.

A proxy knows the paglet's id and the address where it was last seen. When the paglet
has moved on, the old host answers with the new address and the proxy follows it (up
to :data:`MAX_HOPS` times per call), so the caller does not notice.

A proxy reaches its paglet through a client: the one it was built with, else the host
running in this process, else a client made with the mesh secret
(:mod:`paglets.remote.default_backend`).
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
from paglets.core.messages import UNQUEUED_PRIORITY, FutureReply, Message
from paglets.core.refs import PagletProxyRef
from paglets.core.tickets import TransferTicket, ticket_options
from paglets.net.endpoint import normalize_address
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.remote.proxy_args import ClientLike, as_message, backend_of, check_flag
from paglets.remote.proxy_backend import ProxyBackend

MAX_HOPS = 16
DEFAULT_MOVE_TIMEOUT = 30.0
"""Seconds a dispatch, clone or retract may take when the caller gives no timeout.

The proxy always tells the paglet's host this bound and waits longer than it, so a
failed move reaches the caller as the host's ``TransferError``, never as a time-out.
"""


def _move_limit(options: dict[str, Any]) -> float:
    """Seconds a move may take: every attempt of its ticket and the pauses between."""
    retries = int(options.get("retries", 0))
    pauses = retries * float(options.get("retry_interval", 0.0))
    return float(options["timeout"]) * (1 + retries) + pauses


class PagletProxy:
    """A handle to one paglet. Cheap to create; safe to share between threads.

    Args:
        host_url: the address of the host where the paglet lives (any spelling).
        agent_id: the paglet's id.
        client: a ``HostClient`` (or a proxy backend) to reach it through; None finds
            one (see the module docstring).

    Raises:
        TypeError: ``host_url`` or ``agent_id`` is not a non-empty string.
        ValueError: ``host_url`` is not an address.
    """

    __slots__ = ("_agent_id", "_host_url", "_backend")

    def __init__(
        self, host_url: str, agent_id: str, client: ClientLike | ProxyBackend | None = None
    ) -> None:
        for name, value in (("host_url", host_url), ("agent_id", agent_id)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"PagletProxy {name} must be a non-empty str, not {value!r}")
        self._agent_id = agent_id
        self._host_url = normalize_address(host_url)
        self._backend = backend_of(client)

    @property
    def agent_id(self) -> str:
        """The paglet's id."""
        return self._agent_id

    @property
    def host_url(self) -> str:
        """The address of the host where the paglet was last seen, ``tcp://HOST:PORT``."""
        return self._host_url

    def get_address(self) -> str:
        """The address of the host where the paglet was last seen."""
        return self._host_url

    def get_agent_id(self) -> str:
        """The paglet's id."""
        return self._agent_id

    def get_agent_class_name(self, *, timeout: float | None = None) -> str:
        """The class path (``module:QualName``) of the paglet, asked of its host."""
        return str(self.info(timeout=timeout).get("class", ""))

    def is_remote(self, local_url: str) -> bool:
        """Whether the paglet was last seen on another host than ``local_url``."""
        return normalize_address(local_url) != self._host_url

    def _follow(self, call: Any) -> Any:
        for _ in range(MAX_HOPS):
            try:
                return call(self._host_url)
            except AgentMovedError as moved:
                if not moved.address:
                    raise
                self._host_url = normalize_address(moved.address)
        raise AgentMovedError(
            f"paglet {self._agent_id} moved more than {MAX_HOPS} times during one call",
            self._host_url,
        )

    # messages -------------------------------------------------------------------------

    def _prepare(
        self,
        message: Message | str,
        args: dict[str, Any] | None,
        activate_if_inactive: bool,
        no_delay: bool,
    ) -> tuple[Message, bool]:
        msg = as_message(message, args)
        if check_flag("no_delay", no_delay):
            msg.priority = UNQUEUED_PRIORITY
        return msg, not check_flag("activate_if_inactive", activate_if_inactive)

    def send(
        self,
        message: Message | str,
        activate_if_inactive: bool = True,
        no_delay: bool = False,
        timeout: float | None = None,
        *,
        args: dict[str, Any] | None = None,
    ) -> Any:
        """Send a message and wait for the reply.

        Args:
            message: a Message, or a message kind.
            activate_if_inactive: activate a deactivated paglet to handle it; False
                fails with PagletInactiveError instead.
            no_delay: skip the mailbox: the message is handled at once, beside what
                the paglet is doing (priority ``UNQUEUED_PRIORITY``).
            timeout: seconds to wait (default: the transport's request timeout).
            args: named arguments merged into the message's.

        Raises:
            NotHandledError: the paglet does not handle this kind.
            HostError: the handler raised.
            ReplyTimeoutError, PeerNotFoundError, InvalidAgentError,
            PagletInactiveError: as named.
            TypeError: a flag is not a bool, or the message is not a Message or str.
        """
        msg, stay_inactive = self._prepare(message, args, activate_if_inactive, no_delay)
        return self._follow(
            lambda address: self._backend.send(address, self._agent_id, msg, timeout, stay_inactive)
        )

    def send_future(
        self,
        message: Message | str,
        activate_if_inactive: bool = True,
        no_delay: bool = False,
        timeout: float | None = None,
        *,
        args: dict[str, Any] | None = None,
    ) -> FutureReply:
        """Send a message; return at once with a :class:`FutureReply` (see :meth:`send`)."""
        msg, stay_inactive = self._prepare(message, args, activate_if_inactive, no_delay)
        result = FutureReply()

        def attempt(address: str, hops: int) -> None:
            inner = self._backend.send_future(address, self._agent_id, msg, timeout, stay_inactive)

            def done(future: FutureReply) -> None:
                error = future.error()
                if isinstance(error, AgentMovedError) and error.address and hops < MAX_HOPS:
                    self._host_url = normalize_address(error.address)
                    attempt(self._host_url, hops + 1)
                elif error is not None:
                    result.set_error(error)
                else:
                    result.set_result(future.get_reply(0))

            inner.add_done_callback(done)

        attempt(self._host_url, 0)
        return result

    def send_oneway(
        self,
        message: Message | str,
        activate_if_inactive: bool = True,
        no_delay: bool = False,
        *,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Send a message and do not wait; no reply, errors are only logged by the host."""
        msg, _stay_inactive = self._prepare(message, args, activate_if_inactive, no_delay)
        self._backend.send_oneway(self._host_url, self._agent_id, msg)

    def send_artifact(
        self,
        message: Message | str,
        path: str | PathLike[str],
        arg_name: str = "artifact",
        move: bool = False,
        name: str | None = None,
        timeout: float | None = None,
        *,
        args: dict[str, Any] | None = None,
    ) -> Any:
        """Upload a file to the paglet's host and send a message carrying its ref.

        The file becomes an artifact owned by the paglet on the host where it was last
        seen; its :class:`~paglets.artifacts.ArtifactRef` is put in the message args
        under ``arg_name``. If the message is not delivered (the paglet is gone, does
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
        if not isinstance(arg_name, str) or not arg_name:
            raise TypeError(f"arg_name must be a non-empty str, not {arg_name!r}")
        msg = as_message(message, args)
        address = self._host_url
        ref: ArtifactRef = self._backend.upload_artifact(address, path, name, self._agent_id)
        msg.args[arg_name] = ref
        try:
            reply = self.send(msg, timeout=timeout)
        except (HostError, ReplyTimeoutError):
            raise
        except PagletError:
            try:
                self._backend.delete_artifact(ref.host_url or address, ref.artifact_id)
            except PagletError:
                pass  # the delivery error is the one worth reporting
            raise
        if check_flag("move", move):
            Path(path).unlink(missing_ok=True)
        return reply

    # mobility and lifecycle -----------------------------------------------------------

    def _control(self, op: str, args: dict[str, Any], timeout: float | None = None) -> Any:
        return self._follow(
            lambda address: self._backend.control(address, self._agent_id, op, args, timeout)
        )

    def dispatch(
        self, target: str | TransferTicket, *, timeout: float | None = None
    ) -> PagletProxy:
        """Move the paglet to ``target`` (host name, address or ticket); this proxy follows.

        Raises:
            TransferError: the move failed (or a ticket precondition did not hold);
                the paglet stayed where it was.
        """
        options = ticket_options(target, timeout, DEFAULT_MOVE_TIMEOUT)
        address = self._control("dispatch", options, _move_limit(options))
        self._host_url = normalize_address(str(address))
        return self

    def clone(
        self, target: str | TransferTicket | None = None, *, timeout: float | None = None
    ) -> PagletProxy:
        """Copy the paglet (on its host, or on ``target``); return the copy's proxy."""
        if target is None:
            options: dict[str, Any] = {"target": None, "timeout": timeout or DEFAULT_MOVE_TIMEOUT}
        else:
            options = ticket_options(target, timeout, DEFAULT_MOVE_TIMEOUT)
        reply = self._control("clone", options, _move_limit(options))
        return PagletProxy(str(reply["host_url"]), str(reply["agent_id"]), self._backend)

    def retract(self, *, timeout: float | None = None) -> PagletProxy:
        """Pull the paglet back to the host this proxy belongs to."""
        self._host_url = normalize_address(
            self._follow(
                lambda address: self._backend.retract(
                    address,
                    self._agent_id,
                    DEFAULT_MOVE_TIMEOUT if timeout is None else timeout,
                )
            )
        )
        return self

    def deactivate(
        self,
        reason: str = "",
        policy: DeactivationPolicy | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Persist and unload the paglet; return this proxy (it stays valid).

        Args:
            reason: why, recorded with the request.
            policy: a ``DeactivationPolicy`` overriding the paglet's own choice.
            metadata: free-form facts kept with the request.
        """
        request = DeactivationRequest(reason=reason, policy=policy, metadata=dict(metadata or {}))
        self._control("deactivate", {"request": request.to_wire()}, timeout)
        return self

    def activate(self, *, timeout: float | None = None) -> PagletProxy:
        """Load a deactivated paglet again; return this proxy."""
        self._control("activate", {}, timeout)
        return self

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
        if not isinstance(flags, int) or isinstance(flags, bool) or not flags & (ACTIVE | INACTIVE):
            raise ValueError(f"flags must be ACTIVE, INACTIVE or ACTIVE | INACTIVE, not {flags!r}")
        try:
            info = self.info(timeout=timeout)
        except InvalidAgentError:
            return False
        state = ACTIVE if info.get("active") else INACTIVE
        return bool(state & flags)

    # references -----------------------------------------------------------------------

    def ref(self) -> PagletProxyRef:
        """An encodable reference to the paglet (for state or messages)."""
        return PagletProxyRef(self._host_url, self._agent_id)

    def to_wire(self) -> dict[str, str]:
        """The proxy as ``{"host_url": ..., "agent_id": ...}``."""
        return {"host_url": self._host_url, "agent_id": self._agent_id}

    @classmethod
    def from_wire(
        cls, data: dict[str, Any], client: ClientLike | ProxyBackend | None = None
    ) -> PagletProxy:
        """Rebuild a proxy from :meth:`to_wire` output, reaching it through ``client``.

        Raises:
            ValueError: ``data`` lacks ``host_url`` or ``agent_id``.
        """
        if not isinstance(data, dict):
            raise TypeError(f"proxy data must be a dict, not {type(data).__name__}")
        try:
            return cls(str(data["host_url"]), str(data["agent_id"]), client)
        except KeyError as exc:
            raise ValueError(f"proxy data lacks {exc.args[0]!r}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PagletProxy) and other._agent_id == self._agent_id

    def __hash__(self) -> int:
        return hash(self._agent_id)

    def __repr__(self) -> str:
        return f"<PagletProxy {self._agent_id} at {self._host_url}>"
