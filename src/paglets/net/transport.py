"""Requests out and requests in: the ROUTER, the DEALERs and the replies still owed.

A :class:`Transport` owns one :class:`~paglets.net.iothread.IOThread` and every socket
on it: an optional ROUTER bound for incoming requests (hosts have one, clients do not)
and one DEALER per address it sends to, created on first use. Any thread may call
:meth:`Transport.request` or :meth:`Transport.send_oneway`; the frames are handed to the
I/O thread, and the reply completes a :class:`~paglets.core.messages.FutureReply`.

Every request has a deadline. A request that never left because no connection to the
address was ever made fails with ``PeerNotFoundError``; one that left and got no answer
fails with ``ReplyTimeoutError``. Stopping fails everything pending with
``HostStoppedError``.

A DEALER whose requests expire unsent while it holds no connection is replaced by a
fresh one (libzmq's reconnect backoff would otherwise leave a restarted peer unheard
for up to ``reconnect_max_ms``), and one idle for ``link_idle_ttl`` seconds without a
connection is closed: addresses that never answer (a spoofed announcement) cost
nothing for long.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import zmq

from paglets.core.errors import (
    AgentMovedError,
    AuthenticationError,
    HostStoppedError,
    OverloadedError,
    PagletError,
    PayloadTooLargeError,
    PeerNotFoundError,
    ProtocolError,
    ReplyTimeoutError,
    error_from_wire,
    error_to_wire,
)
from paglets.core.messages import FutureReply
from paglets.net.endpoint import normalize_address
from paglets.net.frames import recv_frames
from paglets.net.iothread import IOThread
from paglets.net.log_limit import RateLimitedLog
from paglets.net.security import (
    HandshakeWatch,
    Identity,
    MeshKeys,
    ZapHandler,
    authentication_hint,
    configure_socket,
    peer_key,
)
from paglets.net.sync_channel import SyncChannels
from paglets.wire.protocol import (
    check_request_header,
    pack_error_header,
    pack_ok_header,
    pack_request_header,
    unpack_header,
)

log = logging.getLogger(__name__)

Frame = bytes | memoryview | zmq.Frame
_SWEEP_INTERVAL = 0.05


@dataclass(frozen=True)
class TransportConfig:
    """Socket settings of one transport.

    Attributes:
        bind_host: interface to bind the ROUTER on; None for a client-only transport.
        port: port to bind (0: one the OS chooses).
        max_message_size: largest multipart message accepted or sent, in bytes.
        high_water_mark: messages queued per socket before sends block or drop.
        linger_ms: how long closing sockets try to deliver what is queued.
        heartbeat_ms: ZMTP heartbeat interval; a peer silent for 3 of them is dropped.
        default_timeout: seconds a request waits for its reply unless told otherwise.
        reconnect_ms, reconnect_max_ms: reconnection backoff bounds.
        keys: the mesh's CURVE keys; None means plain, unauthenticated sockets.
        max_inflight_per_peer: requests one peer may have unanswered at once.
        identity: the key pair connecting sockets present (default: a fresh one).
        port_tries: consecutive ports tried from ``port`` until one binds (1: only
            ``port``); the bind itself is the test, so two hosts starting together
            both come up.
        link_idle_ttl: seconds an unconnected, unused DEALER is kept.
    """

    bind_host: str | None = "127.0.0.1"
    port: int = 0
    max_message_size: int = 512 * 1024 * 1024
    high_water_mark: int = 50_000
    linger_ms: int = 500
    heartbeat_ms: int = 5000
    default_timeout: float = 30.0
    reconnect_ms: int = 100
    reconnect_max_ms: int = 5000
    keys: MeshKeys | None = None
    max_inflight_per_peer: int = 10_000
    identity: Identity | None = None
    port_tries: int = 1
    link_idle_ttl: float = 30.0


@dataclass(slots=True)
class Reply:
    """A successful reply as it came off the wire: header, body and blob frames."""

    header: dict[str, Any]
    body: memoryview | bytes
    blobs: list[zmq.Frame]


@dataclass(slots=True)
class IncomingRequest:
    """A request that arrived on the ROUTER; answer it once, from any thread."""

    transport: Transport
    routing_id: bytes
    header: dict[str, Any]
    verb: str
    body: memoryview | bytes
    blobs: list[zmq.Frame]
    oneway: bool
    _answered: bool = False
    _counted: bool = False
    _header_frame: zmq.Frame | None = None

    @property
    def request_id(self) -> int:
        """The caller's id of this request."""
        return int(self.header["id"])

    @property
    def peer_key(self) -> str:
        """The caller's identity key as CURVE authenticated it ('' on plain sockets)."""
        return peer_key(self._header_frame) if self._header_frame is not None else ""

    def reply(self, body: bytes = b"", blobs: Sequence[Frame] = ()) -> None:
        """Send the result (an encoded value) back to the caller."""
        if self.oneway or self._answered:
            return
        self._answered = True
        frames = [self.routing_id, pack_ok_header(self.request_id), body, *blobs]
        self.transport._send_reply(frames, self)

    def fail(self, error: BaseException, extra: dict[str, Any] | None = None) -> None:
        """Send ``error`` back to the caller as a typed error reply."""
        if self._answered:
            return
        self._answered = True
        type_name, text = error_to_wire(error)
        if isinstance(error, AgentMovedError):
            extra = {**(extra or {}), "to": error.address}
        if self.oneway:
            log.info("oneway %s request failed: %s: %s", self.verb, type_name, text)
            return
        header = pack_error_header(self.request_id, type_name, text, extra)
        self.transport._send_reply([self.routing_id, header, b""], self)


