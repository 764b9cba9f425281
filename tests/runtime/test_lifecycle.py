"""Lifecycle hooks: which hook runs, where, in what order, with which event fields."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.errors import InvalidAgentError, PagletError, PagletInactiveError
from paglets.core.events import (
    CloneEvent,
    CreationEvent,
    DisposalEvent,
    MobilityEvent,
    PersistencyEvent,
)
from paglets.core.messages import Message
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.runtime.host import Host


@dataclass
class DiaryState(PagletState):
    count: int = 0
    trail: list[str] = field(default_factory=list)
    run_gate: str = ""


@dataclass
class Entry:
    """One hook call: which hook, on which paglet and host, on which thread."""

    hook: str
    agent_id: str
    host: str
    event: Any = None
    thread: str = ""


JOURNAL: list[Entry] = []
_journal_lock = threading.Lock()


def note(hook: str, paglet: Paglet[Any], event: Any = None) -> None:
    entry = Entry(
        hook, paglet.agent_id, paglet.context.name, event, threading.current_thread().name
    )
    with _journal_lock:
        JOURNAL.append(entry)


def hooks(agent_id: str | None = None) -> list[tuple[str, str]]:
    """(hook, host) of the journal, for one paglet or all."""
    with _journal_lock:
        return [(e.hook, e.host) for e in JOURNAL if agent_id in (None, e.agent_id)]


def entry(hook: str, agent_id: str | None = None) -> Entry:
    with _journal_lock:
        found = [e for e in JOURNAL if e.hook == hook and agent_id in (None, e.agent_id)]
    assert len(found) == 1, f"{hook} ran {len(found)} times"
    return found[0]


@pytest.fixture(autouse=True)
def clean_journal() -> None:
    with _journal_lock:
        JOURNAL.clear()


class Diarist(Paglet[DiaryState]):
    """Records every hook; ``run()`` records its start and its end when the paglet leaves."""

    State = DiaryState

    def on_creation(self, event: CreationEvent) -> None:
        note("on_creation", self, event)

    def on_dispatching(self, event: MobilityEvent) -> None:
        note("on_dispatching", self, event)

    def on_arrival(self, event: MobilityEvent) -> None:
        note("on_arrival", self, event)

    def on_reverting(self, event: MobilityEvent) -> None:
        note("on_reverting", self, event)

    def on_cloning(self, event: CloneEvent) -> None:
        note("on_cloning", self, event)

    def on_clone(self, event: CloneEvent) -> None:
        note("on_clone", self, event)

    def on_cloned(self, event: CloneEvent) -> None:
        note("on_cloned", self, event)

    def on_deactivating(self, event: PersistencyEvent) -> None:
        note("on_deactivating", self, event)

    def on_activation(self, event: PersistencyEvent) -> None:
        note("on_activation", self, event)

    def on_disposing(self, event: DisposalEvent) -> None:
        note("on_disposing", self, event)

    def run(self) -> None:
        note("run", self)
        if self.state.run_gate:
            gate(self.state.run_gate).pass_through()
            note("run-finished", self)
            return
        if self.wait_leaving(4 * TIMEOUT):
            note("run-ended", self)

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        if message.kind == "count":
            return self.state.count
        if message.kind == "where":
            return self.context.name
        if message.kind == "go":
            self.state.trail.append("before dispatch")
            self.dispatch(str(message.arg))
            self.state.trail.append("after dispatch")  # must not travel
            self.state.count = 99
            return "left"
        if message.kind == "trail":
            return list(self.state.trail)
        return self.not_handled()


def run_started(agent_id: str, host_name: str) -> bool:
    return ("run", host_name) in hooks(agent_id)


def run_ended(agent_id: str, host_name: str) -> bool:
    return ("run-ended", host_name) in hooks(agent_id)


def without_run(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [e for e in entries if e[0] not in {"run", "run-ended"}]


# create ----------------------------------------------------------------------------------


def test_create_runs_on_creation_then_run_on_its_own_thread(host: Host) -> None:
    run_gate = new_gate()
    proxy = host.create(Diarist, DiaryState(run_gate=run_gate.key), init={"seed": 42})
    creation = entry("on_creation", proxy.agent_id)
    assert creation.thread == threading.current_thread().name
    event = creation.event
    assert isinstance(event, CreationEvent)
    assert event.init == {"seed": 42}
    assert (event.agent_id, event.host_name, event.host_address) == (
        proxy.agent_id,
        "alpha",
        host.address,
    )
    # create returned while run() is still held at its gate
    run_gate.wait_entered()
    assert hooks(proxy.agent_id) == [("on_creation", "alpha"), ("run", "alpha")]
    assert entry("run", proxy.agent_id).thread != creation.thread
    assert proxy.info()["running"] is True
    assert proxy.send("add", timeout=TIMEOUT) == 1  # the mailbox is not blocked by run()
    run_gate.open()
    wait_for(lambda: not proxy.info()["running"])
    assert hooks(proxy.agent_id)[-1] == ("run-finished", "alpha")


def test_failing_on_creation_means_no_paglet(host: Host) -> None:
    class Refuses(Paglet[DiaryState]):
        State = DiaryState

        def on_creation(self, event: CreationEvent) -> None:
            raise RuntimeError("not today")

    with pytest.raises(PagletError, match="not today"):
        host.create(Refuses)
    assert host.get_proxies(ACTIVE | INACTIVE) == []


def test_failing_run_is_reported_in_info(host: Host) -> None:
    class Crashes(Paglet[DiaryState]):
        State = DiaryState

        def run(self) -> None:
            raise RuntimeError("run broke")

    proxy = host.create(Crashes)
    wait_for(lambda: proxy.info()["failed"])
    assert proxy.info()["failed"] == "RuntimeError: run broke"


# dispatch and retract ---------------------------------------------------------------------


def test_dispatch_hooks(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Diarist)
    wait_for(lambda: run_started(proxy.agent_id, "alpha"))
    proxy.dispatch("beta")
    wait_for(lambda: run_started(proxy.agent_id, "beta"))
    wait_for(lambda: run_ended(proxy.agent_id, "alpha"))  # the old instance was told to leave
    journal = hooks(proxy.agent_id)
    assert without_run(journal) == [
        ("on_creation", "alpha"),
        ("on_dispatching", "alpha"),
        ("on_arrival", "beta"),
    ]
    assert journal.index(("run", "alpha")) < journal.index(("on_dispatching", "alpha"))
    assert journal.index(("on_arrival", "beta")) < journal.index(("run", "beta"))
    leaving = entry("on_dispatching").event
    arriving = entry("on_arrival").event
    for event in (leaving, arriving):
        assert isinstance(event, MobilityEvent)
        assert event.agent_id == proxy.agent_id
        assert (event.source_host_name, event.target_host_name) == ("alpha", "beta")
        assert event.reason == "dispatch"
    assert (leaving.host_name, leaving.host_address) == ("alpha", alpha.address)
    assert (arriving.host_name, arriving.host_address) == ("beta", beta.address)
    assert (arriving.source_host_address, arriving.target_host_address) == (
        alpha.address,
        beta.address,
    )
    assert proxy.send("where") == "beta"


def test_retract_hooks(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Diarist)
    proxy.dispatch("beta")
    proxy.send("add")
    retracted = alpha.retract("beta", proxy.agent_id)
    assert retracted.host_url == alpha.address
    assert retracted.send("where") == "alpha"
    assert retracted.send("count") == 1  # the state came back with it
    assert without_run(hooks(proxy.agent_id)) == [
        ("on_creation", "alpha"),
        ("on_dispatching", "alpha"),
        ("on_arrival", "beta"),
        ("on_reverting", "beta"),
        ("on_arrival", "alpha"),
    ]
    reverting = entry("on_reverting").event
    assert reverting.host_name == "beta"
    assert (reverting.source_host_name, reverting.target_host_name) == ("beta", "alpha")
    assert reverting.reason == "retract"
    home = [e.event for e in JOURNAL if e.hook == "on_arrival" and e.host == "alpha"][0]
    assert home.reason == "retract"
    assert (home.source_host_name, home.target_host_name) == ("beta", "alpha")


def test_retract_through_a_proxy_by_address(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = beta.create(Diarist)
    remote = alpha.proxy(proxy.agent_id, beta.address)
    remote.retract()
    assert remote.host_url == alpha.address
    assert remote.send("where") == "alpha"
    assert ("on_reverting", "beta") in hooks(proxy.agent_id)


def test_dispatch_inside_a_handler_takes_the_state_as_it_was(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Diarist)
    proxy.send("add")
    assert proxy.send(Message("go", arg="beta")) == "left"
    assert proxy.send("where") == "beta"
    assert proxy.send("trail") == ["before dispatch"]
    assert proxy.send("count") == 1
    assert proxy.host_url == beta.address


# clone -----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["here", "beta"])
def test_clone_hooks(two_hosts: tuple[Host, Host], where: str) -> None:
    alpha, beta = two_hosts
    original = alpha.create(Diarist)
    original.send("add")
    copy = original.clone(None if where == "here" else "beta")
    target_name = "alpha" if where == "here" else "beta"
    assert copy.agent_id != original.agent_id
    assert copy.host_url == (alpha.address if where == "here" else beta.address)
    assert copy.send("where") == target_name
    assert copy.send("count") == 1
    copy.send("add")
    assert (original.send("count"), copy.send("count")) == (1, 2)  # independent states

    assert [h for h in hooks() if h[0] in {"on_cloning", "on_clone", "on_cloned"}] == [
        ("on_cloning", "alpha"),
        ("on_clone", target_name),
        ("on_cloned", "alpha"),
    ]
    cloning = entry("on_cloning", original.agent_id).event
    clone = entry("on_clone", copy.agent_id).event
    cloned = entry("on_cloned", original.agent_id).event
    assert (cloning.source_agent_id, cloning.clone_agent_id) == (original.agent_id, "")
    assert clone.agent_id == copy.agent_id
    assert (clone.source_agent_id, clone.clone_agent_id) == (original.agent_id, copy.agent_id)
    assert (cloned.source_agent_id, cloned.clone_agent_id) == (original.agent_id, copy.agent_id)
    for event in (cloning, clone, cloned):
        assert (event.source_host_name, event.target_host_name) == ("alpha", target_name)
        assert (event.source_host_address, event.target_host_address) == (
            alpha.address,
            copy.host_url,
        )
    wait_for(lambda: run_started(copy.agent_id, target_name))
    assert "on_creation" not in [hook for hook, _ in hooks(copy.agent_id)]


# deactivate / activate ---------------------------------------------------------------------


def test_deactivate_and_activate_hooks(host: Host) -> None:
    proxy = host.create(Diarist)
    proxy.send("add")
    wait_for(lambda: run_started(proxy.agent_id, "alpha"))
    proxy.deactivate()
    assert not proxy.is_active()
    assert proxy.is_state(INACTIVE) and proxy.is_valid()
    assert [p.agent_id for p in host.get_proxies(INACTIVE)] == [proxy.agent_id]
    assert host.get_proxies(ACTIVE) == []
    wait_for(lambda: run_ended(proxy.agent_id, "alpha"))
    proxy.activate()
    assert proxy.is_active()
    assert proxy.send("count") == 1
    assert [h for h, _ in without_run(hooks(proxy.agent_id))] == [
        "on_creation",
        "on_deactivating",
        "on_activation",
    ]
    assert entry("on_deactivating").event.reason == "deactivate"
    assert entry("on_activation").event.reason == "activate"
    wait_for(lambda: hooks(proxy.agent_id).count(("run", "alpha")) == 2)


@pytest.mark.parametrize("where", ["same-host", "other-host"])
def test_a_message_activates_an_inactive_paglet(two_hosts: tuple[Host, Host], where: str) -> None:
    alpha, beta = two_hosts
    owner = alpha if where == "same-host" else beta
    local = owner.create(Diarist)
    local.send("add")
    local.deactivate()
    proxy = alpha.proxy(local.agent_id, owner.address)
    with pytest.raises(PagletInactiveError):
        proxy.send("count", activate_if_inactive=False)
    with pytest.raises(PagletInactiveError):
        proxy.send_future("count", activate_if_inactive=False).get_reply(TIMEOUT)
    assert not proxy.is_active()
    assert proxy.send("add") == 2  # activated on demand, state intact
    assert proxy.is_active()
    assert [h for h, _ in hooks(local.agent_id)].count("on_activation") == 1


def test_timed_deactivation_activates_itself(host: Host) -> None:
    proxy = host.create(Diarist)
    host.deactivate(proxy.agent_id, DeactivationRequest(policy=DeactivationPolicy(wake_after=0.05)))
    wait_for(proxy.is_active)
    assert ("on_activation", "alpha") in hooks(proxy.agent_id)


# dispose ---------------------------------------------------------------------------------


def test_dispose_hooks_and_afterwards(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Diarist)
    wait_for(lambda: run_started(proxy.agent_id, "alpha"))
    remote = beta.proxy(proxy.agent_id, alpha.address)
    proxy.dispose()
    assert without_run(hooks(proxy.agent_id))[-1] == ("on_disposing", "alpha")
    assert isinstance(entry("on_disposing").event, DisposalEvent)
    assert not proxy.is_valid()
    for handle in (proxy, remote):
        with pytest.raises(InvalidAgentError):
            handle.send("count", timeout=TIMEOUT)
    assert alpha.get_proxy(proxy.agent_id) is None
    wait_for(lambda: run_ended(proxy.agent_id, "alpha"))


def test_dispose_an_inactive_paglet(host: Host) -> None:
    proxy = host.create(Diarist)
    proxy.deactivate()
    proxy.dispose()
    assert not proxy.is_valid()
    assert host.get_proxies(ACTIVE | INACTIVE) == []
    assert "on_disposing" not in [h for h, _ in hooks(proxy.agent_id)]  # it was not loaded


def test_messages_queued_behind_a_dispose_fail_with_agent_not_found(host: Host) -> None:
    class Disposer(Paglet[DiaryState]):
        State = DiaryState

        def handle_message(self, message: Message) -> Any:
            if message.kind == "block":
                gate(message.arg).pass_through()
                self.dispose()
                return "disposed"
            return self.state.count

    proxy = host.create(Disposer)
    blocker = new_gate()
    held = proxy.send_future(Message("block", arg=blocker.key))
    blocker.wait_entered()
    behind = proxy.send_future("count")
    blocker.open()
    assert held.get_reply(TIMEOUT) == "disposed"
    with pytest.raises(InvalidAgentError):
        behind.get_reply(TIMEOUT)
