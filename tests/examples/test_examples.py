"""The packaged example paglets, on real hosts: counter, echo and traveller."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.errors import HostError, NotHandledError
from paglets.core.itinerary import ItineraryPlan
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.examples import echo
from paglets.examples.counter import CounterPaglet, CounterState
from paglets.examples.echo import EchoPaglet, EchoState
from paglets.examples.traveller import TravellerPaglet, TravellerState
from paglets.remote.client import HostClient
from paglets.remote.proxy import PagletProxy
from paglets.runtime.host import Host

# counter ------------------------------------------------------------------------------


def test_counter_counts_and_keeps_its_count_when_it_moves(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    counter = alpha.create(CounterPaglet)
    assert counter.send("increment", args={"by": 3}) == {"count": 3}
    assert counter.send("increment") == {"count": 4}
    counter.dispatch("beta")
    assert counter.info()["host"] == "beta"
    assert counter.send("get") == {"count": 4}
    assert counter.send("increment", args={"by": -10}) == {"count": -6}
    assert counter.send("reset") == {"count": 0}
    state = beta.get_state(counter.agent_id)
    assert isinstance(state, CounterState) and state.count == 0


def test_counter_created_with_a_state_and_cloned(two_hosts: tuple[Host, Host]) -> None:
    alpha, _ = two_hosts
    counter = alpha.create(CounterPaglet, CounterState(count=10))
    copy = counter.clone("beta")
    copy.send("increment")
    assert counter.send("get") == {"count": 10}
    assert copy.send("get") == {"count": 11}


def test_counter_refuses_unknown_kinds_and_bad_arguments(host: Host) -> None:
    counter = host.create(CounterPaglet)
    with pytest.raises(NotHandledError):
        counter.send("decrement")
    with pytest.raises(HostError) as raised:
        counter.send("increment", args={"by": "many"})
    assert raised.value.remote_type == "ValueError"
    assert counter.send("get") == {"count": 0}


def test_counter_survives_deactivation(host: Host) -> None:
    counter = host.create(CounterPaglet)
    counter.send("increment", args={"by": 7})
    host.deactivate(counter.agent_id)
    assert not counter.is_active()
    assert counter.send("get") == {"count": 7}  # the message activates it


def test_counter_created_by_class_path_through_a_client(host: Host) -> None:
    with HostClient(address=host.address) as client:
        proxy = client.create("paglets.examples.counter:CounterPaglet", {"count": 2})
        assert proxy.send("increment") == {"count": 3}


# echo ---------------------------------------------------------------------------------


def test_echo_answers_with_what_it_was_sent(host: Host) -> None:
    proxy = host.create(EchoPaglet)
    args = {"text": "hi", "numbers": [1, 2.5], "nested": {"ok": True}, "raw": b"\x00"}
    assert proxy.send("echo", args=args) == args
    assert proxy.send(Message("echo", arg=("a", 1))) == ("a", 1)
    assert proxy.send("echo") is None


def test_echo_where_follows_the_paglet(two_hosts: tuple[Host, Host]) -> None:
    alpha, _ = two_hosts
    proxy = alpha.create(EchoPaglet)
    assert proxy.send("where") == "alpha"
    proxy.dispatch("beta")
    assert proxy.send("where") == "beta"
    proxy.send("echo", args={"x": 1})
    state = two_hosts[1].get_state(proxy.agent_id)
    assert isinstance(state, EchoState) and state.handled == 3


def test_echo_sleep_blocks_the_mailbox_but_not_unqueued_messages(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, _ = two_hosts
    proxy = alpha.create_remote("beta", EchoPaglet)
    sleeping = proxy.send_future("sleep", args={"seconds": 1.5})
    queued = proxy.send_future("where")
    assert proxy.send(Message("where", priority=UNQUEUED_PRIORITY)) == "beta"
    # Answered while the sleep still held the mailbox (checked in this order on purpose:
    # the queued reply can only be in once the sleep is over).
    assert not queued.is_available()
    assert not sleeping.is_available()
    slept = sleeping.get_reply(TIMEOUT)["slept"]
    assert 1.45 <= slept < 1.5 + TIMEOUT
    assert queued.get_reply(TIMEOUT) == "beta"


def test_echo_sleep_is_capped(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(echo, "MAX_SLEEP_SECONDS", 0.2)
    proxy = host.create(EchoPaglet)
    slept = proxy.send("sleep", args={"seconds": 600}, timeout=TIMEOUT)["slept"]
    assert 0.15 <= slept < 2.0
    assert proxy.send("sleep", args={"seconds": -5})["slept"] < 0.1


def test_echo_fail_raises_remotely_and_unknown_kinds_are_not_handled(host: Host) -> None:
    proxy = host.create(EchoPaglet)
    with pytest.raises(HostError) as raised:
        proxy.send("fail", args={"text": "on purpose"})
    assert raised.value.remote_type == "RuntimeError"
    assert raised.value.remote_message == "on purpose"
    with pytest.raises(NotHandledError):
        proxy.send("shout")


# traveller ----------------------------------------------------------------------------


def _trip_log(proxy: PagletProxy) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        log: dict[str, Any] = proxy.send("log")
        return log if log["finished"] or log["error"] else None

    return wait_for(ended, message="the traveller did not finish its trip")


def test_traveller_visits_every_host_and_stops_on_the_last(
    three_hosts: tuple[Host, Host, Host],
) -> None:
    alpha, beta, gamma = three_hosts
    traveller = alpha.create(TravellerPaglet, init=["beta", "gamma", "alpha"])
    log = _trip_log(traveller)
    assert log == {
        "visited": ["beta", "gamma", "alpha"],
        "finished": True,
        "remaining": [],
        "error": "",
        "host": "alpha",
    }
    assert traveller.info()["host"] == "alpha"
    assert [p.agent_id for p in alpha.get_proxies()] == [traveller.agent_id]
    assert not beta.get_proxies() and not gamma.get_proxies()


def test_traveller_takes_a_plan_in_its_state_and_addresses(
    three_hosts: tuple[Host, Host, Host],
) -> None:
    alpha, beta, gamma = three_hosts
    plan = ItineraryPlan([gamma.address, "beta"])
    traveller = alpha.create(TravellerPaglet, TravellerState(itinerary=plan))
    log = _trip_log(traveller)
    assert log["visited"] == ["gamma", "beta"]
    assert log["host"] == "beta"
    state = beta.get_state(traveller.agent_id)
    assert isinstance(state, TravellerState)
    assert state.itinerary.current_location == "beta" and state.itinerary.completed


def test_traveller_with_no_destinations_finishes_at_home(host: Host) -> None:
    traveller = host.create(TravellerPaglet)
    assert _trip_log(traveller) == {
        "visited": [],
        "finished": True,
        "remaining": [],
        "error": "",
        "host": "alpha",
    }


def test_traveller_stops_where_a_hop_fails(two_hosts: tuple[Host, Host]) -> None:
    alpha, _ = two_hosts
    traveller = alpha.create(TravellerPaglet, init=["beta", "atlantis", "alpha"])
    log = _trip_log(traveller)
    assert log["visited"] == ["beta"]
    assert not log["finished"]
    assert "atlantis" in log["error"]
    assert log["remaining"] == ["atlantis", "alpha"]  # the plan was put back
    assert log["host"] == "beta"


# a host in another process loads the examples by class path ------------------------------

_CHILD_HOST = """
import sys
from paglets.runtime.host import Host
with Host(name="child", port=0, peers=[sys.argv[1]]) as host:
    print(host.address, flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def child_host(host: Host) -> Iterator[str]:
    """A host named ``child`` in a subprocess, seeded with ``host``; yields its address."""
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD_HOST, host.address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()
        assert address.startswith("tcp://"), f"child host did not start: {address!r}"
        host.wait_for_host("child", TIMEOUT)
        yield address
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=TIMEOUT)


def test_examples_travel_to_a_host_in_another_process(host: Host, child_host: str) -> None:
    counter = host.create(CounterPaglet, CounterState(count=1))
    counter.dispatch("child")
    assert counter.send("increment") == {"count": 2}
    assert counter.host_url == child_host
    echo_proxy = host.create_remote("child", EchoPaglet)
    assert echo_proxy.send("where") == "child"
    traveller = host.create(TravellerPaglet, init=["child", "alpha"])
    log = _trip_log(traveller)
    assert log["visited"] == ["child", "alpha"] and log["finished"], log
