"""The Host API: proxies, state, peers, events, stopping, persistence across restarts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.context_events import ContextEvent
from paglets.core.errors import (
    HostStoppedError,
    InvalidAgentError,
    PagletError,
    PeerNotFoundError,
)
from paglets.core.events import PersistencyEvent
from paglets.core.messages import Message
from paglets.runtime.config import MAX_DESCRIPTION_SIZE
from paglets.runtime.host import Host


@dataclass
class LedgerState(PagletState):
    total: int = 0
    entries: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


class Ledger(Paglet[LedgerState]):
    State = LedgerState

    def on_deactivating(self, event: PersistencyEvent) -> None:
        self.state.hooks.append(f"deactivating:{self.context.name}")

    def on_activation(self, event: PersistencyEvent) -> None:
        self.state.hooks.append(f"activation:{self.context.name}")

    def handle_message(self, message: Message) -> Any:
        if message.kind == "book":
            self.state.total += int(message.args["amount"])
            self.state.entries.append(str(message.args.get("memo", "")))
            return self.state.total
        if message.kind == "total":
            return self.state.total
        if message.kind == "hooks":
            return list(self.state.hooks)
        if message.kind == "block":
            gate(message.arg).pass_through()
            return "released"
        return self.not_handled()


# proxies and state -----------------------------------------------------------------------


def test_get_proxy(host: Host) -> None:
    created = host.create(Ledger)
    proxy = host.get_proxy(created.agent_id)
    assert proxy == created
    assert (proxy.host_url, proxy.get_address()) == (host.address, host.address)
    assert proxy.send("book", args={"amount": 3}) == 3
    host.deactivate(created.agent_id)
    assert host.get_proxy(created.agent_id).agent_id == created.agent_id  # inactive too
    assert host.get_proxy("f" * 32) is None
    assert host.get_proxy(created.agent_id, include_inactive=False) is None


def test_get_proxies_by_state_flags(host: Host) -> None:
    awake = [host.create(Ledger) for _ in range(3)]
    asleep = [host.create(Ledger) for _ in range(2)]
    for proxy in asleep:
        proxy.deactivate()

    def ids(flags: int) -> set[str]:
        return {proxy.agent_id for proxy in host.get_proxies(flags)}

    assert ids(ACTIVE) == {p.agent_id for p in awake}
    assert ids(INACTIVE) == {p.agent_id for p in asleep}
    assert ids(ACTIVE | INACTIVE) == {p.agent_id for p in awake + asleep}
    assert {p.agent_id for p in host.get_proxies()} == ids(ACTIVE)  # ACTIVE by default


def test_get_state_is_a_copy(host: Host) -> None:
    proxy = host.create(Ledger, LedgerState(total=5))
    proxy.send("book", args={"amount": 2, "memo": "tip"})
    state = host.get_state(proxy.agent_id)
    assert isinstance(state, LedgerState)
    assert (state.total, state.entries) == (7, ["tip"])
    state.total = 1000
    assert proxy.send("total") == 7
    proxy.deactivate()
    with pytest.raises(PagletError, match="state class"):
        host.get_state(proxy.agent_id)
    inactive = host.get_state(proxy.agent_id, LedgerState)
    assert (inactive.total, inactive.entries) == (7, ["tip"])
    with pytest.raises(InvalidAgentError):
        host.get_state("e" * 32, LedgerState)


# peers -----------------------------------------------------------------------------------


def test_available_hosts_and_wait_for_host(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    [known_to_alpha] = alpha.peers()
    assert (known_to_alpha.name, known_to_alpha.address) == ("beta", beta.address)
    assert known_to_alpha.online and known_to_alpha.mesh_version == "dev"
    assert [peer.name for peer in beta.peers()] == ["alpha"]
    assert alpha.wait_for_host("beta", 0).url == beta.address
    assert [ref.name for ref in alpha.available_hosts()] == ["alpha", "beta"]
    assert [ref.name for ref in alpha.available_hosts(include_self=False)] == ["beta"]


def test_wait_for_an_unknown_host_times_out(host: Host) -> None:
    with pytest.raises(PeerNotFoundError, match="nobody-here"):
        host.wait_for_host("nobody-here", 0.05)


def test_a_host_learns_peers_of_its_seed(three_hosts: tuple[Host, Host, Host]) -> None:
    alpha, beta, gamma = three_hosts
    # beta and gamma only had alpha as a seed; hello replies told them of each other
    assert beta.wait_for_host("gamma", TIMEOUT).url == gamma.address
    assert gamma.wait_for_host("beta", TIMEOUT).url == beta.address


# events ----------------------------------------------------------------------------------


def test_listeners_and_event_log(two_hosts: tuple[Host, Host]) -> None:
    alpha, _beta = two_hosts
    heard: list[ContextEvent] = []
    alpha.add_listener(heard.append)
    mark = alpha.list_events()[-1].event_id
    proxy = alpha.create(Ledger)
    proxy.deactivate()
    proxy.activate()
    proxy.dispatch("beta")

    def about_it(events: list[ContextEvent]) -> list[ContextEvent]:
        return [event for event in events if event.agent_id == proxy.agent_id]

    logged = about_it(alpha.list_events(since=mark))
    assert [event.kind for event in logged] == ["create", "deactivate", "activate", "dispatch"]
    assert all(event.event_id > mark for event in logged)
    assert about_it(heard) == logged
    assert logged[-1].data["target"] == proxy.host_url
    assert [event.event_id for event in heard] == sorted(event.event_id for event in heard)
    alpha.remove_listener(heard.append)
    later = alpha.create(Ledger)
    assert later.agent_id in [event.agent_id for event in alpha.list_events(since=mark)]
    assert later.agent_id not in [event.agent_id for event in heard]


def test_a_failing_listener_does_not_break_the_host(host: Host) -> None:
    def broken(event: ContextEvent) -> None:
        raise RuntimeError("listener bug")

    host.add_listener(broken)
    proxy = host.create(Ledger)
    assert proxy.send("book", args={"amount": 1}) == 1


# starting and stopping -------------------------------------------------------------------


def test_host_as_a_context_manager() -> None:
    with Host(name="scoped", port=0) as scoped:
        assert scoped.address.startswith("tcp://127.0.0.1:")
        proxy = scoped.create(Ledger)
        assert proxy.send("book", args={"amount": 1}) == 1
    assert scoped.wait_stopped(0)


def test_stop_fails_pending_calls_instead_of_hanging(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    remote = alpha.create_remote("beta", Ledger)
    local = alpha.create(Ledger)
    gates = [new_gate(), new_gate()]
    held_remote = remote.send_future(Message("block", arg=gates[0].key))
    held_local = local.send_future(Message("block", arg=gates[1].key))
    for each in gates:
        each.wait_entered()
    queued_local = local.send_future("total")
    outcome: list[BaseException] = []

    def blocking_caller() -> None:
        try:
            remote.send("total", timeout=4 * TIMEOUT)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=blocking_caller)
    caller.start()
    wait_for(lambda: remote.info()["queued"] == 1)
    stopper = threading.Thread(target=alpha.stop)
    stopper.start()
    for future in (held_remote, queued_local):
        with pytest.raises(HostStoppedError):
            future.get_reply(TIMEOUT)
    caller.join(TIMEOUT)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], HostStoppedError)
    gates[1].open()  # the handler that runs on alpha may finish; its caller is answered
    held_local.wait_for_reply(TIMEOUT)
    stopper.join(TIMEOUT)
    assert alpha.wait_stopped(TIMEOUT)
    with pytest.raises(HostStoppedError):
        alpha.create_remote("beta", Ledger)
    gates[0].open()
    assert held_remote.error() is not None


def test_a_stopped_host_refuses_work(make_host: HostFactory) -> None:
    stopped = make_host("short-lived")
    proxy = stopped.create(Ledger)
    stopped.stop()
    stopped.stop()  # idempotent
    with pytest.raises(HostStoppedError):
        proxy.send("total", timeout=TIMEOUT)
    with pytest.raises(HostStoppedError):
        stopped.get_proxies(ACTIVE | INACTIVE)


def test_port_in_use_is_reported(host: Host) -> None:
    port = int(host.address.rsplit(":", 1)[1])
    clash = Host(name="clash", port=port)
    with pytest.raises(Exception, match="(?i)address already in use|in use"):
        clash.start_background(timeout=TIMEOUT)
    clash.stop()


# persistence -----------------------------------------------------------------------------


def test_stop_deactivates_and_a_new_host_on_the_same_dir_resumes(
    make_host: HostFactory, tmp_path: Path
) -> None:
    first = make_host("keeper", persistence_dir=tmp_path)
    proxies = [first.create(Ledger) for _ in range(3)]
    for amount, proxy in enumerate(proxies, start=1):
        proxy.send("book", args={"amount": amount, "memo": f"m{amount}"})
    already_inactive = first.create(Ledger, LedgerState(total=100))
    already_inactive.deactivate()
    first.stop()

    second = make_host("keeper", persistence_dir=tmp_path)
    every = {p.agent_id for p in proxies} | {already_inactive.agent_id}
    assert {p.agent_id for p in second.get_proxies(INACTIVE)} == every
    assert second.get_proxies(ACTIVE) == []
    for amount, old in enumerate(proxies, start=1):
        proxy = second.get_proxy(old.agent_id)
        assert not proxy.is_active()
        assert proxy.send("total") == amount  # a message activates it, state intact
        assert proxy.is_active()
        assert second.get_state(old.agent_id).entries == [f"m{amount}"]  # type: ignore[attr-defined]
        assert proxy.send("hooks") == ["deactivating:keeper", "activation:keeper"]
    assert second.get_proxy(already_inactive.agent_id).send("total") == 100
    assert len(second.get_proxies(ACTIVE)) == 4


def test_without_persistence_dir_stop_discards_paglets(
    make_host: HostFactory,
) -> None:
    first = make_host("forgetful")
    first.create(Ledger)
    first.stop()
    second = make_host("forgetful")
    assert second.get_proxies(ACTIVE | INACTIVE) == []


def test_tags_and_properties_must_fit_in_a_heartbeat() -> None:
    with pytest.raises(ValueError, match="tags and properties take"):
        Host(name="chatty", properties={"notes": "x" * MAX_DESCRIPTION_SIZE})
    with pytest.raises(ValueError, match="tags and properties take"):
        Host(name="chatty", tags=[f"tag-{n}" for n in range(MAX_DESCRIPTION_SIZE // 8)])


def test_a_stop_during_the_start_waits_for_it_and_leaves_nothing_running(
    zmq_context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    silent = zmq_context.socket(zmq.ROUTER)  # a seed that accepts and never answers
    try:
        seed = f"tcp://127.0.0.1:{silent.bind_to_random_port('tcp://127.0.0.1')}"
        host = Host(name="hasty", host="127.0.0.1", port=0, peers=[seed])
        starting = threading.Thread(target=host.start_background, daemon=True)
        starting.start()
        wait_for(lambda: host._started)  # bound; now waiting on the seed (up to 2 s)
        host.stop(timeout=TIMEOUT)
        starting.join(TIMEOUT)
        assert not starting.is_alive()
        assert host.wait_stopped(0)  # everything the start set up was stopped after it
    finally:
        silent.close(linger=0)
