"""The verb table: documented, served, and its headers checked.

Every verb in :data:`paglets.wire.protocol.VERBS` must appear in the protocol
module's docstring table and be served by a real host's ``RequestRouter``: sent from a
raw DEALER, it gets a reply, a success or a typed error from
:mod:`paglets.core.errors`, never silence and never a stray exception type. The
header helpers refuse wrong versions, unknown verbs, bad ids and oversize headers
with ``ProtocolError``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT
from paglets.core import errors
from paglets.core.agent import Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, ProtocolError
from paglets.core.messages import Message
from paglets.net.security import configure_socket, derive_keys
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host
from paglets.wire import protocol
from paglets.wire.codec import encode_value
from paglets.wire.protocol import (
    MAX_HEADER_SIZE,
    PROTOCOL_VERSION,
    VERBS,
    check_request_header,
    pack_error_header,
    pack_ok_header,
    pack_request_header,
    unpack_header,
)

SECRET = "verb-table-secret"
_ids = itertools.count(1)

ERROR_NAMES = {
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, PagletError)
}


@dataclass
class CountState(PagletState):
    count: int = 0


class Counter(Paglet[CountState]):
    State = CountState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()


# the docstring table --------------------------------------------------------------------


def documented_verbs() -> list[str]:
    """The verbs in the first column of the protocol docstring's table."""
    doc = protocol.__doc__ or ""
    rules = [n for n, line in enumerate(doc.splitlines()) if re.fullmatch(r"=+( +=+)+", line)]
    assert len(rules) == 3, "the verb table is a simple reST table with three rules"
    rows = doc.splitlines()[rules[1] + 1 : rules[2]]
    return [m.group(1) for row in rows if (m := re.match(r"``([^`]+)``", row))]


def test_every_verb_is_in_the_docstring_table_and_nothing_else() -> None:
    documented = documented_verbs()
    assert len(documented) == len(set(documented)), "a verb is documented twice"
    assert set(documented) == VERBS


def test_the_router_serves_every_verb_by_a_special_case_or_its_table(host: Host) -> None:
    router = host._router  # the one the host serves with
    special = {protocol.VERB_MESSAGE, protocol.VERB_PING} | protocol.ARTIFACT_VERBS
    table = set(router._handlers)
    assert not special & table
    assert special | table == VERBS


# every verb on a real host ---------------------------------------------------------------


@dataclass
class Wire:
    host: Host
    proxy: PagletProxy
    dealer: zmq.Socket[Any]

    def ask(self, verb: str, body: bytes = b"", **fields: Any) -> dict[str, Any]:
        """Send one request; return its reply header (with ``body``: the decoded body)."""
        request_id = next(_ids)
        self.dealer.send_multipart([pack_request_header(request_id, verb, fields), body])
        while True:
            assert self.dealer.poll(int(TIMEOUT * 1000)), f"{verb}: no reply (silence)"
            frames = self.dealer.recv_multipart()
            header = unpack_header(frames[0])
            if header["id"] == request_id:
                break
        assert header["v"] == PROTOCOL_VERSION and len(frames) >= 2
        if header["ok"] is True:
            header["body"] = msgpack.unpackb(frames[1]) if frames[1] else None
        return header


@pytest.fixture
def wire(make_host: HostFactory, zmq_context: zmq.Context[Any]) -> Iterator[Wire]:
    host = make_host("verbs", api_key=SECRET, mesh_lan_discovery=False)
    proxy = host.create(Counter)
    dealer = zmq_context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.connect(host.address)
    made = Wire(host, proxy, dealer)
    yield made
    assert proxy.send("add", timeout=TIMEOUT) >= 1  # the host still serves


def assert_clear(verb: str, header: dict[str, Any]) -> None:
    if header["ok"] is True:
        return
    assert header["err"] in ERROR_NAMES, f"{verb}: untyped error {header}"
    assert header["msg"], f"{verb}: an error without a message"


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_with_an_empty_body_gets_a_reply_or_a_clear_error(wire: Wire, verb: str) -> None:
    assert_clear(verb, wire.ask(verb))


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_with_a_garbage_body_gets_a_reply_or_a_clear_error(
    wire: Wire, verb: str
) -> None:
    fields = {"to": wire.proxy.agent_id}
    assert_clear(verb, wire.ask(verb, b"\xc1\xc1 not msgpack", **fields))


def test_verbs_that_need_a_target_say_so(wire: Wire) -> None:
    bodies = {
        "msg": encode_value(["add", {}, None]),
        "info": b"",
        "state": b"",
        "control": encode_value(["clone", {}]),  # the body is checked before the target
    }
    for verb, body in bodies.items():
        header = wire.ask(verb, body)
        assert (header["ok"], header["err"]) == (False, "ProtocolError")
        assert "'to'" in header["msg"]


def test_well_formed_requests_succeed(wire: Wire) -> None:
    agent_id = wire.proxy.agent_id
    assert wire.ask("ping")["body"]["name"] == "verbs"
    assert wire.ask("msg", encode_value(["add", {}, None]), to=agent_id)["body"] == 1
    assert wire.ask("info", to=agent_id)["body"]["agent_id"] == agent_id
    state_class, _state = wire.ask("state", to=agent_id)["body"]
    assert state_class == class_path(CountState)
    created = wire.ask("create", encode_value([class_path(Counter), "", encode_value({}), None]))
    assert isinstance(created["body"], str) and created["body"] != agent_id
    listed = wire.ask("list")["body"]
    assert {agent_id, created["body"]} <= {info["agent_id"] for info in listed}
    assert wire.ask("mesh")["body"]["self"]["name"] == "verbs"
    assert wire.ask("art.list")["body"] == []
    assert wire.ask("art.progress")["body"] == []
    clone = wire.ask("control", encode_value(["clone", {}]), to=agent_id)
    assert clone["ok"] is True and clone["body"] not in (agent_id, created["body"])


