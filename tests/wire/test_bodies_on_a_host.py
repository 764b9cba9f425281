"""Malformed ``create``, ``transfer`` and ``control`` bodies sent to a real host.

Each gets the clear error of its body's typed definition, nothing is created or
staged for it, and the well-formed request sent right after it is served.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.ids import new_id
from paglets.core.messages import Message
from paglets.net.security import configure_socket, derive_keys
from paglets.runtime.host import Host
from paglets.wire import protocol
from paglets.wire.codec import encode_state, encode_value
from paglets.wire.control_bodies import ControlBody
from paglets.wire.create_body import CreateBody
from paglets.wire.handoff_bodies import HandoffRecord
from paglets.wire.protocol import pack_request_header, unpack_header

SECRET = "bodies-secret"


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
class Raw:
    host: Host
    dealer: zmq.Socket[Any]
    next_id: int = 0

    def ask(self, verb: str, value: Any, **fields: Any) -> dict[str, Any]:
        """Send one request with an encoded body; return its reply header (+ ``body``)."""
        self.next_id += 1
        header = pack_request_header(self.next_id, verb, fields)
        self.dealer.send_multipart([header, encode_value(value)])
        while True:
            assert self.dealer.poll(int(TIMEOUT * 1000)), f"{verb}: no reply"
            frames = self.dealer.recv_multipart()
            reply = unpack_header(frames[0])
            if reply["id"] == self.next_id:
                break
        reply["body"] = msgpack.unpackb(frames[1]) if reply["ok"] and frames[1] else None
        return reply

    def refused(self, verb: str, value: Any, error: str, says: str, **fields: Any) -> None:
        reply = self.ask(verb, value, **fields)
        assert (reply["ok"], reply["err"]) == (False, error), reply
        assert says in reply["msg"], reply


@pytest.fixture
def raw(make_host: HostFactory, zmq_context: zmq.Context[Any]) -> Iterator[Raw]:
    host = make_host("bodies", api_key=SECRET, mesh_lan_discovery=False)
    dealer = zmq_context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    configure_socket(dealer, derive_keys(SECRET), server=False)
    dealer.connect(host.address)
    yield Raw(host, dealer)
    dealer.close(0)


def test_a_malformed_create_then_a_good_one(raw: Raw) -> None:
    path = class_path(Tally)
    raw.refused("create", [path, "", b"\x80"], "ProtocolError", "create needs [class")
    raw.refused("create", [path, "", "not bytes", None], "ProtocolError", "state as bytes")
    raw.refused("create", [7, "", b"\x80", None], "ProtocolError", "class path string")
    raw.refused("create", "Tally", "ProtocolError", "create needs")
    assert raw.host.info()["active"] == 0
    body = CreateBody.of(path, TallyState(count=4))
    agent_id = raw.ask("create", body.to_wire())["body"]
    assert raw.host.get_proxy(agent_id).send("add", timeout=TIMEOUT) == 5


def test_a_malformed_control_then_a_good_one(raw: Raw) -> None:
    proxy = raw.host.create(Tally)
    to = proxy.agent_id
    raw.refused("control", ["clone"], "ProtocolError", "control needs [op, args]", to=to)
    raw.refused("control", [None, {}], "ProtocolError", "string op", to=to)
    raw.refused("control", ["clone", [1]], "ProtocolError", "map of args", to=to)
    raw.refused("control", ["explode", {}], "PagletError", "explode", to=to)
    assert raw.host.info()["active"] == 1
    clone = raw.ask("control", ControlBody("clone", {}).to_wire(), to=to)
    assert clone["ok"] is True
    wait_for(lambda: raw.host.info()["active"] == 2)
    assert proxy.send("add", timeout=TIMEOUT) == 1


def good_record(raw: Raw, tid: str, agent_id: str) -> HandoffRecord:
    return HandoffRecord(
        tid=tid,
        agent_id=agent_id,
        source_agent_id=agent_id,
        class_path=class_path(Tally),
        state_class_path=class_path(TallyState),
        state=encode_state(TallyState(count=10)),
        reason="dispatch",
        source_name="elsewhere",
        source_address="tcp://127.0.0.1:1",
    )


def test_a_malformed_transfer_then_a_good_one(raw: Raw) -> None:
    tid, agent_id = new_id(), new_id()
    record = good_record(raw, tid, agent_id).to_wire()
    raw.refused("transfer", [record], "TransferError", "must be a map")
    raw.refused("transfer", {**record, "state": "text"}, "TransferError", "'state' must be bytes")
    raw.refused("transfer", {**record, "tid": "../x"}, "TransferError", "not a plain id")
    lacking = {key: value for key, value in record.items() if key != "reason"}
    raw.refused("transfer", lacking, "TransferError", "lacks 'reason'")
    escaping = {**record, "files": [{"name": "../x", "size": 1, "sha256": "0" * 64}]}
    raw.refused("transfer", escaping, "ArtifactError", "not a plain file name")
    raw.refused("transfer.commit", 42, "TransferError", "must be a string")
    raw.refused("abort", "a/b", "TransferError", "not a plain id")
    assert raw.host.info()["active"] == 0
    assert raw.host._operations.mobility.transfers.unsettled() == []  # nothing recorded
    assert raw.ask("transfer", record)["body"] == "prepared"
    assert raw.ask("transfer.commit", tid)["body"] == "started"
    assert raw.host.get_proxy(agent_id).send("add", timeout=TIMEOUT) == 11


def test_the_protocol_docstring_names_body_modules_that_exist() -> None:
    named = set(re.findall(r":mod:`(paglets\.wire\.\w+_bod(?:y|ies))`", protocol.__doc__ or ""))
    assert len(named) == 6
    for module in named:
        assert importlib.import_module(module).__doc__
