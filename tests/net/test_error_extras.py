"""Errors that carry more than their text cross the transport whole, by their own hook.

The transport knows no paglet error class: an error declares its extra fields
(``wire_extras``) and ``core.errors`` rebuilds it (``from_wire``). These tests send
failures through a real ROUTER on loopback and check what the caller raises.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from helpers import TIMEOUT
from paglets.core.errors import (
    AgentMovedError,
    HostError,
    PagletError,
    error_extras,
    error_from_wire,
)
from paglets.net.transport import IncomingRequest, Transport, TransportConfig
from paglets.wire.protocol import unpack_header

NET = Path(__file__).resolve().parents[2] / "src" / "paglets" / "net"


class GreedyError(PagletError):
    """An error whose extras try to replace the reply's own header fields."""

    def wire_extras(self) -> dict[str, Any]:
        return {"id": 999_999, "ok": True, "err": "PagletError", "note": "kept"}


def _fail_with(error: BaseException, extra: dict[str, Any] | None = None) -> Any:
    def handler(request: IncomingRequest) -> None:
        request.fail(error, extra)

    return handler


@pytest.fixture
def client() -> Iterator[Transport]:
    transport = Transport("client", TransportConfig(bind_host=None, default_timeout=TIMEOUT))
    transport.start(TIMEOUT)
    yield transport
    transport.stop(TIMEOUT)


def _served(error: BaseException, extra: dict[str, Any] | None = None) -> Transport:
    served = Transport("served", TransportConfig(), _fail_with(error, extra))
    served.start(TIMEOUT)
    return served


def test_a_moved_paglet_s_address_reaches_the_caller_on_both_paths(client: Transport) -> None:
    served = _served(AgentMovedError("paglet a1 moved", "tcp://127.0.0.1:9"))
    try:
        with pytest.raises(AgentMovedError) as blocking:
            client.call(served.address, "msg", timeout=TIMEOUT)
        with pytest.raises(AgentMovedError) as future:
            client.request(served.address, "msg", timeout=TIMEOUT).get_reply(TIMEOUT)
    finally:
        served.stop(TIMEOUT)
    for caught in (blocking.value, future.value):
        assert caught.address == "tcp://127.0.0.1:9"
        assert str(caught) == "paglet a1 moved"


def test_the_moved_reply_keeps_its_wire_form(zmq_context: zmq.Context[Any]) -> None:
    # Older peers of this repo read the forwarding address from the ``to`` field.
    served = _served(AgentMovedError("gone", "tcp://127.0.0.1:7"))
    dealer = zmq_context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        dealer.connect(served.address)
        dealer.send_multipart([msgpack.packb({"v": 1, "id": 5, "verb": "msg"}), b""])
        assert dealer.poll(int(TIMEOUT * 1000)), "no reply"
        header = unpack_header(dealer.recv_multipart()[0])
    finally:
        dealer.close(0)
        served.stop(TIMEOUT)
    assert header["err"] == "AgentMovedError" and header["msg"] == "gone"
    assert header["to"] == "tcp://127.0.0.1:7" and header["id"] == 5 and header["ok"] is False


def test_extras_cannot_replace_the_reply_s_own_fields(client: Transport) -> None:
    served = _served(GreedyError("greedy"), {"v": 99, "hint": "also kept"})
    try:
        with pytest.raises(HostError) as caught:
            client.call(served.address, "msg", timeout=TIMEOUT)
    finally:
        served.stop(TIMEOUT)
    # The class is not one of core's, so it arrives as HostError naming it; the reply
    # still answered this request (its id was not replaced) and was an error.
    assert caught.value.remote_type.endswith("GreedyError")
    assert caught.value.remote_message == "greedy"


def test_errors_without_extras_declare_none() -> None:
    assert error_extras(ValueError("x")) == {}
    assert error_extras(PagletError("x")) == {}
    assert error_extras(AgentMovedError("x", "tcp://h:1")) == {"to": "tcp://h:1"}


def test_the_registry_rebuilds_a_class_from_its_extras() -> None:
    moved = error_from_wire("AgentMovedError", "gone", {"to": "tcp://h:2", "other": 1})
    assert isinstance(moved, AgentMovedError) and moved.address == "tcp://h:2"
    assert error_from_wire("AgentMovedError", "gone").address == ""
    plain = error_from_wire("ReplyTimeoutError", "late", {"to": "ignored"})
    assert type(plain).__name__ == "ReplyTimeoutError" and str(plain) == "late"


def test_no_net_module_names_a_paglet_error_it_does_not_raise() -> None:
    # net/ raises transport errors; errors of paglets (moved, crashed...) are core's.
    for path in sorted(NET.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "paglets.core.errors"
            for alias in node.names
        }
        assert not imported & {"AgentMovedError", "InvalidAgentError", "PagletCrashedError"}, (
            path.name
        )
