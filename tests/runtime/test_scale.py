"""Many paglets on one host: idle paglets hold no thread."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from helpers import TIMEOUT
from paglets.core.agent import ACTIVE, Paglet, PagletState
from paglets.core.messages import Message
from paglets.runtime.host import Host

COUNT = 10_000


@dataclass
class SeatState(PagletState):
    number: int = 0
    visits: int = 0


class Seat(Paglet[SeatState]):
    State = SeatState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "visit":
            self.state.visits += 1
            return (self.state.number, self.state.visits)
        return self.not_handled()


def test_ten_thousand_idle_paglets_on_one_host(host: Host) -> None:
    threads_before = threading.active_count()
    proxies = [host.create(Seat, SeatState(number=n)) for n in range(COUNT)]
    assert len({proxy.agent_id for proxy in proxies}) == COUNT
    assert len(host.get_proxies(ACTIVE)) == COUNT
    assert host.info()["active"] == COUNT

    sample = random.Random(7).sample(range(COUNT), 200)
    for n in sample:
        assert proxies[n].send("visit", timeout=TIMEOUT) == (n, 1)
    futures = [proxies[n].send_future("visit") for n in sample]
    assert [future.get_reply(TIMEOUT) for future in futures] == [(n, 2) for n in sample]

    # creating and messaging them one after another needed only a few threads
    assert host.info()["workers"] < 100
    assert threading.active_count() - threads_before < 100

    replies = host.multicast_message("visit")
    assert len(replies) == COUNT
    assert replies.wait_for_all_replies(4 * TIMEOUT)
    visits = {number: count for number, count in replies.replies(0)}
    assert sorted(visits) == list(range(COUNT))
    assert sum(visits.values()) == COUNT + 2 * len(sample)
