"""Port check: messages, futures, replies and events as the original's guide teaches them.

The paglets below are written the way the original package's README and "Implementing
Paglets" guide write them (a dataclass state, ``State = ...``, hooks that log into the
state, ``handle_message`` switching on the message); they run here unchanged. Hosts
come from the shared fixtures (loopback, OS-chosen ports, no discovery).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import NotHandledError
from paglets.core.events import CloneEvent, CreationEvent, MobilityEvent, PersistencyEvent
from paglets.core.messages import (
    DEACTIVATE,
    FUTURE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    NORMAL_PRIORITY,
    ONEWAY,
    SYNCHRONOUS,
    UNQUEUED_PRIORITY,
    FutureReply,
    Message,
    ReplySet,
)
from paglets.runtime.host import Host


@dataclass
class CounterState(PagletState):
    count: int = 0
    events: list[str] = field(default_factory=list)


class CounterPaglet(Paglet[CounterState]):
    State = CounterState

    def on_creation(self, event: CreationEvent) -> None:
        self.state.events.append(f"created:{event.host_name}:{event.init}")

    def on_dispatching(self, event: MobilityEvent) -> None:
        self.state.events.append(f"leaving:{event.source_host_name}->{event.target_host_name}")

    def on_arrival(self, event: MobilityEvent) -> None:
        self.state.events.append(f"arrived:{event.host_name}:{event.reason}")

    def on_cloning(self, event: CloneEvent) -> None:
        self.state.events.append(f"cloning:{event.target_host_name}")

    def on_clone(self, event: CloneEvent) -> None:
        self.state.events.append(f"clone:{event.source_agent_id[:4]}->{event.clone_agent_id[:4]}")

    def on_deactivating(self, event: PersistencyEvent) -> None:
        self.state.events.append(f"deactivating:{event.reason}")

    def on_activation(self, event: PersistencyEvent) -> None:
        self.state.events.append(f"activated:{event.reason}")

    def handle_message(self, message: Message) -> Any:
        if message.same_kind("increment"):
            self.state.count += int(message.get_arg("amount", 1))
            return self.state.count
        if message.same_kind("get"):
            return self.state.count
        if message.same_kind("events"):
            return list(self.state.events)
        if message.same_kind("echo"):
            return message.get_arg()
        if message.same_kind("ready"):
            return True
        if message.same_kind("half"):
            return self.state.count / 2
        if message.same_kind("name"):
            return self.context.name
        if message.same_kind("how"):
            return {
                "type": message.message_type,
                "sender": message.sender,
                "reply_to": message.reply_to,
                "id": message.message_id,
                "priority": message.priority,
            }
        if message.same_kind("ask"):
            other = self.context.get_proxy(message.get_arg("agent_id"), message.get_arg("address"))
            return other.send(Message("how"))
        return self.not_handled()


def test_a_message_built_the_original_way() -> None:
    message = Message("increment", {"amount": 2})
    assert message.get_arg("amount") == 2 and message.get_arg() is None
    message.set_arg("by", "hand")
    assert message.args == {"amount": 2, "by": "hand"}
    assert message.same_kind("increment") and message.same_kind(Message("increment"))
    assert Message("echo", arg="hi").get_arg() == "hi"
    assert message.priority == NORMAL_PRIORITY
    assert MIN_PRIORITY < NORMAL_PRIORITY < MAX_PRIORITY and UNQUEUED_PRIORITY == 0
    assert message.message_type == SYNCHRONOUS and message.sender is None
    assert message.reply_to is None and message.timestamp > 0 and message.message_id
    assert Message.from_wire(message.to_wire()) == message
    assert DEACTIVATE == "_deactivate"


def test_send_send_future_and_typed_replies(host: Host) -> None:
    counter = host.create(CounterPaglet, init="seed")
    assert counter.send(Message("increment", {"amount": 4})) == 4
    future: FutureReply = counter.send_future(Message("get"))
    assert future.wait_for_reply(TIMEOUT)
    assert future.is_available()
    assert future.get_reply() == 4
    assert future.get_int_reply() == 4
    assert counter.send_future(Message("half")).get_float_reply(TIMEOUT) == 2.0
    assert counter.send_future(Message("ready")).get_boolean_reply(TIMEOUT) is True
    assert counter.send_future(Message("echo", arg="x")).get_string_reply(TIMEOUT) == "x"
    with pytest.raises(NotHandledError):
        counter.send(Message("unknown"))
    assert counter.send(Message("events"))[0] == "created:alpha:seed"


def test_the_runtime_fills_who_sent_a_message_and_how(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    receiver = alpha.create_remote(beta.address, CounterPaglet)
    asker = alpha.create(CounterPaglet)
    told = asker.send("ask", args={"agent_id": receiver.agent_id, "address": receiver.host_url})
    assert (told["type"], told["sender"], told["reply_to"]) == (
        SYNCHRONOUS,
        asker.agent_id,
        alpha.address,
    )
    assert receiver.send_future(Message("how")).get_reply(TIMEOUT)["type"] == FUTURE
    urgent = receiver.send(Message("how", priority=UNQUEUED_PRIORITY))
    assert urgent["priority"] == UNQUEUED_PRIORITY
    oneway = Message("increment")
    receiver.send_oneway(oneway)
    wait_for(lambda: receiver.send("get") == 1)
    assert oneway.message_type == ONEWAY


def test_multicast_replies_come_as_a_reply_set(host: Host) -> None:
    counters = [host.create(CounterPaglet) for _ in range(3)]
    for number, counter in enumerate(counters):
        counter.send(Message("increment", {"amount": number + 1}))
    replies: ReplySet = host.multicast_message(Message("get"))
    assert replies.wait_for_all_replies(TIMEOUT)
    assert replies.are_all_available()
    assert (replies.count_available(), replies.count_unavailable()) == (3, 0)
    first = replies.wait_for_next_future_reply(TIMEOUT)
    taken = [first.get_reply()]
    while replies.has_more_future_replies():
        future = replies.get_next_future_reply()
        assert future is not None
        taken.append(future.get_reply())
    assert replies.get_next_future_reply() is None
    assert sorted(taken) == [1, 2, 3]
    again = host.multicast_message("get")
    assert sorted(future.get_reply(TIMEOUT) for future in again) == [1, 2, 3]


def test_hook_events_carry_the_original_fields(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    counter = alpha.create(CounterPaglet)
    moved = counter.dispatch("beta")
    copy = moved.clone("alpha")
    alpha.deactivate(copy.agent_id)
    alpha.activate(copy.agent_id)
    assert moved.send("events")[1:] == [
        "leaving:alpha->beta",
        "arrived:beta:dispatch",
        "cloning:alpha",
    ]
    events = copy.send("events")
    assert events[-3:] == [
        f"clone:{counter.agent_id[:4]}->{copy.agent_id[:4]}",
        "deactivating:deactivate",
        "activated:activate",
    ]


def test_the_deactivate_kind_and_the_event_log(host: Host) -> None:
    counter = host.create(CounterPaglet)
    assert counter.send(Message(DEACTIVATE)) is True
    assert counter.send("get") == 0  # a message activates it again
    mine = [e for e in host.list_events(since=0) if e.agent_id == counter.agent_id]
    assert [e.kind for e in mine] == ["create", "deactivate", "activate"]
    event = mine[0]
    assert (event.host_name, event.host_address) == (host.name, host.address)
    assert event.class_name.endswith("CounterPaglet") and event.timestamp > 0
    assert (event.message_id, event.service_name, event.error, event.data) == ("", "", "", {})
    assert host.list_events(since=mine[0].event_id, limit=1)[0].event_id > mine[0].event_id
