"""Resident services: lazy and eager start, one instance under a rush, idling, leases."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.core.events import CreationEvent
from paglets.core.messages import Message
from paglets.core.runtime_values import ResidentLifecycle
from paglets.runtime.host import Host
from paglets.services.contracts import (
    EmptyPayload,
    ServiceContract,
    ServiceHandle,
    ServiceOperation,
    ServiceScope,
)
from paglets.services.provider import IDLE_KIND, ServicePaglet, ServiceState
from paglets.services.resident import ResidentService, ResidentServices


@dataclass
class Who:
    agent_id: str
    host: str


COUNTER = ServiceContract("tests.who", (ServiceOperation("who", EmptyPayload, Who),))

_created: list[str] = []
_idle_checks: list[bool] = []
_lock = threading.Lock()


class WhoService(ServicePaglet[ServiceState]):
    CONTRACT = COUNTER
    IDLE_TIMEOUT = 0.0

    def on_creation(self, event: CreationEvent) -> None:
        with _lock:
            _created.append(self.agent_id)

    def handle_message(self, message: Message) -> Any:
        if message.kind == IDLE_KIND:
            with _lock:
                _idle_checks.append(True)
        return super().handle_message(message)

    def who(self, request: EmptyPayload) -> Who:
        return Who(self.agent_id, self.context.name)


@pytest.fixture(autouse=True)
def _reset() -> None:
    with _lock:
        _created.clear()
        _idle_checks.clear()


def _resident(
    host: Host, lifecycle: ResidentLifecycle = ResidentLifecycle.LAZY, idle: float = 0.0
) -> ResidentServices:
    residents = ResidentServices(host)
    residents.start([ResidentService.from_class(WhoService, lifecycle, idle)])
    return residents


def _handle(host: Host, scope: ServiceScope = ServiceScope.LOCAL) -> ServiceHandle:
    handle: ServiceHandle = host.service_registry.require_contract(COUNTER, scope, TIMEOUT)
    return handle


def _is(host: Host, agent_id: str, flags: int) -> bool:
    return agent_id in {p.agent_id for p in host.get_proxies(flags)}


def test_a_lazy_service_is_discoverable_before_it_runs(host: Host) -> None:
    _resident(host)
    record = _handle(host).record
    assert record.agent_id == "" and record.lifecycle == "lazy"
    assert _created == []
    reply = _handle(host).call("who")
    assert _created == [reply.agent_id]


def test_an_eager_service_starts_with_the_host(host: Host) -> None:
    _resident(host, ResidentLifecycle.EAGER)
    assert len(_created) == 1
    assert _handle(host).record.agent_id == _created[0]


def test_concurrent_first_calls_make_exactly_one_instance(host: Host) -> None:
    _resident(host)
    rush = 32
    barrier = threading.Barrier(rush)

    def first_call(_: int) -> str:
        handle = _handle(host)  # each caller has its own handle, none started yet
        barrier.wait(TIMEOUT)
        agent_id: str = handle.call("who", timeout=TIMEOUT).agent_id
        return agent_id

    with ThreadPoolExecutor(rush) as pool:
        answers = set(pool.map(first_call, range(rush)))
    assert len(_created) == 1
    assert answers == {_created[0]}


def test_concurrent_first_calls_from_another_host_make_one_instance(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    _resident(alpha)
    rush = 16
    barrier = threading.Barrier(rush)

    def first_call(_: int) -> str:
        handle = _handle(beta, ServiceScope.MESH)
        barrier.wait(TIMEOUT)
        agent_id: str = handle.call("who", timeout=TIMEOUT).agent_id
        return agent_id

    with ThreadPoolExecutor(rush) as pool:
        answers = set(pool.map(first_call, range(rush)))
    assert len(_created) == 1 and answers == {_created[0]}


def test_an_idle_lazy_service_deactivates_stays_discoverable_and_wakes(host: Host) -> None:
    _resident(host, idle=0.2)
    first = _handle(host).call("who").agent_id
    wait_for(lambda: _is(host, first, INACTIVE), message="the idle provider never deactivated")
    record = _handle(host).record  # still advertised while inactive
    assert record.agent_id == first
    assert _handle(host).call("who").agent_id == first  # the call activated it again
    assert _is(host, first, ACTIVE)
    assert _created == [first]  # activation, not a second instance


def test_a_lease_keeps_a_lazy_provider_active_until_it_lapses(host: Host) -> None:
    _resident(host, idle=0.2)
    handle = _handle(host)
    agent_id = handle.call("who").agent_id
    leased_at = time.monotonic()
    handle.lease(1.5)
    wait_for(lambda: _is(host, agent_id, INACTIVE), message="the provider never idled out")
    # without the lease it would have gone after 0.2 s of idleness
    assert time.monotonic() - leased_at >= 1.5


def test_a_released_lease_lets_the_provider_idle_out(host: Host) -> None:
    _resident(host, idle=0.2)
    handle = _handle(host)
    agent_id = handle.call("who").agent_id
    with handle.lease(600):
        assert _is(host, agent_id, ACTIVE)
    # the lease would last 10 minutes; released, the provider goes within the wait
    wait_for(lambda: _is(host, agent_id, INACTIVE), message="released provider stayed active")
    assert len(_idle_checks) >= 1


def test_an_eager_service_never_idles_out(host: Host) -> None:
    residents = _resident(host, ResidentLifecycle.EAGER, idle=0.1)
    assert residents.services()[0].lifecycle is ResidentLifecycle.EAGER
    agent_id = _created[0]
    assert _handle(host).call("who").agent_id == agent_id
    assert _idle_checks == [] and _is(host, agent_id, ACTIVE)


def test_a_disposed_resident_is_started_again_on_the_next_call(host: Host) -> None:
    _resident(host)
    handle = _handle(host)
    first = handle.call("who").agent_id
    host.dispose(first)
    second = _handle(host).call("who").agent_id  # a new lookup
    assert second != first and _created == [first, second]
    host.dispose(second)
    third = handle.call("who").agent_id  # a handle that still names the first one
    assert third not in (first, second) and _created == [first, second, third]


def test_a_stored_provider_is_adopted_after_a_restart(make_host: Any, tmp_path: Any) -> None:
    first_host = make_host("alpha", persistence_dir=tmp_path)
    _resident(first_host)
    first = _handle(first_host).call("who").agent_id
    first_host.stop()
    again = make_host("alpha", persistence_dir=tmp_path)
    _resident(again)
    assert _handle(again).call("who").agent_id == first
    assert _created == [first]
