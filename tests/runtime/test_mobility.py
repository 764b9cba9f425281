"""Moving paglets between hosts: targets, forwarding, failures that leave them in place."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import ACTIVE, Paglet, PagletState
from paglets.core.errors import (
    ClassNotAllowedError,
    ClassResolutionError,
    PeerNotFoundError,
    ReplyTimeoutError,
    SerializationError,
    TransferError,
)
from paglets.core.messages import Message
from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host


@dataclass
class BagState(PagletState):
    count: int = 0
    items: list[Any] = field(default_factory=list)


INSTANCES: dict[str, Bag] = {}


class Bag(Paglet[BagState]):
    State = BagState

    def on_creation(self, event: Any) -> None:
        INSTANCES[self.agent_id] = self

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        if message.kind == "count":
            return self.state.count
        if message.kind == "where":
            return self.context.name
        if message.kind == "go":
            return self.dispatch(str(message.arg), timeout=message.args.get("timeout")).host_url
        return self.not_handled()


def at(proxy: PagletProxy, host: Host) -> bool:
    """Whether the paglet answers from ``host`` and is registered there as active."""
    return proxy.send("where", timeout=TIMEOUT) == host.name and proxy.agent_id in [
        p.agent_id for p in host.get_proxies(ACTIVE)
    ]


def spellings(address: str) -> dict[str, str]:
    bare = address.removeprefix("tcp://")
    return {"tcp": address, "bare": bare, "http": f"http://{bare}", "http-slash": f"http://{bare}/"}


# targets ---------------------------------------------------------------------------------


def test_dispatch_by_host_name(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Bag)
    proxy.send("add")
    assert proxy.dispatch("beta") is proxy
    assert proxy.host_url == beta.address
    assert at(proxy, beta)
    assert proxy.send("add") == 2
    assert alpha.get_proxies(ACTIVE) == []


@pytest.mark.parametrize("spelling", ["tcp", "bare", "http", "http-slash"])
def test_dispatch_by_address_in_every_spelling(two_hosts: tuple[Host, Host], spelling: str) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Bag)
    proxy.dispatch(spellings(beta.address)[spelling])
    assert proxy.host_url == beta.address
    assert at(proxy, beta)
    # and back, through the host's verb
    back = beta.dispatch(proxy.agent_id, spellings(alpha.address)[spelling])
    assert back.host_url == alpha.address
    assert at(back, alpha)


def test_dispatch_to_its_own_host_is_a_no_op(host: Host) -> None:
    proxy = host.create(Bag)
    proxy.dispatch("alpha")
    proxy.dispatch(host.address)
    assert at(proxy, host)


def test_paglet_dispatches_itself_from_a_handler(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Bag)
    assert proxy.send(Message("go", arg="beta")) == beta.address
    assert at(proxy, beta)


def test_an_old_proxy_follows_a_paglet_that_moved_twice(
    three_hosts: tuple[Host, Host, Host],
) -> None:
    alpha, beta, gamma = three_hosts
    proxy = alpha.create(Bag)
    stale_here = alpha.proxy(proxy.agent_id, alpha.address)
    stale_elsewhere = gamma.proxy(proxy.agent_id, alpha.address)
    proxy.dispatch("beta")
    proxy.dispatch("gamma")
    assert stale_here.host_url == alpha.address
    assert stale_here.send("add") == 1
    assert stale_here.host_url == gamma.address  # it learnt the new address on the way
    assert stale_elsewhere.send("add") == 2
    assert stale_elsewhere.send_future("where").get_reply(TIMEOUT) == "gamma"
    assert alpha.proxy(proxy.agent_id, alpha.address).send_future("add").get_reply(TIMEOUT) == 3
    assert stale_here.info()["host"] == "gamma"


def test_oneway_messages_follow_a_moved_paglet(three_hosts: tuple[Host, Host, Host]) -> None:
    alpha, beta, gamma = three_hosts
    proxy = alpha.create(Bag)
    stale = beta.proxy(proxy.agent_id, alpha.address)
    proxy.dispatch("gamma")
    stale.send_oneway("add")
    wait_for(lambda: proxy.send("count") == 1)


def test_create_remote_by_name_and_by_address(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    by_name = alpha.create_remote("beta", Bag, BagState(count=10), init="hi")
    by_address = alpha.create_remote(spellings(beta.address)["http"], Bag)
    for proxy in (by_name, by_address):
        assert proxy.host_url == beta.address
        assert at(proxy, beta)
    assert by_name.send("add") == 11
    assert len(beta.get_proxies(ACTIVE)) == 2
    assert alpha.get_proxies(ACTIVE) == []


# failures that leave the paglet where it was ------------------------------------------------


def test_dispatch_to_an_unknown_host_name_leaves_the_paglet(host: Host) -> None:
    proxy = host.create(Bag)
    with pytest.raises((PeerNotFoundError, TransferError), match="nowhere"):
        proxy.dispatch("nowhere")
    with pytest.raises((PeerNotFoundError, TransferError)):
        host.dispatch(proxy.agent_id, "nowhere")
    assert at(proxy, host)
    assert proxy.send("add") == 1


def test_dispatch_to_a_dead_address_fails_within_the_timeout(host: Host, dead_address: str) -> None:
    proxy = host.create(Bag)
    proxy.send("add")
    started = time.monotonic()
    with pytest.raises(TransferError, match="stayed"):
        proxy.dispatch(dead_address, timeout=0.5)
    assert time.monotonic() - started < 0.5 + TIMEOUT
    assert at(proxy, host)
    assert proxy.send("add") == 2


def test_self_dispatch_to_a_dead_address_fails_inside_the_handler(
    host: Host, dead_address: str
) -> None:
    proxy = host.create(Bag)
    with pytest.raises(Exception) as caught:
        proxy.send(Message("go", {"timeout": 0.3}, arg=dead_address), timeout=TIMEOUT)
    assert "TransferError" in str(caught.value)
    assert at(proxy, host)


def test_dispatch_with_the_hosts_transfer_timeout(make_host: Any, dead_address: str) -> None:
    impatient = make_host("impatient", transfer_timeout=0.5)
    proxy = impatient.create(Bag)
    started = time.monotonic()
    with pytest.raises(TransferError):
        impatient.dispatch(proxy.agent_id, dead_address)
    assert time.monotonic() - started < 0.5 + TIMEOUT
    assert at(proxy, impatient)


def test_dispatch_of_an_unencodable_state_names_the_field(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Bag)
    proxy.send("add")
    INSTANCES[proxy.agent_id].state.items.append(threading.Lock())
    with pytest.raises(TransferError, match=r"state\.items\[0\]"):
        proxy.dispatch("beta")
    with pytest.raises(TransferError, match=r"state\.items\[0\]"):
        proxy.clone("beta")
    assert at(proxy, alpha)
    assert proxy.send("add") == 2
    assert beta.get_proxies(ACTIVE) == []


def test_create_with_an_unencodable_state_names_the_field(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    with pytest.raises(SerializationError, match=r"state\.items\[1\]"):
        alpha.create(Bag, BagState(items=[1, threading.Lock()]))
    with pytest.raises(SerializationError, match=r"state\.items\[0\]\['key'\]"):
        alpha.create_remote("beta", Bag, BagState(items=[{"key": object()}]))
    assert alpha.get_proxies(ACTIVE) == [] and beta.get_proxies(ACTIVE) == []


# classes the target refuses ------------------------------------------------------------------


OUTSIDE_MODULE = "paglets_test_outside_module"


def test_a_class_outside_the_allowed_modules_is_refused_and_never_imported(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / f"{OUTSIDE_MODULE}.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('yes')\n"
        "from paglets.core.agent import Paglet\n"
        "class Intruder(Paglet):\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with HostClient(address=host.address, timeout=TIMEOUT) as client:
        with pytest.raises(ClassNotAllowedError, match=OUTSIDE_MODULE):
            client.create(f"{OUTSIDE_MODULE}:Intruder")
    assert OUTSIDE_MODULE not in sys.modules
    assert not marker.exists()
    assert host.get_proxies(ACTIVE) == []


def test_classes_that_do_not_resolve_to_a_paglet_are_refused(host: Host) -> None:
    with HostClient(address=host.address, timeout=TIMEOUT) as client:
        with pytest.raises(ClassResolutionError, match="no such class|cannot import"):
            client.create("paglets.examples.no_such_module:Nothing")
        with pytest.raises(ClassResolutionError, match="not a Paglet"):
            client.create("paglets.core.errors:PagletError")
        with pytest.raises(ClassResolutionError, match="malformed"):
            client.create("not a class path")
    assert host.get_proxies(ACTIVE) == []


def test_remote_proxy_dispatch_to_a_dead_address_fails_within_the_timeout(
    two_hosts: tuple[Host, Host], dead_address: str
) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create_remote("beta", Bag)
    started = time.monotonic()
    with pytest.raises(TransferError, match="stayed"):
        proxy.dispatch(dead_address, timeout=0.5)
    assert time.monotonic() - started < 0.5 + TIMEOUT
    assert at(proxy, beta)


def test_a_move_that_cannot_get_the_turn_in_time_does_nothing(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Blocker)
    blocker = new_gate()
    held = proxy.send_future(Message("block", arg=blocker.key))
    blocker.wait_entered()
    with pytest.raises(ReplyTimeoutError):
        alpha.dispatch(proxy.agent_id, "beta", timeout=0.1)
    blocker.open()
    assert held.get_reply(TIMEOUT) == "released"
    assert at(proxy, alpha)  # the dispatch given up on did not happen later
    assert beta.get_proxies(ACTIVE) == []


class Blocker(Bag):
    def handle_message(self, message: Message) -> Any:
        if message.kind == "block":
            gate(message.arg).pass_through()
            return "released"
        return super().handle_message(message)
