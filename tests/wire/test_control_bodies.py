"""Tests for paglets.wire.control_bodies and paglets.wire.service_body."""

from __future__ import annotations

from typing import Any

import pytest

from paglets.core.errors import ProtocolError
from paglets.core.state import ACTIVE, INACTIVE
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.control_bodies import ControlBody, StateReply, list_flags
from paglets.wire.service_body import ENSURE, LOOKUP, ServiceQuery

POLICY = ClassPolicy()


def through_the_codec(value: Any) -> Any:
    return decode_value(encode_value(value), POLICY)


# control ---------------------------------------------------------------------------------


def test_a_control_body_round_trips_as_op_and_args() -> None:
    sent = ControlBody("dispatch", {"target": "tcp://127.0.0.1:1", "timeout": 2.5})
    wire = through_the_codec(sent.to_wire())
    assert wire == ["dispatch", {"target": "tcp://127.0.0.1:1", "timeout": 2.5}]
    assert ControlBody.from_wire(wire) == sent


def test_an_unknown_op_is_left_to_the_host() -> None:
    assert ControlBody.from_wire(["explode", {}]).op == "explode"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "control needs"),
        ("nope", "control needs"),
        (["clone"], "control needs"),
        (["clone", {}, {}], "control needs"),
        ([3, {}], "string op"),
        (["", {}], "string op"),
        (["clone", []], "map of args"),
        (["clone", None], "map of args"),
        (["clone", {1: "x"}], "string keys"),
    ],
)
def test_a_malformed_control_body_is_a_protocol_error(body: Any, says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        ControlBody.from_wire(body)


# list ------------------------------------------------------------------------------------


def test_list_flags() -> None:
    assert list_flags(None) == ACTIVE
    assert list_flags(through_the_codec(ACTIVE | INACTIVE)) == ACTIVE | INACTIVE
    assert list_flags(INACTIVE) == INACTIVE


@pytest.mark.parametrize("body", [True, "1", 1.0, 8, -1, [1]])
def test_bad_list_flags_are_a_protocol_error(body: Any) -> None:
    with pytest.raises(ProtocolError, match="state flags"):
        list_flags(body)


# state -----------------------------------------------------------------------------------


def test_a_state_reply_round_trips() -> None:
    sent = StateReply("pkg.mod:BoxState", b"\x81\xa1a\x01")
    wire = through_the_codec(sent.to_wire())
    assert wire == ["pkg.mod:BoxState", b"\x81\xa1a\x01"]
    assert StateReply.from_wire(wire) == sent


@pytest.mark.parametrize(
    "reply", [None, [], ["pkg.mod:S"], ["pkg.mod:S", "text"], [1, b""], ["a", b"", 3]]
)
def test_a_malformed_state_reply_is_a_protocol_error(reply: Any) -> None:
    with pytest.raises(ProtocolError, match="state reply"):
        StateReply.from_wire(reply)


# svc -------------------------------------------------------------------------------------


def test_service_queries_round_trip_in_both_forms() -> None:
    lookup = ServiceQuery.lookup("compute")
    assert through_the_codec(lookup.to_wire()) == {"op": LOOKUP, "name": "compute"}
    assert ServiceQuery.from_wire(through_the_codec(lookup.to_wire())) == lookup
    every = ServiceQuery.lookup(None)
    assert ServiceQuery.from_wire(through_the_codec(every.to_wire())) == every
    ensure = ServiceQuery.ensure("compute", "k1")
    assert through_the_codec(ensure.to_wire()) == {"op": ENSURE, "name": "compute", "key": "k1"}
    assert ServiceQuery.from_wire(through_the_codec(ensure.to_wire())) == ensure


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "svc needs"),
        (["lookup"], "svc needs"),
        ({"op": "drop", "name": "x"}, "svc needs"),
        ({"name": "x"}, "svc needs"),
        ({"op": "lookup", "name": 3}, "svc name must be a string"),
        ({"op": "ensure", "name": "x"}, "svc ensure needs a name and a key"),
        ({"op": "ensure", "key": "k"}, "svc ensure needs a name and a key"),
        ({"op": "ensure", "name": "x", "key": 1}, "svc ensure needs a name and a key"),
    ],
)
def test_a_malformed_service_query_is_a_protocol_error(body: Any, says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        ServiceQuery.from_wire(body)
