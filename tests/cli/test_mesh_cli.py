"""``paglets mesh`` against real ``paglets host`` subprocesses (discovery off, seeds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from host_process import start_host_process, stop_process
from paglets.cli.entry import ClientOptions, fetch_mesh_view, resolve_entry
from paglets.core.errors import PeerNotFoundError

ROOT = Path(__file__).resolve().parents[2]


def _view(address: str) -> dict[str, Any]:
    with ClientOptions(timeout=TIMEOUT).client(address) as client:
        return fetch_mesh_view(client)


@pytest.fixture(scope="module")
def mesh() -> Iterator[dict[str, str]]:
    """Hosts alpha (tag gpu) and beta (tag cpu, seeded with alpha) in subprocesses."""
    processes = []
    try:
        alpha, alpha_address = start_host_process(
            "--name", "alpha", "--tag", "gpu", "--property", "room=1", insecure=False
        )
        processes.append(alpha)
        beta, beta_address = start_host_process(
            "--name", "beta", "--tag", "cpu", "--peer", alpha_address, insecure=False
        )
        processes.append(beta)

        def joined() -> bool:
            return all(
                [p["name"] for p in _view(address)["peers"] if p["online"]] == [other]
                for address, other in ((alpha_address, "beta"), (beta_address, "alpha"))
            )

        wait_for(joined, timeout=3 * TIMEOUT)
        yield {"alpha": alpha_address, "beta": beta_address}
    finally:
        for process in processes:
            stop_process(process)


def _cli(*args: str, module: str = "paglets.cli.app") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},  # rich wraps cells on a narrow console
    )


def test_summary_json_lists_every_host_with_its_facts(mesh: dict[str, str]) -> None:
    done = _cli("mesh", "summary", "--entry", mesh["alpha"], "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["self"]["name"] == "alpha" and view["self"]["tags"] == ["gpu"]
    assert view["self"]["properties"] == {"room": "1"}
    [beta] = view["peers"]
    assert beta["name"] == "beta" and beta["online"] and beta["tags"] == ["cpu"]
    assert beta["address"] == mesh["beta"] and beta["mesh_version"] == "dev"
    assert beta["cores_free"] >= 1 and beta["memory_free"] > 0 and beta["age"] < 3 * TIMEOUT
    assert view["ignored"] == [] and view["clashes"] == []


def test_summary_table_shows_hosts_and_liveness(mesh: dict[str, str]) -> None:
    done = _cli("mesh", "summary", "--entry", mesh["beta"])
    assert done.returncode == 0, done.stderr
    assert "mesh 'dev' seen from beta" in done.stdout
    assert "alpha" in done.stdout and "online" in done.stdout and "gpu" in done.stdout


def test_targets_rank_hosts_and_say_why_others_are_left_out(mesh: dict[str, str]) -> None:
    done = _cli("mesh", "targets", "--entry", mesh["beta"], "--json", "--require-tag", "gpu")
    assert done.returncode == 0, done.stderr
    ranked = json.loads(done.stdout)
    assert [(t["rank"], t["name"]) for t in ranked["targets"]] == [(1, "alpha")]
    assert ranked["excluded"] == [
        {"name": "beta", "address": mesh["beta"], "reason": "lacks tag gpu"}
    ]
    done = _cli("mesh", "targets", "--entry", mesh["beta"], "--json", "--exclude-self")
    assert [t["name"] for t in json.loads(done.stdout)["targets"]] == ["alpha"]
    done = _cli("mesh", "targets", "--entry", mesh["alpha"], "--json", "--min-memory", "1000T")
    ranked = json.loads(done.stdout)
    assert ranked["targets"] == []
    assert all("free memory" in e["reason"] for e in ranked["excluded"])


def test_targets_table_and_the_classic_entry_point(mesh: dict[str, str]) -> None:
    done = _cli(
        "targets", "--entry", mesh["alpha"], "--max-load-per-cpu", "1000", module="paglets.cli.mesh"
    )
    assert done.returncode == 0, done.stderr
    assert "placement targets seen from alpha" in done.stdout and "beta" in done.stdout


def test_an_entry_where_nobody_answers_fails_clearly(dead_address: str) -> None:
    done = _cli("mesh", "summary", "--entry", dead_address, "--timeout", "0.5")
    assert done.returncode == 1
    assert "PeerNotFoundError" in done.stderr or "ReplyTimeoutError" in done.stderr


def test_entry_names_resolve_through_the_local_host(mesh: dict[str, str]) -> None:
    options = ClientOptions(timeout=TIMEOUT)
    local = mesh["alpha"]
    assert resolve_entry("tcp://10.0.0.1:9", options, local=local) == "tcp://10.0.0.1:9"
    assert resolve_entry(None, options, local=local, browse_seconds=0) == local
    assert resolve_entry("alpha", options, local=local, browse_seconds=0) == local
    assert resolve_entry("beta", options, local=local, browse_seconds=0) == mesh["beta"]
    with pytest.raises(PeerNotFoundError, match="zeta"):
        resolve_entry("zeta", options, local=local, browse_seconds=0)
