"""Malformed requests from an authenticated raw DEALER: typed error replies or drops.

A request the host can tie to a request id gets an error reply naming the problem;
anything else is dropped (and logged). Either way the host keeps serving. Each case
is followed by a valid ``ping`` on the same socket: the host handles frames of one
connection in order, so any reply to a dropped frame would arrive before the pong.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT
from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message
from paglets.net.security import configure_socket, derive_keys
from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host
from paglets.wire.protocol import MAX_HEADER_SIZE, PROTOCOL_VERSION

SECRET = "bad-frames-secret"
PING_ID = 1_000_000
_ids = itertools.count(1)


@dataclass
class TallyState(PagletState):
    count: int = 0


class Tally(Paglet[TallyState]):
    State = TallyState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()


@dataclass
class Target:
    host: Host
    proxy: PagletProxy
    dealer: zmq.Socket[Any]

    def send(self, *frames: bytes) -> None:
        self.dealer.send_multipart(list(frames))

    def replies_until_pong(self) -> list[dict[str, Any]]:
        """Ping, and return every reply header that arrived before the pong."""
        self.send(header(PING_ID, "ping"), b"")
        before: list[dict[str, Any]] = []
        while True:
            assert self.dealer.poll(int(TIMEOUT * 1000)), "the host stopped answering"
            frames = self.dealer.recv_multipart()
            reply = msgpack.unpackb(frames[0])
            if reply.get("id") == PING_ID:
                assert reply["ok"] is True
                return before
            before.append(reply)

    def reply_to(self, request_id: int) -> dict[str, Any]:
        """The reply to ``request_id`` (which may come after the pong of a later ping)."""
        replies = self.replies_until_pong()
        while not any(reply["id"] == request_id for reply in replies):
            assert self.dealer.poll(int(TIMEOUT * 1000)), f"no reply to {request_id}"
            replies.append(msgpack.unpackb(self.dealer.recv_multipart()[0]))
        [reply] = [reply for reply in replies if reply["id"] == request_id]
        return reply


def header(request_id: Any, verb: Any, **fields: Any) -> bytes:
    return msgpack.packb({"v": PROTOCOL_VERSION, "id": request_id, "verb": verb, **fields})


@pytest.fixture
def target(make_host: HostFactory, zmq_context: zmq.Context[Any]) -> Iterator[Target]:
    host = make_host("target", api_key=SECRET)
    proxy = host.create(Tally)
    dealer = zmq_context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.connect(host.address)
    found = Target(host, proxy, dealer)
    assert found.replies_until_pong() == []
    yield found
    # whatever came before, the host still serves a normal send
    assert proxy.send("add", timeout=TIMEOUT) >= 1


DROPPED = {
    "one junk frame": [b"\x00\xffjunk"],
    "one empty frame": [b""],
    "a valid header and no body": [header(5, "ping")],
    "junk header": [b"\xc1\xc1\xc1", b""],
    "truncated msgpack header": [header(5, "ping")[:-3], b""],
    "header is a list": [msgpack.packb([1, 5, "ping"]), b""],
    "header is an int": [msgpack.packb(5), b""],
    "header without id": [msgpack.packb({"v": PROTOCOL_VERSION, "verb": "ping"}), b""],
    "header with a string id": [header("5", "ping"), b""],
    "header with a float id": [header(5.0, "ping"), b""],
    "header over the size limit": [header(5, "ping", pad="x" * MAX_HEADER_SIZE), b""],
    "huge declared string": [b"\xdb\xff\xff\xff\xf0abc", b""],
    "huge declared map": [b"\xdf\xff\xff\xff\xf0", b""],
    "huge declared array": [b"\xdd\xff\xff\xff\xf0", b""],
    "oneway with an unknown verb": [header(0, "teleport", ow=True), b""],
}


@pytest.mark.parametrize("frames", DROPPED.values(), ids=DROPPED.keys())
def test_frames_without_a_usable_request_id_are_dropped(
    target: Target, frames: list[bytes]
) -> None:
    target.send(*frames)
    assert target.replies_until_pong() == []


def test_a_oneway_message_with_a_garbage_body_is_dropped(target: Target) -> None:
    target.send(header(0, "msg", to=target.proxy.agent_id, ow=True), b"\xc1junk")
    assert target.replies_until_pong() == []
    assert target.proxy.send("add", timeout=TIMEOUT) == 1


def agent(target: Target) -> str:
    return target.proxy.agent_id


# (description, header fields, body, expected error type, text the message must contain)
ANSWERED: list[tuple[str, dict[str, Any], bytes, str, str]] = [
    ("wrong protocol version", {"v": 99, "verb": "ping"}, b"", "ProtocolError", "version"),
    ("no protocol version", {"v": None, "verb": "ping"}, b"", "ProtocolError", "version"),
    ("unknown verb", {"verb": "teleport"}, b"", "ProtocolError", "teleport"),
    ("verb not a string", {"verb": 7}, b"", "ProtocolError", "verb"),
    (
        "message without a target",
        {"verb": "msg"},
        msgpack.packb(["add", {}, None]),
        "ProtocolError",
        "'to'",
    ),
    (
        "message to an unknown agent",
        {"verb": "msg", "to": "0" * 32},
        msgpack.packb(["add", {}, None]),
        "InvalidAgentError",
        "0" * 32,
    ),
    (
        "priority out of range",
        {"verb": "msg", "to": "AGENT", "p": 42},
        msgpack.packb(["add", {}, None]),
        "ProtocolError",
        "priority",
    ),
    (
        "negative priority",
        {"verb": "msg", "to": "AGENT", "p": -1},
        msgpack.packb(["add", {}, None]),
        "ProtocolError",
        "priority",
    ),
    (
        "priority not an int",
        {"verb": "msg", "to": "AGENT", "p": "high"},
        msgpack.packb(["add", {}, None]),
        "ProtocolError",
        "priority",
    ),
    (
        "garbage message body",
        {"verb": "msg", "to": "AGENT"},
        b"\xc1garbage",
        "SerializationError",
        "decode",
    ),
    (
        "truncated message body",
        {"verb": "msg", "to": "AGENT"},
        msgpack.packb(["add", {}, None])[:-1],
        "SerializationError",
        "decode",
    ),
    (
        "message body of the wrong shape",
        {"verb": "msg", "to": "AGENT"},
        msgpack.packb({"kind": "add"}),
        "SerializationError",
        "kind",
    ),
    (
        "message kind not a string",
        {"verb": "msg", "to": "AGENT"},
        msgpack.packb([1, {}, None]),
        "SerializationError",
        "kind",
    ),
    ("create with a garbage body", {"verb": "create"}, b"\xc1", "SerializationError", "decode"),
    (
        "create with the wrong shape",
        {"verb": "create"},
        msgpack.packb(["x"]),
        "ProtocolError",
        "create",
    ),
    (
        "create of an unknown module",
        {"verb": "create"},
        msgpack.packb(["nowhere_at_all:Thing", "", b"\x80", None]),
        "ClassNotAllowedError",
        "nowhere_at_all",
    ),
    (
        "control of the wrong shape",
        {"verb": "control", "to": "AGENT"},
        msgpack.packb("nope"),
        "ProtocolError",
        "control",
    ),
    (
        "unknown control operation",
        {"verb": "control", "to": "AGENT"},
        msgpack.packb(["explode", {}]),
        "PagletError",
        "explode",
    ),
    ("info without a target", {"verb": "info"}, b"", "ProtocolError", "'to'"),
    (
        "transfer of a malformed record",
        {"verb": "transfer"},
        msgpack.packb({"tid": "t"}),
        "TransferError",
        "lacks",
    ),
    (
        "transfer of a non-map",
        {"verb": "transfer"},
        msgpack.packb([1, 2]),
        "TransferError",
        "map",
    ),
    (
        "transfer of a class outside the allowlist",
        {"verb": "transfer"},
        msgpack.packb(
            {
                "tid": "t",
                "agent_id": "a",
                "class": "not_allowed_anywhere:Paglet",
                "state_class": "",
                "state": b"\x80",
                "reason": "dispatch",
                "source_name": "x",
                "source_address": "tcp://127.0.0.1:1",
            }
        ),
        "ClassNotAllowedError",
        "not_allowed_anywhere",
    ),
    ("hello without facts", {"verb": "hello"}, msgpack.packb(3), "ProtocolError", "hello"),
]


@pytest.mark.parametrize(
    ("fields", "body", "error", "text"),
    [case[1:] for case in ANSWERED],
    ids=[case[0] for case in ANSWERED],
)
def test_requests_with_an_id_get_a_typed_error_reply(
    target: Target, fields: dict[str, Any], body: bytes, error: str, text: str
) -> None:
    request_id = next(_ids)
    fields = {key: agent(target) if value == "AGENT" else value for key, value in fields.items()}
    raw_header = {"v": PROTOCOL_VERSION, "id": request_id, **fields}
    if raw_header["v"] is None:
        del raw_header["v"]
    target.send(msgpack.packb(raw_header), body)
    reply = target.reply_to(request_id)
    assert reply["ok"] is False
    assert reply["err"] == error
    assert text in reply["msg"]


def test_the_host_serves_on_after_a_burst_of_garbage(target: Target) -> None:
    for frames in DROPPED.values():
        target.send(*frames)
    for _description, fields, body, _error, _text in ANSWERED:
        fields = {k: agent(target) if v == "AGENT" else v for k, v in fields.items()}
        target.send(msgpack.packb({"v": PROTOCOL_VERSION, "id": next(_ids), **fields}), body)
    target.replies_until_pong()
    assert target.proxy.send("add", timeout=TIMEOUT) == 1
    assert target.proxy.send_future("add").get_reply(TIMEOUT) == 2


def test_a_frame_over_the_hosts_size_limit_is_refused(
    make_host: HostFactory, zmq_context: zmq.Context[Any]
) -> None:
    host = make_host("small", api_key=SECRET, max_message_size=64 * 1024)
    proxy = host.create(Tally)
    dealer = zmq_context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.connect(host.address)
    dealer.send_multipart([header(1, "ping"), b"x" * (128 * 1024)])
    # libzmq drops the connection that sent it; the host itself goes on serving
    assert proxy.send("add", timeout=TIMEOUT) == 1
    with HostClient(address=host.address, api_key=SECRET, timeout=TIMEOUT) as client:
        assert client.health()["name"] == "small"


@pytest.mark.parametrize("timeout", ["soon", -1, float("nan"), 10**12, [1]])
def test_a_control_request_with_a_bad_timeout_uses_the_default(
    target: Target, timeout: Any
) -> None:
    request_id = next(_ids)
    target.send(
        header(request_id, "control", to=agent(target)),
        msgpack.packb(["deactivate", {"duration": None, "timeout": timeout}]),
    )
    reply = target.reply_to(request_id)
    assert reply["ok"] is True, reply
    assert not target.proxy.is_active()
