"""Running ripgrep itself: find the binary the ``ripgrep`` package installed, parse its output.

The binary is looked up where the package put it (its recorded files, then this
interpreter's scripts directory), never on ``$PATH``: a different ``rg`` there could
give different results. ``rg`` runs in this process's working directory, so relative
paths are this host's.

Output is read as it comes, so records stream while ``rg`` still walks:

- ``--json`` (plain grep): ``match`` and ``context`` events become records (one per
  submatch with ``-o``); other events are skipped;
- ``--count``/``--files-with-matches``/``--files`` with ``--null``: ``PATH\\0COUNT``
  lines, or ``PATH\\0`` items;
- stderr: each ``rg: ...`` line is an error record (``PATH: REASON (os error N)``).
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from paglets.system.search_query import SearchQuery, SearchQueryError

Emit = Callable[[dict[str, Any]], None]
EXIT_WAIT = 5.0
"""Seconds rg may take to exit once its output ended (then it is killed)."""
_PROGRAM = "rg.exe" if sys.platform == "win32" else "rg"
_OS_ERROR = re.compile(r"^(?P<path>.*?): .*\(os error \d+\)$")


def find_rg() -> Path | None:
    """The ``rg`` of the installed ``ripgrep`` package, or None when it is absent."""
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution("ripgrep")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for entry in dist.files or ():
            if entry.name == _PROGRAM:
                candidates.append(Path(str(dist.locate_file(entry))))
    candidates.append(Path(sysconfig.get_path("scripts")) / _PROGRAM)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    return None


def check_pattern(rg: Path, query: SearchQuery) -> None:
    """Ask ``rg`` whether the query's pattern and types are valid (on empty input).

    Raises:
        SearchQueryError: ``rg`` refused it; its own explanation is in the message.
    """
    if query.mode != "grep":
        query.compile()
        return
    args = [a for a in query.rg_arguments() if a != "--json"]
    args = args[: args.index("--")] + ["--quiet", "--", "-"]
    done = subprocess.run([str(rg), *args], input=b"", capture_output=True, timeout=30)
    if done.returncode == 2:
        detail = done.stderr.decode("utf-8", "replace").strip().removeprefix("rg: ")
        if "regex" in detail:
            raise SearchQueryError(f"invalid regex {query.pattern!r}: {detail}")
        raise SearchQueryError(detail)


def _text_of(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    if "text" in value:
        return str(value["text"])
    return base64.b64decode(value.get("bytes", "")).decode("utf-8", "replace")


def _strip_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


_SKIPPED = (b'{"type":"begin"', b'{"type":"end"', b'{"data":')


def json_records(query: SearchQuery, line: bytes) -> Iterator[dict[str, Any]]:
    """The records of one line of ``rg --json`` output."""
    if line.startswith(_SKIPPED):  # most lines: not worth decoding (rg writes type first)
        return
    event = json.loads(line.decode("utf-8", "replace"))
    kind = event.get("type")
    if kind not in ("match", "context"):
        return
    data = event["data"]
    path = _text_of(data.get("path"))
    number = data.get("line_number")
    if kind == "match" and query.only_matching:
        for sub in data.get("submatches") or ():
            yield {"type": "match", "path": path, "line": number, "text": _text_of(sub["match"])}
        return
    yield {
        "type": kind,
        "path": path,
        "line": number,
        "text": _strip_newline(_text_of(data.get("lines"))),
    }


def _null_items(stream: IO[bytes]) -> Iterator[bytes]:
    pending = b""
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        pending += chunk
        *items, pending = pending.split(b"\0")
        yield from items
    if pending:
        yield pending


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _read_errors(stream: IO[bytes], emit: Emit, lock: threading.Lock) -> None:
    last: dict[str, Any] | None = None
    for raw in stream:
        line = _decode(raw).rstrip("\n")
        if line.startswith("rg: "):
            message = line[4:]
            found = _OS_ERROR.match(message)
            last = {"type": "error", "path": found["path"] if found else "", "message": message}
            with lock:
                emit(last)
        elif last is not None and line.strip():
            last["message"] += "\n" + line  # a multi-line explanation, already emitted


def _kill_on_cancel(process: subprocess.Popen[bytes], cancel: threading.Event) -> None:
    # rg may sit in a slow directory with nothing to print: a cancel must not wait for it
    while process.poll() is None:
        if cancel.wait(0.1):
            process.kill()
            return


def run_rg(
    rg: Path,
    query: SearchQuery,
    emit: Emit,
    cancel: threading.Event | None = None,
    keep_name: Callable[[str], bool] | None = None,
) -> int:
    """Run ``rg`` for ``query``, calling ``emit`` per record as output arrives.

    Args:
        rg: the binary (see :func:`find_rg`).
        query: the search.
        emit: called with each record, on this thread (errors: under a lock).
        cancel: set it to stop ``rg`` early.
        keep_name: ``find``'s name filter on each listed path.

    Returns:
        ``rg``'s exit code (0 found, 1 nothing found, 2 an error was reported); -1 when
        cancelled.
    """
    cancel = cancel or threading.Event()
    process = subprocess.Popen(
        [str(rg), *query.rg_arguments()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    lock = threading.Lock()
    errors = threading.Thread(
        target=_read_errors, args=(process.stderr, emit, lock), name="rg-stderr", daemon=True
    )
    errors.start()
    watcher = threading.Thread(
        target=_kill_on_cancel, args=(process, cancel), name="rg-cancel", daemon=True
    )
    watcher.start()
    try:
        for record in _records(query, process.stdout, keep_name):
            if cancel.is_set():
                break
            with lock:
                emit(record)
    finally:
        if cancel.is_set() and process.poll() is None:
            process.kill()
        try:
            code = process.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:  # its output ended, yet it lingers
            process.kill()
            code = process.wait(EXIT_WAIT)
        errors.join(5)
        process.stdout.close()
        process.stderr.close()
        cancelled = cancel.is_set()
    # the watcher ends by itself within one poll of the process having ended: not joined,
    # so a search does not wait for that poll
    return -1 if cancelled else code


def _records(
    query: SearchQuery, stdout: IO[bytes], keep_name: Callable[[str], bool] | None
) -> Iterator[dict[str, Any]]:
    if query.mode == "find":
        for raw in _null_items(stdout):
            shown = _decode(raw)
            if keep_name is None or keep_name(shown):
                yield {"type": "file", "path": shown}
    elif query.files_with_matches:
        for raw in _null_items(stdout):
            yield {"type": "file", "path": _decode(raw)}
    elif query.count:
        for raw in stdout:
            path, _, count = raw.rstrip(b"\n").rpartition(b"\0")
            yield {"type": "count", "path": _decode(path), "count": int(count)}
    else:
        for raw in stdout:
            yield from json_records(query, raw)
