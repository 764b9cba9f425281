"""Tests for paglets.wire.create_body: the ``create`` body round trip and bad bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from paglets.core.classes import class_path
from paglets.core.errors import ProtocolError, SerializationError
from paglets.core.state import PagletState
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_state, decode_value, encode_value
from paglets.wire.create_body import DECLARED_STATE, CreateBody

POLICY = ClassPolicy()


@dataclass
class BoxState(PagletState):
    size: int = 1


def test_a_body_round_trips_through_the_codec() -> None:
    sent = CreateBody("pkg.mod:Box", class_path(BoxState), b"\x80", {"init": [1, 2]})
    assert CreateBody.decode(sent.encode(), POLICY) == sent
    assert CreateBody.from_wire(decode_value(sent.encode(), POLICY)) == sent


def test_the_wire_shape_is_the_four_item_list() -> None:
    body = CreateBody("pkg.mod:Box", "", b"\x80", None)
    assert decode_value(body.encode(), POLICY) == ["pkg.mod:Box", "", b"\x80", None]


def test_of_a_state_instance_names_its_class() -> None:
    body = CreateBody.of("pkg.mod:Box", BoxState(size=7), "go")
    assert body.state_class_path == class_path(BoxState)
    assert decode_state(body.state, BoxState, POLICY) == BoxState(size=7)
    assert body.init == "go"


def test_of_state_fields_or_none_uses_the_declared_state() -> None:
    fields = CreateBody.of("pkg.mod:Box", {"size": 3})
    assert fields.state_class_path == DECLARED_STATE
    assert decode_value(fields.state, POLICY) == {"size": 3}
    empty = CreateBody.of("pkg.mod:Box", None)
    assert decode_value(empty.state, POLICY) == {}


def test_an_init_that_cannot_be_encoded_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError):
        CreateBody("pkg.mod:Box", "", b"", object()).encode()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("pkg.mod:Box", "create needs [class, state class, state, init]"),
        (["pkg.mod:Box", "", b"\x80"], "create needs [class, state class, state, init]"),
        (["pkg.mod:Box", "", b"\x80", None, None], "create needs [class"),
        ([None, "", b"\x80", None], "class path string"),
        (["", "", b"\x80", None], "class path string"),
        ([3, "", b"\x80", None], "class path string"),
        (["pkg.mod:Box", None, b"\x80", None], "state class path string"),
        (["pkg.mod:Box", "", "not bytes", None], "state as bytes"),
        (["pkg.mod:Box", "", None, None], "state as bytes"),
    ],
)
def test_a_malformed_body_is_a_protocol_error_that_says_what(body: Any, says: str) -> None:
    with pytest.raises(ProtocolError, match=says.replace("[", r"\[")):
        CreateBody.decode(encode_value(body), POLICY)


def test_junk_bytes_are_a_serialization_error() -> None:
    with pytest.raises(SerializationError):
        CreateBody.decode(b"\xc1\xc1", POLICY)
