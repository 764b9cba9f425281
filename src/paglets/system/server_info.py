"""The server-info system service: what a host is, how busy, its disks and processes.

Contract ``paglets.system.server_info`` (version 1):

=============  =====================  ==============  =================================
operation      request                reply           what
=============  =====================  ==============  =================================
``summary``    EmptyPayload           ServerSummary   platform, Python, boot time,
                                                      CPUs, RAM
``load``       EmptyPayload           ServerLoad      CPU %, load average, memory,
                                                      swap, GPUs (``nvidia-smi``)
``disk_usage`` DiskUsageRequest       DiskUsageReply  usage per path (default: every
                                                      mounted local file system)
``processes``  ProcessQuery           ProcessList     processes matching a query
=============  =====================  ==============  =================================

It runs on every host as a lazy resident service (see ``launch.toml``); the probes
themselves are in :mod:`paglets.system.server_probe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paglets.core.runtime_values import ResidentLifecycle
from paglets.services.contracts import EmptyPayload, ServiceContract, ServiceOperation
from paglets.services.provider import ServicePaglet, ServiceState
from paglets.system import server_probe
from paglets.system.server_probe import DiskUsage, ProcessInfo, ServerLoad, ServerSummary

MAX_PROCESSES = 200
"""The most processes one ``processes`` reply lists."""


@dataclass
class DiskUsageRequest:
    """Paths whose file systems to report (empty: every mounted local one)."""

    paths: list[str] = field(default_factory=list)


@dataclass
class DiskUsageReply:
    """Usage per path on one host."""

    host: str = ""
    disks: list[DiskUsage] = field(default_factory=list)


@dataclass
class ProcessQuery:
    """Processes to list: a pid, or a substring of the name or command line."""

    query: str = ""
    limit: int = 20


@dataclass
class ProcessList:
    """The processes of one host that matched, busiest first."""

    host: str = ""
    processes: list[ProcessInfo] = field(default_factory=list)
    matched: int = 0


SERVER_INFO = ServiceContract(
    name="paglets.system.server_info",
    version=1,
    description="What a host is, how busy it is, its disks and its processes.",
    operations=(
        ServiceOperation("summary", EmptyPayload, ServerSummary, description="platform, CPUs, RAM"),
        ServiceOperation("load", EmptyPayload, ServerLoad, description="CPU, memory, swap, GPUs"),
        ServiceOperation("disk_usage", DiskUsageRequest, DiskUsageReply, description="df"),
        ServiceOperation("processes", ProcessQuery, ProcessList, description="ps QUERY"),
    ),
)


class ServerInfoService(ServicePaglet[ServiceState]):
    """Provides :data:`SERVER_INFO` for the host it lives on."""

    CONTRACT = SERVER_INFO
    RESIDENT_LIFECYCLE = ResidentLifecycle.LAZY
    IDLE_TIMEOUT = 300.0

    def summary(self, request: EmptyPayload) -> ServerSummary:
        """Answer ``summary``."""
        return server_probe.summary(self.context.name)

    def load(self, request: EmptyPayload) -> ServerLoad:
        """Answer ``load``."""
        return server_probe.load(self.context.name)

    def disk_usage(self, request: DiskUsageRequest) -> DiskUsageReply:
        """Answer ``disk_usage``."""
        paths = [str(path) for path in request.paths]
        return DiskUsageReply(self.context.name, server_probe.disk_usage(paths))

    def processes(self, request: ProcessQuery) -> ProcessList:
        """Answer ``processes``."""
        limit = min(max(0, int(request.limit)), MAX_PROCESSES)
        found, matched = server_probe.processes(str(request.query), limit)
        return ProcessList(self.context.name, found, matched)
