"""Requests in: what arrives on the ROUTER, handed to the handler, and the replies.

The I/O thread reads requests off the ROUTER in batches and hands each, as an
:class:`IncomingRequest`, to the handler given to :meth:`IncomingRequests.serve`
(``RequestRouter`` on a host). The handler must not block; it answers with
:meth:`IncomingRequest.reply` or :meth:`IncomingRequest.fail`, from any thread, once.
A failure travels as its type name, text and the extra fields the error declares
(:meth:`~paglets.core.errors.PagletError.wire_extras`); this module knows no error
class beyond the ones it raises itself.

A peer may have ``max_inflight_per_peer`` requests unanswered at once; the next one
is refused with ``OverloadedError``. Malformed frames are dropped and logged: there is
no request id to answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import zmq

from paglets.core.errors import (
    HostStoppedError,
    OverloadedError,
    ProtocolError,
    error_extras,
    error_to_wire,
)
from paglets.net.frames import Frame, frame_source, read_batch
from paglets.net.iothread import IOThread
from paglets.net.security import peer_key
from paglets.wire.protocol import (
    check_request_header,
    pack_error_header,
    pack_ok_header,
    unpack_header,
)

log = logging.getLogger(__name__)

_ERROR_FIELDS = frozenset({"v", "id", "ok", "err", "msg"})
"""Header fields an error's extras may not replace."""


@dataclass(slots=True)
class IncomingRequest:
    """A request that arrived on the ROUTER; answer it once, from any thread."""

    server: IncomingRequests
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
        self.server.send_reply(frames, self)

    def fail(self, error: BaseException, extra: dict[str, Any] | None = None) -> None:
        """Send ``error`` back to the caller as a typed error reply.

        Args:
            error: the failure; its type name, text and declared extras travel.
            extra: more header fields to send with it.
        """
        if self._answered:
            return
        self._answered = True
        type_name, text = error_to_wire(error)
        if self.oneway:
            log.info("oneway %s request failed: %s: %s", self.verb, type_name, text)
            return
        fields = {**error_extras(error), **(extra or {})}
        fields = {key: value for key, value in fields.items() if key not in _ERROR_FIELDS}
        header = pack_error_header(self.request_id, type_name, text, fields)
        self.server.send_reply([self.routing_id, header, b""], self)


RequestHandler = Callable[[IncomingRequest], None]


class IncomingRequests:
    """The ROUTER side of a transport: dispatch to the handler, count, reply."""

    def __init__(
        self,
        name: str,
        io: IOThread,
        max_inflight_per_peer: int,
        drop: Callable[[str, str], None],
        handler: RequestHandler | None = None,
    ) -> None:
        """Requests read on ``io``; ``drop`` counts and logs malformed frames."""
        self._name = name
        self._io = io
        self._max_inflight = max_inflight_per_peer
        self._drop = drop
        self._handler = handler
        self._batch_scope: Callable[[], AbstractContextManager[None]] | None = None
        self._router: zmq.Socket[Any] | None = None
        self._router_watch: zmq.Socket[Any] | None = None
        self._inflight: dict[bytes, int] = {}
        self._refusals_logged = 0.0
        self.refused_handshakes = 0

    def attach(self, router: zmq.Socket[Any]) -> None:
        """Take ``router`` (bound, not yet polled) and watch its failed handshakes."""
        self._router = router
        self._router_watch = router.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        )

    def start(self) -> None:
        """Start reading the ROUTER; on the I/O thread."""
        if self._router is not None:
            self._io.add_reader(self._router, self._on_router_readable)
        if self._router_watch is not None:
            self._io.add_reader(self._router_watch, self._on_refused)

    def close_on_loop(self, linger_ms: int) -> None:
        """Close the ROUTER and its monitor (the transport is stopping)."""
        if self._router_watch is not None:
            if self._router is not None:  # stop the monitor before closing its reader:
                self._router.disable_monitor()  # see HandshakeWatch
            self._router_watch.close(0)
            self._router_watch = None
        if self._router is not None:
            self._router.close(linger_ms)
            self._router = None

    def serve(
        self,
        handler: RequestHandler,
        batch_scope: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        """Hand incoming requests to ``handler`` from now on (see ``Transport.serve``)."""
        self._handler = handler
        self._batch_scope = batch_scope

    def send_reply(self, frames: list[Frame], request: IncomingRequest) -> None:
        """Send a reply's frames on the ROUTER, from any thread."""
        if self._io.in_loop():
            self._send_on_router(frames, request)
        else:
            try:
                self._io.call_soon(self._send_on_router, frames, request)
            except HostStoppedError:
                log.info("%s: reply not sent, the transport stopped", self._name)

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
                    self._name,
                    self.refused_handshakes,
                )

    def _on_router_readable(self, socket: zmq.Socket[Any]) -> None:
        if self._batch_scope is None:
            read_batch(socket, self._receive)
            return
        with self._batch_scope():
            read_batch(socket, self._receive)

    def _receive(self, frames: list[zmq.Frame]) -> None:
        if len(frames) < 3:
            self._drop(
                frame_source(frames[-1]),
                f"request with {len(frames)} frames (needs routing id, header, body)",
            )
            return
        routing_id = frames[0].bytes
        try:
            header = unpack_header(frames[1].buffer)
        except ProtocolError as exc:
            self._drop(frame_source(frames[1]), str(exc))
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
            self._drop(frame_source(frames[1]), str(exc)) if oneway else request.fail(exc)
            return
        if self._handler is None:
            request.fail(ProtocolError("this endpoint does not take requests"))
            return
        if not oneway:
            count = self._inflight.get(routing_id, 0)
            if count >= self._max_inflight:
                request.fail(
                    OverloadedError(
                        f"more than {self._max_inflight} requests in flight from one peer"
                    )
                )
                return
            self._inflight[routing_id] = count + 1
            request._counted = True
        try:
            self._handler(request)
        except Exception as exc:
            log.exception("%s: handling %s failed", self._name, request.verb)
            request.fail(exc)

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
            log.warning("%s: reply dropped, the caller is not reading (HWM)", self._name)
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                log.info("%s: reply dropped, the caller disconnected", self._name)
            else:
                raise
