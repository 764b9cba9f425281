"""The transport of one host (or client): its sockets, its I/O thread, requests both ways.

A :class:`Transport` owns one :class:`~paglets.net.iothread.IOThread` and every socket
on it: an optional ROUTER bound for incoming requests (hosts have one, clients do not)
and one DEALER per address it sends to, created on first use. Any thread may call
:meth:`Transport.request` or :meth:`Transport.send_oneway`; the frames are handed to the
I/O thread, and the reply completes a :class:`~paglets.core.messages.FutureReply`.
Stopping fails everything pending with ``HostStoppedError``.

The work is split by direction, each part with a module of its own:

- :mod:`paglets.net.transport_config` and :mod:`paglets.net.socket_factory`: the
  settings, the context, the CURVE setup and the ROUTER bind (with port tries);
- :mod:`paglets.net.outgoing_requests` (and :mod:`paglets.net.dealer_links`): the
  pending-request table, deadlines, unreachable peers, the DEALERs;
- :mod:`paglets.net.incoming_requests`: requests off the ROUTER to the handler, and
  the replies.

``Transport`` wires them together and keeps the one public surface; the names other
modules use (``Reply``, ``IncomingRequest``, ``TransportConfig``...) are importable
from here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import zmq

from paglets.core.errors import HostStoppedError, PagletError
from paglets.core.messages import FutureReply
from paglets.net.frames import Frame
from paglets.net.incoming_requests import IncomingRequest, IncomingRequests, RequestHandler
from paglets.net.iothread import IOThread
from paglets.net.log_limit import RateLimitedLog
from paglets.net.outgoing_requests import OutgoingRequests, Reply
from paglets.net.socket_factory import SocketFactory
from paglets.net.transport_config import TransportConfig

__all__ = [
    "Frame",
    "IncomingRequest",
    "Reply",
    "RequestHandler",
    "Transport",
    "TransportConfig",
]

log = logging.getLogger(__name__)


class Transport:
    """The sockets of one host (or client) and the thread that owns them."""

    def __init__(
        self, name: str, config: TransportConfig, handler: RequestHandler | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._io = IOThread(name)
        self._sockets = SocketFactory(config)
        self._drops = RateLimitedLog(log, 10.0)
        self.dropped_frames = 0
        self._incoming = IncomingRequests(
            name, self._io, config.max_inflight_per_peer, self._drop, handler
        )
        self._outgoing = OutgoingRequests(name, self._io, self._sockets, self._drop)
        self._address = ""
        self._stopped = False

    # lifecycle ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The bound ROUTER endpoint, ``tcp://HOST:PORT`` ('' for a client)."""
        return self._address

    @property
    def identity_key(self) -> str:
        """The public key this transport's connecting sockets present ('' if plain)."""
        return self._sockets.identity_key

    def forget_link(self, address: str, error: PagletError) -> None:
        """Close the link to ``address`` and fail its unanswered requests with ``error``.

        For a peer known to be gone for good (an isolated paglet's ended child), so
        nothing waits for its deadline and no socket keeps reconnecting. Thread-safe.
        """
        try:
            self._io.call_soon(self._outgoing.forget_on_loop, address, error)
        except HostStoppedError:
            pass

    @property
    def links(self) -> int:
        """How many DEALERs to other hosts are open."""
        return self._outgoing.links

    @property
    def io(self) -> IOThread:
        """The I/O thread, for modules that add sockets of their own to it."""
        return self._io

    @property
    def context(self) -> zmq.Context[Any]:
        """The ZeroMQ context every socket of this transport belongs to.

        Raises:
            HostStoppedError: the transport is not started.
        """
        return self._sockets.context

    @property
    def secured(self) -> bool:
        """Whether this transport's sockets use CURVE."""
        return self._sockets.secured

    @property
    def refused_handshakes(self) -> int:
        """How many security handshakes of connecting peers failed on the ROUTER."""
        return self._incoming.refused_handshakes

    def start(self, timeout: float = 5.0) -> None:
        """Bind the ROUTER (if any) and start the I/O thread.

        Raises:
            zmq.ZMQError: the address could not be bound (e.g. the port is taken).
        """
        self._sockets.open()
        if self.config.bind_host is not None:
            try:
                router, self._address = self._sockets.bind_router(self.config.bind_host)
            except zmq.ZMQError:
                self._sockets.terminate()
                raise
            self._incoming.attach(router)
        self._io.add_stop_callback(self._close_on_loop)
        self._io.start(timeout)
        self._io.call_soon(self._outgoing.start)
        zap = self._sockets.zap
        if zap is not None:
            self._io.call_soon(self._io.add_reader, zap.socket, zap.on_readable)
        self._io.call_soon(self._incoming.start)

    def stop(self, timeout: float = 5.0) -> None:
        """Fail pending requests with ``HostStoppedError``, close sockets, end the thread."""
        if self._stopped:
            return
        self._stopped = True
        self._outgoing.close_channels()
        self._io.stop(timeout)
        self._sockets.terminate()

    def new_socket(self, socket_type: int, *, server: bool) -> zmq.Socket[Any]:
        """A socket of this transport's context with its limits (and security) applied.

        Args:
            socket_type: e.g. ``zmq.PUB``.
            server: True for sockets that bind (they authenticate others), False for
                sockets that connect.

        The socket belongs to the I/O thread unless the caller owns it exclusively.
        """
        return self._sockets.new_socket(socket_type, server=server)

    def _close_on_loop(self) -> None:
        self._outgoing.close_on_loop()
        self._incoming.close_on_loop(self.config.linger_ms)
        self._sockets.close_zap()

    def _drop(self, source: str, why: str) -> None:
        self.dropped_frames += 1
        self._drops.warning(source, "dropped a malformed frame from %s: %s", why)

    # requests out ---------------------------------------------------------------------

    def request(
        self,
        address: str,
        verb: str,
        body: bytes = b"",
        *,
        fields: dict[str, Any] | None = None,
        blobs: Sequence[Frame] = (),
        timeout: float | None = None,
        ordered: bool = True,
    ) -> FutureReply:
        """Send a request; return the future of its :class:`Reply`. Thread-safe.

        Args:
            address: the canonical address of the host asked.
            verb: the protocol verb.
            body: the encoded body.
            fields: extra header fields.
            blobs: raw frames sent after the body.
            timeout: seconds before the future fails (default: the config's).
            ordered: keep this thread's later blocking calls to ``address`` behind this
                request (see :meth:`call`); internal traffic passes False.

        Raises:
            PayloadTooLargeError: the frames are over ``max_message_size``.
            HostStoppedError: the transport has stopped.
        """
        return self._outgoing.request(
            address, verb, body, fields=fields, blobs=blobs, timeout=timeout, ordered=ordered
        )

    def call(
        self,
        address: str,
        verb: str,
        body: bytes = b"",
        *,
        fields: dict[str, Any] | None = None,
        blobs: Sequence[Frame] = (),
        timeout: float | None = None,
    ) -> Reply:
        """Send a request and block for its reply on this thread's own channel.

        Same arguments as :meth:`request`; raises the reply's error instead of
        returning it. Falls back to the I/O thread when called on it.

        Raises:
            PeerNotFoundError, ReplyTimeoutError, HostStoppedError, PayloadTooLargeError,
            or the error the remote host replied with.
        """
        return self._outgoing.call(address, verb, body, fields=fields, blobs=blobs, timeout=timeout)

    def send_oneway(
        self,
        address: str,
        verb: str,
        body: bytes = b"",
        *,
        fields: dict[str, Any] | None = None,
        blobs: Sequence[Frame] = (),
        ordered: bool = True,
    ) -> None:
        """Send a request that asks for no reply. Thread-safe."""
        self._outgoing.send_oneway(address, verb, body, fields=fields, blobs=blobs, ordered=ordered)

    # requests in ----------------------------------------------------------------------

    def serve(
        self,
        handler: RequestHandler,
        batch_scope: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        """Hand incoming requests to ``handler`` (on the I/O thread), from now on.

        Args:
            handler: called with each request; it must not block.
            batch_scope: entered around each read of up to a batch of requests, so the
                handler can gather the work they cause and start it once per batch.
        """
        self._incoming.serve(handler, batch_scope)
