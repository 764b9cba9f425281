"""PagletProxy: a handle that is data (wire form, refs) and follows its paglet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.messages import Message
from paglets.core.refs import PagletProxyRef
from paglets.remote.proxy import PagletProxy, as_message
from paglets.runtime.host import Host


@dataclass
class RelayState(PagletState):
    friends: list[PagletProxyRef] = field(default_factory=list)
    hits: int = 0


class Relay(Paglet[RelayState]):
    State = RelayState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "befriend":
            self.state.friends.append(message.arg)
            return len(self.state.friends)
        if message.kind == "poke-friends":
            return [ref.resolve(self.context).send("hit") for ref in self.state.friends]
        if message.kind == "hit":
            self.state.hits += 1
            return self.state.hits
        if message.kind == "me":
            return self.proxy().ref()
        return self.not_handled()


def test_wire_form_and_refs(host: Host) -> None:
    proxy = host.create(Relay)
    assert proxy.to_wire() == {"host_url": host.address, "agent_id": proxy.agent_id}
    assert proxy.host_url == proxy.host_url == host.address
    ref = proxy.ref()
    assert ref == PagletProxyRef(host.address, proxy.agent_id)
    assert PagletProxyRef.from_wire(proxy.to_wire()) == ref
    again = PagletProxy.from_wire(proxy.to_wire(), host._backend)
    assert again == proxy and hash(again) == hash(proxy)
    assert host.proxy(proxy.to_wire()).send("hit") == 1
    assert host.proxy(ref).send("hit") == 2
    legacy = {"agent_id": proxy.agent_id, "host_url": host.address.removeprefix("tcp://")}
    assert host.proxy(legacy).host_url == host.address
    with pytest.raises(ValueError, match="agent_id"):
        host.proxy({"host_url": host.address})
    assert proxy.agent_id in repr(proxy)


def test_refs_in_state_and_messages_travel(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    target = beta.create(Relay)
    relay = alpha.create(Relay)
    assert relay.send(Message("befriend", arg=target.ref())) == 1
    assert relay.send("poke-friends") == [1]
    relay.dispatch("beta")
    assert relay.send("poke-friends") == [2]
    me = relay.send("me")
    assert me == PagletProxyRef(beta.address, relay.agent_id)


def test_state_queries(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create_remote("beta", Relay)
    assert proxy.is_valid() and proxy.is_active()
    assert proxy.is_state(ACTIVE) and not proxy.is_state(INACTIVE)
    info = proxy.info(timeout=TIMEOUT)
    assert info["agent_id"] == proxy.agent_id
    assert info["host"] == "beta" and info["address"] == beta.address
    assert info["status"] == "active"
    proxy.deactivate()
    assert proxy.is_valid() and not proxy.is_active() and proxy.is_state(INACTIVE)
    assert proxy.info()["status"] == "inactive"
    proxy.activate()
    assert proxy.is_active()
    proxy.dispose()
    assert not proxy.is_valid() and not proxy.is_state(ACTIVE | INACTIVE)


def test_as_message() -> None:
    message = Message("kind", {"a": 1})
    assert as_message(message) is message
    assert as_message(message, {"b": 2}).args == {"a": 1, "b": 2}
    built = as_message("kind", {"c": 3})
    assert (built.kind, built.args) == ("kind", {"c": 3})


def test_a_proxy_normalizes_its_address(host: Host) -> None:
    proxy = host.create(Relay)
    bare = host.proxy(proxy.agent_id, host.address.removeprefix("tcp://"))
    assert bare.host_url == host.address
    assert bare.send("hit") == 1
