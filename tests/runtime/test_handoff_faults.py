"""Exactly-once hand-off under faults: frozen, killed and restarted hosts, lossy links.

Host processes are real ``paglets host`` children stopped by PID; ``PAGLETS_FAULT_STOP_AT``
makes one kill itself (SIGKILL) at a named step of the hand-off. Every test ends by
counting the paglet on both hosts: it exists exactly once, with its state.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_artifacts_faults import free_port

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.core.agent import ACTIVE, INACTIVE
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, TransferError
from paglets.examples.counter import CounterPaglet
from paglets.examples.durable_counter import DurableCounterPaglet
from paglets.remote.client import HostClient
from paglets.runtime.host import Host
from paglets.runtime.persistence.host_store import DATABASE_NAME
from paglets.wire.protocol import VERB_PING

DURABLE = class_path(DurableCounterPaglet)
PLAIN = class_path(CounterPaglet)


def host_command(name: str, port: int, store: Path) -> list[str]:
    return [
        sys.executable, "-m", "paglets.cli.host", "--host", "127.0.0.1", "--name", name,
        "--port", str(port), "--no-discovery", "--persistence-dir", str(store),
        "--log-level", "WARNING",
    ]  # fmt: skip


class HostProcess:
    """``paglets host`` in a child process on a fixed port and store; stopped by PID."""

    def __init__(self, name: str, port: int, store: Path, stop_at: str = "") -> None:
        self.name, self.port, self.store = name, port, store
        self.address = f"tcp://127.0.0.1:{port}"
        env = dict(os.environ)
        env.pop("PAGLETS_FAULT_STOP_AT", None)
        if stop_at:
            env["PAGLETS_FAULT_STOP_AT"] = stop_at
        self.process = subprocess.Popen(
            host_command(name, port, store),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process.stdout is not None
        seen = []
        for _ in range(50):
            ready, _, _ = select.select([self.process.stdout], [], [], 3 * TIMEOUT)
            assert ready, f"host process did not start: {seen}"
            line = self.process.stdout.readline()
            seen.append(line)
            if "listening on" in line:
                return
            assert line, f"host process exited: {seen}"
        raise AssertionError(f"host process did not start: {seen}")

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def wait_died(self) -> int:
        """Wait for a fault point to kill the process; return its exit code."""
        return self.process.wait(3 * TIMEOUT)

    def restart(self) -> HostProcess:
        self.close()
        return HostProcess(self.name, self.port, self.store)

    def close(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(2 * TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def processes() -> Iterator[list[HostProcess]]:
    started: list[HostProcess] = []
    yield started
    for each in started:
        each.close()


def phases(store: Path, role: str) -> list[str]:
    """The phases of the transfer records in a host's database (read-only)."""
    db = sqlite3.connect(f"file:{store / DATABASE_NAME}?mode=ro", uri=True, timeout=TIMEOUT)
    try:
        rows = db.execute("SELECT phase FROM transfers WHERE role = ?", (role,)).fetchall()
    finally:
        db.close()
    return [row[0] for row in rows]


def ids_on(address: str) -> list[str]:
    with HostClient(address=address, timeout=TIMEOUT) as client:
        return [info["agent_id"] for info in client.list_agents(flags=ACTIVE | INACTIVE)]


def count_of(address: str, agent_id: str) -> int:
    with HostClient(address=address, timeout=TIMEOUT) as client:
        return int(client.send(agent_id, "get")["count"])


def answers(host: Host, address: str) -> bool:
    try:
        host._transport.call(address, VERB_PING, timeout=0.5)
    except PagletError:
        return False
    return True


def exactly_once(agent_id: str, where: str, *addresses: str) -> None:
    holders = [address for address in addresses if agent_id in ids_on(address)]
    assert holders == [where], f"paglet {agent_id} is on {holders}, expected only {where}"


# a frozen target ------------------------------------------------------------------------


def test_a_target_frozen_past_the_timeout_leaves_the_paglet_once_at_the_source(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    bravo = HostProcess("bravo", free_port(), tmp_path / "bravo")
    processes.append(bravo)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 5}, timeout=TIMEOUT)
    wait_for(lambda: answers(alpha, bravo.address))  # connected: frames reach the frozen host
    bravo.signal(signal.SIGSTOP)
    with pytest.raises(TransferError, match="aborted"):
        alpha.dispatch(proxy.agent_id, bravo.address, timeout=1.0)
    bravo.signal(signal.SIGCONT)
    # the frozen host reads the transfer, then the abort (or asks alpha): never starts it
    wait_for(lambda: phases(tmp_path / "bravo", "in") == ["aborted"], timeout=3 * TIMEOUT)
    exactly_once(proxy.agent_id, alpha.address, alpha.address, bravo.address)
    assert proxy.send("increment", timeout=TIMEOUT)["count"] == 6


# a host killed at each step -------------------------------------------------------------


def start_durable(address: str, by: int, cls: str = DURABLE) -> str:
    with HostClient(address=address, timeout=TIMEOUT) as client:
        proxy = client.create(cls)
        assert proxy.send("increment", args={"by": by}, timeout=TIMEOUT)["count"] == by
        return proxy.agent_id


def dispatch_from(address: str, agent_id: str, target: str) -> None:
    """Ask the host at ``address`` to dispatch; it may die answering (that is the test)."""
    with HostClient(address=address, timeout=3.0) as client:
        try:
            client.get_proxy(agent_id).dispatch(target, timeout=2.0)
        except PagletError:
            pass


