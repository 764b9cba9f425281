"""Tests for paglets.core.agent: the paglet base class, its state lock and waits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import Paglet, PagletState, overrides_run, state_class_of
from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.runtime.host import Host


@dataclass
class TallyState(PagletState):
    count: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class OtherState(PagletState):
    name: str = ""


INSTANCES: dict[str, TallyPaglet] = {}


class TallyPaglet(Paglet[TallyState]):
    State = TallyState

    def on_creation(self, event: object) -> None:
        INSTANCES[self.agent_id] = self

    def handle_message(self, message: Message) -> object:
        if message.kind == "count":
            return self.state.count
        return self.not_handled()


class RunningPaglet(Paglet[TallyState]):
    State = TallyState

    def run(self) -> None:
        self.wait_leaving(4 * TIMEOUT)


def hosted(host: Host) -> TallyPaglet:
    """A TallyPaglet living on ``host``, as the object the host runs."""
    return INSTANCES.pop(host.create(TallyPaglet).agent_id)


def in_thread(target: object) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(target()))  # type: ignore[operator]
    thread.start()
    return thread, result


def test_unattached_paglet_has_no_context() -> None:
    paglet = TallyPaglet()
    with pytest.raises(PagletError, match="not attached"):
        _ = paglet.context
    with pytest.raises(PagletError, match="not attached"):
        paglet.dispatch("anywhere")


def test_state_class_must_be_a_paglet_state() -> None:
    with pytest.raises(TypeError, match="PagletState"):

        class Broken(Paglet[TallyState]):
            State = dict  # type: ignore[assignment]


def test_class_helpers() -> None:
    assert state_class_of(TallyPaglet) is TallyState
    assert overrides_run(RunningPaglet) and not overrides_run(TallyPaglet)
    assert TallyPaglet().not_handled() is TallyPaglet().not_handled()


def test_identity_and_state(host: Host) -> None:
    paglet = hosted(host)
    assert len(paglet.agent_id) == 32 and int(paglet.agent_id, 16) >= 0
    assert isinstance(paglet.state, TallyState)
    assert paglet.context.name == "alpha"
    assert paglet.context.address == host.address
    paglet.state = TallyState(count=4)
    assert host.get_proxy(paglet.agent_id).send("count") == 4
    with pytest.raises(TypeError):
        paglet.state = OtherState()  # type: ignore[assignment]


def test_wait_state_times_out_when_the_predicate_never_holds(host: Host) -> None:
    paglet = hosted(host)
    assert paglet.wait_state(lambda state: state.count > 0, timeout=0.05) is False


def test_wait_state_returns_at_once_when_the_predicate_holds(host: Host) -> None:
    paglet = hosted(host)
    assert paglet.wait_state(lambda state: state.count == 0, timeout=0) is True


def test_leaving_locked_state_wakes_a_waiter_in_another_thread(host: Host) -> None:
    paglet = hosted(host)
    waiter, result = in_thread(lambda: paglet.wait_state(lambda s: s.count >= 3, TIMEOUT))
    with paglet.locked_state() as state:
        state.count = 3
    waiter.join(TIMEOUT)
    assert result == [True]


def test_notify_all_state_changed_wakes_every_waiter(host: Host) -> None:
    paglet = hosted(host)
    waiters = [
        in_thread(lambda: paglet.wait_state(lambda s: "go" in s.notes, TIMEOUT)) for _ in range(3)
    ]
    paglet.state.notes.append("go")  # changed without the lock: waiters must be told
    paglet.notify_all_state_changed()
    for thread, result in waiters:
        thread.join(TIMEOUT)
        assert result == [True]


def test_locked_state_excludes_other_threads_and_is_reentrant(host: Host) -> None:
    paglet = hosted(host)
    holding, release, other_got_lock = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with paglet.locked_state() as state:
            with paglet.locked():  # re-entrant
                state.count += 1
            holding.set()
            release.wait(TIMEOUT)
            state.count += 1

    def contender() -> None:
        holding.wait(TIMEOUT)
        with paglet.locked_state() as state:
            other_got_lock.set()
            state.notes.append(f"saw {state.count}")

    threads = [threading.Thread(target=holder), threading.Thread(target=contender)]
    for thread in threads:
        thread.start()
    assert holding.wait(TIMEOUT)
    assert not other_got_lock.wait(0.05)  # blocked while the holder has the lock
    release.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert paglet.state.notes == ["saw 2"]


def test_wait_leaving_wakes_when_the_paglet_is_disposed(host: Host) -> None:
    paglet = hosted(host)
    assert paglet.is_leaving() is False
    assert paglet.wait_leaving(0.01) is False
    waiter, result = in_thread(lambda: paglet.wait_leaving(TIMEOUT))
    host.dispose(paglet.agent_id)
    waiter.join(TIMEOUT)
    assert result == [True]
    assert paglet.is_leaving()


def test_run_is_started_and_stops_when_the_paglet_leaves(host: Host) -> None:
    proxy = host.create(RunningPaglet)
    wait_for(lambda: proxy.info()["running"])
    host.deactivate(proxy.agent_id)
    assert not proxy.is_active()
