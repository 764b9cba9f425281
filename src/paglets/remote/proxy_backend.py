"""How a proxy reaches a paglet: the :class:`ProxyBackend` interface and its remote form.

:class:`RemoteProxyBackend` speaks the wire protocol through a
:class:`~paglets.net.transport.Transport`. A host uses a subclass that short-cuts
paglets living on itself; a :class:`~paglets.remote.client.HostClient` uses this one.
"""

from __future__ import annotations

from os import PathLike
from typing import Any, Protocol

from paglets.artifacts import ArtifactRef
from paglets.core.errors import PagletError
from paglets.core.messages import FUTURE, ONEWAY, SYNCHRONOUS, FutureReply, Message
from paglets.net.transport import Reply, Transport
from paglets.remote.artifacts import ArtifactClient
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.control_bodies import ControlBody
from paglets.wire.message_body import encode_message_body
from paglets.wire.protocol import VERB_CONTROL, VERB_INFO, VERB_MESSAGE


def message_fields(agent_id: str, message: Message, no_delay: bool) -> dict[str, Any]:
    """The header fields of a ``msg`` request."""
    fields: dict[str, Any] = {"to": agent_id, "p": message.priority}
    if no_delay:
        fields["nd"] = True
    return fields


def message_body(message: Message) -> bytes:
    """The body of a ``msg`` request (see :mod:`paglets.wire.message_body`)."""
    return encode_message_body(message)


_ABORT_GRACE = 6.0
"""Seconds beyond a transfer's own timeout its outcome may take to reach the caller."""


class ProxyBackend(Protocol):
    """What a :class:`~paglets.remote.proxy.PagletProxy` needs to reach its paglet."""

    def send(
        self, address: str, agent_id: str, message: Message, timeout: float | None, no_delay: bool
    ) -> Any: ...

    def send_future(
        self, address: str, agent_id: str, message: Message, timeout: float | None, no_delay: bool
    ) -> FutureReply: ...

    def send_oneway(self, address: str, agent_id: str, message: Message) -> None: ...

    def control(
        self, address: str, agent_id: str, op: str, args: dict[str, Any], timeout: float | None
    ) -> Any: ...

    def info(self, address: str, agent_id: str, timeout: float | None) -> dict[str, Any]: ...

    def retract(self, address: str, agent_id: str, timeout: float | None) -> str: ...

    def upload_artifact(
        self, address: str, path: str | PathLike[str], name: str | None, owner: str
    ) -> ArtifactRef: ...

    def delete_artifact(self, address: str, artifact_id: str) -> bool: ...


class RemoteProxyBackend:
    """A :class:`ProxyBackend` that always goes over the wire."""

    def __init__(self, transport: Transport, policy: ClassPolicy) -> None:
        self.transport = transport
        self.policy = policy
        self.artifacts = ArtifactClient(transport, policy, timeout=transport.config.default_timeout)

    def decode(self, reply: Reply) -> Any:
        """Decode a reply body with this backend's class policy."""
        return decode_value(reply.body, self.policy) if len(reply.body) else None

    def call(
        self,
        address: str,
        verb: str,
        value: Any = None,
        *,
        fields: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request with an encoded ``value`` and return the decoded reply."""
        body = b"" if value is None else encode_value(value)
        return self.decode(self.transport.call(address, verb, body, fields=fields, timeout=timeout))

    def send(
        self, address: str, agent_id: str, message: Message, timeout: float | None, no_delay: bool
    ) -> Any:
        message.message_type = SYNCHRONOUS
        reply = self.transport.call(
            address,
            VERB_MESSAGE,
            message_body(message),
            fields=message_fields(agent_id, message, no_delay),
            timeout=timeout,
        )
        return self.decode(reply)

    def send_future(
        self, address: str, agent_id: str, message: Message, timeout: float | None, no_delay: bool
    ) -> FutureReply:
        message.message_type = FUTURE
        raw = self.transport.request(
            address,
            VERB_MESSAGE,
            message_body(message),
            fields=message_fields(agent_id, message, no_delay),
            timeout=timeout,
        )
        result = FutureReply()

        def decode(done: FutureReply) -> None:
            error = done.error()
            if error is not None:
                result.set_error(error)
                return
            try:
                result.set_result(self.decode(done.get_reply(0)))
            except PagletError as exc:
                result.set_error(exc)

        raw.add_done_callback(decode)
        return result

    def send_oneway(self, address: str, agent_id: str, message: Message) -> None:
        message.message_type = ONEWAY
        self.transport.send_oneway(
            address,
            VERB_MESSAGE,
            message_body(message),
            fields=message_fields(agent_id, message, False),
        )

    def control(
        self, address: str, agent_id: str, op: str, args: dict[str, Any], timeout: float | None
    ) -> Any:
        if timeout is not None and args.get("timeout") is not None:
            # The remote host bounds the transfer by args["timeout"] (stage, then commit,
            # then maybe an abort): wait long enough to hear how it ended.
            timeout = 2 * timeout + _ABORT_GRACE
        fields = {"to": agent_id}
        body = ControlBody(op, args).to_wire()
        return self.call(address, VERB_CONTROL, body, fields=fields, timeout=timeout)

    def info(self, address: str, agent_id: str, timeout: float | None) -> dict[str, Any]:
        info = self.call(address, VERB_INFO, None, fields={"to": agent_id}, timeout=timeout)
        if not isinstance(info, dict):
            raise PagletError(f"malformed info reply from {address}")
        return info

    def retract(self, address: str, agent_id: str, timeout: float | None) -> str:
        raise PagletError(
            "retract pulls a paglet to a host: call it through a Host, not a HostClient"
        )

    def upload_artifact(
        self, address: str, path: str | PathLike[str], name: str | None, owner: str
    ) -> ArtifactRef:
        """Store a local file on the host at ``address`` (see ArtifactClient.upload)."""
        return self.artifacts.upload(address, path, name, owner=owner)

    def delete_artifact(self, address: str, artifact_id: str) -> bool:
        """Delete an artifact of the host at ``address``; return whether it was there."""
        return self.artifacts.delete(address, artifact_id)
