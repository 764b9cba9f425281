"""Tests for paglets.net.transport against raw ZeroMQ peers on loopback.

The transports here are plain (no mesh secret): these tests are about requests,
replies, deadlines and limits, not about security.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq

from helpers import TIMEOUT
from paglets.core.errors import (
    HostError,
    HostStoppedError,
    NotHandledError,
    PayloadTooLargeError,
    PeerNotFoundError,
    ReplyTimeoutError,
)
from paglets.net.transport import IncomingRequest, Transport, TransportConfig
from paglets.wire.protocol import pack_error_header, pack_ok_header, unpack_header


@pytest.fixture
def client() -> Iterator[Transport]:
    """A client-only transport (no ROUTER)."""
    transport = Transport("client", TransportConfig(bind_host=None, default_timeout=TIMEOUT))
    transport.start(TIMEOUT)
    yield transport
    transport.stop(TIMEOUT)


class RawServer:
    """A bare ROUTER on loopback that the test answers (or not) by hand."""

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"

    def receive(self) -> tuple[bytes, dict[str, Any], list[bytes]]:
        assert self.socket.poll(int(TIMEOUT * 1000)), "no request reached the server"
        routing_id, header, *rest = self.socket.recv_multipart()
        return routing_id, unpack_header(header), rest

    def answer(self, routing_id: bytes, request_id: int, value: Any) -> None:
        self.socket.send_multipart([routing_id, pack_ok_header(request_id), msgpack.packb(value)])


@pytest.fixture
def server(zmq_context: zmq.Context[Any]) -> RawServer:
    return RawServer(zmq_context)


def test_a_dead_address_fails_fast_with_peer_not_found(
    client: Transport, dead_address: str
) -> None:
    started = time.monotonic()
    with pytest.raises(PeerNotFoundError, match="no host answers"):
        client.call(dead_address, "ping", timeout=0.3)
    with pytest.raises(PeerNotFoundError):
        client.request(dead_address, "ping", timeout=0.3).get_reply(TIMEOUT)
    assert time.monotonic() - started < 0.6 + TIMEOUT


def test_call_and_request_get_their_replies(client: Transport, server: RawServer) -> None:
    def serve() -> None:
        for _ in range(2):
            routing_id, header, rest = server.receive()
            server.answer(routing_id, header["id"], {"verb": header["verb"], "body": rest[0]})

    threading.Thread(target=serve, daemon=True).start()
    reply = client.call(server.address, "ping", b"one", fields={"extra": 1}, timeout=TIMEOUT)
    assert msgpack.unpackb(reply.body) == {"verb": "ping", "body": b"one"}
    future = client.request(server.address, "info", b"two", timeout=TIMEOUT)
    assert msgpack.unpackb(future.get_reply(TIMEOUT).body) == {"verb": "info", "body": b"two"}


def test_a_silent_peer_gives_reply_timeout(client: Transport, server: RawServer) -> None:
    with pytest.raises(ReplyTimeoutError):
        client.call(server.address, "ping", timeout=0.2)
    with pytest.raises(ReplyTimeoutError):
        client.request(server.address, "ping", timeout=0.2).get_reply(TIMEOUT)


def test_a_late_reply_is_not_taken_for_the_next_one(client: Transport, server: RawServer) -> None:
    with pytest.raises(ReplyTimeoutError):
        client.call(server.address, "ping", b"first", timeout=0.1)
    routing_id, first, _ = server.receive()

    def serve_second() -> None:
        routing, second, _ = server.receive()
        server.answer(routing_id, first["id"], "late answer to the first")
        server.answer(routing, second["id"], "answer to the second")

    threading.Thread(target=serve_second, daemon=True).start()
    reply = client.call(server.address, "ping", b"second", timeout=TIMEOUT)
    assert msgpack.unpackb(reply.body) == "answer to the second"


def test_error_replies_are_raised_by_type(client: Transport, server: RawServer) -> None:
    def serve() -> None:
        routing_id, header, _ = server.receive()
        server.socket.send_multipart(
            [routing_id, pack_error_header(header["id"], "NotHandledError", "no 'x'"), b""]
        )
        routing_id, header, _ = server.receive()
        server.socket.send_multipart(
            [routing_id, pack_error_header(header["id"], "ZeroDivisionError", "oops"), b""]
        )

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(NotHandledError, match="no 'x'"):
        client.call(server.address, "msg", timeout=TIMEOUT)
    with pytest.raises(HostError) as caught:
        client.request(server.address, "msg", timeout=TIMEOUT).get_reply(TIMEOUT)
    assert (caught.value.remote_type, caught.value.remote_message) == ("ZeroDivisionError", "oops")


def test_oversized_requests_fail_on_the_sender_side(server: RawServer) -> None:
    small = Transport("small", TransportConfig(bind_host=None, max_message_size=1024))
    small.start(TIMEOUT)
    try:
        big = b"x" * 2048
        with pytest.raises(PayloadTooLargeError, match="limit"):
            small.call(server.address, "msg", big, timeout=TIMEOUT)
        with pytest.raises(PayloadTooLargeError):
            small.request(server.address, "msg", big)
        with pytest.raises(PayloadTooLargeError):
            small.send_oneway(server.address, "msg", big)
        assert not server.socket.poll(0)
    finally:
        small.stop(TIMEOUT)


def test_stop_fails_pending_requests_and_blocked_calls(server: RawServer) -> None:
    transport = Transport("stopping", TransportConfig(bind_host=None))
    transport.start(TIMEOUT)
    future = transport.request(server.address, "ping", timeout=4 * TIMEOUT)
    outcome: list[BaseException] = []

    def blocked_call() -> None:
        try:
            transport.call(server.address, "ping", timeout=4 * TIMEOUT)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=blocked_call)
    caller.start()
    server.receive()
    server.receive()  # both requests arrived; neither is answered
    transport.stop(TIMEOUT)
    with pytest.raises(HostStoppedError):
        future.get_reply(TIMEOUT)
    caller.join(TIMEOUT)
    assert len(outcome) == 1 and isinstance(outcome[0], HostStoppedError)
    with pytest.raises(HostStoppedError):
        transport.call(server.address, "ping", timeout=TIMEOUT)


def test_a_transport_serves_its_handler(client: Transport) -> None:
    def handler(request: IncomingRequest) -> None:
        if request.verb == "ping":
            request.reply(msgpack.packb(["pong", bytes(request.body)]))
        else:
            request.fail(NotHandledError(f"no {request.verb}"))

    served = Transport("served", TransportConfig(), handler)
    served.start(TIMEOUT)
    try:
        assert served.address.startswith("tcp://127.0.0.1:")
        reply = client.call(served.address, "ping", b"hi", timeout=TIMEOUT)
        assert msgpack.unpackb(reply.body) == ["pong", b"hi"]
        with pytest.raises(NotHandledError, match="no info"):
            client.call(served.address, "info", timeout=TIMEOUT)
    finally:
        served.stop(TIMEOUT)
