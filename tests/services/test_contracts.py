"""Typed contracts: calls, wrong input, typed remote errors, local and mesh lookups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    HostError,
    PagletError,
    ServiceContractError,
    ServiceNotFoundError,
)
from paglets.core.messages import Message
from paglets.runtime.host import Host
from paglets.services.contracts import (
    CALL_KIND,
    EmptyPayload,
    ServiceContract,
    ServiceHandle,
    ServiceOperation,
    ServiceRecord,
    ServiceScope,
)
from paglets.services.provider import ServicePaglet, ServiceState


class QuotaExceeded(PagletError):
    """A declared error of the echo contract."""


@dataclass
class EchoRequest:
    text: str
    times: int = 1


@dataclass
class EchoReply:
    text: str
    host: str


ECHO = ServiceContract(
    name="tests.echo",
    operations=(
        ServiceOperation("echo", EchoRequest, EchoReply, errors=(QuotaExceeded,)),
        ServiceOperation("where", EmptyPayload, EchoReply),
        ServiceOperation("broken", EmptyPayload, EchoReply),
        ServiceOperation("crash", EmptyPayload, EchoReply),
    ),
)


class EchoService(ServicePaglet[ServiceState]):
    CONTRACT = ECHO

    def echo(self, request: EchoRequest) -> EchoReply:
        if request.times > 10:
            raise QuotaExceeded(f"{request.times} echoes is over 10")
        return EchoReply(request.text * request.times, self.context.name)

    def where(self, request: EmptyPayload) -> EchoReply:
        return EchoReply("", self.context.name)

    def broken(self, request: EmptyPayload) -> Any:
        return {"not": "an EchoReply"}

    def crash(self, request: EmptyPayload) -> EchoReply:
        raise ZeroDivisionError("provider divided by zero")


@dataclass
class AskerState(PagletState):
    scope: ServiceScope = ServiceScope.LOCAL


class AskerPaglet(Paglet[AskerState]):
    """A paglet that looks the echo service up from its own context."""

    State = AskerState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "ask":
            handle = self.context.require_contract(ECHO, self.state.scope)
            return handle.call("echo", EchoRequest(message.args["text"])).text
        return self.not_handled()


def _provide(host: Host) -> ServiceRecord:
    proxy = host.create(EchoService)
    record: ServiceRecord = host.service_registry.advertise_contract(ECHO, proxy)
    return record


def _handle(host: Host, scope: ServiceScope = ServiceScope.LOCAL) -> ServiceHandle:
    handle = host.service_registry.require_contract(ECHO, scope)
    assert isinstance(handle, ServiceHandle)
    return handle


def test_a_typed_call_gets_a_typed_reply(host: Host) -> None:
    record = _provide(host)
    assert record.operations == ("echo", "where", "broken", "crash")
    reply = _handle(host).call("echo", EchoRequest("ab", times=3))
    assert reply == EchoReply("ababab", "alpha")


def test_a_paglet_finds_the_service_on_its_context(host: Host) -> None:
    _provide(host)
    asker = host.create(AskerPaglet)
    assert asker.send(Message("ask", {"text": "hi"})) == "hi"


def test_an_unknown_operation_is_a_contract_error_naming_it(host: Host) -> None:
    _provide(host)
    with pytest.raises(ServiceContractError, match="no operation 'shout'"):
        _handle(host).call("shout", EchoRequest("x"))


def test_a_request_of_the_wrong_type_is_refused_before_sending(host: Host) -> None:
    _provide(host)
    with pytest.raises(ServiceContractError, match="takes a EchoRequest request, not dict"):
        _handle(host).call("echo", {"text": "x"})


def test_the_provider_checks_the_request_type_itself(host: Host) -> None:
    record = _provide(host)
    raw = host.proxy(record.agent_id)
    call = {"contract": "tests.echo", "operation": "echo", "request": EmptyPayload()}
    with pytest.raises(ServiceContractError, match="takes a EchoRequest"):
        raw.send(Message(CALL_KIND, call))
    bad_op = {"contract": "tests.echo", "operation": "nope", "request": EmptyPayload()}
    with pytest.raises(ServiceContractError, match="no operation 'nope'"):
        raw.send(Message(CALL_KIND, bad_op))
    # the provider still serves afterwards
    assert _handle(host).call("where").host == "alpha"


def test_a_reply_of_the_wrong_type_is_a_contract_error(host: Host) -> None:
    _provide(host)
    with pytest.raises(ServiceContractError, match="answers a EchoReply, not dict"):
        _handle(host).call("broken")


def test_a_declared_error_arrives_as_itself_others_as_host_error(
    two_hosts: tuple[Host, Host],
) -> None:
    alpha, beta = two_hosts
    _provide(beta)
    handle = _handle(alpha, ServiceScope.MESH)
    assert handle.host_name == "beta"
    with pytest.raises(QuotaExceeded, match="11 echoes is over 10"):
        handle.call("echo", EchoRequest("x", times=11))
    with pytest.raises(HostError) as caught:
        handle.call("crash")
    assert caught.value.remote_type == "ZeroDivisionError"
    assert "provider divided by zero" in str(caught.value)


def test_an_unknown_contract_is_not_found(host: Host) -> None:
    assert host.service_registry.lookup_contract(ECHO) is None
    with pytest.raises(ServiceNotFoundError, match="no provider of 'tests.echo'"):
        host.service_registry.require_contract(ECHO, ServiceScope.MESH, 1.0)
    with pytest.raises(ServiceNotFoundError):
        host.service_registry.require_contract("tests.nothing")


def test_a_local_lookup_does_not_see_other_hosts(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    _provide(beta)
    assert alpha.service_registry.lookup_contract(ECHO) is None
    assert _handle(alpha, ServiceScope.MESH).call("where").host == "beta"


def test_a_mesh_lookup_asks_every_online_host(
    three_hosts: tuple[Host, Host, Host],
) -> None:
    alpha, beta, gamma = three_hosts
    for each in three_hosts:
        _provide(each)
    handles = alpha.service_registry.lookup_contracts(ECHO, ServiceScope.MESH, 5.0)
    assert [h.host_name for h in handles][0] == "alpha"  # this host's first
    assert sorted(h.host_name for h in handles) == ["alpha", "beta", "gamma"]
    assert sorted(h.call("where").host for h in handles) == ["alpha", "beta", "gamma"]
    records = alpha.service_registry.lookup_contracts("tests.echo", ServiceScope.MESH, 5.0)
    assert sorted(r.host_name for r in records) == ["alpha", "beta", "gamma"]
    assert all(isinstance(r, ServiceRecord) and r.agent_id for r in records)


def test_a_disposed_provider_loses_its_record(host: Host) -> None:
    record = _provide(host)
    host.dispose(record.agent_id)
    assert host.service_registry.lookup_contract(ECHO) is None


def test_a_deactivated_provider_keeps_its_record_and_wakes_on_call(host: Host) -> None:
    record = _provide(host)
    host.deactivate(record.agent_id)
    handle = _handle(host)
    assert handle.record.agent_id == record.agent_id
    assert handle.call("where").host == "alpha"


def test_a_contract_must_use_dataclasses() -> None:
    with pytest.raises(TypeError, match="must be a dataclass"):
        ServiceOperation("bad", dict, EchoReply)


def test_a_scope_must_be_a_service_scope_member(host: Host) -> None:
    _provide(host)
    with pytest.raises(TypeError, match=r"scope must be one of ServiceScope.LOCAL.*'mesh'"):
        host.service_registry.lookup_contract(ECHO, "mesh")  # type: ignore[arg-type]
