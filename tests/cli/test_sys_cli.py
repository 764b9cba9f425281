"""``paglets sys`` against ``paglets host`` subprocesses (insecure loopback, no discovery)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from host_process import start_host_process, stop_process
from paglets.cli.entry import ClientOptions, fetch_mesh_view, local_entry

ROOT = Path(__file__).resolve().parents[2]


def _online_peers(address: str) -> list[str]:
    with ClientOptions(timeout=TIMEOUT, insecure=True).client(address) as client:
        view = fetch_mesh_view(client)
    return sorted(p["name"] for p in view["peers"] if p["online"])


@pytest.fixture(scope="module")
def mesh() -> Iterator[dict[str, Any]]:
    """alpha, beta and gamma (seeded with alpha) as ``paglets host`` processes."""
    processes: dict[str, subprocess.Popen[str]] = {}
    addresses: dict[str, str] = {}
    try:
        processes["alpha"], addresses["alpha"] = start_host_process("--name", "alpha")
        for name in ("beta", "gamma"):
            processes[name], addresses[name] = start_host_process(
                "--name", name, "--peer", addresses["alpha"]
            )
        wait_for(
            lambda: all(
                _online_peers(addresses[n]) == sorted(set(addresses) - {n}) for n in addresses
            ),
            timeout=3 * TIMEOUT,
        )
        yield {"addresses": addresses, "processes": processes}
    finally:
        for process in processes.values():
            stop_process(process)


def _sys(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paglets.cli.sysinfo", *args],
        capture_output=True,
        text=True,
        timeout=12 * TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )


def test_summary_answers_for_every_host(mesh: dict[str, Any]) -> None:
    entry = mesh["addresses"]["alpha"]
    done = _sys("summary", "--entry", entry, "--insecure", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = report["hosts"]
    assert [r["host"] for r in rows] == ["alpha", "beta", "gamma"]
    assert all(r["ok"] and r["via"] == "service" for r in rows), rows
    assert [r["address"] for r in rows] == [mesh["addresses"][n] for n in ("alpha", "beta")] + [
        mesh["addresses"]["gamma"]
    ]
    assert all(r["data"]["cpu_logical"] >= 1 for r in rows)


@pytest.mark.parametrize(
    "command",
    [["summary"], ["load"], ["df", "/", "/no/such/dir"], ["ps", "paglets"]],
    ids=lambda c: c[0],
)
def test_tables_fit_80_columns_and_cut_no_cell(mesh: dict[str, Any], command: list[str]) -> None:
    done = _sys(*command, "--entry", mesh["addresses"]["beta"], "--insecure")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, done.stdout
    assert "…" not in done.stdout
    for name in ("alpha", "beta", "gamma"):
        assert name in done.stdout
    assert "3 of 3 hosts answered" in done.stdout
    if command[0] == "df":
        assert "/no/such/dir" in done.stdout and "No such file or directory" in done.stdout


def test_a_killed_host_is_listed_as_an_error_not_dropped() -> None:
    # a mesh of its own: the module's mesh must not keep a dead host in its tables
    entry, entry_address = start_host_process("--name", "epsilon")
    try:
        victim, _ = start_host_process("--name", "delta", "--peer", entry_address)
        try:
            wait_for(lambda: "delta" in _online_peers(entry_address), timeout=3 * TIMEOUT)
        finally:
            stop_process(victim, signal.SIGKILL)  # gone without a word
        done = _sys("load", "--entry", entry_address, "--insecure", "--json", "--timeout", "3")
        assert done.returncode == 0, done.stderr
        rows = {r["host"]: r for r in json.loads(done.stdout)["hosts"]}
        assert set(rows) == {"epsilon", "delta"}
        assert rows["epsilon"]["ok"]
        assert not rows["delta"]["ok"] and rows["delta"]["error"]
        table = _sys("load", "--entry", entry_address, "--insecure", "--timeout", "3")
        assert "hosts without an answer" in table.stdout and "delta" in table.stdout
        assert "1 of 2 hosts answered" in table.stdout
    finally:
        stop_process(entry)


def _local_entry_taken() -> bool:
    """Whether something listens where the CLI looks for a local host first."""
    host, port = local_entry().removeprefix("tcp://").rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, int(port))) == 0


needs_free_local_entry = pytest.mark.skipif(
    _local_entry_taken(), reason=f"another program listens on {local_entry()}"
)


@needs_free_local_entry
def test_with_no_host_it_runs_embedded_and_says_so(tmp_path: Path) -> None:
    env = {"PAGLETS_BROWSE_SECONDS": "0", "PAGLETS_HOME": str(tmp_path)}
    done = _sys("summary", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert "no host found: running on an in-process host" in done.stderr
    [row] = json.loads(done.stdout)["hosts"]
    assert row["ok"] and row["via"] == "service"
    assert (tmp_path / "launch.toml").exists()  # the bundled defaults, copied on first start


@needs_free_local_entry
def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PAGLETS_BROWSE_SECONDS": "0", "PAGLETS_HOME": str(tmp_path)}
    missing = _sys("summary", "--entry", "nowhere", "--insecure", env=env)
    assert missing.returncode == 1 and "PeerNotFoundError" in missing.stderr
    negative = _sys("ps", "x", "--limit", "-1", env=env)
    assert negative.returncode == 1 and "--limit must not be negative" in negative.stderr
    (tmp_path / "launch.toml").write_text("[services.x]\nclass = 'nocolon'\n")
    broken = _sys("summary", env=env)
    assert broken.returncode == 1 and "class must be 'module:ClassName'" in broken.stderr
    for done in (missing, negative, broken):
        assert "Traceback" not in done.stderr
