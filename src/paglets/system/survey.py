"""The survey paglet behind ``paglets sys``: it clones itself to every host and collects.

A CLI (or any program) creates a :class:`SurveyPaglet` on its entry host and sends it
``survey``. The collector is a :class:`~paglets.patterns.fanout.MeshFanoutMixin`:

1. it takes the hosts its host knows: itself and every online peer, plus the offline
   ones, which are reported as errors (``offline``), never dropped;
2. one fan-out round clones it to every online peer; each copy computes its host's
   answer (from the local server-info service, or from the machine directly where the
   host runs no services) and reports it; the collector answers its own host's part
   the same way;
3. a host that cannot be cloned to, or does not answer within the survey's timeout
   (it vanished mid-survey), is listed with the error the fan-out gives it, beside the
   hosts that did answer; copies that never answered are disposed.

The reply is a list, one map per host, the entry host first, then the peers by name::

    {"host", "address", "ok": bool, "error": str, "seconds": float, "via": str,
     "data": {...}}  # data: the server-info reply as a plain map
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet
from paglets.core.errors import PagletError, ServiceNotFoundError
from paglets.core.messages import Message
from paglets.patterns.fanout import FanoutState, MeshFanoutMixin
from paglets.services.contracts import EmptyPayload
from paglets.system import server_probe
from paglets.system.server_info import (
    SERVER_INFO,
    DiskUsageReply,
    DiskUsageRequest,
    ProcessList,
    ProcessQuery,
)

QUESTIONS = ("summary", "load", "df", "ps")
"""What a survey can ask every host."""


@dataclass
class SurveyState(FanoutState):
    """What to ask every host.

    Attributes:
        question: one of :data:`QUESTIONS`.
        paths: for ``df``: the paths (empty: every mounted local file system).
        query, limit: for ``ps``.
        timeout: seconds the whole survey may take.
    """

    question: str = "summary"
    paths: list[str] = field(default_factory=list)
    query: str = ""
    limit: int = 20
    timeout: float = 10.0


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def local_answer(state: SurveyState, context: Any) -> tuple[Any, str]:
    """This host's answer to ``state.question`` and how it was obtained.

    Returns:
        The server-info reply, and ``"service"`` or ``"direct"`` (no service here).

    Raises:
        PagletError: an unknown question, or the service failed.
    """
    question = state.question
    if question not in QUESTIONS:
        raise PagletError(f"unknown survey question {question!r}; ask one of {QUESTIONS}")
    operation, request = {
        "summary": ("summary", EmptyPayload()),
        "load": ("load", EmptyPayload()),
        "df": ("disk_usage", DiskUsageRequest(list(state.paths))),
        "ps": ("processes", ProcessQuery(state.query, state.limit)),
    }[question]
    try:
        handle = context.require_contract(SERVER_INFO)
    except ServiceNotFoundError:
        return _direct(question, state, context.name), "direct"
    return handle.call(operation, request, timeout=state.timeout), "service"


def _direct(question: str, state: SurveyState, host: str) -> Any:
    if question == "summary":
        return server_probe.summary(host)
    if question == "load":
        return server_probe.load(host)
    if question == "df":
        return DiskUsageReply(host, server_probe.disk_usage(list(state.paths)))
    found, matched = server_probe.processes(state.query, state.limit)
    return ProcessList(host, found, matched)


class SurveyPaglet(MeshFanoutMixin, Paglet[SurveyState]):
    """Collects one server-info answer from every host (see the module docstring)."""

    State = SurveyState

    def fanout_task(self, args: dict[str, Any]) -> dict[str, Any]:
        """One host's answer (run by each copy, and by the collector for its own host)."""
        started = time.monotonic()
        reply, via = local_answer(self.state, self.context)
        return {"data": _plain(reply), "via": via, "seconds": time.monotonic() - started}

    def handle_message(self, message: Message) -> Any:
        """``survey``: run one round over every known host; return a row per host."""
        if message.kind == "survey" and not self.is_fanout_child():
            return self._survey()
        return self.not_handled()

    def _survey(self) -> list[dict[str, Any]]:
        context = self.context
        hosts = context.available_hosts(online_only=False, include_self=False)
        peers = sorted(hosts, key=lambda p: p.name)
        addresses = {context.name: context.address}
        addresses.update({p.name: p.url for p in peers})
        online = [context.name, *(p.name for p in peers if p.online)]
        result = self.fanout({}, hosts=online, deadline=self.state.timeout)
        rows = []
        for name in [context.name, *(p.name for p in peers)]:
            row: dict[str, Any] = {"host": name, "address": addresses[name], "ok": False}
            row.update({"error": "", "seconds": 0.0, "via": "", "data": None})
            outcome = result.outcomes.get(name)
            if outcome is None:
                row["error"] = "offline"
            elif outcome.ok and isinstance(outcome.value, dict):
                row.update(outcome.value, ok=True)
            else:
                row["error"] = outcome.error or "no answer"
            rows.append(row)
        return rows
