"""Messaging a paglet on the same host and on another host: replies, order, errors.

Every test that takes ``spawn`` runs twice: with the paglet on the caller's host (the
proxy short-cuts the network) and on another host (the message goes over ZeroMQ).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import HostError, InvalidAgentError, NotHandledError
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host


@dataclass
class WorkState(PagletState):
    count: int = 0
    log: list[str] = field(default_factory=list)


class Kaput(Exception):
    """Raised by a handler on purpose."""


class Worker(Paglet[WorkState]):
    State = WorkState

    def __init__(self) -> None:
        self.active = 0
        self.most_active = 0
        self.guard = threading.Lock()

    def handle_message(self, message: Message) -> Any:
        kind = message.kind
        if kind == "add":
            self.state.count += int(message.args.get("by", 1))
            return self.state.count
        if kind == "count":
            return self.state.count
        if kind == "echo":
            return {"args": message.args, "arg": message.arg, "priority": message.priority}
        if kind == "note":
            self.state.log.append(str(message.arg))
            return len(self.state.log)
        if kind == "log":
            return list(self.state.log)
        if kind == "block":
            self.state.log.append(f"blocked {message.arg}")
            gate(message.arg).pass_through()
            return "released"
        if kind == "overlap":
            with self.guard:
                self.active += 1
                self.most_active = max(self.most_active, self.active)
            time.sleep(0.001)  # widens the window in which an overlap would show
            with self.guard:
                self.active -= 1
            return self.most_active
        if kind == "fail":
            raise ValueError(f"bad value {message.arg}")
        if kind == "kaput":
            raise Kaput("it broke")
        if kind == "pause":
            self.state.log.append("pause")
            notified = self.wait_message(message.args.get("timeout", TIMEOUT))
            self.state.log.append(f"resumed {notified}")
            return notified
        if kind == "resume":
            self.state.log.append("resume")
            self.notify_message()
            return True
        return self.not_handled()


Spawn = Callable[..., PagletProxy]


@pytest.fixture(params=["same-host", "other-host"])
def spawn(request: pytest.FixtureRequest, two_hosts: tuple[Host, Host]) -> Spawn:
    """Create a paglet and return alpha's proxy to it (on alpha, or on beta)."""
    alpha, beta = two_hosts

    def create(cls: type[Paglet[Any]] = Worker, state: PagletState | None = None) -> PagletProxy:
        if request.param == "same-host":
            return alpha.create(cls, state)
        return alpha.create_remote(beta.address, cls, state)

    return create


def queued(proxy: PagletProxy, count: int) -> None:
    wait_for(lambda: proxy.info()["queued"] == count, message=f"{count} messages not queued")


def test_send_returns_the_reply(spawn: Spawn) -> None:
    proxy = spawn()
    assert proxy.send("add", args={"by": 2}) == 2
    assert proxy.send(Message("add", {"by": 3})) == 5
    assert proxy.send(Message("echo", {"a": [1, 2]}, arg=b"raw")) == {
        "args": {"a": [1, 2]},
        "arg": b"raw",
        "priority": 5,
    }


def test_handler_sees_the_priority_it_was_sent_with(spawn: Spawn) -> None:
    proxy = spawn()
    for priority in (1, 7, 10, UNQUEUED_PRIORITY):
        assert proxy.send(Message("echo", priority=priority))["priority"] == priority


def test_send_oneway_takes_effect(spawn: Spawn) -> None:
    proxy = spawn()
    proxy.send_oneway("add", args={"by": 4})
    proxy.send_oneway(Message("add", {"by": 1}))
    wait_for(lambda: proxy.send("count") == 5)


def test_send_future(spawn: Spawn) -> None:
    proxy = spawn()
    futures = [proxy.send_future("add") for _ in range(5)]
    assert [future.get_reply(TIMEOUT) for future in futures] == [1, 2, 3, 4, 5]


def test_send_future_carries_errors(spawn: Spawn) -> None:
    proxy = spawn()
    with pytest.raises(NotHandledError):
        proxy.send_future("unknown-kind").get_reply(TIMEOUT)
    with pytest.raises(HostError):
        proxy.send_future("fail").get_reply(TIMEOUT)


def test_priorities_highest_first_and_fifo_within_a_priority(spawn: Spawn) -> None:
    proxy = spawn()
    blocker = new_gate()
    held = proxy.send_future(Message("block", arg=blocker.key))
    blocker.wait_entered()
    sent = [(3, "a"), (7, "b"), (3, "c"), (10, "d"), (1, "e"), (7, "f"), (3, "g"), (10, "h")]
    futures = [proxy.send_future(Message("note", arg=tag, priority=p)) for p, tag in sent]
    queued(proxy, len(sent))
    blocker.open()
    assert held.get_reply(TIMEOUT) == "released"
    for future in futures:
        future.get_reply(TIMEOUT)
    assert proxy.send("log") == [f"blocked {blocker.key}", "d", "h", "b", "f", "a", "c", "g", "e"]


