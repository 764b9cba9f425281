"""The proxy backend of a host: paglets on this host are reached without the network."""

from __future__ import annotations

from typing import Any, Protocol

from paglets.core.messages import FUTURE, ONEWAY, SYNCHRONOUS, FutureReply, Message
from paglets.net.transport import Transport
from paglets.remote.proxy_backend import RemoteProxyBackend
from paglets.runtime.execution.sender import current_sender
from paglets.runtime.host_identity import HostIdentity
from paglets.wire.classpath import ClassPolicy


class LocalPaglets(Protocol):
    """The host operations a proxy to a paglet of this host reaches directly."""

    def send_local(
        self, agent_id: str, message: Message, no_delay: bool = False, oneway: bool = False
    ) -> FutureReply | None: ...

    def control(
        self, agent_id: str, op: str, args: dict[str, Any], timeout: float | None
    ) -> Any: ...

    def info(self, agent_id: str) -> dict[str, Any]: ...


class LocalProxyBackend(RemoteProxyBackend):
    """Local addresses go straight to the host's operations; others over the wire.

    Args:
        operations: the host operations local addresses reach.
        transport: the host's transport (other addresses).
        policy: the class policy replies decode under.
        identity: the host's name and addresses.
        request_timeout: the wait for a reply when a call gives none.
    """

    def __init__(
        self,
        operations: LocalPaglets,
        transport: Transport,
        policy: ClassPolicy,
        identity: HostIdentity,
        request_timeout: float,
    ) -> None:
        super().__init__(transport, policy)
        self._identity = identity
        self._request_timeout = request_timeout
        self._operations = operations

    def _timeout(self, timeout: float | None) -> float:
        return self._request_timeout if timeout is None else timeout

    def _stamp(self, message: Message, message_type: str) -> None:
        """Fill who sends and how: the paglet running on this thread, from this host."""
        message.message_type = message_type
        sender = current_sender()
        if sender is not None:
            message.sender = sender
            message.reply_to = self._identity.address
        elif message.reply_to is None:
            message.reply_to = self._identity.address

    def send(
        self, address: str, agent_id: str, message: Message, timeout: float | None, no_delay: bool
    ) -> Any:
        self._stamp(message, SYNCHRONOUS)
        if self._identity.is_local(address):
            future = self._operations.send_local(agent_id, message, no_delay)
            assert future is not None
            return future.get_reply(self._timeout(timeout))
        return super().send(address, agent_id, message, timeout, no_delay)

    def send_future(
        self, address: str, agent_id: str, message: Message, timeout: float | None, no_delay: bool
    ) -> FutureReply:
        self._stamp(message, FUTURE)
        if self._identity.is_local(address):
            future = self._operations.send_local(agent_id, message, no_delay)
            assert future is not None
            return future
        return super().send_future(address, agent_id, message, timeout, no_delay)

    def send_oneway(self, address: str, agent_id: str, message: Message) -> None:
        self._stamp(message, ONEWAY)
        if self._identity.is_local(address):
            self._operations.send_local(agent_id, message, oneway=True)
        else:
            super().send_oneway(address, agent_id, message)

    def control(
        self, address: str, agent_id: str, op: str, args: dict[str, Any], timeout: float | None
    ) -> Any:
        if self._identity.is_local(address):
            return self._operations.control(agent_id, op, args, timeout)
        return super().control(address, agent_id, op, args, timeout)

    def info(self, address: str, agent_id: str, timeout: float | None) -> dict[str, Any]:
        if self._identity.is_local(address):
            return self._operations.info(agent_id)
        return super().info(address, agent_id, timeout)

    def retract(self, address: str, agent_id: str, timeout: float | None) -> str:
        """Pull the paglet at ``address`` to this host; return this host's address."""
        if self._identity.is_local(address):
            self._operations.info(agent_id)  # raises moved / not found
            return self._identity.address
        args = {"to": self._identity.address, "timeout": timeout}
        return str(self.control(address, agent_id, "retract", args, timeout))
