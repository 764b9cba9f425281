"""The pi example's wall time on a mesh of N hosts (all in this process, loopback).

Run: ``uv run python tools/bench/pi_mesh.py --digits 100000 --hosts 3 --jobs 6``.
Each host runs its compute slots on every core of the machine (on one machine the
hosts share the cores: the figure shows the cost of spreading, not a speed-up a real
mesh of N machines would give). The load gate is off. Prints one JSON map.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from paglets.examples.pi_compute import compute_pi
from paglets.runtime.host import Host
from paglets.system.compute_slots import attach


def main() -> None:
    """Start the hosts, compute the digits from the first one, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--digits", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=6)
    options = parser.parse_args()
    os.environ.setdefault("PAGLETS_MAX_LOAD_PER_CPU", "none")
    sys.set_int_max_str_digits(0)
    hosts: list[Host] = []
    with tempfile.TemporaryDirectory() as store:
        try:
            for n in range(options.hosts):
                peers = [hosts[0].address] if hosts else []
                host = Host(
                    name=f"pi-{n + 1}", host="127.0.0.1", port=0, mesh_lan_discovery=False,
                    peers=peers, persistence_dir=f"{store}/{n}", insecure=True,
                ).start_background()  # fmt: skip
                attach(host)
                hosts.append(host)
            for host in hosts[1:]:
                hosts[0].wait_for_host(host.name, 10.0)
            deadline = time.monotonic() + 10.0  # every peer's free cores gossiped once
            while time.monotonic() < deadline and any(
                hosts[0].wait_for_host(h.name, 10.0).cores_free == 0 for h in hosts[1:]
            ):
                time.sleep(0.1)
            answer = compute_pi(hosts[0], options.digits, options.jobs, 3600.0)
        finally:
            for host in reversed(hosts):
                host.stop()
    tail = answer.pop("pi")
    answer["last_digits"] = tail[-20:]
    answer["cpu_count"] = os.cpu_count()
    print(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main()
