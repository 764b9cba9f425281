"""The context events a host records where things happen, with the original's kinds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.context_events import ContextEvent
from paglets.core.errors import NotHandledError, TransferError
from paglets.core.events import MobilityEvent
from paglets.core.messages import Message
from paglets.runtime.host import Host


class Plain(Paglet[PagletState]):
    def handle_message(self, message: Message) -> Any:
        if message.kind == "boom":
            raise ValueError("boom")
        return self.not_handled()


class Stubborn(Paglet[PagletState]):
    def on_dispatching(self, event: MobilityEvent) -> None:
        raise RuntimeError("not leaving")


class Crasher(Paglet[PagletState]):
    def run(self) -> None:
        raise RuntimeError("run broke")


def _about(host: Host, agent_id: str, since: int = 0) -> list[ContextEvent]:
    return [event for event in host.list_events(since) if event.agent_id == agent_id]


def _kinds(host: Host, agent_id: str) -> list[str]:
    return [event.kind for event in _about(host, agent_id)]


def test_events_carry_where_when_and_which_class(host: Host) -> None:
    before = time.time()
    proxy = host.create(Plain)
    (event,) = _about(host, proxy.agent_id)
    assert event.kind == "create"
    assert (event.host_name, event.host_address) == (host.name, host.address)
    assert event.class_name.endswith(":Plain")
    assert before <= event.timestamp <= time.time()
    assert event.event_id >= 1 and event.error == "" and event.data == {}


def test_moves_are_recorded_on_both_hosts(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    proxy = alpha.create(Plain)
    moved = proxy.dispatch("beta")
    assert _kinds(alpha, proxy.agent_id) == ["create", "dispatch"]
    # dispatch returns once the source committed; the target starts it just after
    (arrival,) = wait_for(lambda: _about(beta, proxy.agent_id))
    assert (arrival.kind, arrival.data["reason"], arrival.data["source"]) == (
        "arrival",
        "dispatch",
        "alpha",
    )
    copy = moved.clone("alpha")
    (clone,) = [event for event in _about(beta, proxy.agent_id) if event.kind == "clone"]
    assert clone.data["clone_agent_id"] == copy.agent_id
    assert _about(alpha, copy.agent_id)[0].data["reason"] == "clone"
    alpha.retract(beta.address, proxy.agent_id)
    assert _kinds(beta, proxy.agent_id)[-1] == "retract"
    wait_for(lambda: _about(alpha, proxy.agent_id)[-1].data.get("reason") == "retract")
    alpha.dispose(copy.agent_id)
    assert _kinds(alpha, copy.agent_id) == ["arrival", "dispose"]


def test_a_failed_message_is_recorded_with_its_id_and_error(host: Host) -> None:
    proxy = host.create(Plain)
    message = Message("boom")
    with pytest.raises(Exception, match="boom"):
        proxy.send(message)
    with pytest.raises(NotHandledError):
        proxy.send("unknown")
    failed = [event for event in _about(host, proxy.agent_id) if event.kind == "message-failed"]
    assert [event.data["message_kind"] for event in failed] == ["boom", "unknown"]
    assert failed[0].message_id == message.message_id
    assert "ValueError" in failed[0].error and "boom" in failed[0].error


def test_a_failed_transfer_is_recorded_with_its_stage(two_hosts: tuple[Host, Host]) -> None:
    alpha, _ = two_hosts
    proxy = alpha.create(Stubborn)
    with pytest.raises(TransferError) as caught:
        proxy.dispatch("beta")
    assert caught.value.stage == "hook"
    (failed,) = [e for e in _about(alpha, proxy.agent_id) if e.kind == "transfer-failed"]
    assert failed.data["stage"] == "hook" and "not leaving" in failed.error


def test_a_crashed_run_is_recorded(host: Host) -> None:
    proxy = host.create(Crasher)
    crashed = wait_for(
        lambda: [e for e in _about(host, proxy.agent_id) if e.kind == "paglet-crashed"],
        timeout=TIMEOUT,
    )
    assert "run broke" in crashed[0].error


def test_list_events_pages_with_since_and_limit(host: Host) -> None:
    for _ in range(5):
        host.create(Plain)
    everything = host.list_events()
    first = host.list_events(limit=2)
    assert first == everything[:2]
    assert host.list_events(since=first[-1].event_id, limit=2) == everything[2:4]
    assert host.list_events(since=everything[-1].event_id) == []
    assert host.list_events(limit=0) == []
    for bad in ({"since": -1}, {"limit": -2}, {"since": "0"}, {"limit": 1.5}):
        with pytest.raises(ValueError):
            host.list_events(**bad)  # type: ignore[arg-type]
