"""A program written the way the original package's documentation teaches runs here.

Two hosts on loopback (ports chosen by the OS, discovery off as every test host),
paglets created, messaged, multicast, moved, cloned, retracted, deactivated; proxies
through ``to_wire``/``from_wire``; tickets with every option.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletContext, PagletState, state_locked
from paglets.core.errors import ResourceCleanupError, StorageQuotaError, TransferError
from paglets.core.messages import Message
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.persistence.storage import ManagedStorage
from paglets.remote.client import HostClient
from paglets.remote.mesh import HostRef
from paglets.remote.proxy import PagletProxy
from paglets.remote.references import PagletProxyRef
from paglets.remote.transfer import ArrivalMode, TransferTicket
from paglets.runtime.host import Host
from paglets.runtime.resources import ResourceRegistry


@dataclass
class CounterState(PagletState):
    count: int = 0
    hooks: list[str] = field(default_factory=list)
    friend: PagletProxyRef | None = None


class Counter(Paglet[CounterState]):
    State = CounterState

    def on_dispatching(self, event: Any) -> None:
        self.state.hooks.append(f"dispatching@{self.context.host}")

    def on_arrival(self, event: Any) -> None:
        self.state.hooks.append(f"arrival@{self.context.host}")

    def on_reverting(self, event: Any) -> None:
        self.state.hooks.append(f"reverting@{self.context.host}")

    def on_cloning(self, event: Any) -> None:
        self.state.hooks.append("cloning")

    def on_clone(self, event: Any) -> None:
        self.state.hooks.append("clone")

    def on_cloned(self, event: Any) -> None:
        self.state.hooks.append("cloned")

    def run(self) -> None:
        self.state.hooks.append(f"run@{self.context.host}")

    @state_locked
    def bump(self, by: int) -> int:
        self.state.count += by
        return self.state.count

    def handle_message(self, message: Message) -> Any:
        if message.same_kind("increment"):
            return self.bump(int(message.get_arg("by", 1)))
        if message.same_kind("count"):
            return self.state.count
        if message.same_kind("hooks"):
            return list(self.state.hooks)
        if message.same_kind("where"):
            context: PagletContext = self.context
            return [context.name, context.address, context.agent_id == self.agent_id]
        if message.same_kind("go"):
            return self.dispatch_to(str(message.arg)).host_url
        if message.same_kind("shout"):
            return sorted(self.multicast("count").wait_for_all_replies(TIMEOUT) and ["ok"])
        if message.same_kind("store"):
            storage = self.persistent_storage()
            storage.write_text("note.txt", str(message.arg))
            return storage.read_text("note.txt")
        if message.same_kind("hold"):
            self.resources.register("bad", _raise, suppress=bool(message.arg))
            return len(self.resources)
        return self.not_handled()


class Waiter(Paglet[PagletState]):
    State = PagletState

    def run(self) -> None:
        self.wait_leaving(TIMEOUT)


def _raise() -> None:
    raise RuntimeError("cannot let go")


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host]]:
    alpha = Host(name="alpha", port=0, mesh_lan_discovery=False).start_background()
    beta = Host(name="beta", port=0, peers=[alpha.address], mesh_lan_discovery=False)
    beta.start_background()
    try:
        yield alpha, beta
    finally:
        beta.stop()
        alpha.stop()


def test_joining_is_done_when_start_returns(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    # no wait_for_host: both names resolve at once, both ways
    there = alpha.dispatch(alpha.create(Counter), "beta")
    back = beta.dispatch(there.agent_id, "alpha")
    assert (there.host_url, back.host_url) == (beta.address, alpha.address)
    refs = alpha.available_hosts()
    assert all(isinstance(ref, HostRef) for ref in refs)
    assert [ref.name for ref in refs] == ["alpha", "beta"]
    assert alpha.list_hosts()[1].url == beta.address


def test_create_send_futures_and_multicast(hosts: tuple[Host, Host]) -> None:
    alpha, _beta = hosts
    proxy = alpha.create(Counter, init=None, agent_id="c" * 32)
    assert proxy.agent_id == "c" * 32
    wait_for(lambda: proxy.send(Message("hooks")) == ["run@alpha"])
    assert proxy.send(Message("increment", {"by": 2})) == 2
    future = proxy.send_future(Message("increment"))
    assert future.get_reply(TIMEOUT) == 3
    other = alpha.create(Counter)
    replies = alpha.multicast_message("count", exclude=other.agent_id)
    assert replies.wait_for_all_replies(TIMEOUT)
    assert [f.get_reply(0) for f in replies.futures] == [3]
    assert proxy.send(Message("where")) == ["alpha", alpha.address, True]
    assert alpha.get_proxy("f" * 32) is None
    waiter = alpha.create(Waiter)
    assert waiter.info()["running"] is True  # run() began before create returned


def test_hook_order_on_dispatch_clone_and_retract(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    proxy = alpha.create(Counter)
    proxy.dispatch("beta")
    wait_for(lambda: "run@beta" in proxy.send(Message("hooks")))
    assert proxy.send(Message("hooks")) == [
        "run@alpha",
        "dispatching@alpha",
        "arrival@beta",
        "run@beta",
    ]
    copy = proxy.clone("alpha")
    assert copy.send(Message("hooks"))[-3:-1] == ["cloning", "clone"]
    assert proxy.send(Message("hooks"))[-2:] == ["cloning", "cloned"]
    back = alpha.retract(beta.address, proxy.agent_id)
    hooks = back.send(Message("hooks"))
    assert hooks[hooks.index("reverting@beta") + 1] == "arrival@alpha"


def test_deactivate_and_activate_return_proxies(hosts: tuple[Host, Host]) -> None:
    alpha, _beta = hosts
    proxy = alpha.create(Counter)
    sleeping = alpha.deactivate(proxy.agent_id, DeactivationRequest(reason="night"))
    assert sleeping.is_state(INACTIVE) and not sleeping.is_active()
    assert alpha.activate(proxy.agent_id).is_state(ACTIVE)
    assert proxy.deactivate(reason="again", policy=DeactivationPolicy(wake_after=0.05)) is proxy
    wait_for(lambda: proxy.is_active())


def test_proxies_travel_as_wire_maps_and_refs(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    proxy = beta.create(Counter)
    wire = proxy.to_wire()
    assert wire == {"host_url": beta.address, "agent_id": proxy.agent_id}
    with HostClient() as client:
        again = PagletProxy.from_wire(wire, client)
        assert again.send(Message("increment")) == 1
        assert PagletProxyRef.from_proxy(again).resolve(client).send(Message("count")) == 1
        assert client.health(beta.address)["name"] == "beta"
    made = PagletProxy(host_url=beta.address, agent_id=proxy.agent_id)  # finds a client
    assert made.get_agent_class_name().endswith(":Counter")
    assert made.is_remote(alpha.address) and not made.is_remote(beta.address)


def test_tickets_honour_every_option(hosts: tuple[Host, Host]) -> None:
    alpha, beta = hosts
    proxy = alpha.create(Counter)
    with pytest.raises(TransferError, match="code version"):
        proxy.dispatch(TransferTicket("beta", expected_code_version="v9"))
    with pytest.raises(TransferError, match="capabilities"):
        proxy.dispatch(TransferTicket("beta", required_capabilities=("gpu",)))
    assert proxy.host_url == alpha.address and proxy.is_active()  # stayed
    proxy.dispatch(TransferTicket("beta", timeout=5, retries=1, arrival_mode=ArrivalMode.INACTIVE))
    assert proxy.host_url == beta.address and proxy.is_state(INACTIVE)
    assert beta.get_proxy(proxy.agent_id, include_inactive=False) is None
    with pytest.raises(TypeError, match="arrival_mode"):
        TransferTicket("beta", arrival_mode="inactive")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retries"):
        TransferTicket("beta", retries="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        TransferTicket("beta", timeout=0)


def test_resources_storage_and_bad_host_arguments(hosts: tuple[Host, Host]) -> None:
    alpha, _beta = hosts
    proxy = alpha.create(Counter)
    assert proxy.send(Message("hold", arg=False)) == 1
    with pytest.raises(ResourceCleanupError):
        proxy.dispatch("beta")
    assert proxy.host_url == alpha.address and proxy.is_active()
    assert proxy.send(Message("hold", arg=True)) == 1
    assert proxy.dispatch("beta").host_url != alpha.address
    assert proxy.send(Message("store", arg="kept")) == "kept"
    registry = ResourceRegistry()
    registry.register("one", lambda: None)
    registry.cleanup()
    assert registry.names() == []
    with pytest.raises(TypeError, match="mesh_lan_discovery"):
        Host(name="x", port=0, discovery=False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        Host(name="x", port=0, no_such_option=1)
    with pytest.raises(TypeError, match="mesh"):
        Host(name="x", port=0, mesh="yes")  # type: ignore[arg-type]


def test_managed_storage_quota(tmp_path: Any) -> None:
    storage = ManagedStorage(tmp_path / "s", quota=10)
    storage.write_bytes("a", b"12345")
    with pytest.raises(StorageQuotaError):
        storage.write_bytes("b", b"123456")
    assert storage.read_bytes("a") == b"12345" and not storage.exists("b")


def test_a_host_without_a_mesh(tmp_path: Any) -> None:
    with Host(name="alone", port=0, mesh=False) as alone:
        assert alone.create(Counter).send(Message("increment")) == 1
        assert alone.list_agents()[0]["status"] == "active"
        alone.set_property("room", "7")
        assert alone.get_property("room") == "7" and alone.health()["name"] == "alone"
        assert alone.client.health()["name"] == "alone"
