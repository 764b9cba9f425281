"""Tests for paglets.core.errors: the tree, and errors travelling by name."""

from __future__ import annotations

import pytest

from paglets.core import errors
from paglets.core.errors import (
    AgentMovedError,
    ClassNotAllowedError,
    ClassResolutionError,
    HostError,
    HostStoppedError,
    InvalidAgentError,
    NotHandledError,
    PagletError,
    PagletInactiveError,
    PayloadTooLargeError,
    PeerNotFoundError,
    ProtocolError,
    RemoteHostError,
    ReplyTimeoutError,
    SerializationError,
    TransferError,
    error_from_wire,
    error_to_wire,
)

WIRE_CLASSES = [
    PagletError,
    SerializationError,
    ClassResolutionError,
    ClassNotAllowedError,
    NotHandledError,
    InvalidAgentError,
    PagletInactiveError,
    TransferError,
    AgentMovedError,
    RemoteHostError,
    PeerNotFoundError,
    ReplyTimeoutError,
    ProtocolError,
    PayloadTooLargeError,
    HostStoppedError,
]


class HandlerBoom(Exception):
    """An exception type of user code."""


def test_every_error_derives_from_paglet_error() -> None:
    for cls in [*WIRE_CLASSES, HostError]:
        assert issubclass(cls, PagletError)
    assert issubclass(ClassNotAllowedError, ClassResolutionError)
    for cls in (PeerNotFoundError, ReplyTimeoutError, ProtocolError, PayloadTooLargeError):
        assert issubclass(cls, RemoteHostError)


def test_no_error_shadows_a_builtin() -> None:
    import builtins

    for name in dir(errors):
        if isinstance(getattr(errors, name), type):
            assert not hasattr(builtins, name), name
    assert not issubclass(ReplyTimeoutError, TimeoutError)


@pytest.mark.parametrize("cls", WIRE_CLASSES, ids=lambda cls: cls.__name__)
def test_paglet_errors_round_trip_as_themselves(cls: type[PagletError]) -> None:
    type_name, text = error_to_wire(cls("what happened"))
    assert (type_name, text) == (cls.__name__, "what happened")
    rebuilt = error_from_wire(type_name, text)
    assert type(rebuilt) is cls
    assert str(rebuilt) == "what happened"


def test_builtin_exception_becomes_remote_host_error() -> None:
    type_name, text = error_to_wire(ValueError("bad value 3"))
    assert (type_name, text) == ("ValueError", "bad value 3")
    rebuilt = error_from_wire(type_name, text)
    assert isinstance(rebuilt, HostError)
    assert rebuilt.remote_type == "ValueError"
    assert rebuilt.remote_message == "bad value 3"
    assert "ValueError" in str(rebuilt) and "bad value 3" in str(rebuilt)


def test_user_exception_keeps_its_qualified_name() -> None:
    type_name, text = error_to_wire(HandlerBoom("kaput"))
    assert type_name == f"{HandlerBoom.__module__}.HandlerBoom"
    rebuilt = error_from_wire(type_name, text)
    assert isinstance(rebuilt, HostError)
    assert (rebuilt.remote_type, rebuilt.remote_message) == (type_name, "kaput")


def test_remote_host_error_travels_on_unchanged() -> None:
    original = HostError("KeyError", "'missing'")
    assert error_to_wire(original) == ("KeyError", "'missing'")
    again = error_from_wire(*error_to_wire(original))
    assert isinstance(again, HostError)
    assert (again.remote_type, again.remote_message) == ("KeyError", "'missing'")


def test_a_subclass_named_like_a_paglet_error_is_not_mistaken_for_it() -> None:
    class TransferError(Exception):  # same name, unrelated class
        pass

    type_name, _ = error_to_wire(TransferError("impostor"))
    assert type_name != "TransferError"
    assert isinstance(error_from_wire(type_name, "impostor"), HostError)


def test_agent_moved_error_carries_the_address() -> None:
    moved = AgentMovedError("gone", "tcp://127.0.0.1:9")
    assert moved.address == "tcp://127.0.0.1:9"
    assert error_from_wire("AgentMovedError", "gone").address == ""
