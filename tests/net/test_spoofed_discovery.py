"""Spoofed zeroconf records: anyone on the LAN can announce anything, tables stay bounded.

The records are fed to the code path the zeroconf browser uses
(:meth:`Discovery.found`, then the host's membership), so no multicast leaves this
machine: 1,000 records of hosts that never answer, and 1,000 of another mesh version.
"""

from __future__ import annotations

import socket

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.net.discovery import MAX_KNOWN, DiscoveredHost, Discovery
from paglets.runtime.host import Host
from paglets.runtime.mesh.greeter import MAX_UNVERIFIED
from paglets.runtime.mesh.membership import MAX_LISTED
from paglets.wire.protocol import PROTOCOL_VERSION

SPOOFED = 1_000


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _record(n: int, port: int, mesh: str = "dev") -> DiscoveredHost:
    ip = f"127.1.{n // 250}.{n % 250 + 1}"
    return DiscoveredHost(
        instance=f"spoof-{mesh}-{n}._paglets._tcp.local.",
        name=f"spoof-{n}",
        address=f"tcp://{ip}:{port}",
        pub_address=f"tcp://{ip}:{port}",
        mesh_version=mesh,
        protocol=PROTOCOL_VERSION,
        key="x" * 40,
    )


def _browser_of(host: Host) -> Discovery:
    membership = host._membership
    return Discovery(
        name=host.name,
        mesh_version="dev",
        protocol=PROTOCOL_VERSION,
        ip="127.0.0.1",
        router_port=1,
        pub_port=1,
        on_found=membership._on_discovered,
        on_removed=membership._on_vanished,
    )


def _sizes(host: Host) -> dict[str, int]:
    gossip = host._membership.heartbeat.gossip
    return {
        "greetings": host._membership._greeter.under_way(),
        "links": host._transport.links,
        "subscriptions": len(gossip.endpoints) if gossip else 0,
        "peers": len(host._peers),
        "ignored": len(host._membership.ignored),
    }


def test_a_thousand_spoofed_records_leave_the_tables_bounded(make_host: HostFactory) -> None:
    alpha = make_host("alpha", link_idle_ttl=0.5)
    browser = _browser_of(alpha)
    port = _dead_port()
    baseline = _sizes(alpha)
    for n in range(SPOOFED):
        browser.found(f"spoof-{n}", _record(n, port))
        browser.found(f"other-{n}", _record(n, port, mesh="other"))
    during = _sizes(alpha)
    assert during["greetings"] <= MAX_UNVERIFIED, during
    assert during["links"] <= baseline["links"] + MAX_UNVERIFIED, during
    assert during["subscriptions"] <= MAX_UNVERIFIED, during
    assert during["peers"] == 0, during
    assert during["ignored"] <= MAX_LISTED, during
    assert len(browser.known()) <= MAX_KNOWN
    for n in range(SPOOFED, 2 * SPOOFED):
        assert not browser.found(f"late-{n}", _record(n, port))  # the browser is full too
    # nobody answers: greetings end, subscriptions go, links are closed
    wait_for(
        lambda: _sizes(alpha) == {**baseline, "ignored": during["ignored"]},
        timeout=6 * TIMEOUT,
        message=f"tables did not shrink back: {_sizes(alpha)} (baseline {baseline})",
    )


def test_a_real_host_is_still_found_after_a_flood(make_host: HostFactory) -> None:
    alpha = make_host("alpha", link_idle_ttl=0.5)
    beta = make_host("beta")
    browser = _browser_of(alpha)
    port = _dead_port()
    for n in range(SPOOFED):
        browser.found(f"spoof-{n}", _record(n, port))
    wait_for(lambda: alpha._membership._greeter.under_way() == 0, timeout=6 * TIMEOUT)
    host, beta_port = beta.address.removeprefix("tcp://").rsplit(":", 1)
    gossip = beta._membership.heartbeat.gossip
    assert gossip is not None
    real = DiscoveredHost(
        instance="beta._paglets._tcp.local.",
        name="beta",
        address=beta.address,
        pub_address=gossip.bound_address,
        mesh_version="dev",
        protocol=PROTOCOL_VERSION,
        key=beta._transport.identity_key,
    )
    browser._known.clear()  # the spoofed records expired (mDNS TTL)
    assert browser.found(real.instance, real)
    alpha.wait_for_host("beta", TIMEOUT)
