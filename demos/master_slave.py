"""Master and slave: a master creates a slave on another host; the slave reports back.

The master lives on alpha. Asked to ``start``, it creates a slave paglet on beta with
``context.create_paglet(..., host_url="beta")``, putting in the slave's state a
``PagletProxyRef`` to itself: a ref is plain data, so it travels in a state. The
slave works in ``run()`` (it finds the primes below a limit, in chunks), turns the ref
back into a live proxy with ``ref.resolve(self.context)`` and messages the master after each
chunk, then sends its result and disposes of itself. The master keeps the reports.

Run it with ``uv run python demos/master_slave.py``.
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
from paglets.core.events import CreationEvent
from paglets.core.messages import Message
from paglets.core.refs import PagletProxyRef
from paglets.runtime.host import Host

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line even when paglets print from other threads."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass
class SlaveState(PagletState):
    master: PagletProxyRef | None = None
    limit: int = 0
    chunks: int = 4


class SlavePaglet(Paglet[SlaveState]):
    """Counts primes below ``limit`` chunk by chunk, reporting each chunk to its master."""

    State = SlaveState

    def on_creation(self, event: CreationEvent) -> None:
        host, limit = self.context.name, self.state.limit
        say(f"  [{host}] slave {self.agent_id[:8]} created, limit {limit}")

    def run(self) -> None:
        assert self.state.master is not None
        master = self.state.master.resolve(self.context)
        limit, chunks = self.state.limit, self.state.chunks
        found = 0
        for chunk in range(chunks):
            if self.is_leaving():
                return
            low, high = limit * chunk // chunks, limit * (chunk + 1) // chunks
            count = sum(1 for number in range(low, high) if _is_prime(number))
            found += count
            master.send("progress", args={"chunk": chunk + 1, "of": chunks, "primes": count})
        master.send("done", args={"host": self.context.name, "primes": found})
        self.dispose()


@dataclass
class MasterState(PagletState):
    slave_id: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list)
    result: int = -1


class MasterPaglet(Paglet[MasterState]):
    """Creates a slave on another host and gathers what it reports."""

    State = MasterState

    def handle_message(self, message: Message) -> Any:
        state = self.state
        if message.kind == "start":
            me = self.proxy().ref()
            slave_state = SlaveState(master=me, limit=int(message.get_arg("limit")))
            slave = self.context.create_paglet(
                SlavePaglet, slave_state, host_url=str(message.get_arg("host"))
            )
            state.slave_id = slave.agent_id
            return slave.agent_id
        if message.kind == "progress":
            state.reports.append(dict(message.args))
            say(f"  [{self.context.name}] master: progress {message.args}")
            return None
        if message.kind == "done":
            state.result = int(message.get_arg("primes"))
            say(f"  [{self.context.name}] master: slave done on {message.get_arg('host')}")
            return None
        if message.kind == "status":
            return {"result": state.result, "reports": len(state.reports)}
        return self.not_handled()


def _is_prime(number: int) -> bool:
    if number < 2:
        return False
    divisor = 2
    while divisor * divisor <= number:
        if number % divisor == 0:
            return False
        divisor += 1
    return True


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Call ``read`` until ``done(value)`` holds; return the value (the last one on timeout)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    limit = 50_000
    with (
        Host(name="alpha", port=0) as alpha,
        Host(name="beta", port=0, peers=[alpha.address]) as beta,
    ):
        alpha.wait_for_host("beta", timeout=5)
        master = alpha.create(MasterPaglet)
        say(f"master {master.agent_id[:8]} created on alpha")
        slave_id = master.send("start", args={"host": "beta", "limit": limit})
        say(f"master created slave {slave_id[:8]} on beta")
        status = wait_until(lambda: master.send("status"), lambda value: value["result"] >= 0)
        expected = sum(1 for number in range(limit) if _is_prime(number))
        say(
            f"primes below {limit}: {status['result']} after {status['reports']} progress "
            f"reports (expected {expected})"
        )
        left = wait_until(lambda: len(beta.get_proxies()), lambda count: count == 0)
        say(f"paglets left on beta: {left}")
    say("hosts stopped")


if __name__ == "__main__":
    main()
