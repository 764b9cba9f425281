"""Stress the host-to-child link of isolated paglets: how many requests are lost.

Run: ``uv run python tools/bench/isolation_stress.py [--rounds N] [--paglets N]
[--messages N] [--spares N] [--timeout S] [--hogs N]``.

One host in this process (loopback, no discovery) keeping ``--spares`` warm children.
Each round creates ``--paglets`` isolated counters at once (spares are handed out and
refilled while the others start), sends each ``--messages`` messages from a thread of
its own with a bounded wait, copies each (the copy reads the state back with the
``state`` verb first) and disposes of both. A request with no answer within
``--timeout`` seconds counts as lost. ``--hogs`` busy processes load the CPUs
meanwhile (each stopped by its PID). Prints one JSON map.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_paglets import IsolatedCount  # noqa: E402

from paglets.core.errors import PagletError, ReplyTimeoutError  # noqa: E402
from paglets.remote.proxy import PagletProxy  # noqa: E402
from paglets.runtime.host import Host  # noqa: E402
from paglets.runtime.isolation.spares import drop_spares, keep_spares  # noqa: E402

_HOG = "import time\nend = time.monotonic() + 1800\nwhile time.monotonic() < end: pass"


class Tally:
    """What the driving threads saw, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.figures: dict[str, Any] = {
            "sent": 0,
            "lost": 0,
            "clones": 0,
            "clone_lost": 0,
            "state_retries": 0,
            "dispose_failed": 0,
            "worst_s": 0.0,
        }
        self.errors: list[str] = []

    def add(self, key: str, amount: float = 1) -> None:
        """Add ``amount`` to figure ``key``."""
        with self.lock:
            self.figures[key] += amount

    def note(self, text: str) -> None:
        """Keep an unexpected outcome."""
        with self.lock:
            self.errors.append(text)

    def worst(self, seconds: float) -> None:
        """Keep the slowest answer."""
        with self.lock:
            self.figures["worst_s"] = max(self.figures["worst_s"], seconds)


class _Retries(logging.Handler):
    """Counts state requests a runner asked again (runners before the fix of the lost
    requests retried them; a runner without retries logs none)."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(logging.INFO)
        self._tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        if "asking again" in record.getMessage():
            self._tally.add("state_retries")


def _send(proxy: PagletProxy, expected: int, timeout: float, tally: Tally, key: str) -> None:
    started = time.monotonic()
    try:
        got = proxy.send("add", timeout=timeout)
        if got != expected:
            tally.note(f"reply {got} where {expected} was due")
    except ReplyTimeoutError:
        tally.add(key)
    except PagletError as exc:
        tally.note(f"{type(exc).__name__}: {exc}")
    tally.worst(time.monotonic() - started)


def _drive(host: Host, count: int, timeout: float, tally: Tally) -> None:
    """Create one isolated counter, send it ``count`` messages, copy it, dispose of both."""
    try:
        proxy = host.create(IsolatedCount)
    except PagletError as exc:
        tally.note(f"create: {type(exc).__name__}: {exc}")
        return
    for expected in range(1, count + 1):
        _send(proxy, expected, timeout, tally, "lost")
        tally.add("sent")
    clone = None
    try:
        clone = proxy.clone()
        tally.add("clones")
        _send(clone, count + 1, timeout, tally, "clone_lost")
    except ReplyTimeoutError:  # the state request (or the copy's start) went unanswered
        tally.add("clone_lost")
    except PagletError as exc:
        tally.note(f"clone: {type(exc).__name__}: {exc}")
    for paglet in (clone, proxy):
        if paglet is not None:
            try:
                paglet.dispose(timeout=timeout)
            except PagletError as exc:
                tally.add("dispose_failed")
                tally.note(f"dispose: {type(exc).__name__}: {exc}")


def _rounds(options: argparse.Namespace, tally: Tally) -> None:
    with Host("stress", port=0, mesh_lan_discovery=False) as host:
        if options.spares:
            keep_spares(host.address, options.spares)
        try:
            for _ in range(options.rounds):
                threads = [
                    threading.Thread(
                        target=_drive, args=(host, options.messages, options.timeout, tally)
                    )
                    for _ in range(options.paglets)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(options.timeout * (options.messages + 4) + 60)
        finally:
            drop_spares(host.address)


def main() -> None:
    """Run the rounds; print the tally as JSON."""
    faulthandler.register(signal.SIGUSR1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--paglets", type=int, default=6)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--spares", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--hogs", type=int, default=0, help="busy processes loading the CPUs")
    options = parser.parse_args()
    tally = Tally()
    runner_log = logging.getLogger("paglets.runtime.isolation.runner")
    runner_log.setLevel(logging.INFO)
    runner_log.addHandler(_Retries(tally))
    hogs = [subprocess.Popen([sys.executable, "-c", _HOG]) for _ in range(options.hogs)]
    started = time.monotonic()
    try:
        _rounds(options, tally)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    figures = dict(tally.figures)
    figures["worst_s"] = round(figures["worst_s"], 3)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    figures["loss_rate"] = round(figures["lost"] / max(1, figures["sent"]), 5)
    figures["errors"] = tally.errors[:10]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
