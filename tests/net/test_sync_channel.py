"""Per-thread blocking channels (``SyncChannels``) against a raw ROUTER on loopback.

The ROUTER is answered by hand, so each test decides which replies arrive, when, and
whether they make sense. Every DEALER the channels open is recorded (through the
``configure`` hook) so the tests can tell which socket a call used and whether it
was closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq

from helpers import TIMEOUT, wait_for
from paglets.core.errors import HostStoppedError, PeerNotFoundError, ReplyTimeoutError
from paglets.net.sync_channel import SyncChannels
from paglets.wire.protocol import pack_ok_header, pack_request_header, unpack_header

STOP_BOUND = 1.0
"""Seconds a waiting call may take to notice that the channels were closed."""


class RawRouter:
    """A bare ROUTER on 127.0.0.1 (OS-chosen ports) that the test answers by hand."""

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.address = self.bind_another()

    def bind_another(self) -> str:
        """Bind one more OS-chosen port; return its address."""
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        return f"tcp://127.0.0.1:{port}"

    def receive(self) -> tuple[bytes, dict[str, Any]]:
        assert self.socket.poll(int(TIMEOUT * 1000)), "no request reached the router"
        routing_id, header, *_ = self.socket.recv_multipart()
        return routing_id, unpack_header(header)

    def answer(self, routing_id: bytes, request_id: int, value: Any) -> None:
        self.send(routing_id, pack_ok_header(request_id), msgpack.packb(value))

    def send(self, routing_id: bytes, *frames: bytes) -> None:
        self.socket.send_multipart([routing_id, *frames])


class Recorded:
    """The ``configure`` hook: sets LINGER 0 and remembers every socket it saw."""

    def __init__(self) -> None:
        self.sockets: list[zmq.Socket[Any]] = []
        self._lock = threading.Lock()

    def __call__(self, socket: zmq.Socket[Any]) -> None:
        socket.setsockopt(zmq.LINGER, 0)
        with self._lock:
            self.sockets.append(socket)


@pytest.fixture
def router(zmq_context: zmq.Context[Any]) -> RawRouter:
    return RawRouter(zmq_context)


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def channels(zmq_context: zmq.Context[Any], recorded: Recorded) -> Iterator[SyncChannels]:
    made = SyncChannels(lambda: zmq_context, recorded)
    yield made
    made.close(TIMEOUT)


def frames_for(request_id: int, verb: str = "ping") -> list[bytes]:
    return [pack_request_header(request_id, verb), b""]


def in_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``target`` on a new thread; its result or exception lands in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except Exception as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


# calls and replies -------------------------------------------------------------------


def test_a_call_gets_its_reply(channels: SyncChannels, router: RawRouter) -> None:
    thread, outcome = in_thread(lambda: channels.call(router.address, 7, frames_for(7), TIMEOUT))
    routing_id, header = router.receive()
    assert (header["id"], header["verb"]) == (7, "ping")
    router.answer(routing_id, 7, {"pong": True})
    thread.join(TIMEOUT)
    reply_header, reply = outcome["result"]
    assert reply_header == {"v": 1, "id": 7, "ok": True}
    assert unpack_header(reply[0].buffer) == reply_header
    assert msgpack.unpackb(reply[1].bytes) == {"pong": True}


def test_a_late_reply_is_skipped_and_the_next_call_gets_its_own(
    channels: SyncChannels, router: RawRouter
) -> None:
    def two_calls() -> tuple[Any, ...]:
        with pytest.raises(ReplyTimeoutError, match="no reply"):
            channels.call(router.address, 1, frames_for(1), 0.1)
        return channels.call(router.address, 2, frames_for(2), TIMEOUT)

    thread, outcome = in_thread(two_calls)
    first_routing, first = router.receive()
    assert first["id"] == 1  # received, but answered only after the caller gave up
    second_routing, second = router.receive()
    assert second["id"] == 2 and second_routing == first_routing  # the same DEALER
    router.answer(first_routing, 1, "late")
    router.answer(second_routing, 2, "on time")
    thread.join(TIMEOUT)
    header, reply = outcome["result"]
    assert header["id"] == 2
    assert msgpack.unpackb(reply[1].bytes) == "on time"


def test_a_malformed_reply_is_dropped_and_logged_and_the_call_waits_on(
    channels: SyncChannels, router: RawRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # A reply header that does not parse has no request id to match: the channel drops
    # it (like the host drops such requests) and keeps waiting for the real reply.
    with caplog.at_level(logging.WARNING, logger="paglets.net.sync_channel"):
        thread, outcome = in_thread(
            lambda: channels.call(router.address, 3, frames_for(3), TIMEOUT)
        )
        routing_id, _ = router.receive()
        router.send(routing_id, b"\xc1\xc1junk", b"")
        router.send(routing_id, msgpack.packb({"v": 1, "ok": True}), b"")  # no id
        router.send(routing_id, msgpack.packb([1, 3]), b"")  # not a map
        router.send(routing_id, pack_ok_header(3))  # its id, but no body frame
        router.answer(routing_id, 3, "real")
        thread.join(TIMEOUT)
    header, reply = outcome["result"]
    assert header["id"] == 3 and msgpack.unpackb(reply[1].bytes) == "real"
    dropped = [r for r in caplog.records if "malformed reply" in r.getMessage()]
    assert len(dropped) == 3
    assert any("not valid msgpack" in r.getMessage() for r in dropped)
    assert any("no integer 'id'" in r.getMessage() for r in dropped)
    assert any("not a map" in r.getMessage() for r in dropped)


def test_only_malformed_replies_end_in_a_reply_timeout(
    channels: SyncChannels, router: RawRouter
) -> None:
    thread, outcome = in_thread(lambda: channels.call(router.address, 4, frames_for(4), 0.3))
    routing_id, _ = router.receive()
    router.send(routing_id, b"\xc1junk", b"")
    thread.join(TIMEOUT)
    assert isinstance(outcome["error"], ReplyTimeoutError)


def test_nobody_listening_is_peer_not_found(channels: SyncChannels, dead_address: str) -> None:
    started = time.monotonic()
    with pytest.raises(PeerNotFoundError, match="no host answers"):
        channels.call(dead_address, 1, frames_for(1), 0.2)
    assert time.monotonic() - started < 0.2 + STOP_BOUND


# stopping ----------------------------------------------------------------------------


def test_closing_ends_a_waiting_call_with_host_stopped_within_a_bound(
    channels: SyncChannels, router: RawRouter, recorded: Recorded
) -> None:
    thread, outcome = in_thread(lambda: channels.call(router.address, 5, frames_for(5), TIMEOUT))
    router.receive()  # the call now waits for a reply that never comes
    closed_at = time.monotonic()
    channels.close(TIMEOUT)
    thread.join(TIMEOUT)
    assert isinstance(outcome["error"], HostStoppedError)
    assert outcome["ended"] - closed_at < STOP_BOUND
    # close() waited for the call to end, then closed its socket
    [socket] = recorded.sockets
    assert socket.closed
    with pytest.raises(HostStoppedError):
        channels.call(router.address, 6, frames_for(6), TIMEOUT)


def test_a_close_that_cannot_wait_leaves_the_socket_to_its_owner(
    channels: SyncChannels, router: RawRouter, recorded: Recorded
) -> None:
    thread, outcome = in_thread(lambda: channels.call(router.address, 8, frames_for(8), TIMEOUT))
    router.receive()
    channels.close(0)  # returns at once: the owner is still inside its call
    thread.join(TIMEOUT)
    assert isinstance(outcome["error"], HostStoppedError)
    [socket] = recorded.sockets
    assert socket.closed  # closed by the owning thread when its call ended


def test_a_call_still_connecting_ends_with_host_stopped_on_close(
    channels: SyncChannels, dead_address: str, recorded: Recorded
) -> None:
    thread, outcome = in_thread(lambda: channels.call(dead_address, 9, frames_for(9), TIMEOUT))
    wait_for(lambda: recorded.sockets)  # its channel is open; it waits to connect
    closed_at = time.monotonic()
    channels.close(TIMEOUT)
    thread.join(TIMEOUT)
    assert isinstance(outcome["error"], HostStoppedError)
    assert outcome["ended"] - closed_at < STOP_BOUND


# one DEALER per (thread, address) ----------------------------------------------------


def test_one_dealer_per_thread_and_address(
    channels: SyncChannels, router: RawRouter, recorded: Recorded
) -> None:
    other_address = router.bind_another()
    served: list[tuple[bytes, int]] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if router.socket.poll(20):
                routing_id, header = router.receive()
                served.append((routing_id, header["id"]))
                router.answer(routing_id, header["id"], None)

    server = threading.Thread(target=serve)
    server.start()
    try:
        for request_id in (1, 2, 3):
            channels.call(router.address, request_id, frames_for(request_id), TIMEOUT)
        assert len(recorded.sockets) == 1
        channels.call(other_address, 4, frames_for(4), TIMEOUT)
        assert len(recorded.sockets) == 2
        thread, outcome = in_thread(
            lambda: channels.call(router.address, 5, frames_for(5), TIMEOUT)
        )
        thread.join(TIMEOUT)
        assert "result" in outcome
        assert len(recorded.sockets) == 3
    finally:
        stop.set()
        server.join(TIMEOUT)
    routing = dict((request_id, routing_id) for routing_id, request_id in served)
    assert routing[1] == routing[2] == routing[3]
    assert len({routing[1], routing[4], routing[5]}) == 3


def test_channels_of_dead_threads_are_reaped(
    channels: SyncChannels, dead_address: str, recorded: Recorded
) -> None:
    def short_call() -> None:
        with pytest.raises(PeerNotFoundError):
            channels.call(dead_address, 1, frames_for(1), 0.01)

    thread, outcome = in_thread(short_call)
    thread.join(TIMEOUT)
    assert "error" not in outcome
    [dead_one] = recorded.sockets
    assert not dead_one.closed  # nothing reaps until a new channel is opened
    short_call()  # this thread opens its own channel: the dead thread's goes
    assert len(recorded.sockets) == 2
    assert dead_one.closed and not recorded.sockets[1].closed


# room --------------------------------------------------------------------------------


def test_has_room_until_the_cap_then_only_for_open_channels(
    zmq_context: zmq.Context[Any], router: RawRouter, recorded: Recorded
) -> None:
    # max_per_address=1 allows 8 channels in all
    channels = SyncChannels(lambda: zmq_context, recorded, max_per_address=1)
    try:
        addresses = [router.address] + [router.bind_another() for _ in range(8)]
        for n, address in enumerate(addresses[:8]):
            assert channels.has_room(address)
            with pytest.raises((ReplyTimeoutError, PeerNotFoundError)):
                channels.call(address, n, frames_for(n), 0.01)
        assert len(recorded.sockets) == 8
        assert all(channels.has_room(address) for address in addresses[:8])  # own ones
        assert not channels.has_room(addresses[8])  # a ninth is over the cap
        thread, outcome = in_thread(lambda: channels.has_room(addresses[0]))
        thread.join(TIMEOUT)
        assert outcome["result"] is False  # another thread has none of its own
    finally:
        channels.close(TIMEOUT)


def test_channels_of_dead_threads_do_not_count_against_the_room(
    zmq_context: zmq.Context[Any], router: RawRouter, recorded: Recorded
) -> None:
    # A burst of eight threads fills the room, then they all end. Were their channels
    # still counted, every later thread would be sent to the slow path for good: only
    # opening a channel reaped dead ones, and no channel is opened without room.
    channels = SyncChannels(lambda: zmq_context, recorded, max_per_address=1)
    burst_over = threading.Event()
    try:

        def call_then_linger() -> None:
            with pytest.raises((ReplyTimeoutError, PeerNotFoundError)):
                channels.call(router.address, 1, frames_for(1), 0.01)
            assert burst_over.wait(TIMEOUT)

        burst = [in_thread(call_then_linger) for _ in range(8)]
        wait_for(lambda: len(recorded.sockets) == 8)
        assert not channels.has_room(router.address)  # all eight owners are alive
        burst_over.set()
        for thread, outcome in burst:
            thread.join(TIMEOUT)
            assert "error" not in outcome
        assert channels.has_room(router.address)
        assert all(socket.closed for socket in recorded.sockets)
    finally:
        burst_over.set()
        channels.close(TIMEOUT)
