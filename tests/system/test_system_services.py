"""The system services every host runs: server-info, user-info, mesh-info, notifications."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from helpers import TIMEOUT
from paglets.core.agent import ACTIVE, INACTIVE, Paglet, PagletState
from paglets.core.errors import ServiceContractError, ServiceNotFoundError
from paglets.core.messages import Message
from paglets.patterns.notifications import NotificationMixin
from paglets.runtime.host import Host
from paglets.services.contracts import ServiceHandle, ServiceScope
from paglets.system.host_services import SYSTEM_SERVICES, start_host_services
from paglets.system.mesh_info import MESH_INFO, MeshSnapshot, TargetQuery, TargetSelection
from paglets.system.server_info import (
    SERVER_INFO,
    DiskUsageReply,
    DiskUsageRequest,
    ProcessList,
    ProcessQuery,
)
from paglets.system.server_probe import ServerLoad, ServerSummary, parse_gpu_line
from paglets.system.user_info import (
    USER_INFO,
    Notification,
    RecentNotifications,
    RecentRequest,
    TextChunk,
)


def _serviced(host: Host) -> Host:
    start_host_services(host, read_launch=False)
    return host


def _handle(host: Host, contract: Any, scope: ServiceScope = ServiceScope.LOCAL) -> ServiceHandle:
    handle: ServiceHandle = host.service_registry.require_contract(contract, scope, TIMEOUT)
    return handle


def test_every_system_service_is_advertised_on_start(host: Host) -> None:
    _serviced(host)
    names = {record.contract for record in host.service_registry.records()}
    assert names == {cls.contract().name for cls in SYSTEM_SERVICES}
    lifecycles = {r.contract: r.lifecycle for r in host.service_registry.records()}
    assert set(lifecycles.values()) == {"lazy"}
    assert host.get_proxies(ACTIVE | INACTIVE) == []  # nothing runs before a call


def test_server_info_summary_describes_this_machine(host: Host) -> None:
    summary = _handle(_serviced(host), SERVER_INFO).call("summary")
    assert isinstance(summary, ServerSummary)
    assert summary.host == "alpha"
    assert summary.cpu_logical == psutil.cpu_count(logical=True)
    assert summary.memory_total == psutil.virtual_memory().total
    assert summary.boot_time == psutil.boot_time()
    assert platform.python_version() in summary.python


def test_server_info_load_reports_cpu_memory_and_swap(host: Host) -> None:
    load = _handle(_serviced(host), SERVER_INFO).call("load")
    assert isinstance(load, ServerLoad)
    assert 0.0 <= load.cpu_percent <= 100.0
    assert load.memory_total == psutil.virtual_memory().total
    assert 0 <= load.memory_available <= load.memory_total
    assert load.swap_total == psutil.swap_memory().total
    assert isinstance(load.gpus, list)  # empty where nvidia-smi is absent


def test_a_gpu_line_of_nvidia_smi_is_read() -> None:
    gpu = parse_gpu_line("NVIDIA A100-SXM4-40GB, 37, 1024, 40960, 51")
    assert gpu is not None and gpu.name == "NVIDIA A100-SXM4-40GB"
    assert (gpu.utilization, gpu.memory_used_mib, gpu.temperature) == (37.0, 1024.0, 51.0)
    assert parse_gpu_line("No devices were found") is None
    na = parse_gpu_line("Tesla T4, [N/A], 0, 15360, 40")
    assert na is not None and na.utilization == 0.0


def test_server_info_disk_usage_per_path(host: Host, tmp_path: Path) -> None:
    request = DiskUsageRequest([str(tmp_path), str(tmp_path / "missing")])
    reply = _handle(_serviced(host), SERVER_INFO).call("disk_usage", request)
    assert isinstance(reply, DiskUsageReply)
    present, missing = reply.disks
    assert present.total == os.statvfs(tmp_path).f_blocks * os.statvfs(tmp_path).f_frsize
    assert present.error == "" and 0 <= present.percent <= 100
    assert missing.error and missing.total == 0


def test_server_info_processes_by_query(host: Host) -> None:
    me = str(os.getpid())
    reply = _handle(_serviced(host), SERVER_INFO).call("processes", ProcessQuery(me))
    assert isinstance(reply, ProcessList)
    assert [p.pid for p in reply.processes] == [os.getpid()]
    assert reply.matched == 1
    nobody = _handle(host, SERVER_INFO).call("processes", ProcessQuery("no-such-process-xyz"))
    assert nobody.processes == [] and nobody.matched == 0


def test_user_info_prints_notifications_and_streams(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = _handle(_serviced(host), USER_INFO)
    handle.call("notify", Notification("disk 91% full", title="survey", source="tester"))
    handle.call("stream", TextChunk("job", "line one\nline t"))
    handle.call("stream", TextChunk("job", "wo\nunfinished", done=True))
    err = capsys.readouterr().err
    assert "[info] tester: survey: disk 91% full" in err
    assert "[job] line one\n[job] line two\n[job] unfinished\n" in err
    recent = handle.call("recent", RecentRequest(5))
    assert isinstance(recent, RecentNotifications)
    assert [n.text for n in recent.notifications] == ["disk 91% full"]
    with pytest.raises(ServiceContractError, match="level 'loud'"):
        handle.call("notify", Notification("x", level="loud"))


@dataclass
class ReporterState(PagletState):
    home: str = ""


class ReporterPaglet(NotificationMixin, Paglet[ReporterState]):
    State = ReporterState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "go":
            target = message.args["to"]
            self.notify_user(f"leaving {self.context.name}", host=self.state.home)
            return self.dispatch(target).host_url
        if message.kind == "report":
            delivered = self.notify_user(
                f"working on {self.context.name}", level="warning", host=self.state.home
            )
            return delivered.host
        if message.kind == "report-nowhere":
            return self.try_notify_user("lost", host="nowhere")
        return self.not_handled()


def test_a_travelling_paglet_notifies_its_home_console(
    two_hosts: tuple[Host, Host], capsys: pytest.CaptureFixture[str]
) -> None:
    alpha, beta = two_hosts
    _serviced(alpha)
    _serviced(beta)
    reporter = alpha.create(ReporterPaglet, ReporterState(home="alpha"))
    reporter.send(Message("go", {"to": "beta"}))
    assert reporter.send(Message("report")) == "alpha"  # shown on alpha, sent from beta
    assert reporter.send(Message("report-nowhere")) is False
    recent = _handle(alpha, USER_INFO).call("recent", RecentRequest(10))
    texts = [(n.text, n.source_host, n.level) for n in recent.notifications]
    assert texts == [("leaving alpha", "alpha", "info"), ("working on beta", "beta", "warning")]
    assert "[warning] ReporterPaglet@beta: working on beta" in capsys.readouterr().err


def test_mesh_info_snapshot_and_targets(three_hosts: tuple[Host, Host, Host]) -> None:
    alpha, _, _ = three_hosts
    handle = _handle(_serviced(alpha), MESH_INFO)
    snapshot = handle.call("snapshot")
    assert isinstance(snapshot, MeshSnapshot)
    assert [h.name for h in snapshot.hosts] == ["alpha", "beta", "gamma"]
    assert all(h.online and h.cpu_count > 0 for h in snapshot.hosts)
    chosen = handle.call("select_targets", TargetQuery(include_self=False))
    assert isinstance(chosen, TargetSelection)
    assert sorted(h.name for h in chosen.targets) == ["beta", "gamma"]
    assert [(e.name, e.reason) for e in chosen.excluded] == [("alpha", "excluded")]
    tagged = handle.call("select_targets", TargetQuery(require_tags=["gpu"]))
    assert tagged.targets == [] and len(tagged.excluded) == 3
    assert all("lacks tag gpu" in e.reason for e in tagged.excluded)


def test_system_services_answer_across_the_mesh(two_hosts: tuple[Host, Host]) -> None:
    alpha, beta = two_hosts
    _serviced(beta)
    with pytest.raises(ServiceNotFoundError):
        alpha.service_registry.require_contract(SERVER_INFO)
    summary = _handle(alpha, SERVER_INFO, ServiceScope.MESH).call("summary")
    assert summary.host == "beta"
