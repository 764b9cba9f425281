"""A job's placement report is kept in its submitter's store and outlasts a restart."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from helpers import TIMEOUT, free_port
from paglets.remote.client import HostClient
from paglets.runtime.host import Host
from paglets.system.compute.placements import Placements
from paglets.system.compute.queue_store import ComputeQueue
from paglets.system.compute_placement import await_placement
from paglets.system.compute_slots import ask
from paglets.system.host_services import start_host_services

NOTE = {
    "agent_id": "job-paglet-1",
    "job_id": "job-1",
    "decision": "wait",
    "reason": "waiting for 1 core (0 free)",
    "host": "beta",
    "address": "tcp://b:1",
}


def test_the_newest_reports_are_kept(tmp_path: Path) -> None:
    queue = ComputeQueue(tmp_path, placements_kept=3)
    kept = Placements(queue)
    for n in range(5):
        assert kept.put({**NOTE, "agent_id": f"a{n}"})
    assert kept.get("a0", 0) is None and kept.get("a1", 0) is None
    assert kept.get("a4", 0) == {**NOTE, "agent_id": "a4"}
    kept.close()
    assert kept.get("a4", 0) is None and not kept.put(NOTE)  # the host stops
    queue.close()
    assert ComputeQueue(tmp_path).placement("a3") == {**NOTE, "agent_id": "a3"}


def _home(store: Path, port: int) -> Host:
    host = Host(name="home", port=port, persistence_dir=store, insecure=True,
                mesh_lan_discovery=False)  # fmt: skip
    host.start_background(timeout=TIMEOUT)
    start_host_services(host, read_launch=False)
    return host


def test_a_submitter_waits_out_its_hosts_restart_and_reads_the_report(tmp_path: Path) -> None:
    store, port = tmp_path / "store", free_port()
    home = _home(store, port)
    address = home.address
    try:
        assert ask(home, address, "placed", NOTE) is True
    finally:
        home.stop(timeout=TIMEOUT)
    read: list[Any] = []
    with HostClient(address=address, insecure=True, timeout=TIMEOUT) as client:
        reader = threading.Thread(
            target=lambda: read.append(await_placement(client, address, NOTE["agent_id"], 60))
        )
        reader.start()  # it finds no host at first
        home = _home(store, port)
        try:
            reader.join(4 * TIMEOUT)
            assert read == [NOTE]
        finally:
            home.stop(timeout=TIMEOUT)