@pytest.mark.parametrize("cls", [DURABLE, PLAIN], ids=["durable", "plain"])
def test_a_source_killed_after_prepare_resumes_the_paglet_and_the_target_drops_it(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path, cls: str
) -> None:
    # a plain paglet in flight is restored from the transfer record, a durable one
    # from its checkpoint
    alpha = HostProcess("alpha", free_port(), tmp_path / "alpha", stop_at="source-prepared")
    processes.append(alpha)
    beta = make_host("beta", persistence_dir=tmp_path / "beta")
    agent_id = start_durable(alpha.address, 4, cls)
    dispatch_from(alpha.address, agent_id, beta.address)
    assert alpha.wait_died() == -signal.SIGKILL
    assert phases(tmp_path / "beta", "in") == ["prepared"]  # staged, not started
    assert beta.info()["active"] == 0
    processes.append(alpha := alpha.restart())
    wait_for(lambda: phases(tmp_path / "beta", "in") == ["aborted"], timeout=3 * TIMEOUT)
    exactly_once(agent_id, alpha.address, alpha.address, beta.address)
    assert count_of(alpha.address, agent_id) == 4


def test_a_source_killed_after_commit_tells_the_target_after_restart(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    alpha = HostProcess("alpha", free_port(), tmp_path / "alpha", stop_at="source-committed")
    processes.append(alpha)
    beta = make_host("beta", persistence_dir=tmp_path / "beta")
    agent_id = start_durable(alpha.address, 3)
    dispatch_from(alpha.address, agent_id, beta.address)
    assert alpha.wait_died() == -signal.SIGKILL
    assert beta.info()["active"] == 0  # committed at the source, the target not told
    processes.append(alpha := alpha.restart())
    wait_for(lambda: beta.info()["active"] == 1, timeout=3 * TIMEOUT)
    exactly_once(agent_id, beta.address, alpha.address, beta.address)
    assert count_of(beta.address, agent_id) == 3
    wait_for(lambda: phases(tmp_path / "alpha", "out") == ["done"], timeout=3 * TIMEOUT)


def test_a_target_killed_after_prepare_never_starts_the_paglet(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    beta = HostProcess("beta", free_port(), tmp_path / "beta", stop_at="target-prepared")
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 2}, timeout=TIMEOUT)
    with pytest.raises(TransferError):
        alpha.dispatch(proxy.agent_id, beta.address, timeout=1.0)
    assert beta.wait_died() == -signal.SIGKILL
    assert phases(tmp_path / "beta", "in") == ["prepared"]
    processes.append(beta := beta.restart())
    wait_for(lambda: phases(tmp_path / "beta", "in") == ["aborted"], timeout=3 * TIMEOUT)
    exactly_once(proxy.agent_id, alpha.address, alpha.address, beta.address)
    assert proxy.send("get", timeout=TIMEOUT)["count"] == 2


def test_a_target_killed_after_commit_starts_the_paglet_after_restart(
    make_host: HostFactory, processes: list[HostProcess], tmp_path: Path
) -> None:
    beta = HostProcess("beta", free_port(), tmp_path / "beta", stop_at="target-committed")
    processes.append(beta)
    alpha = make_host("alpha", persistence_dir=tmp_path / "alpha")
    proxy = alpha.create(DurableCounterPaglet)
    proxy.send("increment", args={"by": 9}, timeout=TIMEOUT)
    moved = alpha.dispatch(proxy.agent_id, beta.address, timeout=1.0)  # committed here
    assert moved.host_url == beta.address
    assert beta.wait_died() == -signal.SIGKILL
    assert alpha.info()["active"] == 0
    processes.append(beta := beta.restart())
    exactly_once(proxy.agent_id, beta.address, alpha.address, beta.address)
    assert count_of(beta.address, proxy.agent_id) == 9
    wait_for(lambda: phases(tmp_path / "alpha", "out") == ["done"], timeout=3 * TIMEOUT)


# durable paglets and kill -9 ------------------------------------------------------------


def test_a_durable_paglet_keeps_every_acknowledged_change_through_kill_9(
    processes: list[HostProcess], tmp_path: Path
) -> None:
    alpha = HostProcess("alpha", free_port(), tmp_path / "alpha")
    processes.append(alpha)
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        proxy = client.create(DURABLE)
        acknowledged: list[Any] = []
        for n in range(25):
            reply = proxy.send("append", args={"item": n}, timeout=TIMEOUT)
            acknowledged.append(n)
            assert reply["items"] == acknowledged
    alpha.signal(signal.SIGKILL)
    alpha.process.wait(TIMEOUT)
    processes.append(alpha := alpha.restart())
    with HostClient(address=alpha.address, timeout=TIMEOUT) as client:
        assert client.send(proxy.agent_id, "get")["items"] == acknowledged


# a second process on the same store ------------------------------------------------------


def test_a_second_host_process_on_the_same_store_exits_with_a_clear_error(
    processes: list[HostProcess], tmp_path: Path
) -> None:
    alpha = HostProcess("alpha", free_port(), tmp_path / "alpha")
    processes.append(alpha)
    agent_id = start_durable(alpha.address, 2)
    second = subprocess.run(
        host_command("alpha-again", free_port(), tmp_path / "alpha"),
        capture_output=True,
        text=True,
        timeout=3 * TIMEOUT,
    )
    output = " ".join((second.stdout + second.stderr).split())  # the CLI wraps at 80 columns
    assert second.returncode != 0
    assert "in use by another host" in output and f"pid {alpha.process.pid}" in output
    assert "Traceback" not in output
    assert count_of(alpha.address, agent_id) == 2  # the first host serves on, store intact
