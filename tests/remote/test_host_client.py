"""HostClient: talking to a host one does not run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.errors import (
    HostStoppedError,
    InvalidAgentError,
    NotHandledError,
    PagletError,
    PeerNotFoundError,
    SerializationError,
)
from paglets.core.events import CreationEvent
from paglets.core.messages import Message
from paglets.remote.client import HostClient
from paglets.runtime.host import Host


@dataclass
class NoteState(PagletState):
    title: str = "untitled"
    lines: list[str] = field(default_factory=list)
    init: Any = None


class Notebook(Paglet[NoteState]):
    State = NoteState

    def on_creation(self, event: CreationEvent) -> None:
        self.state.init = event.init

    def handle_message(self, message: Message) -> Any:
        if message.kind == "write":
            self.state.lines.append(str(message.args["line"]))
            return len(self.state.lines)
        if message.kind == "read":
            return {"title": self.state.title, "lines": self.state.lines, "init": self.state.init}
        if message.kind == "where":
            return self.context.name
        return self.not_handled()


@pytest.fixture
def client(host: Host) -> Any:
    with HostClient(address=host.address, timeout=TIMEOUT) as connected:
        yield connected


def test_health(host: Host, client: HostClient) -> None:
    host.create(Notebook)
    facts = client.health()
    assert facts["name"] == "alpha"
    assert facts["address"] == host.address
    assert facts["mesh_version"] == "dev"
    assert facts["active"] == 1
    assert abs(facts["time"] - time.time()) < 60


@pytest.mark.parametrize("spelling", ["bare", "http"])
def test_any_address_spelling(host: Host, spelling: str) -> None:
    bare = host.address.removeprefix("tcp://")
    address = bare if spelling == "bare" else f"http://{bare}/"
    with HostClient(address=address, timeout=TIMEOUT) as client:
        assert client.address == host.address
        assert client.health()["name"] == "alpha"


def test_create_by_class_path_with_a_state_dict(host: Host, client: HostClient) -> None:
    proxy = client.create(class_path(Notebook), {"title": "diary"}, init={"by": "client"})
    assert proxy.host_url == host.address
    assert proxy.send("write", args={"line": "dear diary"}) == 1
    expected = {"title": "diary", "lines": ["dear diary"], "init": {"by": "client"}}
    assert proxy.send("read") == expected
    assert client.send(proxy.agent_id, Message("write", {"line": "again"})) == 2
    assert client.send(proxy.agent_id, Message("read"))["lines"] == ["dear diary", "again"]
    assert [p.agent_id for p in host.get_proxies(ACTIVE)] == [proxy.agent_id]


def test_create_with_a_class_and_a_state(client: HostClient) -> None:
    proxy = client.create(Notebook, NoteState(title="typed", lines=["one"]))
    assert proxy.send("read")["lines"] == ["one"]
    defaults = client.create(Notebook)
    assert defaults.send("read")["title"] == "untitled"


def test_create_with_a_state_dict_that_does_not_fit(client: HostClient) -> None:
    with pytest.raises(SerializationError, match="no_such_field"):
        client.create(class_path(Notebook), {"no_such_field": 1})


def test_list(host: Host, client: HostClient) -> None:
    awake = client.create(Notebook)
    asleep = client.create(Notebook)
    asleep.deactivate()
    every = {info["agent_id"]: info for info in client.list_agents()}
    assert set(every) == {awake.agent_id, asleep.agent_id}
    assert every[awake.agent_id]["active"] is True
    assert every[awake.agent_id]["class"] == class_path(Notebook)
    assert every[asleep.agent_id]["active"] is False
    assert [info["agent_id"] for info in client.list_agents(flags=ACTIVE)] == [awake.agent_id]
    assert [info["agent_id"] for info in client.list_agents(flags=INACTIVE)] == [asleep.agent_id]


def test_errors_reach_the_client_by_type(client: HostClient) -> None:
    proxy = client.create(Notebook)
    with pytest.raises(NotHandledError):
        proxy.send("nonsense")
    with pytest.raises(InvalidAgentError):
        client.send("9" * 32, "read")
    with pytest.raises(PagletError, match="through a Host"):
        proxy.retract()


def test_a_client_proxy_follows_a_moved_paglet(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        proxy = client.create(Notebook)
        proxy.dispatch("beta")
        assert proxy.host_url == beta.address
        stale = client.get_proxy(proxy.agent_id)
        assert stale.send("where") == "beta"
        assert stale.host_url == beta.address
        clone = proxy.clone()
        assert (clone.host_url, clone.send("where")) == (beta.address, "beta")


def test_nobody_at_the_address(dead_address: str) -> None:
    with HostClient(address=dead_address, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(PeerNotFoundError):
            client.health()
        assert time.monotonic() - started < 0.3 + TIMEOUT


def test_a_closed_client_refuses_calls(host: Host) -> None:
    client = HostClient(address=host.address, timeout=TIMEOUT)
    assert client.health()["name"] == "alpha"
    client.close()
    with pytest.raises(HostStoppedError):
        client.health()


def test_mesh_view_lists_the_peers_with_their_facts(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        view = client.mesh()
    assert view["self"]["name"] == "alpha"
    assert [peer["name"] for peer in view["peers"]] == ["beta"]
    # the same facts are what paglets see through their context (once gossiped)
    peer = wait_for(
        lambda: next(
            (p for p in alpha.peers() if p.name == "beta" and p.cpu_count >= 1),
            None,
        )
    )
    assert peer.online and peer.memory_free > 0
