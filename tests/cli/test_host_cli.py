"""End to end: two ``paglets host`` processes driven from the ``paglets agents`` CLI.

This is the README's walk-through, on OS-chosen ports, with discovery off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from helpers import TIMEOUT
from paglets.cli.host import choose_bind_address

BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0


def _command(name: str) -> list[str]:
    script = BIN / name
    if script.exists():
        return [str(script)]
    module = {"paglets": "paglets.cli.app", "paglets-host": "paglets.cli.host"}[name]
    return [sys.executable, "-m", module]


class RunningHost:
    """A ``paglets-host`` subprocess; stopped by PID when the test ends."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                *_command("paglets-host"),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-discovery",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self.process.stdout.readline() if self.process.stdout else ""
            if not line:
                break
            self.lines.append(line)
            if " listening on " in line and line.startswith("paglets host"):
                self.address = line.split(" listening on ")[1].split()[0]
                return
        self.kill()
        raise AssertionError(f"host did not start: {''.join(self.lines)}")

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        """Send ``signum`` and wait; return the exit code and the rest of the output."""
        self.process.send_signal(signum)
        try:
            output, _ = self.process.communicate(timeout=TIMEOUT * 2)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.process.returncode, output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)


@pytest.fixture
def hosts() -> Iterator[list[RunningHost]]:
    started: list[RunningHost] = []
    yield started
    for host in started:
        host.kill()


def paglets(*args: str) -> str:
    """Run the ``paglets`` CLI; return its stdout (the test fails on a non-zero exit)."""
    result = subprocess.run(
        [*_command("paglets"), *args],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, f"paglets {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def test_the_readme_walk_through(hosts: list[RunningHost]) -> None:
    hosts.append(alpha := RunningHost("--name", "alpha", "--mesh-version", "dev"))
    peer = alpha.address.replace("tcp://", "http://")
    hosts.append(beta := RunningHost("--name", "beta", "--peer", peer, "--mesh-version", "dev"))

    agent_id = paglets(
        "agents", "create", "paglets.examples.counter:CounterPaglet", "--entry", alpha.address
    ).strip()
    assert len(agent_id) == 32
    sent = paglets(
        "agents", "send", agent_id, "increment", "--args", '{"by": 3}', "--entry", alpha.address
    )
    assert json.loads(sent) == {"count": 3}

    # beta greeted alpha at start; the name resolves on alpha once that hello arrived
    deadline = time.monotonic() + TIMEOUT
    while True:
        result = subprocess.run(
            [
                *_command("paglets"),
                "agents",
                "dispatch",
                agent_id,
                "beta",
                "--entry",
                alpha.address,
            ],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if result.returncode == 0 or time.monotonic() > deadline:
            break
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == beta.address

    # the old entry still reaches it: the proxy follows the forwarding address
    assert json.loads(paglets("agents", "send", agent_id, "get", "--entry", alpha.address)) == {
        "count": 3
    }
    listed = json.loads(paglets("agents", "list", "--entry", beta.address, "--json"))
    assert [info["agent_id"] for info in listed] == [agent_id]
    assert json.loads(paglets("agents", "health", "--entry", beta.address))["name"] == "beta"

    for host, signum in ((alpha, signal.SIGINT), (beta, signal.SIGTERM)):
        code, output = host.stop(signum)
        assert code == 0, output
        assert "stopped" in output


def test_a_restarted_host_finds_its_deactivated_paglets(
    hosts: list[RunningHost], tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    hosts.append(first := RunningHost("--name", "keeper", "--persistence-dir", store))
    agent_id = paglets(
        "agents", "create", "paglets.examples.counter:CounterPaglet", "--entry", first.address
    ).strip()
    paglets(
        "agents", "send", agent_id, "increment", "--args", '{"by": 5}', "--entry", first.address
    )
    code, _ = first.stop(signal.SIGTERM)
    assert code == 0

    hosts.append(second := RunningHost("--name", "keeper", "--persistence-dir", store))
    listed = json.loads(paglets("agents", "list", "--entry", second.address, "--json"))
    assert [(info["agent_id"], info["status"]) for info in listed] == [(agent_id, "inactive")]
    reply = paglets("agents", "send", agent_id, "get", "--entry", second.address)
    assert json.loads(reply) == {"count": 5}
    second.stop()


def test_a_bad_peer_address_is_a_clear_error() -> None:
    result = subprocess.run(
        [
            *_command("paglets-host"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-discovery",
            "--peer",
            "not an address",
        ],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode != 0
    assert "not an address" in (result.stderr + result.stdout)


def test_a_secured_host_binds_every_interface_by_default_an_insecure_one_loopback() -> None:
    assert choose_bind_address(None, None) == "0.0.0.0"
    assert choose_bind_address(None, None, insecure=True) == "127.0.0.1"
    assert choose_bind_address("10.0.0.5", None) == "10.0.0.5"
    assert choose_bind_address("127.0.0.1", None, insecure=False) == "127.0.0.1"
    with pytest.raises(typer.BadParameter):
        choose_bind_address("127.0.0.1", "lo")


def test_properties_too_large_for_a_heartbeat_are_a_clear_error() -> None:
    result = subprocess.run(
        [
            *_command("paglets-host"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-discovery",
            "--property",
            "notes=" + "x" * 40_000,
        ],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode != 0
    assert "tags and properties take" in (result.stderr + result.stdout)
