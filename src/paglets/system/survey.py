"""The survey paglet behind ``paglets sys``: it clones itself to every host and collects.

A CLI (or any program) creates a :class:`SurveyPaglet` on its entry host and sends it
``survey``. The collector:

1. takes the hosts its host knows: itself, every online peer, and the offline ones
   (which are reported as errors, never dropped);
2. clones itself to each online peer (one at a time, each clone bounded by the
   survey's timeout); a clone that cannot be placed is an error for that host;
3. asks every copy, at once, for its host's answer (``answer``), which each computes
   from the local server-info service, or from the machine directly where the host
   runs no services; its own host's answer it computes itself;
4. waits for the answers until one deadline: a host that does not answer in time (it
   vanished mid-survey) is reported as ``timed out``, with the hosts that did answer;
5. disposes the copies that answered. A copy that never heard back disposes itself
   after twice the survey's timeout, so a survey leaves nothing behind.

The reply is a list, one map per host, the entry host first::

    {"host", "address", "ok": bool, "error": str, "seconds": float, "via": str,
     "data": {...}}  # data: the server-info reply as a plain map
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError, ServiceNotFoundError
from paglets.core.events import CloneEvent
from paglets.core.messages import FutureReply, Message
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
class SurveyState(PagletState):
    """What to ask, and the part this copy plays.

    Attributes:
        question: one of :data:`QUESTIONS`.
        paths: for ``df``: the paths (empty: every mounted local file system).
        query, limit: for ``ps``.
        timeout: seconds the whole survey may take.
        probe: True on the copies cloned to other hosts.
    """

    question: str = "summary"
    paths: list[str] = field(default_factory=list)
    query: str = ""
    limit: int = 20
    timeout: float = 10.0
    probe: bool = False


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
        return _direct(question, state, context.host_name), "direct"
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


class SurveyPaglet(Paglet[SurveyState]):
    """Collects one server-info answer from every host (see the module docstring)."""

    State = SurveyState

    def on_clone(self, event: CloneEvent) -> None:
        """The copy on another host becomes a probe."""
        self.state.probe = True

    def run(self) -> None:
        """A probe nobody collects disposes itself after twice the survey's timeout."""
        if self.state.probe and not self.wait_leaving(2 * max(1.0, self.state.timeout)):
            self.dispose()

    def handle_message(self, message: Message) -> Any:
        """``survey`` (the collector) and ``answer`` (every copy)."""
        if message.kind == "answer":
            return self._answer()
        if message.kind == "survey" and not self.state.probe:
            return self._survey()
        return self.not_handled()

    def _answer(self) -> dict[str, Any]:
        started = time.monotonic()
        reply, via = local_answer(self.state, self.context)
        return {"data": _plain(reply), "via": via, "seconds": time.monotonic() - started}

    def _row(self, name: str, address: str, **fields: Any) -> dict[str, Any]:
        row: dict[str, Any] = {"host": name, "address": address, "ok": False, "error": ""}
        row.update({"seconds": 0.0, "via": "", "data": None})
        row.update(fields)
        return row

    def _survey(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.state.timeout
        context = self.context
        rows = [self._row(context.host_name, context.host_address)]
        pending: list[tuple[int, Any, FutureReply]] = []
        for peer in sorted(context.available_hosts(), key=lambda p: p.name):
            row = self._row(peer.name, peer.address)
            rows.append(row)
            if not peer.online:
                row["error"] = "offline"
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                row["error"] = "timed out before the survey reached it"
                continue
            try:
                clone = self.clone(peer.address, timeout=remaining)
            except PagletError as exc:
                row["error"] = f"could not go there: {type(exc).__name__}: {exc}"
                continue
            future = clone.send_future(Message("answer"), timeout=max(0.1, remaining))
            pending.append((len(rows) - 1, clone, future))
        try:
            rows[0].update(self._answer(), ok=True)
        except PagletError as exc:
            rows[0]["error"] = f"{type(exc).__name__}: {exc}"
        for index, clone, future in pending:
            row = rows[index]
            if not future.wait_for_reply(max(0.0, deadline - time.monotonic())):
                row["error"] = f"no answer within {self.state.timeout:g}s"
                continue
            try:
                row.update(future.get_reply(0), ok=True)
            except PagletError as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
            try:
                clone.dispose(timeout=max(0.5, deadline - time.monotonic()))
            except PagletError:
                pass  # it disposes itself later
        return rows