RequestHandler = Callable[[IncomingRequest], None]


_BATCH = 256
"""Messages read from one socket per wake-up, so one busy socket cannot starve others."""


def _read_batch(socket: zmq.Socket[Any], handle: Callable[[list[zmq.Frame]], None]) -> None:
    for _ in range(_BATCH):
        try:
            frames = recv_frames(socket, zmq.NOBLOCK)
        except zmq.Again:
            return
        handle(frames)


def _bind_first_free(router: zmq.Socket[Any], host: str, port: int, tries: int) -> None:
    """Bind ``router`` to ``port`` or, if taken, one of the next ``tries - 1`` ports."""
    if not port:
        router.bind(f"tcp://{host}:0")
        return
    last = min(65535, port + max(1, tries) - 1)
    for candidate in range(port, last + 1):
        try:
            router.bind(f"tcp://{host}:{candidate}")
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or candidate == last:
                raise


def _frame_source(frame: zmq.Frame) -> str:
    """Who sent a frame, for the rate-limited drop log: its peer key, else its address."""
    try:
        return peer_key(frame) or str(frame.get("Peer-Address"))
    except (zmq.ZMQError, ValueError):
        return "?"


def _reply_error(header: dict[str, Any]) -> PagletError:
    type_name = str(header.get("err", "PagletError"))
    text = str(header.get("msg", ""))
    if type_name == AgentMovedError.__name__:
        return AgentMovedError(text, str(header.get("to", "")))
    return error_from_wire(type_name, text)


@dataclass(slots=True)
class _Pending:
    future: FutureReply
    address: str
    deadline: float
    sent: bool = False


@dataclass
class _PeerLink:
    socket: zmq.Socket[Any]
    watch: HandshakeWatch | None
    backlog: deque[tuple[int | None, list[Frame], float]] = field(default_factory=deque)
    connected_once: bool = False
    used: float = field(default_factory=time.monotonic)


