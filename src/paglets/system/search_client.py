"""Driving a search from outside: create the collector, drain it, dispose it.

:class:`SearchRun` is what ``paglets search`` (and a script or test) holds while a
search runs. It creates a :class:`~paglets.system.search.SearchCollectorPaglet` on the
entry host through anything with a ``create(cls, state)`` method (a ``HostClient`` or
a ``Host``), starts it, and drains it by cursor with short polls, so records come out
as the hosts find them. Use it as a context manager: the collector is disposed on
exit, also on Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Protocol

from paglets.core.errors import PagletError
from paglets.core.messages import Message
from paglets.system.search import GRACE_SECONDS, SearchCollectorPaglet, SearchCollectorState
from paglets.system.search_query import SearchQuery

POLL_SECONDS = 0.2


class PagletCreator(Protocol):
    """Anything that can create a paglet on the entry host (``HostClient``, ``Host``)."""

    def create(self, cls: Any, state: Any = None, init: Any = None) -> Any: ...


class SearchRun:
    """One search across hosts, seen from the process that asked for it.

    Args:
        creator: creates the collector on the entry host.
        query: the search.
        hosts: host names or addresses to search (empty: every online host).
        timeout: seconds each host's search may take.
        engine: ``"auto"``, ``"rg"`` or ``"python"``.

    Attributes:
        hosts: the latest status of every host (a list of dicts, see the collector).
        started: the names of the hosts the search went to.
    """

    def __init__(
        self,
        creator: PagletCreator,
        query: SearchQuery,
        hosts: list[str] | tuple[str, ...] = (),
        *,
        timeout: float = 30.0,
        engine: str = "auto",
    ) -> None:
        self.query = query
        self.timeout = timeout
        self.hosts: list[dict[str, Any]] = []
        self.started: list[str] = []
        self._cursor = 0
        self._finished = False
        state = SearchCollectorState(
            query=query.to_wire(),
            hosts=list(hosts),
            engine=engine,
            timeout=float(timeout),
            idle_timeout=max(60.0, 2 * timeout),
        )
        self._proxy = creator.create(SearchCollectorPaglet, state)

    @property
    def agent_id(self) -> str:
        """The collector's id."""
        return str(self._proxy.agent_id)

    def start(self) -> list[str]:
        """Fan the search out; return the names of the hosts it went to.

        Raises:
            HostError: the query was refused (``remote_type`` ``SearchQueryError``).
        """
        reply = self._proxy.send("start", timeout=self.timeout + GRACE_SECONDS)
        self.started = list(reply["hosts"])
        return self.started

    def drain(self, wait: float = POLL_SECONDS) -> list[dict[str, Any]]:
        """The records that arrived since the last drain, waiting up to ``wait`` for some."""
        reply = self._proxy.send(
            Message("drain", {"cursor": self._cursor, "wait": wait}),
            timeout=wait + self.timeout + GRACE_SECONDS,
        )
        self._cursor = int(reply["cursor"])
        self.hosts = list(reply["hosts"])
        self._finished = bool(reply["finished"])
        return list(reply["records"])

    @property
    def finished(self) -> bool:
        """Whether every host is done (or failed) and every record was drained."""
        return self._finished

    def batches(self, wait: float = POLL_SECONDS) -> Iterator[list[dict[str, Any]]]:
        """Each drained batch of records (maybe empty), until the search is finished.

        Bounded: past the time limit plus a grace period the collector marks the
        hosts still silent as timed out, which finishes the search.
        """
        deadline = time.monotonic() + self.timeout + 4 * GRACE_SECONDS + 10 * wait
        while not self._finished and time.monotonic() < deadline:
            yield self.drain(wait)

    def records(self, wait: float = POLL_SECONDS) -> Iterator[dict[str, Any]]:
        """Every record, as it arrives, until the search is finished."""
        for batch in self.batches(wait):
            yield from batch

    def cancel(self) -> None:
        """Tell the running workers to stop (what they found stays drainable)."""
        self._proxy.send("cancel", timeout=self.timeout)

    def close(self) -> None:
        """Dispose the collector (its workers are told to stop)."""
        try:
            self._proxy.dispose(timeout=min(self.timeout, 10.0))
        except PagletError:
            pass  # already gone (idle timeout) or the entry host stopped

    def __enter__(self) -> SearchRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
