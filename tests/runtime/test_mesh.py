"""The mesh of in-process hosts with static seeds (discovery off): facts, liveness, names."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import TIMEOUT, free_port, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PeerNotFoundError, RemoteHostError
from paglets.core.messages import Message
from paglets.examples.counter import CounterPaglet
from paglets.net.peers import PeerInfo
from paglets.runtime.host import Host
from paglets.wire.codec import decode_value
from paglets.wire.protocol import VERB_MESH

FAST = {"heartbeat_interval": 0.1, "offline_after": 0.4}


def _peer(host: Host, name: str) -> PeerInfo | None:
    return next((info for info in host.peers() if info.name == name), None)


def _online(host: Host, name: str) -> bool:
    info = _peer(host, name)
    return info is not None and info.online


def test_tags_properties_and_resources_are_seen_on_every_host(make_host: Any) -> None:
    alpha = make_host("alpha", tags=["gpu"], properties={"room": "1"})
    beta = make_host("beta", peers=[alpha.address], tags=["cpu"])
    gamma = make_host("gamma", peers=[beta.address])
    for host in (alpha, beta, gamma):
        for other in {"alpha", "beta", "gamma"} - {host.name}:
            host.wait_for_host(other, TIMEOUT)
    for host in (beta, gamma):
        seen = _peer(host, "alpha")
        assert seen is not None
        assert seen.tags == ("gpu",) and dict(seen.properties) == {"room": "1"}
        assert seen.cpu_count >= 1 and seen.cores_free == seen.cpu_count
        assert seen.memory_total >= seen.memory_free > 0 and seen.work_free > 0
        assert seen.pub_address.startswith("tcp://127.0.0.1:") and seen.seq >= 1
    assert _peer(alpha, "beta").tags == ("cpu",)  # type: ignore[union-attr]


def test_a_late_joiner_gets_the_current_snapshot_through_hello(make_host: Any) -> None:
    slow = {"heartbeat_interval": 30.0}  # no heartbeat will come during this test
    alpha = make_host("alpha", tags=["gpu"], **slow)
    for _ in range(3):
        alpha.create(CounterPaglet)
    beta = make_host("beta", peers=[alpha.address], **slow)
    seen = beta.wait_for_host("alpha", TIMEOUT)
    assert seen.active_count == 3 and seen.tags == ("gpu",)


def test_a_change_is_published_without_waiting_for_the_heartbeat(make_host: Any) -> None:
    slow = {"heartbeat_interval": 30.0}
    alpha = make_host("alpha", **slow)
    beta = make_host("beta", peers=[alpha.address], **slow)
    beta.wait_for_host("alpha", TIMEOUT)
    alpha.wait_for_host("beta", TIMEOUT)
    wait_for(lambda: alpha.mesh_view()["gossip"]["subscribed"] == 1)
    wait_for(lambda: beta.mesh_view()["gossip"]["subscribed"] == 1)

    def seen_active() -> bool:
        alpha.create(CounterPaglet)  # each creation publishes; the first may beat the SUB
        return (_peer(beta, "alpha") or PeerInfo("", "")).active >= 1

    wait_for(seen_active)


def test_seeds_alone_join_three_hosts_and_names_are_targets(make_host: Any) -> None:
    alpha = make_host("alpha")
    beta = make_host("beta", peers=[alpha.address])
    gamma = make_host("gamma", peers=[alpha.address])
    assert beta.wait_for_host("gamma", TIMEOUT).url == gamma.address
    assert gamma.wait_for_host("beta", TIMEOUT).url == beta.address
    counter = alpha.create(CounterPaglet)
    moved = counter.dispatch("beta")
    assert moved.host_url == beta.address
    remote = gamma.create_remote("alpha", CounterPaglet)
    assert remote.host_url == alpha.address
    assert remote.send(Message("increment", {"by": 2})) == {"count": 2}


class HostsSeenPaglet(Paglet[PagletState]):
    """Answers ``hosts`` with what its context says of the other hosts."""

    def handle_message(self, message: Message) -> Any:
        if message.kind == "hosts":
            return [
                {"name": h.name, "tags": list(h.tags), "cores_free": h.cores_free}
                for h in self.context.available_hosts(include_self=False)
            ]
        return self.not_handled()


def test_paglets_see_the_hosts_and_their_free_cores(make_host: Any) -> None:
    alpha = make_host("alpha")
    make_host("beta", peers=[alpha.address], tags=["big"])
    alpha.wait_for_host("beta", TIMEOUT)
    hosts = alpha.create(HostsSeenPaglet).send("hosts")
    assert [(h["name"], h["tags"]) for h in hosts] == [("beta", ["big"])]
    assert hosts[0]["cores_free"] >= 1


def test_a_stopped_host_goes_offline_at_once_and_a_silent_one_after_the_window(
    make_host: Any,
) -> None:
    alpha = make_host("alpha", **FAST)
    beta = make_host("beta", peers=[alpha.address], **FAST)
    gamma = make_host("gamma", peers=[alpha.address], **FAST)
    # wait for gossip to flow (a few heartbeats), not only for the hello
    wait_for(lambda: all((_peer(alpha, n) or PeerInfo("", "")).seq >= 4 for n in ("beta", "gamma")))
    beta.stop()
    wait_for(lambda: not _online(alpha, "beta"), timeout=0.5, message="no goodbye seen")
    gamma._transport.stop()  # sockets gone, no goodbye: as if it were killed
    wait_for(lambda: not _online(alpha, "gamma"))
    kinds = [(e.kind, e.data.get("name")) for e in alpha.list_events()]
    assert ("host-offline", "beta") in kinds and ("host-offline", "gamma") in kinds


def test_a_host_back_at_its_address_is_online_again_without_a_restart(make_host: Any) -> None:
    port = free_port()
    alpha = make_host("alpha", **FAST)
    beta = make_host("beta", port=port, peers=[alpha.address], **FAST)
    wait_for(lambda: _online(alpha, "beta"))
    first = _peer(alpha, "beta")
    beta.stop()
    wait_for(lambda: not _online(alpha, "beta"))
    # no seed this time: alpha finds it again by greeting its offline peers
    again = make_host("beta", port=port, **FAST)
    wait_for(lambda: _online(alpha, "beta"))
    assert _peer(alpha, "beta").incarnation != first.incarnation  # type: ignore[union-attr]
    wait_for(lambda: _online(again, "alpha"))


def test_a_name_clash_is_reported_and_the_name_no_longer_resolves(make_host: Any) -> None:
    first = make_host("alpha")
    second = make_host("alpha")
    beta = make_host("beta", peers=[first.address, second.address])
    wait_for(lambda: sum(1 for h in beta.peers() if h.name == "alpha") == 2)
    view = beta.mesh_view()
    assert view["clashes"] == [
        {"name": "alpha", "addresses": sorted([first.address, second.address])}
    ]
    wait_for(lambda: any(e.kind == "name-clash" for e in beta.list_events()))
    counter = beta.create(CounterPaglet)
    with pytest.raises(RemoteHostError, match="ambiguous"):
        counter.dispatch("alpha")
    wait_for(lambda: first.mesh_view()["clashes"] != [])
    assert first.mesh_view()["clashes"][0]["addresses"] == ["(this host)", second.address]


def test_a_host_of_another_mesh_version_is_listed_as_ignored(make_host: Any) -> None:
    alpha = make_host("alpha", mesh_version="v1")
    other = make_host("other", mesh_version="v2", peers=[alpha.address])
    wait_for(lambda: alpha.mesh_view()["ignored"] and other.mesh_view()["ignored"])
    ignored = alpha.mesh_view()["ignored"][0]
    assert ignored["name"] == "other" and ignored["mesh_version"] == "v2"
    assert "mesh version" in ignored["reason"]
    assert alpha.peers() == [] and other.peers() == []


def test_the_mesh_verb_answers_the_view_of_the_entry_host(make_host: Any) -> None:
    alpha = make_host("alpha", tags=["gpu"])
    beta = make_host("beta", peers=[alpha.address])
    alpha.wait_for_host("beta", TIMEOUT)
    view = beta._transport.call(alpha.address, VERB_MESH, timeout=TIMEOUT)
    decoded = decode_value(view.body, beta._policy)
    assert decoded["self"]["name"] == "alpha" and decoded["self"]["tags"] == ["gpu"]
    assert [peer["name"] for peer in decoded["peers"]] == ["beta"]
    assert decoded["peers"][0]["online"] is True and decoded["peers"][0]["age"] < TIMEOUT


def test_waiting_for_an_unknown_name_names_the_known_hosts(make_host: Any) -> None:
    alpha = make_host("alpha")
    make_host("beta", peers=[alpha.address])
    alpha.wait_for_host("beta", TIMEOUT)
    with pytest.raises(PeerNotFoundError, match="known: beta"):
        alpha.wait_for_host("zeta", 0.05)