class Transport:
    """The sockets of one host (or client) and the thread that owns them."""

    def __init__(
        self, name: str, config: TransportConfig, handler: RequestHandler | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._handler = handler
        self._batch_scope: Callable[[], AbstractContextManager[None]] | None = None
        self._context: zmq.Context[Any] | None = None
        self._router: zmq.Socket[Any] | None = None
        self._io = IOThread(name)
        self._links: dict[str, _PeerLink] = {}
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._ids = itertools.count(1)
        self._address = ""
        self._stopped = False
        self._async_senders = threading.local()
        self._channels = SyncChannels(
            lambda: self.context,
            self._configure_client,
            secured=config.keys is not None,
        )
        self._zap: ZapHandler | None = None
        self._router_watch: zmq.Socket[Any] | None = None
        self._inflight: dict[bytes, int] = {}
        self._refusals_logged = 0.0
        self._identity = config.identity
        if config.keys is not None and self._identity is None:
            self._identity = Identity.generate()
        self._drops = RateLimitedLog(log, 10.0)
        self.dropped_frames = 0
        self.refused_handshakes = 0

    # lifecycle ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The bound ROUTER endpoint, ``tcp://HOST:PORT`` ('' for a client)."""
        return self._address

    @property
    def identity_key(self) -> str:
        """The public key this transport's connecting sockets present ('' if plain)."""
        return self._identity.public_text if self._identity is not None else ""

    @property
    def links(self) -> int:
        """How many DEALERs to other hosts are open."""
        return len(self._links)

    @property
    def io(self) -> IOThread:
        """The I/O thread, for modules that add sockets of their own to it."""
        return self._io

    @property
    def context(self) -> zmq.Context[Any]:
        """The ZeroMQ context every socket of this transport belongs to."""
        if self._context is None:
            raise HostStoppedError("transport is not started")
        return self._context

    def start(self, timeout: float = 5.0) -> None:
        """Bind the ROUTER (if any) and start the I/O thread.

        Raises:
            zmq.ZMQError: the address could not be bound (e.g. the port is taken).
        """
        self._context = zmq.Context()
        if self.config.keys is not None:
            self._zap = ZapHandler(self._context)
        if self.config.bind_host is not None:
            router = self.new_socket(zmq.ROUTER, server=True)
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            host = self.config.bind_host
            bind_host = f"[{host}]" if ":" in host else host
            if ":" in host:
                router.setsockopt(zmq.IPV6, 1)
            try:
                _bind_first_free(router, bind_host, self.config.port, self.config.port_tries)
            except zmq.ZMQError:
                router.close(0)
                if self._zap is not None:
                    self._zap.close()
                self._context.term()
                self._context = None
                raise
            endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self._address = normalize_address(endpoint)
            self._router = router
            self._router_watch = router.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            )
        self._io.add_stop_callback(self._close_on_loop)
        self._io.start(timeout)
        self._io.call_soon(self._io.call_later, self._reap_interval(), self._reap_links)
        if self._zap is not None:
            self._io.call_soon(self._io.add_reader, self._zap.socket, self._zap.on_readable)
        if self._router is not None:
            self._io.call_soon(self._io.add_reader, self._router, self._on_router_readable)
        if self._router_watch is not None:
            self._io.call_soon(self._io.add_reader, self._router_watch, self._on_refused)

    def stop(self, timeout: float = 5.0) -> None:
        """Fail pending requests with ``HostStoppedError``, close sockets, end the thread."""
        if self._stopped:
            return
        self._stopped = True
        self._channels.close()
        self._io.stop(timeout)
        if self._context is not None:
            self._context.term()
            self._context = None

    def new_socket(self, socket_type: int, *, server: bool) -> zmq.Socket[Any]:
        """A socket of this transport's context with its limits (and security) applied.

        Args:
            socket_type: e.g. ``zmq.PUB``.
            server: True for sockets that bind (they authenticate others), False for
                sockets that connect.

        The socket belongs to the I/O thread unless the caller owns it exclusively.
        """
        socket: zmq.Socket[Any] = self.context.socket(socket_type)
        self._apply_options(socket)
        self._secure(socket, server=server)
        return socket

    @property
    def secured(self) -> bool:
        """Whether this transport's sockets use CURVE."""
        return self.config.keys is not None

    def _configure_client(self, socket: zmq.Socket[Any]) -> None:
        self._apply_options(socket)
        self._secure(socket, server=False)

    def _secure(self, socket: zmq.Socket[Any], *, server: bool) -> None:
        if self.config.keys is not None:
            configure_socket(socket, self.config.keys, server=server, identity=self._identity)

    def _on_refused(self, monitor: zmq.Socket[Any]) -> None:
        while True:
            try:
                monitor.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self.refused_handshakes += 1
            now = time.monotonic()
            if now - self._refusals_logged > 60.0:
                self._refusals_logged = now
                log.warning(
                    "%s: a security handshake with a connecting peer failed (%d so far): "
                    "a wrong or missing mesh secret, or a peer that gave up mid-handshake",
                    self.name,
                    self.refused_handshakes,
                )

    def _apply_options(self, socket: zmq.Socket[Any]) -> None:
        config = self.config
        socket.setsockopt(zmq.LINGER, config.linger_ms)
        socket.setsockopt(zmq.SNDHWM, config.high_water_mark)
        socket.setsockopt(zmq.RCVHWM, config.high_water_mark)
        socket.setsockopt(zmq.MAXMSGSIZE, config.max_message_size)
        socket.setsockopt(zmq.HEARTBEAT_IVL, config.heartbeat_ms)
        socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, config.heartbeat_ms * 3)
        socket.setsockopt(zmq.HEARTBEAT_TTL, config.heartbeat_ms * 3)
        socket.setsockopt(zmq.RECONNECT_IVL, config.reconnect_ms)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, config.reconnect_max_ms)

    def _close_on_loop(self) -> None:
        stopped = HostStoppedError(f"{self.name} stopped before the reply arrived")
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            entry.future.set_error(stopped)
        for link in self._links.values():
            link.socket.close(self.config.linger_ms)
            if link.watch is not None:
                link.watch.close()
        self._links.clear()
        if self._router_watch is not None:
            self._router_watch.close(0)
            self._router_watch = None
        if self._router is not None:
            self._router.close(self.config.linger_ms)
            self._router = None
        if self._zap is not None:
            self._zap.close()
            self._zap = None

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
        request_id = next(self._ids)
        frames: list[Frame] = [pack_request_header(request_id, verb, fields), body, *blobs]
        self._check_size(frames)
        future = FutureReply()
        limit = self.config.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        if ordered:
            self._note_async(address)
        self._io.call_soon(self._start_request, address, request_id, frames, future, deadline)
        return future

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
        limit = self.config.default_timeout if timeout is None else timeout
        if self._stopped:
            raise HostStoppedError(f"{self.name} has stopped")
        if (
            self._io.in_loop()
            or address in self._async_addresses()
            or not self._channels.has_room(address)
        ):
            result: Reply = self.request(
                address, verb, body, fields=fields, blobs=blobs, timeout=limit, ordered=False
            ).get_reply(limit + 1.0)
            return result
        request_id = next(self._ids)
        frames: list[Frame] = [pack_request_header(request_id, verb, fields), body, *blobs]
        self._check_size(frames)
        header, reply = self._channels.call(address, request_id, frames, limit)
        if header.get("ok") is True:
            return Reply(header, reply[1].buffer, reply[2:])
        raise _reply_error(header)

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
        header_fields = {**fields, "ow": True} if fields else {"ow": True}
        frames: list[Frame] = [pack_request_header(0, verb, header_fields), body, *blobs]
        self._check_size(frames)
        deadline = time.monotonic() + self.config.default_timeout
        if ordered:
            self._note_async(address)
        self._io.call_soon(self._send_to_peer, address, None, frames, deadline)

    def _async_addresses(self) -> set[str]:
        addresses: set[str] | None = getattr(self._async_senders, "addresses", None)
        if addresses is None:
            addresses = self._async_senders.addresses = set()
        return addresses

    def _note_async(self, address: str) -> None:
        # Once a thread sent asynchronously to an address, its blocking calls there go
        # through the I/O thread's connection too, so they cannot overtake what it sent
        # earlier: one sender's messages to one host keep their order.
        if not self._io.in_loop():
            self._async_addresses().add(address)

    def _check_size(self, frames: list[Frame]) -> None:
        size = 0
        for frame in frames:
            size += len(frame.bytes) if isinstance(frame, zmq.Frame) else len(frame)
        if size > self.config.max_message_size:
            raise PayloadTooLargeError(
                f"message of {size} bytes is over the limit of {self.config.max_message_size}"
            )

    def _start_request(
        self,
        address: str,
        request_id: int,
        frames: list[Frame],
        future: FutureReply,
        deadline: float,
    ) -> None:
        if not self._pending:
            self._io.call_later(_SWEEP_INTERVAL, self._sweep)
        self._pending[request_id] = _Pending(future, address, deadline)
        heapq.heappush(self._deadlines, (deadline, request_id))
        self._send_to_peer(address, request_id, frames, deadline)

    def _link(self, address: str) -> _PeerLink:
        link = self._links.get(address)
        if link is None:
            socket = self.new_socket(zmq.DEALER, server=False)
            watch: HandshakeWatch | None = None
            try:
                socket.setsockopt(zmq.IMMEDIATE, 1)
                watch = HandshakeWatch(socket)
                socket.connect(address)
            except zmq.ZMQError:
                if watch is not None:
                    watch.close()
                socket.close(0)  # an unclosed socket would hold the context's term()
                raise
            link = _PeerLink(socket, watch)
            self._links[address] = link
            self._io.add_reader(socket, self._on_dealer_readable)
        return link

    def _send_to_peer(
        self, address: str, request_id: int | None, frames: list[Frame], deadline: float
    ) -> None:
        try:
            link = self._link(address)
        except zmq.ZMQError as exc:
            self._fail_pending(request_id, PeerNotFoundError(f"cannot connect to {address}: {exc}"))
            return
        link.used = time.monotonic()
        if not link.backlog:
            try:
                link.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                link.connected_once = True
                self._mark_sent(request_id)
                return
            except zmq.Again:
                pass
        link.backlog.append((request_id, frames, deadline))
        self._io.watch_writable(link.socket, self._on_dealer_writable)

    def _mark_sent(self, request_id: int | None) -> None:
        if request_id is not None:
            entry = self._pending.get(request_id)
            if entry is not None:
                entry.sent = True

    def _on_dealer_writable(self, socket: zmq.Socket[Any]) -> None:
        link = next((link for link in self._links.values() if link.socket is socket), None)
        if link is None:
            self._io.watch_writable(socket, None)
            return
        link.connected_once = True
        while link.backlog:
            request_id, frames, _ = link.backlog[0]
            if request_id is not None and request_id not in self._pending:
                link.backlog.popleft()
                continue
            try:
                socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            link.backlog.popleft()
            self._mark_sent(request_id)
        self._io.watch_writable(socket, None)

    def _fail_pending(self, request_id: int | None, error: PagletError) -> None:
        if request_id is None:
            log.warning("%s: oneway message dropped: %s", self.name, error)
            return
        entry = self._pending.pop(request_id, None)
        if entry is not None:
            entry.future.set_error(error)

    def _sweep(self) -> None:
        now = time.monotonic()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, request_id = heapq.heappop(deadlines)
            entry = self._pending.pop(request_id, None)
            if entry is None:
                continue
            if entry.sent:
                error: PagletError = ReplyTimeoutError(
                    f"no reply from {entry.address} before the deadline"
                )
            else:
                error = self._unreachable(entry.address)
                self._renew_link(entry.address)
            entry.future.set_error(error)
        for link in self._links.values():
            while link.backlog and link.backlog[0][2] <= now:
                dropped_id, _, _ = link.backlog.popleft()
                if dropped_id is None:
                    log.warning("%s: oneway message to an unreachable peer dropped", self.name)
        if len(deadlines) > 4 * len(self._pending) + 1024:
            self._deadlines = [(e.deadline, rid) for rid, e in self._pending.items()]
            heapq.heapify(self._deadlines)
        if self._pending or any(link.backlog for link in self._links.values()):
            self._io.call_later(_SWEEP_INTERVAL, self._sweep)

    def _renew_link(self, address: str) -> None:
        # A request expired unsent: if the DEALER holds no connection, a fresh one
        # connects at once instead of waiting out libzmq's reconnect backoff, so a
        # peer that came back (a restart on the same port) is reached on the next try.
        link = self._links.get(address)
        if link is None or link.watch is None:
            return
        link.watch.check()
        if link.watch.connected:
            return
        self._close_link(address)
        if link.backlog:
            try:
                fresh = self._link(address)
            except zmq.ZMQError:
                return  # the backlog's requests fail at their deadlines
            fresh.backlog = link.backlog
            self._io.watch_writable(fresh.socket, self._on_dealer_writable)

    def _close_link(self, address: str) -> None:
        link = self._links.pop(address)
        self._io.remove_socket(link.socket)
        link.socket.close(0)
        if link.watch is not None:
            link.watch.close()

    def _reap_interval(self) -> float:
        return max(0.05, min(5.0, self.config.link_idle_ttl / 4))

    def _reap_links(self) -> None:
        if self._stopped:
            return
        now = time.monotonic()
        for address, link in list(self._links.items()):
            if link.backlog or now - link.used < self.config.link_idle_ttl:
                continue
            if link.watch is not None:
                link.watch.check()
                if link.watch.connected:
                    continue
            self._close_link(address)
        self._io.call_later(self._reap_interval(), self._reap_links)

    def _unreachable(self, address: str) -> PagletError:
        link = self._links.get(address)
        failure = link.watch.check() if link is not None and link.watch is not None else ""
        if failure:
            return AuthenticationError(authentication_hint(address, failure, self.secured))
        return PeerNotFoundError(f"no host answers at {address}")

    def _on_dealer_readable(self, socket: zmq.Socket[Any]) -> None:
        _read_batch(socket, self._complete)

    def _complete(self, frames: list[zmq.Frame]) -> None:
        if len(frames) < 2:
            self._drop(_frame_source(frames[0]), "reply with fewer than 2 frames")
            return
        try:
            header = unpack_header(frames[0].buffer)
        except ProtocolError as exc:
            self._drop(_frame_source(frames[0]), str(exc))
            return
        entry = self._pending.pop(header["id"], None)
        if entry is None:
            return  # late reply to a request that already timed out
        if header.get("ok") is True:
            entry.future.set_result(Reply(header, frames[1].buffer, frames[2:]))
        else:
            entry.future.set_error(_reply_error(header))

    def _drop(self, source: str, why: str) -> None:
        self.dropped_frames += 1
        self._drops.warning(source, "dropped a malformed frame from %s: %s", why)

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
        self._handler = handler
        self._batch_scope = batch_scope

    def _on_router_readable(self, socket: zmq.Socket[Any]) -> None:
        if self._batch_scope is None:
            _read_batch(socket, self._receive)
            return
        with self._batch_scope():
            _read_batch(socket, self._receive)

    def _receive(self, frames: list[zmq.Frame]) -> None:
        if len(frames) < 3:
            self._drop(
                _frame_source(frames[-1]),
                f"request with {len(frames)} frames (needs routing id, header, body)",
            )
            return
        routing_id = frames[0].bytes
        try:
            header = unpack_header(frames[1].buffer)
        except ProtocolError as exc:
            self._drop(_frame_source(frames[1]), str(exc))
            return
        oneway = header.get("ow") is True
        request = IncomingRequest(
            self,
            routing_id,
            header,
            "",
            frames[2].buffer,
            frames[3:],
            oneway,
            _header_frame=frames[1],
        )
        try:
            request.verb = check_request_header(header)
        except ProtocolError as exc:
            self._drop(_frame_source(frames[1]), str(exc)) if oneway else request.fail(exc)
            return
        if self._handler is None:
            request.fail(ProtocolError("this endpoint does not take requests"))
            return
        if not oneway:
            count = self._inflight.get(routing_id, 0)
            if count >= self.config.max_inflight_per_peer:
                request.fail(
                    OverloadedError(
                        f"more than {self.config.max_inflight_per_peer} requests in flight "
                        "from one peer"
                    )
                )
                return
            self._inflight[routing_id] = count + 1
            request._counted = True
        try:
            self._handler(request)
        except Exception as exc:
            log.exception("%s: handling %s failed", self.name, request.verb)
            request.fail(exc)

    def _send_reply(self, frames: list[Frame], request: IncomingRequest) -> None:
        if self._io.in_loop():
            self._send_on_router(frames, request)
        else:
            try:
                self._io.call_soon(self._send_on_router, frames, request)
            except HostStoppedError:
                log.info("%s: reply not sent, the transport stopped", self.name)

    def _send_on_router(self, frames: list[Frame], request: IncomingRequest) -> None:
        if request._counted:
            request._counted = False
            routing_id = request.routing_id
            count = self._inflight.get(routing_id, 1) - 1
            if count > 0:
                self._inflight[routing_id] = count
            else:
                self._inflight.pop(routing_id, None)
        if self._router is None:
            return
        try:
            self._router.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.warning("%s: reply dropped, the caller is not reading (HWM)", self.name)
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                log.info("%s: reply dropped, the caller disconnected", self.name)
            else:
                raise
