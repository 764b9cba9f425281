"""Requests out: the replies a transport is still owed, and their deadlines.

Every request gets an id and a deadline and waits in the pending table until its reply
comes back on the DEALER it left by (:mod:`paglets.net.dealer_links`). A request that
never left because no connection to the address was ever made fails with
``PeerNotFoundError`` (or ``AuthenticationError`` when the handshake failed); one that
left and got no answer fails with ``ReplyTimeoutError``. The table lives on the I/O
thread; a sweep timer runs while anything is pending.

A blocking :meth:`OutgoingRequests.call` goes over the calling thread's own DEALER
(:mod:`paglets.net.sync_channel`) unless that thread sent to the same address
asynchronously before: then it goes through the I/O thread too, so one sender's
messages to one host keep their order.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from paglets.core.errors import (
    HostStoppedError,
    PagletError,
    PayloadTooLargeError,
    PeerNotFoundError,
    ProtocolError,
    ReplyTimeoutError,
    error_from_wire,
)
from paglets.core.messages import FutureReply
from paglets.net.dealer_links import DealerLinks
from paglets.net.frames import Frame, frame_source, read_batch
from paglets.net.iothread import IOThread
from paglets.net.socket_factory import SocketFactory
from paglets.net.sync_channel import SyncChannels
from paglets.wire.protocol import pack_request_header, unpack_header

log = logging.getLogger(__name__)

_SWEEP_INTERVAL = 0.05
_REPLY_FIELDS = frozenset({"v", "id", "ok", "err", "msg"})
"""Header fields of an error reply that are not the error's own extras."""


@dataclass(slots=True)
class Reply:
    """A successful reply as it came off the wire: header, body and blob frames."""

    header: dict[str, Any]
    body: memoryview | bytes
    blobs: list[zmq.Frame]


def reply_error(header: dict[str, Any]) -> PagletError:
    """The error an error reply's header names, with the extra fields it declares."""
    type_name = str(header.get("err", "PagletError"))
    text = str(header.get("msg", ""))
    extras = {key: value for key, value in header.items() if key not in _REPLY_FIELDS}
    return error_from_wire(type_name, text, extras)


@dataclass(slots=True)
class _Pending:
    future: FutureReply
    address: str
    deadline: float
    sent: bool = False


class OutgoingRequests:
    """The requests of one transport still waiting for a reply."""

    def __init__(
        self, name: str, io: IOThread, sockets: SocketFactory, drop: Callable[[str, str], None]
    ) -> None:
        """Requests sent with ``sockets``' DEALERs on ``io``.

        Args:
            name: the transport's name, for logs and errors.
            io: the I/O thread that owns the DEALERs and the pending table.
            sockets: where the DEALERs (and the callers' own channels) are made.
            drop: counts and logs a malformed reply (source, why).
        """
        self._name = name
        self._io = io
        self._config = sockets.config
        self._drop = drop
        self._links = DealerLinks(
            name,
            io,
            sockets,
            on_readable=self._on_dealer_readable,
            on_sent=self._mark_sent,
            is_pending=self._pending_contains,
        )
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._ids = itertools.count(1)
        self._stopped = False
        self._async_senders = threading.local()
        self._channels = SyncChannels(
            lambda: sockets.context, sockets.configure_client, secured=sockets.secured
        )

    @property
    def links(self) -> int:
        """How many DEALERs to other hosts are open."""
        return len(self._links)

    def start(self) -> None:
        """Start the link reaper; on the I/O thread."""
        self._links.start()

    def close_channels(self) -> None:
        """Refuse new calls and end the blocking ones (``HostStoppedError``); any thread."""
        self._stopped = True
        self._channels.close()

    def close_on_loop(self) -> None:
        """Fail every pending request with ``HostStoppedError`` and close the DEALERs."""
        stopped = HostStoppedError(f"{self._name} stopped before the reply arrived")
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            entry.future.set_error(stopped)
        self._links.close_all(self._config.linger_ms)

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
        """Send a request; return the future of its :class:`Reply` (see ``Transport``)."""
        request_id = next(self._ids)
        frames: list[Frame] = [pack_request_header(request_id, verb, fields), body, *blobs]
        self._check_size(frames)
        future = FutureReply()
        limit = self._config.default_timeout if timeout is None else timeout
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
        """Send a request and block for its reply (see ``Transport.call``)."""
        limit = self._config.default_timeout if timeout is None else timeout
        if self._stopped:
            raise HostStoppedError(f"{self._name} has stopped")
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
        raise reply_error(header)

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
        """Send a request that asks for no reply (see ``Transport.send_oneway``)."""
        header_fields = {**fields, "ow": True} if fields else {"ow": True}
        frames: list[Frame] = [pack_request_header(0, verb, header_fields), body, *blobs]
        self._check_size(frames)
        deadline = time.monotonic() + self._config.default_timeout
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
        if size > self._config.max_message_size:
            raise PayloadTooLargeError(
                f"message of {size} bytes is over the limit of {self._config.max_message_size}"
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

    def _send_to_peer(
        self, address: str, request_id: int | None, frames: list[Frame], deadline: float
    ) -> None:
        try:
            self._links.send(address, request_id, frames, deadline)
        except zmq.ZMQError as exc:
            self._fail_pending(request_id, PeerNotFoundError(f"cannot connect to {address}: {exc}"))

    def forget_on_loop(self, address: str, error: PagletError) -> None:
        """Fail every request to ``address`` with ``error`` and close its link (I/O thread)."""
        for request_id, entry in list(self._pending.items()):
            if entry.address == address:
                del self._pending[request_id]
                entry.future.set_error(error)
        self._links.forget(address)

    def _pending_contains(self, request_id: int) -> bool:
        return request_id in self._pending

    def _mark_sent(self, request_id: int | None) -> None:
        if request_id is not None:
            entry = self._pending.get(request_id)
            if entry is not None:
                entry.sent = True

    def _fail_pending(self, request_id: int | None, error: PagletError) -> None:
        if request_id is None:
            log.warning("%s: oneway message dropped: %s", self._name, error)
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
                error = self._links.unreachable(entry.address)
                self._links.renew(entry.address)
            entry.future.set_error(error)
        self._links.expire(now)
        if len(deadlines) > 4 * len(self._pending) + 1024:
            self._deadlines = [(e.deadline, rid) for rid, e in self._pending.items()]
            heapq.heapify(self._deadlines)
        if self._pending or self._links.has_backlog():
            self._io.call_later(_SWEEP_INTERVAL, self._sweep)

    def _on_dealer_readable(self, socket: zmq.Socket[Any]) -> None:
        read_batch(socket, self._complete)

    def _complete(self, frames: list[zmq.Frame]) -> None:
        if len(frames) < 2:
            self._drop(frame_source(frames[0]), "reply with fewer than 2 frames")
            return
        try:
            header = unpack_header(frames[0].buffer)
        except ProtocolError as exc:
            self._drop(frame_source(frames[0]), str(exc))
            return
        entry = self._pending.pop(header["id"], None)
        if entry is None:
            return  # late reply to a request that already timed out
        if header.get("ok") is True:
            entry.future.set_result(Reply(header, frames[1].buffer, frames[2:]))
        else:
            entry.future.set_error(reply_error(header))
