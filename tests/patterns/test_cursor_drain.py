"""CursorDrainMixin: items in order by cursor, long polls that wake, a bounded buffer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import Paglet
from paglets.core.errors import (
    HostError,
    OverloadedError,
    PagletError,
    SerializationError,
    ServiceContractError,
)
from paglets.core.messages import Message
from paglets.patterns.coordination import (
    CursorDrainMixin,
    DrainClient,
    DrainPolicy,
    DrainState,
)
from paglets.runtime.host import Host


@dataclass
class FeedState(DrainState):
    produce: int = 0


class Feed(CursorDrainMixin, Paglet[FeedState]):
    """Appends what it is sent; with ``produce`` set, appends 0..produce-1 in run()."""

    State = FeedState
    DRAIN_CAPACITY = 4

    def run(self) -> None:
        for number in range(self.state.produce):
            self.drain_append(number, timeout=None)
        if self.state.produce:
            self.drain_finish()

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            return self.drain_extend(message.args["items"], float(message.args.get("timeout", 1)))
        if message.kind == "finish":
            self.drain_finish()
            return None
        if message.kind == "held":
            return list(self.state.drain_items)
        return self.not_handled()


def named(error: PagletError, expected: type[PagletError]) -> bool:
    """Whether ``error`` is ``expected``, raised as itself or as a HostError naming it.

    A PagletError a handler raises reaches the caller as a HostError keeping its name.
    """
    if isinstance(error, expected):
        return True
    return isinstance(error, HostError) and error.remote_type.endswith(expected.__name__)


class LossyFeed(Feed):
    DRAIN_POLICY = DrainPolicy.DROP_OLDEST


def test_a_producer_in_run_is_drained_in_order_through_a_small_buffer(host: Host) -> None:
    feed = host.create(Feed, FeedState(produce=200))
    client = DrainClient(feed)
    got = list(client.items(timeout=4 * TIMEOUT, poll=1.0))
    assert got == list(range(200))
    assert client.cursor == 200 and client.done and client.missed == 0


def test_a_long_poll_wakes_when_an_item_arrives(host: Host) -> None:
    feed = host.create(Feed)
    client = DrainClient(feed)
    handled = feed.info()["handled"]
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        polling = pool.submit(client.drain, 3 * TIMEOUT)
        wait_for(lambda: feed.info()["handled"] > handled, message="the poll never arrived")
        assert not polling.done()
        assert feed.send("add", args={"items": ["first"]}) == 1
        batch = polling.result(TIMEOUT)
    assert batch.items == ["first"] and batch.cursor == 1 and not batch.done
    assert time.monotonic() - started < 3 * TIMEOUT
    empty = client.drain(wait=0.05)
    assert empty.items == [] and empty.cursor == 1 and not empty.done


def test_finish_ends_a_waiting_poll_with_done(host: Host) -> None:
    feed = host.create(Feed)
    feed.send("add", args={"items": [1, 2]})
    client = DrainClient(feed)
    assert client.drain().items == [1, 2]
    result: list[Any] = []
    poller = threading.Thread(target=lambda: result.append(client.drain(3 * TIMEOUT)))
    poller.start()
    feed.send("finish")
    poller.join(TIMEOUT)
    assert not poller.is_alive()
    assert result[0].items == [] and result[0].done and client.cursor == 2


def test_a_full_buffer_blocks_the_producer_until_the_consumer_releases_room(host: Host) -> None:
    feed = host.create(Feed)
    adding = feed.send_future("add", args={"items": list(range(6)), "timeout": 3 * TIMEOUT})
    client = DrainClient(feed)
    first = client.drain(wait=TIMEOUT)
    assert first.items == [0, 1, 2, 3]
    assert not adding.is_available()  # two items still wait for room
    rest = client.drain(wait=TIMEOUT).items  # asking from 4 releases 0..3
    assert adding.get_reply(TIMEOUT) == 6
    while client.cursor < 6:
        rest += client.drain(wait=TIMEOUT).items
    assert rest == [4, 5]


def test_a_buffer_that_stays_full_refuses_more_with_overloaded(host: Host) -> None:
    feed = host.create(Feed)
    assert feed.send("add", args={"items": [0, 1, 2, 3]}) == 4
    with pytest.raises(PagletError, match="stayed full") as raised:
        feed.send("add", args={"items": ["one too many"], "timeout": 0.2})
    assert named(raised.value, OverloadedError)
    assert feed.send("held") == [0, 1, 2, 3]  # nothing lost, nothing half-appended


def test_drop_oldest_keeps_the_newest_and_tells_the_consumer_what_it_missed(host: Host) -> None:
    feed = host.create(LossyFeed)
    assert feed.send("add", args={"items": list(range(10))}) == 10
    client = DrainClient(feed)
    batch = client.drain()
    assert batch.items == [6, 7, 8, 9] and batch.missed == 6 and batch.cursor == 10
    feed.send("add", args={"items": [10, 11]})
    assert client.drain().items == [10, 11] and client.missed == 6


def test_bad_requests_get_clear_errors_and_the_feed_keeps_serving(host: Host) -> None:
    feed = host.create(Feed)
    feed.send("add", args={"items": ["a"]})
    with pytest.raises(ServiceContractError, match="cursor 5 is outside 0..1"):
        DrainClient(feed, cursor=5).drain()
    with pytest.raises(ServiceContractError, match="numbers"):
        feed.send(Message("_drain", {"cursor": "soon"}))
    with pytest.raises(PagletError) as raised:
        feed.send("add", args={"items": [object()]})
    assert named(raised.value, SerializationError)
    assert DrainClient(feed).drain().items == ["a"]


def test_the_buffer_moves_with_the_paglet_and_the_cursor_still_holds(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    feed = alpha.create(Feed)
    feed.send("add", args={"items": ["a", "b", "c"]})
    client = DrainClient(feed)
    assert client.drain(max_items=1).items == ["a"]
    alpha.get_proxy(feed.agent_id).dispatch("beta")
    feed.send("add", args={"items": ["d"]})
    assert client.drain().items == ["b", "c", "d"]
    assert client.proxy.host_url == beta.address and client.cursor == 4
