"""With no ``--port``, hosts started at the same instant all come up, on the default port and up.

The default is 8765; the test run sets ``$PAGLETS_PORT`` to a free port of its own
(tests/conftest.py), so these hosts never meet a developer's host on 8765.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from paglets.runtime.config import default_port

START_TIMEOUT = 30.0


def _spawn(name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paglets.cli.host",
            "--host",
            "127.0.0.1",
            "--no-discovery",
            "--name",
            name,
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _port_of(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"listening on tcp://127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError(f"host did not come up: {''.join(seen)}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


def test_hosts_started_at_the_same_instant_all_come_up(
    processes: list[subprocess.Popen[str]],
) -> None:
    processes.extend(_spawn(f"same-instant-{n}") for n in range(3))
    ports = [_port_of(process) for process in processes]
    assert len(set(ports)) == 3, ports
    first = default_port()
    assert all(first <= port < first + 100 for port in ports), ports
    for process in processes:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(20)
        assert process.returncode == 0
