"""The pure-Python scanner: ripgrep's results where the ``rg`` binary is absent.

It walks with :class:`~paglets.system.search_walk.Walker` and searches each file line
by line with the query's Python regex, producing the records ripgrep's ``--json``
stream gives (see :mod:`paglets.system.search_query`):

- a file found by the walk that holds a NUL byte is binary: like ripgrep, the lines
  of the 64 KiB blocks before the first NUL are searched and the rest is not (so a
  NUL near the start skips the file); a file named on the command line is searched
  whole;
- with ``-c`` such a binary file gives no count at all (ripgrep drops it);
- ``-m N`` stops after N matching lines, but the ``-A`` lines after the last one are
  still shown, and those that match are shown as matches (as ripgrep does);
- lines are bytes; text that is not UTF-8 is shown with replacement characters.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from paglets.system.search_ignore import unknown_types
from paglets.system.search_query import SearchQuery, SearchQueryError
from paglets.system.search_walk import WalkedFile, Walker, os_error_message

Emit = Callable[[dict[str, Any]], None]
BINARY_BLOCK = 64 * 1024


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def searchable_bytes(data: bytes, explicit: bool) -> bytes:
    """The part of a file that is searched (see the module docstring on binary files)."""
    nul = data.find(b"\0")
    if nul < 0 or explicit:
        return data
    block_start = (nul // BINARY_BLOCK) * BINARY_BLOCK
    return data[: data.rfind(b"\n", 0, block_start) + 1]


def grep_lines(
    query: SearchQuery, regex: re.Pattern[str], shown: str, data: bytes
) -> list[dict[str, Any]]:
    """The match, context, count or file records of one file's bytes."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    decoded = [line.decode("utf-8", "surrogateescape") for line in lines]
    limit = query.max_count
    records: list[dict[str, Any]] = []
    matched = 0
    counted = 0
    emitted_until = -1  # index of the last line already emitted
    after_until = -1  # context lines are emitted up to this index
    window_end = -1  # after the max count: lines up to here are still shown
    for index, text in enumerate(decoded):
        stopped = limit is not None and matched >= limit
        if stopped and index > window_end:
            break
        hits = list(regex.finditer(text)) if not stopped or index <= window_end else []
        is_match = bool(hits)
        if is_match:
            if stopped:
                pass  # shown as a match inside the trailing window, not counted
            else:
                matched += 1
                counted += len(hits) if query.only_matching else 1
            if query.files_with_matches:
                return [{"type": "file", "path": shown}]
            if not query.count:
                first = max(emitted_until + 1, index - query.before_context)
                for before in range(first, index):
                    records.append(_record("context", shown, before, lines[before]))
                if query.only_matching:
                    for hit in hits:
                        raw = text[hit.start() : hit.end()].encode("utf-8", "surrogateescape")
                        records.append(_record("match", shown, index, raw))
                else:
                    records.append(_record("match", shown, index, lines[index]))
                emitted_until = index
                if not stopped:
                    after_until = index + query.after_context
                    if limit is not None and matched >= limit:
                        window_end = after_until
        elif index <= after_until and not query.count:
            records.append(_record("context", shown, index, lines[index]))
            emitted_until = index
    if query.count and counted:
        return [{"type": "count", "path": shown, "count": counted}]
    return records


def _record(kind: str, shown: str, index: int, raw: bytes) -> dict[str, Any]:
    return {"type": kind, "path": shown, "line": index + 1, "text": _text(raw)}


def name_matcher(query: SearchQuery) -> Callable[[str], bool]:
    """``find``'s filter on a shown path: its name (or whole path) against the regex."""
    if not query.pattern:
        return lambda shown: True
    regex = query.compile()
    if query.full_path:
        return lambda shown: regex.search(shown) is not None
    return lambda shown: regex.search(shown.rsplit("/", 1)[-1]) is not None


def scan(query: SearchQuery, emit: Emit, cancel: threading.Event | None = None) -> None:
    """Run ``query`` with the Python scanner, calling ``emit`` for each record.

    Raises:
        SearchQueryError: the regex is invalid or a ``-t`` type is unknown here.
    """
    missing = unknown_types(query.types)
    if missing:
        raise SearchQueryError(f"unrecognized file type: {missing[0]}")
    cancel = cancel or threading.Event()
    if query.mode == "find":
        keep = name_matcher(query)
    else:
        regex = query.compile()
    for item in Walker(query, cancel).walk():
        if cancel.is_set():
            return
        if isinstance(item, dict):
            emit(item)
            continue
        if query.mode == "find":
            if keep(item.shown):
                emit({"type": "file", "path": item.shown})
            continue
        for record in _grep_file(query, regex, item):
            emit(record)


def _grep_file(
    query: SearchQuery, regex: re.Pattern[str], item: WalkedFile
) -> list[dict[str, Any]]:
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        return [os_error_message(item.shown, exc)]
    searched = searchable_bytes(data, item.explicit)
    if query.count and len(searched) < len(data):
        return []  # ripgrep prints no count for a binary file it stopped searching
    return grep_lines(query, regex, item.shown, searched)
