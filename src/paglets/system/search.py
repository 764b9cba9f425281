"""The search collector: fans a search out to hosts and hands the hits out as they come.

``paglets search`` creates one :class:`SearchCollectorPaglet` on its entry host. On
``start`` it checks the query, picks the target hosts (this one and every online peer,
or the ``hosts`` asked for) and creates a
:class:`~paglets.system.search_worker.SearchWorkerPaglet` on each, in parallel, so a
slow or dead host delays nobody. A worker is *created* on its host rather than cloned
from the collector because its state is not the collector's: a clone would carry the
collector's buffer and role along.

Workers push ``hits`` batches and a final ``done``. Whoever started the search drains
the records by cursor (``drain``: "records from N on, waiting up to W seconds for
some"); the drain gives the mailbox turn away while it waits
(:meth:`~paglets.core.agent.Paglet.wait_message`), so hits keep arriving meanwhile.
A drain from cursor N also says that the records before N arrived, so the collector
drops them: it holds only what is not drained yet, and past :data:`MAX_PENDING` of
those it holds the workers' batches back until the drainer catches up.

Message kinds:

==========  =================================  ==========================================
kind        args                               reply
==========  =================================  ==========================================
start       --                                 ``{"hosts": [name, ...]}``
hits        ``host``, ``records``              ``{"stop": bool}`` (worker: stop early)
done        ``host``, ``engine``, ``partial``,  True
            ``error``, ``seconds``
drain       ``cursor``, ``wait``, ``limit``    ``{"records", "cursor", "hosts",
                                               "finished"}``
cancel      --                                 True; running workers are told to stop
==========  =================================  ==========================================

A host's status (in ``hosts``) is ``running``, ``done``, ``error``, ``timeout`` or
``cancelled``, with ``partial`` when some of its results may be missing, its
``error``, ``engine``, ``seconds`` and the number of records it sent. A host that
sends no ``done`` within the time limit (plus :data:`GRACE_SECONDS`) is marked
``timeout``: it may have vanished. The collector disposes itself when nobody drained
it for ``idle_timeout`` seconds (a CLI that was killed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.events import CreationEvent
from paglets.core.messages import Message
from paglets.core.refs import PagletProxyRef
from paglets.net.endpoint import looks_like_address, normalize_address
from paglets.patterns.bounded_pool import start_bounded_pool
from paglets.system.search_engine import validate
from paglets.system.search_query import SearchQuery
from paglets.system.search_worker import SearchWorkerPaglet, SearchWorkerState

PARALLEL_STARTS = 16
"""Search workers being created on other hosts at once (one thread each)."""
GRACE_SECONDS = 2.0
DRAIN_LIMIT = 5000
MAX_PENDING = 100_000
"""Undrained records past which workers are held back (see ``_hits``)."""
PENDING_WAIT = 20.0
"""Longest a worker's batch is held back; less than the worker's send timeout."""
FINAL = ("done", "error", "timeout", "cancelled")


@dataclass
class SearchCollectorState(PagletState):
    """The search, its hosts' statuses and every record received so far.

    Attributes:
        query: the :class:`SearchQuery` as a plain dict.
        hosts: host names or addresses to search ([]: every online host).
        engine: the engine the workers use (``auto``, ``rg``, ``python``).
        timeout: seconds each host's search may take.
        idle_timeout: seconds without a drain before the collector disposes itself.
        records: the records not yet drained, in arrival order, each with its ``host``.
        base: the cursor of ``records[0]`` (the records before it were drained).
        status: host name -> its status (see the module docstring).
    """

    query: dict[str, Any] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    engine: str = "auto"
    timeout: float = 30.0
    idle_timeout: float = 60.0
    records: list[dict[str, Any]] = field(default_factory=list)
    base: int = 0
    status: dict[str, dict[str, Any]] = field(default_factory=dict)


class SearchCollectorPaglet(Paglet[SearchCollectorState]):
    """Runs a search across hosts; see the module docstring."""

    State = SearchCollectorState

    def __init__(self) -> None:
        self._last_drain = time.monotonic()
        self._started_at = 0.0

    def on_creation(self, event: CreationEvent) -> None:
        SearchQuery.from_wire(self.state.query)  # a bad query fails the creation itself

    def run(self) -> None:
        while not self.wait_leaving(1.0):
            if time.monotonic() - self._last_drain > self.state.idle_timeout:
                self.dispose()
                return

    def handle_message(self, message: Message) -> Any:
        if message.kind == "start":
            return self._start()
        if message.kind == "hits":
            return self._hits(str(message.args["host"]), list(message.args["records"]))
        if message.kind == "done":
            return self._done(dict(message.args))
        if message.kind == "drain":
            return self._drain(
                int(message.args.get("cursor", 0)),
                float(message.args.get("wait", 0.2)),
                int(message.args.get("limit", DRAIN_LIMIT)),
            )
        if message.kind == "cancel":
            self._cancel_running("cancelled")
            return True
        return self.not_handled()

    def on_disposing(self, event: Any) -> None:
        self._cancel_running("cancelled")

    # start --------------------------------------------------------------------------------

    def _targets(self) -> tuple[list[tuple[str, str]], list[str]]:
        """(name, address) of each host to search, and the names asked for but unknown."""
        known = [(self.context.name, self.context.address)]
        known += [
            (peer.name, peer.url)
            for peer in self.context.available_hosts(include_self=False)
            if peer.online
        ]
        if not self.state.hosts:
            return known, []
        chosen: list[tuple[str, str]] = []
        unknown: list[str] = []
        for wanted in self.state.hosts:
            key = normalize_address(wanted) if looks_like_address(wanted) else wanted
            match = next((h for h in known if key in h), None)
            if match is None:
                unknown.append(wanted)
            elif match not in chosen:
                chosen.append(match)
        return chosen, unknown

    def _start(self) -> dict[str, Any]:
        query = SearchQuery.from_wire(self.state.query)
        validate(query, self.state.engine)
        self._started_at = time.monotonic()
        targets, unknown = self._targets()
        with self.locked_state() as state:
            for name in unknown:
                state.status[name] = _status("error", error="no such host is online")
            for name, _ in targets:
                state.status[name] = _status("running")
        me = self.proxy().ref()
        jobs = [
            partial(
                self._create_worker,
                name,
                address,
                SearchWorkerState(
                    query=query.to_wire(),
                    collector=me,
                    label=name,
                    engine=self.state.engine,
                    timeout=self.state.timeout,
                ),
            )
            for name, address in targets
        ]
        start_bounded_pool(jobs, PARALLEL_STARTS, "search-fanout")
        return {"hosts": [name for name, _ in targets], "unknown": unknown}

    def _create_worker(self, name: str, address: str, worker: SearchWorkerState) -> None:
        try:
            proxy = self.context.create_paglet(SearchWorkerPaglet, worker, host_url=address)
        except PagletError as exc:
            with self.locked_state() as state:
                entry = state.status[name]
                if entry["state"] == "running":
                    entry.update(state="error", error=f"{type(exc).__name__}: {exc}")
            self.notify_all_messages()
            return
        with self.locked_state() as state:
            state.status[name]["worker"] = proxy.ref().to_wire()
            cancelled = state.status[name]["state"] == "cancelled"
        if cancelled:  # the run ended while the worker was being created
            try:
                proxy.send_oneway("cancel")
            except PagletError:
                pass  # this host is stopping; the worker's own time limit stops it

    # from the workers ---------------------------------------------------------------------

    def _hits(self, host: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        with self.locked_state() as state:
            entry = state.status.setdefault(host, _status("running"))
            for record in records:
                record["host"] = host
            state.records.extend(records)
            entry["records"] += len(records)
        self.notify_all_messages()
        # flow control: a worker waits (its send is not answered) while the drainer is
        # far behind, so the entry host never holds more than about MAX_PENDING records
        deadline = time.monotonic() + PENDING_WAIT
        while len(self.state.records) > MAX_PENDING and time.monotonic() < deadline:
            if entry["state"] in FINAL:
                break
            self.wait_message(min(0.5, max(0.0, deadline - time.monotonic())))
        return {"stop": entry["state"] in FINAL}

    def _done(self, report: dict[str, Any]) -> bool:
        host = str(report.get("host", ""))
        with self.locked_state() as state:
            entry = state.status.setdefault(host, _status("running"))
            entry["engine"] = report.get("engine") or entry.get("engine", "")
            entry["seconds"] = float(report.get("seconds") or 0.0)
            entry["partial"] = bool(entry["partial"] or report.get("partial"))
            if entry["state"] == "running":
                error = report.get("error")
                timed_out = bool(error) and str(error).startswith("timed out")
                entry["state"] = "timeout" if timed_out else ("error" if error else "done")
                entry["error"] = error or ""
        self.notify_all_messages()
        return True

    # to whoever drains --------------------------------------------------------------------

    def _expire(self) -> None:
        if not self._started_at:
            return
        late = time.monotonic() - self._started_at > self.state.timeout + GRACE_SECONDS
        if not late:
            return
        with self.locked_state() as state:
            for entry in state.status.values():
                if entry["state"] == "running":
                    entry.update(
                        state="timeout",
                        partial=True,
                        error=f"no answer within {self.state.timeout:g}s",
                    )

    def _finished(self) -> bool:
        with self.locked():
            return all(entry["state"] in FINAL for entry in self.state.status.values())

    def _drain(self, cursor: int, wait: float, limit: int) -> dict[str, Any]:
        self._last_drain = time.monotonic()
        with self.locked_state() as state:
            if cursor > state.base:  # the drainer has everything before its cursor
                drop = min(cursor - state.base, len(state.records))
                del state.records[:drop]
                state.base += drop
            cursor = state.base
        self.notify_all_messages()  # a worker held back by flow control may go on
        deadline = time.monotonic() + max(0.0, min(wait, 5.0))
        while True:
            self._expire()
            if self.state.records or self._finished():
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.wait_message(left)
        with self.locked_state() as state:
            records = state.records[: max(1, limit)]
            hosts = [{"host": name, **_public(entry)} for name, entry in state.status.items()]
            finished = self._finished() and len(records) == len(state.records)
        self._last_drain = time.monotonic()
        return {
            "records": records,
            "cursor": cursor + len(records),
            "hosts": hosts,
            "finished": finished,
        }

    def _cancel_running(self, reason: str) -> None:
        workers = []
        with self.locked_state() as state:
            for entry in state.status.values():
                if entry["state"] == "running":
                    entry.update(state=reason, partial=True, error=reason)
                    if entry.get("worker"):
                        workers.append(PagletProxyRef.from_wire(entry["worker"]))
        for ref in workers:
            try:
                ref.resolve(self.context).send_oneway("cancel")
            except PagletError:
                pass  # the worker's own time limit stops it anyway
        self.notify_all_messages()


def _status(state: str, error: str = "") -> dict[str, Any]:
    return {
        "state": state,
        "partial": False,
        "error": error,
        "engine": "",
        "seconds": 0.0,
        "records": 0,
    }


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "worker"}
