"""Tests for paglets.wire.message_body: a message's body round trip and bad bodies."""

from __future__ import annotations

import pytest

from paglets.core.errors import SerializationError
from paglets.core.messages import ONEWAY, Message
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import encode_value
from paglets.wire.message_body import decode_message_body, encode_message_body

POLICY = ClassPolicy()


def test_every_field_but_the_priority_travels_in_the_body() -> None:
    sent = Message("work", {"n": 1}, arg=b"x", priority=9, sender="a1", reply_to="tcp://h:1")
    sent.message_type = ONEWAY
    got = decode_message_body(encode_message_body(sent), 3, POLICY)
    assert got.to_wire() == {**sent.to_wire(), "priority": 3}


def test_a_body_without_meta_gets_defaults() -> None:
    got = decode_message_body(encode_value(["work", {}, None]), 5, POLICY)
    assert (got.kind, got.sender, got.message_type) == ("work", None, "synchronous")
    assert got.message_id


@pytest.mark.parametrize(
    "body",
    [
        ["work", {}],
        ["", {}, None],
        ["work", [], None],
        ["work", {}, None, ["bogus", None, None, 1.0, "id"]],
        ["work", {}, None, ["oneway", 3, None, 1.0, "id"]],
        ["work", {}, None, ["oneway", None, None, "now", "id"]],
        ["work", {}, None, ["oneway", None, None, 1.0]],
        "work",
    ],
)
def test_a_bad_body_is_a_serialization_error(body: object) -> None:
    with pytest.raises(SerializationError):
        decode_message_body(encode_value(body), 5, POLICY)
