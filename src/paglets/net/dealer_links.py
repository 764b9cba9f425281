"""The DEALERs of a transport: one per address it sends to, and what waits to go out.

A link is made on first use and lives on the I/O thread. What cannot be sent at once
(no connection yet, or the high-water mark reached) waits in the link's backlog until
the socket is writable or the message's deadline passes.

A link whose requests expire unsent while it holds no connection is replaced by a
fresh one (libzmq's reconnect backoff would otherwise leave a restarted peer unheard
for up to ``reconnect_max_ms``), and one idle for ``link_idle_ttl`` seconds without a
connection is closed: addresses that never answer (a spoofed announcement) cost
nothing for long.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from paglets.core.errors import AuthenticationError, PagletError, PeerNotFoundError
from paglets.net.frames import Frame
from paglets.net.iothread import IOThread, ReadCallback
from paglets.net.security import HandshakeWatch, authentication_hint
from paglets.net.socket_factory import SocketFactory

log = logging.getLogger(__name__)

Queued = tuple[int | None, list[Frame], float]
"""A message waiting on a link: request id (None: oneway), frames, deadline."""


@dataclass
class _Link:
    socket: zmq.Socket[Any]
    watch: HandshakeWatch | None
    backlog: deque[Queued] = field(default_factory=deque)
    connected_once: bool = False
    used: float = field(default_factory=time.monotonic)


class DealerLinks:
    """One DEALER per address, owned by the I/O thread; call every method on it."""

    def __init__(
        self,
        name: str,
        io: IOThread,
        sockets: SocketFactory,
        *,
        on_readable: ReadCallback,
        on_sent: Callable[[int | None], None],
        is_pending: Callable[[int], bool],
    ) -> None:
        """Links that report replies to ``on_readable`` and sent requests to ``on_sent``.

        Args:
            name: the transport's name, for logs.
            io: the I/O thread the sockets belong to.
            sockets: where the DEALERs are made.
            on_readable: called with a DEALER that has replies to read.
            on_sent: called with the request id of each message that left.
            is_pending: whether a queued request still waits (else it is not sent).
        """
        self._name = name
        self._io = io
        self._sockets = sockets
        self._idle_ttl = sockets.config.link_idle_ttl
        self._on_readable = on_readable
        self._on_sent = on_sent
        self._is_pending = is_pending
        self._links: dict[str, _Link] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._links)

    def start(self) -> None:
        """Start closing idle links from now on."""
        self._io.call_later(self._reap_interval(), self._reap)

    def send(
        self, address: str, request_id: int | None, frames: list[Frame], deadline: float
    ) -> None:
        """Send ``frames`` to ``address`` now, or queue them until ``deadline``.

        Raises:
            zmq.ZMQError: no DEALER could be connected to ``address``.
        """
        link = self._link(address)
        link.used = time.monotonic()
        if not link.backlog:
            try:
                link.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                link.connected_once = True
                self._on_sent(request_id)
                return
            except zmq.Again:
                pass
        link.backlog.append((request_id, frames, deadline))
        self._io.watch_writable(link.socket, self._on_writable)

    def has_backlog(self) -> bool:
        """Whether any message still waits to be sent."""
        return any(link.backlog for link in self._links.values())

    def expire(self, now: float) -> None:
        """Drop queued messages whose deadline has passed (their requests fail elsewhere)."""
        for link in self._links.values():
            while link.backlog and link.backlog[0][2] <= now:
                dropped_id, _, _ = link.backlog.popleft()
                if dropped_id is None:
                    log.warning("%s: oneway message to an unreachable peer dropped", self._name)

    def unreachable(self, address: str) -> PagletError:
        """The error for a request to ``address`` that never left."""
        link = self._links.get(address)
        failure = link.watch.check() if link is not None and link.watch is not None else ""
        if failure:
            return AuthenticationError(authentication_hint(address, failure, self._sockets.secured))
        return PeerNotFoundError(f"no host answers at {address}")

    def renew(self, address: str) -> None:
        """Replace the link to ``address`` by a fresh one if it holds no connection."""
        # A fresh DEALER connects at once instead of waiting out libzmq's reconnect
        # backoff, so a peer that came back (a restart on the same port) is reached on
        # the next try.
        link = self._links.get(address)
        if link is None or link.watch is None:
            return
        link.watch.check()
        if link.watch.connected:
            return
        self._close(address)
        if link.backlog:
            try:
                fresh = self._link(address)
            except zmq.ZMQError:
                return  # the backlog's requests fail at their deadlines
            fresh.backlog = link.backlog
            self._io.watch_writable(fresh.socket, self._on_writable)

    def close_all(self, linger_ms: int) -> None:
        """Close every link (the transport is stopping)."""
        self._closed = True
        for link in self._links.values():
            if link.watch is not None:
                link.watch.close()  # first: see HandshakeWatch
            link.socket.close(linger_ms)
        self._links.clear()

    def _link(self, address: str) -> _Link:
        link = self._links.get(address)
        if link is None:
            socket = self._sockets.new_socket(zmq.DEALER, server=False)
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
            link = _Link(socket, watch)
            self._links[address] = link
            self._io.add_reader(socket, self._on_readable)
            if watch is not None:
                self._io.add_reader(watch.socket, self._drain_watch)
        return link

    def _on_writable(self, socket: zmq.Socket[Any]) -> None:
        link = next((link for link in self._links.values() if link.socket is socket), None)
        if link is None:
            self._io.watch_writable(socket, None)
            return
        link.connected_once = True
        while link.backlog:
            request_id, frames, _ = link.backlog[0]
            if request_id is not None and not self._is_pending(request_id):
                link.backlog.popleft()
                continue
            try:
                socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            link.backlog.popleft()
            self._on_sent(request_id)
        self._io.watch_writable(socket, None)

    def forget(self, address: str) -> None:
        """Close the link to ``address`` if there is one (I/O thread)."""
        if address in self._links:
            self._close(address)

    def _drain_watch(self, monitor: zmq.Socket[Any]) -> None:
        # a full monitor pipe would block libzmq's I/O thread (see HandshakeWatch)
        for link in self._links.values():
            if link.watch is not None and link.watch.socket is monitor:
                link.watch.check()
                return
        self._io.remove_socket(monitor)

    def _close(self, address: str) -> None:
        link = self._links.pop(address)
        self._io.remove_socket(link.socket)
        if link.watch is not None:
            self._io.remove_socket(link.watch.socket)
            link.watch.close()  # before the socket: see HandshakeWatch
        link.socket.close(0)

    def _reap_interval(self) -> float:
        return max(0.05, min(5.0, self._idle_ttl / 4))

    def _reap(self) -> None:
        if self._closed:
            return
        now = time.monotonic()
        for address, link in list(self._links.items()):
            if link.backlog or now - link.used < self._idle_ttl:
                continue
            if link.watch is not None:
                link.watch.check()
                if link.watch.connected:
                    continue
            self._close(address)
        self._io.call_later(self._reap_interval(), self._reap)
