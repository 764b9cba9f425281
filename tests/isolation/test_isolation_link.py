"""The link from a host to its isolated paglets' children: nothing lost, deaths told at once.

Children start (warm spares handed out and refilled) and end (disposals, copies)
while other children are being sent to: every request gets its answer within a bound,
and one whose child dies gets ``PagletCrashedError`` at once rather than a time-out.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from isolated_paglets import IsolatedCounter

from helpers import TIMEOUT, wait_for
from paglets.core.errors import PagletCrashedError, PagletError
from paglets.runtime.host import Host
from paglets.runtime.isolation.spares import drop_spares, keep_spares

PAGLETS = 3
ROUNDS = 2
MESSAGES = 50
ANSWER_WITHIN = 2 * TIMEOUT
"""Seconds one request may take on a loaded machine before it counts as lost."""


def _churn(host: Host, problems: list[str]) -> None:
    """One isolated paglet's life: messages, a copy (its state read back), two disposals."""
    try:
        proxy = host.create(IsolatedCounter)
        for expected in range(1, MESSAGES + 1):
            got = proxy.send("add", timeout=ANSWER_WITHIN)
            if got != expected:
                problems.append(f"reply {got} where {expected} was due")
        copy = proxy.clone()
        got = copy.send("add", timeout=ANSWER_WITHIN)
        if got != MESSAGES + 1:
            problems.append(f"the copy replied {got}, not {MESSAGES + 1}")
        copy.dispose(timeout=ANSWER_WITHIN)
        proxy.dispose(timeout=ANSWER_WITHIN)
    except PagletError as exc:
        problems.append(f"{type(exc).__name__}: {exc}")


def test_no_request_is_lost_while_children_come_and_go(host: Host) -> None:
    keep_spares(host.address, 2)
    problems: list[str] = []
    try:
        for _ in range(ROUNDS):
            threads = [
                threading.Thread(target=_churn, args=(host, problems)) for _ in range(PAGLETS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(ANSWER_WITHIN * (MESSAGES + 6))
                assert not thread.is_alive(), "a paglet's requests are still unanswered"
    finally:
        drop_spares(host.address)
    assert problems == []


def test_a_message_in_flight_fails_at_once_when_its_child_dies(host: Host, tmp_path: Path) -> None:
    proxy = host.create(IsolatedCounter)
    pid = proxy.send("pid")
    child = psutil.Process(pid)
    mark = tmp_path / "blocked"
    future = proxy.send_future("block", args={"mark": str(mark)}, timeout=600.0)
    wait_for(mark.exists)  # the blocking handler runs
    started = time.monotonic()
    child.kill()
    assert future.wait_for_reply(TIMEOUT), "the message waited on after its child died"
    with pytest.raises(PagletCrashedError, match="code -9"):
        future.get_reply(0)
    with pytest.raises(PagletCrashedError):
        proxy.send("add", timeout=600.0)
    assert time.monotonic() - started < TIMEOUT


def test_a_spare_child_whose_host_goes_away_ends_quietly() -> None:
    command = [sys.executable, "-m", "paglets.runtime.isolation.child"]
    ended = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert ended.returncode == 0 and ended.stderr == b""  # no traceback on the terminal
    cut = subprocess.run(command, input=b"\x00\x00", capture_output=True, timeout=60)
    assert cut.returncode != 0 and b"the launch map" in cut.stderr  # a torn map is an error
