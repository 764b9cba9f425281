"""Exactly-once hand-off over a lossy link: a shim drops, duplicates or replays frames.

The shim is a ZeroMQ ROUTER/DEALER pair on loopback, run by a thread of the test: the
source talks to the shim as if it were the target, and the shim forwards each request
and reply zero, one or two times by a rule on its verb. The target asks the source's
real address (``transfer.status``), which the shim does not see.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
import zmq

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.core.errors import TransferError
from paglets.examples.durable_counter import DurableCounterPaglet
from paglets.runtime.host import Host

Rule = Callable[[str, str, int], int]
"""(direction "request"/"reply", verb, how many of that verb and direction so far) -> copies."""


class Shim:
    """Forwards whole multipart messages between one client and one target, by a rule."""

    def __init__(self, target: str, rule: Rule) -> None:
        self._context = zmq.Context()
        self._front = self._context.socket(zmq.ROUTER)
        self._front.setsockopt(zmq.LINGER, 0)
        port = self._front.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{port}"
        self._back = self._context.socket(zmq.DEALER)
        self._back.setsockopt(zmq.LINGER, 0)
        self._back.connect(target)
        self._rule = rule
        self._verbs: dict[int, str] = {}
        self.seen: Counter[tuple[str, str]] = Counter()
        self._client = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="shim", daemon=True)
        self._thread.start()

    def _copies(self, direction: str, verb: str) -> int:
        self.seen[(direction, verb)] += 1
        return self._rule(direction, verb, self.seen[(direction, verb)])

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._front, zmq.POLLIN)
        poller.register(self._back, zmq.POLLIN)
        while not self._stop.is_set():
            for socket, _ in poller.poll(50):
                if socket is self._front:
                    client, *frames = self._front.recv_multipart()
                    self._client = client
                    header = msgpack.unpackb(frames[0])
                    verb = str(header.get("verb", ""))
                    self._verbs[int(header.get("id", -1))] = verb
                    for _ in range(self._copies("request", verb)):
                        self._back.send_multipart(frames)
                else:
                    frames = self._back.recv_multipart()
                    header = msgpack.unpackb(frames[0])
                    verb = self._verbs.get(int(header.get("id", -1)), "")
                    for _ in range(self._copies("reply", verb)):
                        self._front.send_multipart([self._client, *frames])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        self._front.close(0)
        self._back.close(0)
        self._context.term()


@pytest.fixture
def shims() -> Iterator[list[Shim]]:
    made: list[Shim] = []
    yield made
    for shim in made:
        shim.close()


def in_phases(host: Host) -> list[str]:
    return host._operations.mobility.transfers.phases("in")


def out_phases(host: Host) -> list[str]:
    return host._operations.mobility.transfers.phases("out")


def holders(agent_id: str, *hosts: Host) -> list[str]:
    return [host.name for host in hosts if host._registry.get(agent_id) is not None]


def pair(make_host: HostFactory) -> tuple[Host, Host]:
    return make_host("alpha", insecure=True), make_host("beta", insecure=True)


def test_a_lost_prepared_reply_and_lost_abort_end_with_the_paglet_at_the_source(
    make_host: HostFactory, shims: list[Shim]
) -> None:
    alpha, beta = pair(make_host)

    def rule(direction: str, verb: str, n: int) -> int:
        if direction == "reply" and verb == "transfer":
            return 0
        return 0 if verb == "abort" else 1

    shims.append(shim := Shim(beta.address, rule))
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 3}, timeout=TIMEOUT)
    with pytest.raises(TransferError, match="aborted"):
        alpha.dispatch(proxy.agent_id, shim.address, timeout=0.5)
    assert shim.seen[("request", "abort")] == 1  # sent, and lost
    # prepared at beta, which asks alpha after its deadline and drops its copy
    wait_for(lambda: in_phases(beta) == ["aborted"], timeout=3 * TIMEOUT)
    assert holders(proxy.agent_id, alpha, beta) == ["alpha"]
    assert proxy.send("get", timeout=TIMEOUT)["count"] == 3


def test_duplicated_frames_move_the_paglet_once(make_host: HostFactory, shims: list[Shim]) -> None:
    alpha, beta = pair(make_host)
    shims.append(shim := Shim(beta.address, lambda direction, verb, n: 2))
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 5}, timeout=TIMEOUT)
    clone = alpha.clone(proxy.agent_id, shim.address, timeout=TIMEOUT)
    moved = alpha.dispatch(proxy.agent_id, shim.address, timeout=TIMEOUT)
    assert moved.host_url == shim.address
    assert shim.seen[("request", "transfer")] == 2  # one each, each forwarded twice
    wait_for(lambda: shim.seen[("request", "transfer.commit")] == 2)
    wait_for(lambda: beta.info()["active"] == 2)
    assert holders(proxy.agent_id, alpha, beta) == ["beta"]
    assert holders(clone.agent_id, alpha, beta) == ["beta"]
    assert alpha.info()["active"] == 0
    for agent_id in (proxy.agent_id, clone.agent_id):
        assert beta.get_proxy(agent_id).send("get", timeout=TIMEOUT)["count"] == 5


def test_a_lost_commit_is_sent_again_until_the_target_starts_the_paglet(
    make_host: HostFactory, shims: list[Shim]
) -> None:
    alpha, beta = pair(make_host)

    def rule(direction: str, verb: str, n: int) -> int:
        return 0 if (direction, verb, n) == ("request", "transfer.commit", 1) else 1

    shims.append(shim := Shim(beta.address, rule))
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 8}, timeout=TIMEOUT)
    alpha.dispatch(proxy.agent_id, shim.address, timeout=TIMEOUT)  # committed at the source
    assert alpha.info()["active"] == 0
    wait_for(lambda: beta.info()["active"] == 1, timeout=3 * TIMEOUT)
    assert shim.seen[("request", "transfer.commit")] >= 2
    wait_for(lambda: out_phases(alpha) == ["done"], timeout=3 * TIMEOUT)
    assert holders(proxy.agent_id, alpha, beta) == ["beta"]
    assert beta.get_proxy(proxy.agent_id).send("get", timeout=TIMEOUT)["count"] == 8


def test_a_transfer_replayed_after_the_commit_starts_nothing_twice(
    make_host: HostFactory, shims: list[Shim]
) -> None:
    alpha, beta = pair(make_host)
    replayed: list[list[bytes]] = []

    def rule(direction: str, verb: str, n: int) -> int:
        return 1

    shims.append(shim := Shim(beta.address, rule))
    arrivals = beta._operations.mobility.arrivals
    prepare = arrivals.prepare
    seen: list[Any] = []
    arrivals.prepare = lambda record: (seen.append(record), prepare(record))[1]  # type: ignore[method-assign]
    proxy = alpha.create(DurableCounterPaglet)
    alpha.dispatch(proxy.agent_id, shim.address, timeout=TIMEOUT)
    wait_for(lambda: beta.info()["active"] == 1)
    wait_for(lambda: beta._operations.mobility.transfers.unsettled() == [])
    wait_for(lambda: alpha._operations.mobility.transfers.unsettled() == [])  # "started" came
    # the transfer (as it arrived) and its commit arrive again, late: nothing new starts
    (record,) = seen
    replayed.append(record)
    assert beta._operations.mobility.receive(record) == "committed"
    assert beta._operations.mobility.commit(record.tid) == "started"
    assert beta.info()["active"] == 1
    assert holders(proxy.agent_id, alpha, beta) == ["beta"]
