"""Gossip sockets on loopback, and the peer table's ordering, liveness and names."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import msgpack
import pytest
import zmq

from helpers import TIMEOUT, wait_for
from paglets.core.errors import PayloadTooLargeError, PeerNotFoundError, RemoteHostError
from paglets.net.gossip import MAX_FACTS_SIZE, TOPIC, Gossip
from paglets.net.peers import Change, PeerInfo, PeerTable
from paglets.net.security import derive_keys
from paglets.net.transport import Transport, TransportConfig


class Node:
    """A transport and its gossip, recording what it hears and its ticks."""

    def __init__(self, name: str, interval: float = 0.05, secret: str | None = None) -> None:
        keys = derive_keys(secret) if secret else None
        self.transport = Transport(name, TransportConfig(bind_host=None, keys=keys))
        self.transport.start()
        self.heard: list[dict[str, Any]] = []
        self.lateness: list[float] = []
        self.lock = threading.Lock()
        self.gossip = Gossip(
            self.transport,
            bind_host="127.0.0.1",
            port=0,
            interval=interval,
            on_facts=self._on_facts,
            on_tick=self.lateness.append,
        )
        self.address = self.gossip.start(TIMEOUT)

    def _on_facts(self, facts: dict[str, Any], endpoint: str) -> None:
        with self.lock:
            self.heard.append(facts)

    def names(self) -> list[str]:
        with self.lock:
            return [str(facts.get("name")) for facts in self.heard]

    def close(self) -> None:
        self.gossip.stop()
        self.transport.stop()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    made: list[Node] = []
    yield made
    for node in made:
        node.close()


def _publish_until_heard(sender: Node, receiver: Node, facts: dict[str, Any]) -> None:
    """Publish until the receiver heard ``facts`` (a SUB joins after some messages)."""

    def heard() -> bool:
        sender.gossip.publish(facts)
        return facts["name"] in receiver.names()

    wait_for(heard, message=f"{receiver.transport.name} never heard {facts['name']}")


def test_published_facts_reach_a_subscriber(nodes: list[Node]) -> None:
    alpha, beta = Node("alpha"), Node("beta")
    nodes += [alpha, beta]
    assert alpha.address.startswith("tcp://127.0.0.1:")
    beta.gossip.connect(alpha.address)
    _publish_until_heard(alpha, beta, {"name": "alpha", "seq": 1})
    assert alpha.gossip.sent >= 1 and beta.gossip.received >= 1
    assert beta.gossip.endpoints == frozenset({alpha.address})


def test_one_sub_listens_to_many_publishers_and_can_drop_one(nodes: list[Node]) -> None:
    alpha, beta, gamma = Node("alpha"), Node("beta"), Node("gamma")
    nodes += [alpha, beta, gamma]
    gamma.gossip.connect(alpha.address)
    gamma.gossip.connect(beta.address)
    _publish_until_heard(alpha, gamma, {"name": "alpha"})
    _publish_until_heard(beta, gamma, {"name": "beta"})
    gamma.gossip.disconnect(alpha.address)
    wait_for(lambda: gamma.gossip.endpoints == frozenset({beta.address}))
    with gamma.lock:
        gamma.heard.clear()
    _publish_until_heard(beta, gamma, {"name": "beta"})
    for _ in range(20):
        alpha.gossip.publish({"name": "alpha"})
    _publish_until_heard(beta, gamma, {"name": "beta-again"})
    assert "alpha" not in gamma.names()


def test_gossip_works_over_curve(nodes: list[Node]) -> None:
    alpha, beta = Node("alpha", secret="s3cret"), Node("beta", secret="s3cret")
    nodes += [alpha, beta]
    beta.gossip.connect(alpha.address)
    _publish_until_heard(alpha, beta, {"name": "alpha"})


def test_malformed_and_oversized_messages_are_dropped(
    nodes: list[Node], zmq_context: zmq.Context[Any]
) -> None:
    beta = Node("beta")
    nodes.append(beta)
    rogue = zmq_context.socket(zmq.PUB)
    port = rogue.bind_to_random_port("tcp://127.0.0.1")
    beta.gossip.connect(f"tcp://127.0.0.1:{port}")
    good = msgpack.packb({"name": "good"})

    def good_arrives() -> bool:
        rogue.send_multipart([TOPIC, b"\xc1 not msgpack"])
        rogue.send_multipart([TOPIC, msgpack.packb([1, 2, 3])])
        rogue.send_multipart([TOPIC, good, b"extra frame"])
        rogue.send_multipart([TOPIC, good])
        return "good" in beta.names()

    wait_for(good_arrives)

    def malformed_counted() -> bool:
        # PUB/SUB loses what is sent before the subscription reaches the publisher, so
        # a burst may have delivered only the good message: send the bad ones again.
        rogue.send_multipart([TOPIC, b"\xc1 not msgpack"])
        rogue.send_multipart([TOPIC, msgpack.packb([1, 2, 3])])
        rogue.send_multipart([TOPIC, good, b"extra frame"])
        return beta.gossip.dropped >= 3

    wait_for(malformed_counted)
    assert set(beta.names()) == {"good"}
    # An oversized message costs the sender its subscription (MAXMSGSIZE; libzmq does
    # not reconnect after it) until the owner asks for a fresh one.
    rogue.send_multipart([TOPIC, msgpack.packb({"name": "huge", "pad": "x" * MAX_FACTS_SIZE})])
    beta.gossip.reconnect(f"tcp://127.0.0.1:{port}")
    after = msgpack.packb({"name": "after"})

    def after_arrives() -> bool:
        rogue.send_multipart([TOPIC, after])
        return "after" in beta.names()

    wait_for(after_arrives)
    assert "huge" not in beta.names()


def test_publish_refuses_facts_subscribers_would_drop(nodes: list[Node]) -> None:
    alpha = Node("alpha")
    nodes.append(alpha)
    with pytest.raises(PayloadTooLargeError, match="gossip limit"):
        alpha.gossip.publish({"name": "alpha", "pad": "x" * MAX_FACTS_SIZE})
    assert alpha.gossip.sent == 0


def test_ticks_come_every_interval_and_say_how_late_they_are(nodes: list[Node]) -> None:
    alpha = Node("alpha", interval=0.05)
    nodes.append(alpha)
    wait_for(lambda: len(alpha.lateness) >= 3)
    assert all(0.0 <= late < 1.0 for late in alpha.lateness)


def test_stop_closes_the_sockets_and_later_calls_do_nothing(nodes: list[Node]) -> None:
    alpha = Node("alpha")
    alpha.gossip.stop()
    alpha.gossip.publish({"name": "late"})
    alpha.gossip.connect("tcp://127.0.0.1:9")
    assert alpha.gossip.endpoints == frozenset()
    alpha.transport.stop()


# the peer table --------------------------------------------------------------------------


def _info(name: str = "beta", address: str = "tcp://127.0.0.1:7001", **fields: Any) -> PeerInfo:
    fields.setdefault("incarnation", 1)
    fields.setdefault("seq", 1)
    return PeerInfo(name=name, address=address, **fields)


def test_newer_facts_replace_older_ones_and_older_ones_are_dropped() -> None:
    table = PeerTable()
    assert table.apply(_info(seq=5, active=1))[0] is Change.NEW
    assert table.apply(_info(seq=4, active=9))[0] is Change.STALE
    assert table.apply(_info(seq=6, active=2))[0] is Change.UPDATED
    current = table.get("tcp://127.0.0.1:7001")
    assert current is not None and current.active == 2 and current.seq == 6


def test_a_new_incarnation_is_a_restart_whatever_its_sequence() -> None:
    table = PeerTable()
    table.apply(_info(incarnation=10, seq=50))
    change, old = table.apply(_info(incarnation=11, seq=1, tags=("fresh",)))
    assert change is Change.RESTARTED and old is not None and old.seq == 50
    assert table.get("tcp://127.0.0.1:7001").tags == ("fresh",)  # type: ignore[union-attr]


def test_silent_hosts_go_offline_and_come_back_when_heard() -> None:
    table = PeerTable()
    table.apply(_info(heard=time.monotonic() - 10))
    table.apply(_info(name="gamma", address="tcp://127.0.0.1:7002"))
    gone = table.sweep(window=3.0)
    assert [info.name for info in gone] == ["beta"]
    assert table.online_count() == 1
    assert table.sweep(window=3.0) == []  # marked once
    assert table.apply(_info(seq=2))[0] is Change.RETURNED
    assert table.online_count() == 2


def test_the_same_sequence_again_refreshes_liveness_only() -> None:
    table = PeerTable()
    table.apply(_info(seq=3, active=1))
    table.mark_offline("tcp://127.0.0.1:7001")
    assert table.apply(_info(seq=3, active=7))[0] is Change.RETURNED
    info = table.get("tcp://127.0.0.1:7001")
    assert info is not None and info.online and info.active == 1


def test_an_offline_host_is_replaced_by_its_namesake_at_a_new_address() -> None:
    table = PeerTable()
    table.apply(_info(address="tcp://127.0.0.1:7001"))
    table.mark_offline("tcp://127.0.0.1:7001")
    table.apply(_info(address="tcp://127.0.0.1:7009", incarnation=2))
    assert [info.address for info in table.all()] == ["tcp://127.0.0.1:7009"]


def test_two_online_hosts_with_one_name_are_a_clash_not_a_merge() -> None:
    table = PeerTable()
    table.apply(_info(name="alpha", address="tcp://127.0.0.1:7001"))
    table.apply(_info(name="alpha", address="tcp://127.0.0.1:7002"))
    table.apply(_info(name="beta", address="tcp://127.0.0.1:7003"))
    assert len(table.all()) == 3
    assert table.clashes() == {"alpha": ["tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"]}
    assert table.clashes(own_name="beta") == {
        "alpha": ["tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"],
        "beta": ["(this host)", "tcp://127.0.0.1:7003"],
    }
    with pytest.raises(RemoteHostError, match="ambiguous"):
        table.resolve("alpha")
    resolved = table.resolve("beta")
    assert resolved is not None and resolved.address == "tcp://127.0.0.1:7003"


def test_wait_for_a_name_wants_it_online() -> None:
    table = PeerTable()
    table.apply(_info())
    table.mark_offline("tcp://127.0.0.1:7001")
    with pytest.raises(PeerNotFoundError, match="beta"):
        table.wait_for("beta", 0.05)
    threading.Timer(0.05, lambda: table.apply(_info(seq=2))).start()
    assert table.wait_for("beta", TIMEOUT).online


def test_facts_round_trip_and_bad_facts_are_refused() -> None:
    info = _info(tags=("gpu",), properties={"room": "1"}, cpu_count=4, load=2.0, cores_free=4)
    back = PeerInfo.from_wire(info.to_wire())
    assert replace(back, heard=info.heard, last_seen=info.last_seen) == info
    assert back.load_per_cpu == 0.5
    for bad in (
        {"name": "", "address": "tcp://h:1"},
        {"name": "x", "address": "tcp://h:1", "seq": "many"},
        {"name": "x", "address": "tcp://h:1", "seq": 2**70},
        {"name": "x", "address": "tcp://h:1", "load": float("nan")},
        {"name": "x", "address": "tcp://h:1", "tags": "gpu"},
        {"name": "x", "address": "tcp://h:1", "tags": ["t"] * 1000},
    ):
        with pytest.raises(ValueError):
            PeerInfo.from_wire(bad)
