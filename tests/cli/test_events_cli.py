"""``paglets events`` against a real ``paglets host`` process, and on its store alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import TIMEOUT
from host_process import start_host_process, stop_process
from paglets.examples.counter import CounterPaglet
from paglets.remote.client import HostClient

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paglets.cli.app", "events", *args],
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": str(columns)},
    )


def listed(*args: str) -> list[dict[str, Any]]:
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert isinstance(found, list)
    return found


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_events_lists_filters_and_survives_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "alpha"
    process, address = start_host_process("--name", "alpha", "--persistence-dir", str(store))
    try:
        with HostClient(address=address, timeout=TIMEOUT, insecure=True) as client:
            kept = client.create(CounterPaglet)
            gone = client.create(CounterPaglet)
            gone.dispose()
        mine = listed("--host", address, "--insecure", "--agent", kept.agent_id)
        assert [e["kind"] for e in mine] == ["create"]
        disposed = listed("--host", address, "--insecure", "--kind", "dispose")
        assert [e["agent_id"] for e in disposed] == [gone.agent_id]
        assert len(listed("--host", address, "--insecure", "--last", "2")) == 2
    finally:
        stop_process(process)
    process, address = start_host_process("--name", "alpha", "--persistence-dir", str(store))
    try:
        every = listed("--host", address, "--insecure")
        created = [e["agent_id"] for e in every if e["kind"] == "create"]
        assert created == [kept.agent_id, gone.agent_id]  # from the run before the restart
        assert [e["kind"] for e in every].count("host-started") == 2
        since = listed("--host", address, "--insecure", "--since", str(mine[0]["seq"]))
        assert [e["agent_id"] for e in since if e["kind"] == "create"] == [gone.agent_id]
        table = cli("--host", address, "--insecure", columns=80)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), table.stdout
        assert "…" not in table.stdout and "host-started" in table.stdout
    finally:
        stop_process(process)
    # the host is down: its store still answers, read-only
    offline = listed("--store", str(store), "--kind", "host-stopped")
    assert len(offline) == 2


def test_events_without_a_host_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("--host", f"tcp://127.0.0.1:{unused_port()}", "--insecure", "--timeout", "1")
    assert done.returncode != 0
    assert "--store" in done.stderr and "Traceback" not in done.stderr + done.stdout
    missing = cli("--store", str(tmp_path / "nothing"))
    assert missing.returncode != 0 and "no host store" in " ".join(missing.stderr.split())
    bad = cli("--last", "0")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
