"""A mesh lookup asks every online peer at once and waits for none past its timeout."""

from __future__ import annotations

import time
from typing import Any

import zmq
from test_contracts import ECHO, EchoService

from paglets.net.peers import PeerInfo, PeerTable
from paglets.runtime.event_log import EventLog
from paglets.runtime.host import Host
from paglets.runtime.serving.service_registry import ServiceRegistry
from paglets.services.contracts import ServiceScope
from paglets.wire.classpath import ClassPolicy


def test_a_silent_peer_costs_the_timeout_once_and_is_left_out(
    two_hosts: tuple[Host, Host], zmq_context: zmq.Context[Any]
) -> None:
    alpha, beta = two_hosts
    beta.service_registry.advertise_contract(ECHO, beta.create(EchoService))
    silent_peers = []
    for _ in range(3):  # three peers that accept connections and never answer
        silent = zmq_context.socket(zmq.ROUTER)
        silent_peers.append(f"tcp://127.0.0.1:{silent.bind_to_random_port('tcp://127.0.0.1')}")
    peers = PeerTable()
    for index, address in enumerate([*silent_peers, beta.address]):
        peers.apply(PeerInfo(name=f"peer-{index}", address=address))
    registry = ServiceRegistry(
        lambda: "alpha",
        lambda: alpha.address,
        alpha._transport,  # the transport of a real host, with a peer table of ours
        peers,
        ClassPolicy(),
        alpha.proxy,
        EventLog(),
    )
    started = time.monotonic()
    records = registry.lookup(ECHO.name, ServiceScope.MESH, timeout=0.5)
    elapsed = time.monotonic() - started
    assert [r.host_name for r in records] == ["beta"]
    # one shared deadline: three silent peers cost 0.5 s in all, not 1.5 s
    assert 0.5 <= elapsed < 1.4, elapsed
