"""The search worker: one per searched host, it runs the search there and streams hits back.

A :class:`~paglets.system.search.SearchCollectorPaglet` creates a worker on each
target host. The worker's ``run()`` starts the search (:func:`run_search`, in that
host's working directory) and pushes the records to the collector in batches. A
batch is whatever piled up while the previous one was being sent (at most
:data:`BATCH_RECORDS`): the first hit travels alone and at once, and a flood of hits
costs few messages, with no timer. Each batch is a synchronous ``hits`` send, which
keeps one host's records in order and slows a worker down to what the collector
takes.

The worker ends with a ``done`` message (engine, seconds, and ``partial``/``error``
when it was cut short) and disposes itself. It stops early, reporting partial
results, at its time limit, when the collector answers ``stop`` or is gone, or when
it receives ``cancel``.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.core.refs import PagletProxyRef
from paglets.system.search_engine import run_search
from paglets.system.search_query import SearchQuery

BATCH_RECORDS = 1000
SEND_TIMEOUT = 30.0


@dataclass
class SearchWorkerState(PagletState):
    """What a worker carries: the query, where to report, and its limits.

    Attributes:
        query: the :class:`SearchQuery` as a plain dict.
        collector: the collector to report to.
        label: this host's name as the collector knows it.
        engine: ``"auto"``, ``"rg"`` or ``"python"``.
        timeout: seconds the search may take here before it is cut short.
    """

    query: dict[str, Any] = field(default_factory=dict)
    collector: PagletProxyRef | None = None
    label: str = ""
    engine: str = "auto"
    timeout: float = 30.0


class SearchWorkerPaglet(Paglet[SearchWorkerState]):
    """Runs one host's part of a search; see the module docstring."""

    State = SearchWorkerState

    def __init__(self) -> None:
        self._cancel = threading.Event()

    def before_search(self) -> None:
        """Called on the worker's thread before the search starts; does nothing.

        A seam for tests and demos that need one host to be slow.
        """

    def handle_message(self, message: Message) -> Any:
        if message.kind == "cancel":
            self._cancel.set()
            return True
        return self.not_handled()

    def run(self) -> None:
        started = time.monotonic()
        collector = self.state.collector.resolve(self.context) if self.state.collector else None
        report: dict[str, Any] = {"host": self.state.label, "engine": "", "partial": False}
        try:
            if collector is None:
                return
            self.before_search()
            report.update(self._search(collector, started))
        except Exception as exc:  # a failure here (a lost collector too) must be reported
            report.update(partial=True, error=f"{type(exc).__name__}: {exc}")
        finally:
            report["seconds"] = time.monotonic() - started
            if collector is not None:
                try:
                    collector.send(Message("done", report), timeout=SEND_TIMEOUT)
                except PagletError:
                    pass  # the collector is gone: nobody is left to tell
            if not self.is_leaving():
                self.dispose()

    def _search(self, collector: Any, started: float) -> dict[str, Any]:
        query = SearchQuery.from_wire(self.state.query)
        found: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, Any] = {}

        def search() -> None:
            try:
                result = run_search(query, found.put, engine=self.state.engine, cancel=self._cancel)
                outcome["engine"] = result.engine
                if result.cancelled:  # by a cancel message, or by the time limit below
                    outcome["partial"] = True
                    outcome.setdefault("error", "cancelled")
            except Exception as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                found.put(None)

        thread = threading.Thread(target=search, name=f"search-{self.agent_id[:8]}", daemon=True)
        thread.start()
        deadline = started + self.state.timeout
        batch: list[dict[str, Any]] = []
        finished = False
        while not finished:
            try:
                item = found.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                item = False
            if item is None:
                finished = True
            elif item is not False:
                batch.append(item)
                finished = self._take_waiting(found, batch)
            if batch:
                reply = collector.send(
                    Message("hits", {"host": self.state.label, "records": batch}),
                    timeout=SEND_TIMEOUT,
                )
                batch = []
                if isinstance(reply, dict) and reply.get("stop"):
                    self._cancel.set()
            now = time.monotonic()
            if not finished and (now >= deadline or self._cancel.is_set()):
                if now >= deadline:
                    outcome.setdefault("error", f"timed out after {self.state.timeout:g}s")
                else:
                    outcome.setdefault("error", "cancelled")
                self._cancel.set()
                outcome["partial"] = True
                thread.join(SEND_TIMEOUT)
                self._send_rest(collector, found, batch)
                break
        return outcome

    @staticmethod
    def _take_waiting(found: queue.Queue[Any], batch: list[Any]) -> bool:
        """Move the records already waiting into ``batch``; return whether the end came."""
        while len(batch) < BATCH_RECORDS:
            try:
                item = found.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _send_rest(self, collector: Any, found: queue.Queue[Any], batch: list[Any]) -> None:
        """After a cut: what was found before it still goes back (marked partial)."""
        while True:
            try:
                item = found.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batch.append(item)
        if batch:
            collector.send(
                Message("hits", {"host": self.state.label, "records": batch}), timeout=SEND_TIMEOUT
            )
