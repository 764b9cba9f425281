"""Host to host links: unreachable peers, slow peers, size limits, a peer restarting."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import HostFactory
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    PayloadTooLargeError,
    PeerNotFoundError,
    RemoteHostError,
    ReplyTimeoutError,
)
from paglets.core.messages import Message
from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host


@dataclass
class SinkState(PagletState):
    received: int = 0


class Sink(Paglet[SinkState]):
    State = SinkState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "take":
            self.state.received += len(message.args["data"])
            return self.state.received
        if message.kind == "block":
            gate(message.arg).pass_through()
            return "released"
        if message.kind == "name":
            return self.context.name
        return self.not_handled()


def port_of(host: Host) -> int:
    return int(host.address.rsplit(":", 1)[1])


def test_a_proxy_to_a_dead_address_fails_fast(host: Host, dead_address: str) -> None:
    proxy = host.proxy("1" * 32, dead_address)
    started = time.monotonic()
    with pytest.raises(PeerNotFoundError):
        proxy.send("name", timeout=0.3)
    with pytest.raises(PeerNotFoundError):
        proxy.send_future("name", timeout=0.3).get_reply(TIMEOUT)
    with pytest.raises(PeerNotFoundError):
        host.create_remote(dead_address, Sink, timeout=0.3)
    assert time.monotonic() - started < 0.9 + TIMEOUT


def test_a_handler_slower_than_the_timeout_gives_reply_timeout(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, _beta = two_hosts
    for proxy in (alpha.create(Sink), alpha.create_remote("beta", Sink)):
        blocker = new_gate()
        with pytest.raises(ReplyTimeoutError):
            proxy.send(Message("block", arg=blocker.key), timeout=0.2)
        with pytest.raises(ReplyTimeoutError):
            proxy.send_future("name", timeout=0.2).get_reply(0.2)
        blocker.open()
        assert proxy.send("name", timeout=TIMEOUT) in ("alpha", "beta")


def test_an_oversized_message_fails_on_the_sender_side(make_host: HostFactory) -> None:
    sender = make_host("sender", max_message_size=1 << 20)
    receiver = make_host("receiver")
    proxy = sender.proxy(receiver.create(Sink).agent_id, receiver.address)
    big = {"data": b"x" * (2 << 20)}
    with pytest.raises(PayloadTooLargeError, match="limit"):
        proxy.send("take", args=big, timeout=TIMEOUT)
    with pytest.raises(PayloadTooLargeError):
        proxy.send_future("take", args=big)
    with pytest.raises(PayloadTooLargeError):
        proxy.send_oneway("take", args=big)
    assert proxy.send("take", args={"data": b"x" * 1000}, timeout=TIMEOUT) == 1000


def test_a_message_over_the_receivers_limit_is_refused_and_it_goes_on(
    make_host: HostFactory,
) -> None:
    sender = make_host("sender")
    receiver = make_host("receiver", max_message_size=1 << 20)
    agent_id = receiver.create(Sink).agent_id
    proxy = sender.proxy(agent_id, receiver.address)
    with pytest.raises(RemoteHostError):  # the receiver drops the connection: nothing is handled
        proxy.send("take", args={"data": b"x" * (2 << 20)}, timeout=0.5)
    with HostClient(address=receiver.address, timeout=TIMEOUT) as client:
        assert client.send(agent_id, Message("take", {"data": b"x" * 1000})) == 1000
    wait_for(lambda: answers(proxy, "receiver"), timeout=2 * TIMEOUT)  # once reconnected
    assert proxy.send("take", args={"data": b"x" * 1000}, timeout=TIMEOUT) == 2000


def answers(proxy: PagletProxy, name: str) -> bool:
    try:
        return bool(proxy.send("name", timeout=0.5) == name)
    except (PeerNotFoundError, ReplyTimeoutError):
        return False


def test_a_peer_restarted_on_the_same_port_is_reached_again(make_host: HostFactory) -> None:
    alpha = make_host("alpha")
    beta = make_host("beta")
    port = port_of(beta)
    first = alpha.proxy(beta.create(Sink).agent_id, beta.address)
    assert first.send("name", timeout=TIMEOUT) == "beta"
    assert first.send_future("name").get_reply(TIMEOUT) == "beta"
    beta.stop()
    with pytest.raises((PeerNotFoundError, ReplyTimeoutError)):
        first.send("name", timeout=0.2)

    reborn = make_host("beta-again", port=port)
    assert reborn.address == beta.address
    second = alpha.proxy(reborn.create(Sink).agent_id, reborn.address)
    wait_for(lambda: answers(second, "beta-again"), timeout=2 * TIMEOUT)
    assert second.send_future("name").get_reply(TIMEOUT) == "beta-again"
    second.send_oneway("take", args={"data": b"abc"})
    wait_for(lambda: second.send("take", args={"data": b""}) == 3)
