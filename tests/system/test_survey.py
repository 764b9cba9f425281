"""The ``paglets sys`` collector: one answer per host, failures listed, nothing left behind."""

from __future__ import annotations

from typing import Any, ClassVar

from helpers import TIMEOUT, Gate, new_gate, wait_for
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.core.messages import Message
from paglets.runtime.host import Host
from paglets.services.contracts import EmptyPayload
from paglets.services.provider import ServicePaglet, ServiceState
from paglets.system.host_services import start_host_services
from paglets.system.server_info import SERVER_INFO
from paglets.system.server_probe import ServerSummary, summary
from paglets.system.survey import SurveyPaglet, SurveyState


def _surveyors(host: Host) -> int:
    infos = [p.info() for p in host.get_proxies(ACTIVE)]
    return sum(1 for info in infos if str(info.get("class", "")).endswith(":SurveyPaglet"))


def _survey(entry: Host, state: SurveyState) -> list[dict[str, Any]]:
    collector = entry.create(SurveyPaglet, state)
    try:
        rows: list[dict[str, Any]] = collector.send(
            Message("survey"), timeout=state.timeout + TIMEOUT
        )
        return rows
    finally:
        collector.dispose()


def _nothing_left(*hosts: Host) -> None:
    """A survey leaves no copy behind (the copies dispose themselves after reporting)."""
    wait_for(lambda: all(_surveyors(each) == 0 for each in hosts), message="a copy stayed")


def _paglets(host: Host) -> int:
    return len(host.get_proxies(ACTIVE | INACTIVE))


def test_a_survey_answers_for_every_host(three_hosts: tuple[Host, Host, Host]) -> None:
    for each in three_hosts:
        start_host_services(each, read_launch=False)
    before = [_paglets(each) for each in three_hosts]
    rows = _survey(three_hosts[0], SurveyState(question="summary", timeout=TIMEOUT))
    assert [row["host"] for row in rows] == ["alpha", "beta", "gamma"]
    assert all(row["ok"] and row["error"] == "" for row in rows), rows
    assert [row["data"]["host"] for row in rows] == ["alpha", "beta", "gamma"]
    assert {row["via"] for row in rows} == {"service"}
    _nothing_left(*three_hosts)
    # the server-info services started on first use, one on each host
    services = [_paglets(each) - b for each, b in zip(three_hosts, before, strict=True)]
    assert services == [1, 1, 1]


def test_a_host_without_services_is_read_directly(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    start_host_services(alpha, read_launch=False)
    rows = _survey(alpha, SurveyState(question="df", paths=["/"], timeout=TIMEOUT))
    assert [(r["host"], r["ok"], r["via"]) for r in rows] == [
        ("alpha", True, "service"),
        ("beta", True, "direct"),
    ]
    assert rows[1]["data"]["disks"][0]["path"] == "/"
    _nothing_left(alpha, beta)


class StuckServerInfo(ServicePaglet[ServiceState]):
    """A server-info provider whose host stops answering in the middle of a survey."""

    CONTRACT = SERVER_INFO
    gate: ClassVar[Gate | None] = None

    def summary(self, request: EmptyPayload) -> ServerSummary:
        assert self.gate is not None
        self.gate.pass_through()
        return summary(self.context.name)


def test_a_host_that_stops_answering_mid_survey_is_an_error_not_dropped(
    three_hosts: tuple[Host, Host, Host],
) -> None:
    alpha, beta, gamma = three_hosts
    start_host_services(alpha, read_launch=False)
    start_host_services(beta, read_launch=False)
    StuckServerInfo.gate = new_gate()
    stuck = gamma.create(StuckServerInfo)
    gamma.service_registry.advertise_contract(SERVER_INFO, stuck)
    rows = _survey(alpha, SurveyState(question="summary", timeout=1.0))
    StuckServerInfo.gate.wait_entered()  # the survey reached gamma, which went silent
    by_host = {row["host"]: row for row in rows}
    assert by_host["alpha"]["ok"] and by_host["beta"]["ok"]
    assert not by_host["gamma"]["ok"]
    assert by_host["gamma"]["error"] == "no result within 1s"
    assert by_host["gamma"]["data"] is None
    StuckServerInfo.gate.open()
    _nothing_left(alpha, beta, gamma)


def test_an_offline_host_is_listed_as_such(three_hosts: tuple[Host, Host, Host]) -> None:
    alpha, beta, gamma = three_hosts
    gamma.stop()
    wait_for(lambda: not next(p for p in alpha.peers() if p.name == "gamma").online)
    rows = _survey(alpha, SurveyState(question="load", timeout=TIMEOUT))
    assert [(r["host"], r["ok"], r["error"]) for r in rows] == [
        ("alpha", True, ""),
        ("beta", True, ""),
        ("gamma", False, "offline"),
    ]
    assert rows[0]["data"]["memory_total"] > 0
    _nothing_left(alpha, beta)


def test_an_unknown_question_is_an_error_for_each_host(host: Host) -> None:
    rows = _survey(host, SurveyState(question="uptime", timeout=TIMEOUT))
    assert rows[0]["ok"] is False
    assert "unknown survey question 'uptime'" in rows[0]["error"]
    _nothing_left(host)
