"""One entry point for a search on this host: ripgrep when it is installed, else Python.

:func:`run_search` runs a :class:`~paglets.system.search_query.SearchQuery` in this
process's working directory and hands each record to a callback as it is found. The
engine is ``rg`` from the ``ripgrep`` package (:mod:`paglets.system.search_rg`); where
that binary is absent the pure-Python scanner (:mod:`paglets.system.search_scan`)
gives the same records. ``find``'s name regex is Python's in both engines; ``grep``'s
regex is ripgrep's (Rust syntax) with ``rg`` and Python's with the fallback, which
agree on everything but exotic syntax.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paglets.system.search_ignore import unknown_types
from paglets.system.search_query import SearchQuery, SearchQueryError
from paglets.system.search_rg import check_pattern, find_rg, run_rg
from paglets.system.search_scan import name_matcher, scan

ENGINES = ("auto", "rg", "python")
Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class SearchOutcome:
    """How a search ended: the engine that ran it and whether it was cut short."""

    engine: str
    cancelled: bool


def choose_engine(engine: str = "auto") -> str:
    """The engine that will run: ``"rg"`` or ``"python"``.

    Raises:
        SearchQueryError: an unknown engine, or ``"rg"`` asked for and not installed.
    """
    if engine not in ENGINES:
        raise SearchQueryError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "python":
        return "python"
    if find_rg() is None:
        if engine == "rg":
            raise SearchQueryError("the rg binary of the ripgrep package is not installed")
        return "python"
    return "rg"


def validate(query: SearchQuery, engine: str = "auto") -> None:
    """Check the query's pattern (and types) with the engine that would run it.

    Raises:
        SearchQueryError: naming the pattern or option that is wrong.
    """
    rg = find_rg() if choose_engine(engine) == "rg" else None
    if rg is not None:
        check_pattern(rg, query)
    else:
        if query.pattern:
            query.compile()
        missing = unknown_types(query.types)
        if missing:
            raise SearchQueryError(f"unrecognized file type: {missing[0]}")


def run_search(
    query: SearchQuery,
    emit: Emit,
    *,
    engine: str = "auto",
    cancel: threading.Event | None = None,
) -> SearchOutcome:
    """Run ``query`` here; ``emit`` gets each record (on the calling thread or under a lock).

    Args:
        query: the search.
        emit: called with each record as it is found.
        engine: ``"auto"`` (rg if installed), ``"rg"`` or ``"python"``.
        cancel: set it to stop the search early.

    Raises:
        SearchQueryError: a bad pattern, type or engine.
    """
    cancel = cancel or threading.Event()
    chosen = choose_engine(engine)
    if chosen == "rg":
        rg = find_rg()
        assert rg is not None
        keep = name_matcher(query) if query.mode == "find" else None
        code = run_rg(rg, query, emit, cancel, keep)
        return SearchOutcome("rg", code == -1)
    scan(query, emit, cancel)
    return SearchOutcome("python", cancel.is_set())
