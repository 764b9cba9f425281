"""What the runtime fills on a message when it delivers it, and the reserved kinds.

Each test that takes ``spawn`` runs with the receiver on the caller's host (no network)
and on another host (the message body crosses ZeroMQ).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.messages import DEACTIVATE, FUTURE, ONEWAY, SYNCHRONOUS, Message
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host


class Recorder(Paglet[PagletState]):
    """Keeps the metadata of every message it got, and relays on request."""

    seen: list[dict[str, Any]] = []  # class-wide: oneway messages have no reply to read

    def handle_message(self, message: Message) -> Any:
        if message.kind == "relay":
            target = self.context.get_proxy(message.args["agent_id"], message.args["address"])
            return target.send(Message("meta"))
        if message.kind == "meta":
            facts = {key: value for key, value in message.to_wire().items() if key not in ("args",)}
            Recorder.seen.append(facts)
            return facts
        return self.not_handled()


Spawn = Callable[[], PagletProxy]


@pytest.fixture(params=["same-host", "other-host"])
def spawn(request: pytest.FixtureRequest, two_hosts: tuple[Host, Host]) -> Spawn:
    alpha, beta = two_hosts

    def create() -> PagletProxy:
        if request.param == "same-host":
            return alpha.create(Recorder)
        return alpha.create_remote(beta.address, Recorder)

    return create


def test_a_message_arrives_with_its_type_id_and_time(spawn: Spawn) -> None:
    proxy = spawn()
    sent = Message("meta")
    before = time.time()
    got = proxy.send(sent)
    assert got["message_type"] == SYNCHRONOUS
    assert got["message_id"] == sent.message_id
    assert got["timestamp"] == pytest.approx(sent.timestamp)
    assert sent.timestamp <= time.time() and sent.timestamp >= before - 1
    assert got["sender"] is None  # sent from the test, not from a paglet
    future = proxy.send_future(Message("meta"))
    assert future.get_reply(TIMEOUT)["message_type"] == FUTURE
    oneway = Message("meta")
    proxy.send_oneway(oneway)
    arrived = wait_for(
        lambda: [seen for seen in Recorder.seen if seen["message_id"] == oneway.message_id]
    )
    assert arrived[0]["message_type"] == ONEWAY


def test_two_messages_have_different_ids() -> None:
    assert Message("a").message_id != Message("a").message_id


def test_a_paglet_sending_is_named_as_sender(spawn: Spawn, two_hosts: tuple[Host, Host]) -> None:
    alpha, _ = two_hosts
    receiver = spawn()
    relay = alpha.create(Recorder)
    got = relay.send("relay", args={"agent_id": receiver.agent_id, "address": receiver.host_url})
    assert got["sender"] == relay.agent_id
    assert got["reply_to"] == alpha.address


def test_the_deactivate_kind_deactivates_the_receiver(spawn: Spawn) -> None:
    proxy = spawn()
    assert proxy.send(Message(DEACTIVATE)) is True
    assert proxy.info()["active"] is False
    assert proxy.send("meta")["kind"] == "meta"  # a later message activates it again
    assert proxy.info()["active"] is True


def test_a_bad_deactivate_duration_is_refused_and_the_paglet_stays(spawn: Spawn) -> None:
    proxy = spawn()
    with pytest.raises(PagletError, match="duration"):
        proxy.send(Message(DEACTIVATE, {"duration": "soon"}))
    assert proxy.info()["active"] is True


def test_a_deactivate_with_a_duration_comes_back_by_itself(spawn: Spawn) -> None:
    proxy = spawn()
    assert proxy.send(Message(DEACTIVATE, {"duration": 0.05})) is True
    wait_for(lambda: proxy.info()["active"], message="not activated after its duration")
