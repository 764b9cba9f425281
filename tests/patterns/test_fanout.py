"""MeshFanoutMixin: one result per host, partial results with errors, no leaked clones."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import HostFactory, join_mesh
from helpers import TIMEOUT, gate, new_gate, wait_for
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import HostError
from paglets.core.messages import Message
from paglets.patterns.coordination import FanoutState, HostOutcome, MeshFanoutMixin
from paglets.runtime.host import Host


@dataclass
class PlainState(PagletState):
    pass


FAST_LIVENESS = {"heartbeat_interval": 0.1, "offline_after": 0.35}


@dataclass
class SurveyState(FanoutState):
    auto: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    streamed: list[str] = field(default_factory=list)


class Survey(MeshFanoutMixin, Paglet[SurveyState]):
    """Asks each host for its name and pid; ``args["act"]`` makes chosen hosts misbehave."""

    State = SurveyState

    def fanout_task(self, args: dict[str, Any]) -> Any:
        act = args.get("act", {}).get(self.context.name)
        if act == "freeze":
            gate(args["gate"]).pass_through()
        elif act == "raise":
            raise ValueError("no disks on this host")
        return {"host": self.context.name, "pid": os.getpid()}

    def on_fanout_result(self, outcome: HostOutcome) -> None:
        with self.locked_state() as state:
            state.streamed.append(outcome.host)

    def run(self) -> None:
        if self.run_fanout_child():
            return
        if self.state.auto:
            result = self.fanout(**self.state.auto).to_wire()
            with self.locked_state() as state:
                state.result = result

    def handle_message(self, message: Message) -> Any:
        if message.kind == "survey":
            return self.fanout(
                message.args.get("args"),
                hosts=message.args.get("hosts"),
                deadline=float(message.args.get("deadline", TIMEOUT)),
            ).to_wire()
        if message.kind == "streamed":
            return list(self.state.streamed)
        return self.not_handled()


def mesh(make_host: HostFactory, **options: Any) -> tuple[Host, Host, Host]:
    alpha = make_host("alpha", **options)
    beta = make_host("beta", peers=[alpha.address], **options)
    gamma = make_host("gamma", peers=[alpha.address], **options)
    join_mesh(alpha, beta, gamma)
    return alpha, beta, gamma


def only_collector_left(collector_host: Host, *others: Host) -> bool:
    return len(collector_host.get_proxies()) == 1 and all(not h.get_proxies() for h in others)


def test_every_online_host_answers_once_and_no_clone_is_left(make_host: HostFactory) -> None:
    alpha, beta, gamma = mesh(make_host)
    survey = alpha.create(Survey)
    report = survey.send("survey", timeout=2 * TIMEOUT)
    assert report["errors"] == {}
    assert report["partial"] is False
    assert sorted(report["results"]) == ["alpha", "beta", "gamma"]
    for name, value in report["results"].items():
        assert value == {"host": name, "pid": os.getpid()}
    assert sorted(survey.send("streamed")) == ["alpha", "beta", "gamma"]
    wait_for(lambda: only_collector_left(alpha, beta, gamma), message="a clone was left")


def test_a_frozen_host_is_an_error_and_its_clone_is_disposed(make_host: HostFactory) -> None:
    alpha, beta, gamma = mesh(make_host)
    frozen = new_gate()
    survey = alpha.create(Survey)
    started = time.monotonic()
    report = survey.send(
        "survey",
        args={"args": {"act": {"gamma": "freeze"}, "gate": frozen.key}, "deadline": 1.0},
        timeout=2 * TIMEOUT,
    )
    elapsed = time.monotonic() - started
    assert frozen.entered.is_set()
    assert report["partial"] is True
    assert sorted(report["results"]) == ["alpha", "beta"]
    assert list(report["errors"]) == ["gamma"]
    assert "no result within 1s" in report["errors"]["gamma"]
    assert 1.0 <= elapsed < 1.0 + TIMEOUT
    wait_for(lambda: only_collector_left(alpha, beta, gamma), message="a clone was left")
    frozen.open()  # the late child finds itself disposed and reports nothing
    assert survey.send("streamed").count("gamma") == 1


def test_a_host_stopped_mid_fanout_is_listed_as_gone(make_host: HostFactory) -> None:
    alpha, beta, gamma = mesh(make_host, **FAST_LIVENESS)
    frozen = new_gate()
    survey = alpha.create(Survey)
    future = survey.send_future(
        "survey",
        args={"args": {"act": {"beta": "freeze"}, "gate": frozen.key}, "deadline": 3 * TIMEOUT},
        timeout=4 * TIMEOUT,
    )
    frozen.wait_entered()
    started = time.monotonic()
    beta.stop(timeout=TIMEOUT)
    report = future.get_reply(4 * TIMEOUT)
    assert report["partial"] is True
    assert sorted(report["results"]) == ["alpha", "gamma"]
    assert report["errors"] == {"beta": "host went offline"}
    assert time.monotonic() - started < TIMEOUT  # noticed by liveness, not by the deadline
    wait_for(lambda: only_collector_left(alpha, gamma), message="a clone was left")


def test_errors_name_what_went_wrong_per_host(make_host: HostFactory, dead_address: str) -> None:
    alpha, beta, gamma = mesh(make_host)
    survey = alpha.create(Survey)
    report = survey.send(
        "survey",
        args={
            "args": {"act": {"beta": "raise"}},
            "hosts": ["alpha", "beta", dead_address],
            "deadline": 1.5,
        },
        timeout=4 * TIMEOUT,
    )
    assert list(report["results"]) == ["alpha"]
    assert report["errors"]["beta"] == "ValueError: no disks on this host"
    assert report["errors"][dead_address].startswith("dispatch failed: ")
    wait_for(lambda: only_collector_left(alpha, beta, gamma), message="a clone was left")


def test_disposing_the_collector_mid_round_disposes_its_children(make_host: HostFactory) -> None:
    alpha, beta, gamma = mesh(make_host)
    frozen = new_gate()
    auto = {"args": {"act": {"beta": "freeze", "gamma": "freeze"}, "gate": frozen.key}}
    auto["deadline"] = 4 * TIMEOUT
    survey = alpha.create(Survey, SurveyState(auto=auto))
    frozen.wait_entered()
    wait_for(lambda: len(beta.get_proxies()) == 1 and len(gamma.get_proxies()) == 1)
    survey.dispose(timeout=TIMEOUT)
    wait_for(lambda: not (alpha.get_proxies() or beta.get_proxies() or gamma.get_proxies()))


def test_a_collector_needs_a_fanout_state(host: Host) -> None:
    with pytest.raises(TypeError, match="State must subclass FanoutState"):

        class Wrong(MeshFanoutMixin, Paglet[PagletState]):
            State = PlainState

    class Stateless(MeshFanoutMixin):
        def handle_message(self, message: Message) -> Any:
            return self.fanout(hosts=[], deadline=0.1).to_wire()

    with pytest.raises(HostError, match="State must subclass FanoutState"):
        host.create(Stateless).send("survey")


def test_an_unreachable_first_target_does_not_starve_the_others(
    make_host: HostFactory, dead_address: str
) -> None:
    alpha, beta, gamma = mesh(make_host)
    survey = alpha.create(Survey)
    started = time.monotonic()
    report = survey.send(
        "survey",
        args={"hosts": [dead_address, "beta", "gamma", "alpha"], "deadline": 2.0},
        timeout=4 * TIMEOUT,
    )
    assert sorted(report["results"]) == ["alpha", "beta", "gamma"]
    assert list(report["errors"]) == [dead_address]
    assert time.monotonic() - started < 2.0 + TIMEOUT
    wait_for(lambda: only_collector_left(alpha, beta, gamma), message="a clone was left")
