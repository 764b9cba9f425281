"""Blocking requests on a DEALER owned by the calling thread.

A synchronous call that went through the I/O thread would cost two extra thread
wake-ups (hand the frames over, hand the reply back), which on a loaded 2-core machine
is roughly as much as the network round trip itself. So a thread making a blocking
call uses a DEALER of its own for that address: it sends, polls and receives on it
directly, and no other thread ever touches that socket while the thread is alive. The
I/O thread still owns the ROUTER and everything asynchronous (futures, oneway sends).

Replies that arrive after their call timed out are recognised by request id and
skipped. A call polls in short slices so that stopping the transport ends it with
``HostStoppedError`` within one slice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from paglets.core.errors import (
    AuthenticationError,
    HostStoppedError,
    PeerNotFoundError,
    ProtocolError,
    ReplyTimeoutError,
)
from paglets.net.security import HandshakeWatch, authentication_hint
from paglets.wire.protocol import unpack_header

log = logging.getLogger(__name__)

_POLL_SLICE_MS = 100


@dataclass
class _Channel:
    socket: zmq.Socket[Any]
    watch: HandshakeWatch
    owner: threading.Thread
    busy: bool = False
    doomed: bool = False

    def close(self) -> None:
        self.watch.close()  # before the socket: see HandshakeWatch
        self.socket.close(0)


class SyncChannels:
    """The per-thread DEALERs of one transport, keyed by (thread, address)."""

    def __init__(
        self,
        context_of: Callable[[], zmq.Context[Any]],
        configure: Callable[[zmq.Socket[Any]], None],
        max_per_address: int = 64,
        secured: bool = False,
    ) -> None:
        self._context_of = context_of
        self._configure = configure
        self._secured = secured
        self._max_per_address = max_per_address
        self._local = threading.local()
        self._all: list[_Channel] = []
        self._lock = threading.Lock()
        self._closed = False

    def has_room(self, address: str) -> bool:
        """Whether this thread has, or may open, a channel to ``address``."""
        mine = getattr(self._local, "channels", None)
        if mine is not None and address in mine:
            return True
        limit = self._max_per_address * 8
        with self._lock:
            if len(self._all) >= limit:
                # Only opening a channel reaps dead threads' ones, and none is opened
                # without room: reap here too, or a burst would fill the room for good.
                self._reap_dead_threads()
            return len(self._all) < limit

    def _channel(self, address: str) -> _Channel:
        mine: dict[str, _Channel] | None = getattr(self._local, "channels", None)
        if mine is None:
            mine = self._local.channels = {}
        channel = mine.get(address)
        if channel is not None:
            return channel
        with self._lock:
            if self._closed:
                raise HostStoppedError("transport stopped")
            self._reap_dead_threads()
            socket = self._context_of().socket(zmq.DEALER)
            watch: HandshakeWatch | None = None
            try:
                self._configure(socket)
                socket.setsockopt(zmq.IMMEDIATE, 1)
                watch = HandshakeWatch(socket)
                socket.connect(address)
            except zmq.ZMQError:
                if watch is not None:
                    watch.close()
                socket.close(0)  # an unclosed socket would hold the context's term()
                raise
            channel = _Channel(socket, watch, threading.current_thread())
            self._all.append(channel)
        mine[address] = channel
        return channel

    def _reap_dead_threads(self) -> None:
        alive = []
        for channel in self._all:
            if channel.owner.is_alive():
                alive.append(channel)
            else:
                channel.close()
        self._all = alive

    def call(
        self, address: str, request_id: int, frames: list[Any], timeout: float
    ) -> tuple[dict[str, Any], list[zmq.Frame]]:
        """Send ``frames`` and wait for the reply to ``request_id``.

        Returns:
            The reply header and all reply frames (header first).

        Raises:
            PeerNotFoundError: no connection to ``address`` could be made in time.
            ReplyTimeoutError: connected, but no reply within ``timeout``.
            HostStoppedError: the transport stopped meanwhile.
        """
        channel = self._channel(address)
        with self._lock:
            # Under the lock, so close() never closes a socket its owner is using.
            if self._closed:
                raise HostStoppedError("transport stopped")
            channel.busy = True
        try:
            return self._call(channel, address, request_id, frames, timeout)
        finally:
            with self._lock:
                channel.busy = False
                doomed = channel.doomed
            if doomed:
                channel.close()

    def _call(
        self,
        channel: _Channel,
        address: str,
        request_id: int,
        frames: list[Any],
        timeout: float,
    ) -> tuple[dict[str, Any], list[zmq.Frame]]:
        socket = channel.socket
        deadline = time.monotonic() + timeout
        channel.watch.check()  # keep the monitor pipe drained (see HandshakeWatch)
        while True:
            try:
                socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                break
            except zmq.Again:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                failure = channel.watch.check()
                if failure:
                    raise AuthenticationError(authentication_hint(address, failure, self._secured))
                raise PeerNotFoundError(f"no host answers at {address}")
            self._check_open()
            socket.poll(min(_POLL_SLICE_MS, int(remaining * 1000) + 1), zmq.POLLOUT)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReplyTimeoutError(f"no reply from {address} within {timeout}s")
            self._check_open()
            if not socket.poll(min(_POLL_SLICE_MS, int(remaining * 1000) + 1), zmq.POLLIN):
                continue
            # Never blocks: poll saw a message, and ZeroMQ delivers all its parts at once.
            reply = socket.recv_multipart(copy=False)
            try:
                header = unpack_header(reply[0].buffer)
            except ProtocolError as exc:
                log.warning("dropped a malformed reply from %s: %s", address, exc)
                continue
            if header["id"] == request_id and len(reply) >= 2:
                return header, reply
            # a late reply to an earlier call of this thread that timed out

    def _check_open(self) -> None:
        if self._closed:
            raise HostStoppedError("transport stopped before the reply arrived")

    def close(self, timeout: float = 1.0) -> None:
        """Close every channel; calls in progress end with ``HostStoppedError``."""
        with self._lock:
            self._closed = True
            channels, self._all = self._all, []
        deadline = time.monotonic() + timeout
        for channel in channels:
            while channel.busy and time.monotonic() < deadline:
                time.sleep(0.01)  # a call in progress notices the close within one slice
            with self._lock:
                if channel.busy:
                    channel.doomed = True  # its owner closes it when the call ends
                    continue
                channel.close()