def test_a_hello_of_another_mesh_version_is_refused(wire: Wire) -> None:
    facts = dict(wire.host._membership.facts())
    facts.update(name="stranger", mesh_version="other-mesh")
    header = wire.ask("hello", encode_value(facts))
    assert (header["ok"], header["err"]) == (False, "ProtocolError")


# header helpers ---------------------------------------------------------------------------


def request(**header: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": 1, "verb": "ping", **header}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_check_request_header_returns_each_known_verb(verb: str) -> None:
    assert check_request_header(request(verb=verb)) == verb


@pytest.mark.parametrize("version", [0, 2, 99, -1, None, "1", b"\x01", [1]])
def test_check_request_header_refuses_other_versions(version: Any) -> None:
    with pytest.raises(ProtocolError, match="protocol version"):
        check_request_header(request(v=version))


def test_check_request_header_refuses_a_header_without_a_version() -> None:
    with pytest.raises(ProtocolError, match="protocol version"):
        check_request_header({"id": 1, "verb": "ping"})


@pytest.mark.parametrize(
    "verb", ["teleport", "", "PING", "ping ", "art.", 7, None, b"ping", ["ping"]]
)
def test_check_request_header_refuses_unknown_verbs(verb: Any) -> None:
    with pytest.raises(ProtocolError, match="unknown verb"):
        check_request_header(request(verb=verb))


def test_an_unknown_verb_error_stays_short() -> None:
    with pytest.raises(ProtocolError) as caught:
        check_request_header(request(verb="x" * 10_000))
    assert len(str(caught.value)) <= 200


@pytest.mark.parametrize("request_id", ["5", 5.0, None, True, [5], {"id": 5}, b"5"])
def test_unpack_header_refuses_ids_that_are_not_integers(request_id: Any) -> None:
    frame = msgpack.packb({"v": PROTOCOL_VERSION, "id": request_id, "verb": "ping"})
    with pytest.raises(ProtocolError, match="integer 'id'"):
        unpack_header(frame)


def test_unpack_header_refuses_a_header_without_an_id() -> None:
    with pytest.raises(ProtocolError, match="integer 'id'"):
        unpack_header(msgpack.packb({"v": PROTOCOL_VERSION, "verb": "ping"}))


@pytest.mark.parametrize(
    "frame",
    [b"", b"\xc1", b"\x81", msgpack.packb([1, 2]), msgpack.packb(7), msgpack.packb({1: 2})],
    ids=["empty", "reserved byte", "truncated map", "list", "int", "int keys"],
)
def test_unpack_header_refuses_what_is_not_a_string_keyed_map(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpack_header(frame)


def test_request_headers_round_trip() -> None:
    fields = {"to": "a" * 32, "p": 9, "nd": True, "ow": False, "blob": b"\x00\xff", "n": None}
    for request_id in (0, 1, 2**31, 2**63 - 1, -5):
        frame = pack_request_header(request_id, "msg", fields)
        header = unpack_header(frame)
        assert header == {"v": PROTOCOL_VERSION, "id": request_id, "verb": "msg", **fields}
        assert check_request_header(header) == "msg"
        assert unpack_header(memoryview(frame)) == header
    assert unpack_header(pack_request_header(3, "ping")) == request(id=3)


def test_reply_headers_round_trip() -> None:
    assert unpack_header(pack_ok_header(12)) == {"v": PROTOCOL_VERSION, "id": 12, "ok": True}
    failed = unpack_header(pack_error_header(13, "AgentMovedError", "moved", {"to": "tcp://x:1"}))
    assert failed == {
        "v": PROTOCOL_VERSION,
        "id": 13,
        "ok": False,
        "err": "AgentMovedError",
        "msg": "moved",
        "to": "tcp://x:1",
    }
    plain = unpack_header(pack_error_header(14, "ProtocolError", "bad"))
    assert set(plain) == {"v", "id", "ok", "err", "msg"}


def padded_header(size: int) -> bytes:
    """A request header of exactly ``size`` bytes (a ``pad`` field fills it up)."""
    pad = size
    for _ in range(8):  # the pad's own length prefix varies by a few bytes
        frame = pack_request_header(1, "ping", {"pad": "x" * pad})
        if len(frame) == size:
            return frame
        pad -= len(frame) - size
    raise AssertionError(f"could not build a header of {size} bytes")


def test_a_header_at_the_limit_passes_and_one_byte_more_is_refused() -> None:
    at_limit = padded_header(MAX_HEADER_SIZE)
    assert unpack_header(at_limit)["verb"] == "ping"
    over = padded_header(MAX_HEADER_SIZE + 1)  # packing does not check: unpacking does
    with pytest.raises(ProtocolError, match=f"over {MAX_HEADER_SIZE}"):
        unpack_header(over)
    with pytest.raises(ProtocolError, match="over"):
        unpack_header(memoryview(over))
    big_error = pack_error_header(1, "ProtocolError", "m" * MAX_HEADER_SIZE)
    with pytest.raises(ProtocolError, match="over"):
        unpack_header(big_error)
