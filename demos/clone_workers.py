"""Clone workers: a master clones itself to three hosts to compute a sum in parts.

The master lives on alpha. Asked to sum ``0 + 1 + ... + (n - 1)``, it splits the range
in three, and for each slice writes the slice into its own state and clones itself to
one of beta, gamma and delta: a clone starts from the state as it was at the clone's
snapshot, so each copy finds its slice there. A copy sums its slice in ``run()``,
reports to the master through the ``PagletProxyRef`` it also found in its state, and
disposes of itself. The master's ``result`` handler pauses with ``wait_message`` so the
reports can be handled meanwhile, and each report wakes it with ``notify_message``.

Run it with ``uv run python demos/clone_workers.py``.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.events import CloneEvent
from paglets.core.messages import Message
from paglets.core.refs import PagletProxyRef
from paglets.runtime.host import Host

WORKER_HOSTS = ["beta", "gamma", "delta"]

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line even when paglets print from other threads."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """Call ``read`` until ``done(value)`` holds; return the value (the last one on timeout)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value


@dataclass
class SumState(PagletState):
    role: str = "master"
    start: int = 0
    stop: int = 0
    master: PagletProxyRef | None = None
    expected: int = 0
    partials: dict[str, int] = field(default_factory=dict)


class SumPaglet(Paglet[SumState]):
    State = SumState

    def on_clone(self, event: CloneEvent) -> None:
        say(
            f"  [{self.context.name}] worker {self.agent_id[:8]} cloned from "
            f"{event.source_agent_id[:8]}: slice {self.state.start}..{self.state.stop - 1}",
        )

    def run(self) -> None:
        if self.state.role != "worker":
            return
        partial = sum(range(self.state.start, self.state.stop))
        assert self.state.master is not None
        master = self.state.master.resolve(self.context)
        master.send("partial", args={"host": self.context.name, "sum": partial})
        self.dispose()

    def handle_message(self, message: Message) -> Any:
        if message.kind == "start":
            return self._start(int(message.get_arg("n")), list(message.get_arg("hosts")))
        if message.kind == "partial":
            self.state.partials[message.get_arg("host")] = message.get_arg("sum")
            say(f"  [{self.context.name}] master got {message.args}")
            self.notify_message()
            return None
        if message.kind == "result":
            return self._result(float(message.get_arg("timeout", 10.0)))
        return self.not_handled()

    def _start(self, n: int, hosts: list[str]) -> int:
        me = self.proxy().ref()
        bounds = [n * index // len(hosts) for index in range(len(hosts) + 1)]
        self.state.expected = len(hosts)
        for host, start, stop in zip(hosts, bounds, bounds[1:], strict=False):
            # The copy takes the state as it is now: give it its slice and its master.
            self.state.role, self.state.start, self.state.stop = "worker", start, stop
            self.state.master = me
            self.clone(host)
        self.state.role, self.state.start, self.state.stop = "master", 0, n
        self.state.master = None
        return len(hosts)

    def _result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while len(self.state.partials) < self.state.expected:
            # Let the reports in: this handler pauses until a report notifies it.
            if not self.wait_message(max(0.0, deadline - time.monotonic())):
                raise PagletError(f"only {len(self.state.partials)} reports in {timeout}s")
        return {"total": sum(self.state.partials.values()), "parts": dict(self.state.partials)}


def start_workers(seed: str) -> list[Host]:
    """Start one host per name in WORKER_HOSTS, each greeting ``seed``."""
    return [Host(name=name, port=0, peers=[seed]).start_background() for name in WORKER_HOSTS]


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    n = 3_000_000
    with Host(name="alpha", port=0) as alpha:
        workers = start_workers(alpha.address)
        try:
            for name in WORKER_HOSTS:
                alpha.wait_for_host(name, timeout=5)
            say(f"mesh: alpha + {', '.join(WORKER_HOSTS)}")
            master = alpha.create(SumPaglet)
            say(f"master {master.agent_id[:8]} on alpha sums 0..{n - 1} with clones")
            cloned = master.send("start", args={"n": n, "hosts": WORKER_HOSTS})
            say(f"master sent {cloned} clones")
            result = master.send("result", args={"timeout": 20.0}, timeout=30.0)
            say(f"partial sums by host: {result['parts']}")
            expected = n * (n - 1) // 2
            verdict = "correct" if result["total"] == expected else "WRONG"
            say(f"total {result['total']} (expected {expected}): {verdict}")
            left = wait_until(
                lambda: sum(len(host.get_proxies()) for host in workers), lambda count: count == 0
            )
            say(f"paglets left on the worker hosts: {left}")
        finally:
            for host in workers:
                host.stop()
    say("hosts stopped")


if __name__ == "__main__":
    main()
