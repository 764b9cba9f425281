"""The file courier carries a file around real hosts and finds it whole on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paglets.examples.file_courier import carry_around, file_sha256
from paglets.remote.client import HostClient
from paglets.runtime.host import Host


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[list[Host]]:
    alpha = Host(name="alpha", port=0, mesh_lan_discovery=False, persistence_dir=tmp_path / "a")
    alpha.start_background()
    others = [
        Host(
            name=name,
            port=0,
            peers=[alpha.address],
            mesh_lan_discovery=False,
            persistence_dir=tmp_path / name,
        )
        for name in ("beta", "gamma")
    ]
    for host in others:
        host.start_background()
    try:
        yield [alpha, *others]
    finally:
        for host in reversed([alpha, *others]):
            host.shutdown()


def test_the_file_arrives_whole_on_every_host_and_home(trio: list[Host], tmp_path: Path) -> None:
    alpha = trio[0]
    cargo = tmp_path / "cargo.bin"
    cargo.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    with HostClient(address=alpha.address) as client:
        result = carry_around(client, cargo, ["beta", "gamma"], timeout=60)
    assert result["error"] == "" and result["done"]
    assert [hop["host"] for hop in result["hops"]] == ["beta", "gamma", "alpha"]
    assert all(hop["verified"] and hop["size"] == cargo.stat().st_size for hop in result["hops"])
    assert result["sha256"] == file_sha256(cargo)
    assert alpha.list_agents() == []


def test_a_tour_to_an_unknown_host_reports_the_failed_hop(trio: list[Host], tmp_path: Path) -> None:
    cargo = tmp_path / "cargo.txt"
    cargo.write_text("crates")
    with HostClient(address=trio[0].address) as client:
        result = carry_around(client, cargo, ["nowhere"], timeout=60)
    assert not result["done"] and "nowhere" in result["error"]
    assert trio[0].list_agents() == []


def test_paglets_examples_file_runs_alone_on_in_process_hosts(tmp_path: Path) -> None:
    env = {**os.environ, "PAGLETS_BROWSE_SECONDS": "0", "COLUMNS": "80", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "paglets.cli.app", "examples", "file", "--size", "1MiB", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "in-process host" in done.stderr
    result = json.loads(done.stdout)
    assert len(result["hops"]) == 2 and all(hop["verified"] for hop in result["hops"])
    assert result["size"] == 1 << 20


def test_paglets_examples_file_refuses_a_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "paglets.cli.app", "examples", "file", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        env={**os.environ, "PAGLETS_BROWSE_SECONDS": "0"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "is not a file" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