def test_unqueued_message_is_handled_while_a_handler_is_blocked(spawn: Spawn) -> None:
    proxy = spawn()
    blocker = new_gate()
    held = proxy.send_future(Message("block", arg=blocker.key))
    blocker.wait_entered()
    queued_behind = proxy.send_future(Message("count", priority=10))
    urgent = Message("echo", arg="now", priority=UNQUEUED_PRIORITY)
    assert proxy.send(urgent, timeout=TIMEOUT)["arg"] == "now"
    assert not held.is_available() and not queued_behind.is_available()
    blocker.open()
    assert held.get_reply(TIMEOUT) == "released"
    assert queued_behind.get_reply(TIMEOUT) == 0


def test_handlers_of_one_paglet_never_overlap(spawn: Spawn) -> None:
    proxy = spawn()
    futures: list[Any] = []
    lock = threading.Lock()

    def sender() -> None:
        for _ in range(10):
            future = proxy.send_future("overlap")
            with lock:
                futures.append(future)

    senders = [threading.Thread(target=sender) for _ in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(TIMEOUT)
    assert len(futures) == 40
    assert max(future.get_reply(TIMEOUT) for future in futures) == 1


def test_handler_exception_becomes_remote_host_error_and_the_paglet_goes_on(
    spawn: Spawn,
) -> None:
    proxy = spawn()
    with pytest.raises(HostError) as caught:
        proxy.send(Message("fail", arg=3))
    assert caught.value.remote_type == "ValueError"
    assert caught.value.remote_message == "bad value 3"
    with pytest.raises(HostError) as custom:
        proxy.send("kaput")
    assert custom.value.remote_type == f"{Kaput.__module__}.Kaput"
    assert custom.value.remote_message == "it broke"
    assert proxy.send("add") == 1
    assert proxy.info()["handler_failures"] == 2


def test_not_handled_raises_not_handled_error(spawn: Spawn) -> None:
    proxy = spawn()
    with pytest.raises(NotHandledError, match="no-such-kind"):
        proxy.send("no-such-kind")
    assert proxy.send("add") == 1


def test_a_blocked_paglet_does_not_delay_another(spawn: Spawn) -> None:
    stuck, free = spawn(), spawn()
    blocker = new_gate()
    held = stuck.send_future(Message("block", arg=blocker.key))
    blocker.wait_entered()
    assert free.send("add", timeout=TIMEOUT) == 1
    assert free.send_future("add").get_reply(TIMEOUT) == 2
    assert not held.is_available()
    blocker.open()
    assert held.get_reply(TIMEOUT) == "released"


def test_wait_message_lets_the_next_message_run_until_notified(spawn: Spawn) -> None:
    proxy = spawn()
    paused = proxy.send_future("pause")
    wait_for(lambda: proxy.send(Message("log", priority=UNQUEUED_PRIORITY)) == ["pause"])
    assert proxy.send(Message("note", arg="meanwhile"), timeout=TIMEOUT) == 2
    assert not paused.is_available()
    assert proxy.send("resume", timeout=TIMEOUT) is True
    assert paused.get_reply(TIMEOUT) is True
    assert proxy.send("log") == ["pause", "meanwhile", "resume", "resumed True"]


def test_wait_message_times_out_without_a_notify(spawn: Spawn) -> None:
    proxy = spawn()
    assert proxy.send("pause", args={"timeout": 0.05}) is False
    assert proxy.send("add") == 1


def test_unknown_agent_raises_agent_not_found(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    for address in (alpha.address, beta.address):
        with pytest.raises(InvalidAgentError):
            alpha.proxy("0" * 32, address).send("add", timeout=TIMEOUT)


def test_multicast_message_reaches_every_paglet_and_replies_as_they_finish(host: Host) -> None:
    proxies = [host.create(Worker, WorkState(count=n)) for n in range(4)]
    blocker = new_gate()
    held = proxies[0].send_future(Message("block", arg=blocker.key))
    blocker.wait_entered()
    replies = host.multicast_message("add", {"by": 10})
    assert len(replies) == 4
    first_three = [replies.wait_for_next_future_reply(TIMEOUT).get_reply(0) for _ in range(3)]
    assert sorted(first_three) == [11, 12, 13]
    assert replies.wait_for_all_replies(0.01) is False  # the blocked paglet has not answered
    blocker.open()
    assert held.get_reply(TIMEOUT) == "released"
    assert replies.wait_for_next_future_reply(TIMEOUT).get_reply(0) == 10
    assert replies.wait_for_all_replies(TIMEOUT)
    assert sorted(host.multicast_message(Message("count")).replies(TIMEOUT)) == [10, 11, 12, 13]


def test_multicast_collects_errors_per_paglet(host: Host) -> None:
    host.create(Worker)
    host.create(Worker)
    replies = host.multicast_message("no-such-kind")
    assert replies.wait_for_all_replies(TIMEOUT)
    assert all(isinstance(f.error(), NotHandledError) for f in replies.futures)
    with pytest.raises(NotHandledError):
        replies.replies(0)
