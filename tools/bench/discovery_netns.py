"""Time to mutual discovery of two hosts, run inside a private network namespace.

``scenarios/discovery.py`` starts this script under ``unshare -rn``: the namespace's
only interface is a loopback with multicast on, so no mDNS leaves it. Host A runs with
discovery on; each round starts host B and times, from B's start, until each host
lists the other online; then B stops. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

from paglets.runtime.host import Host

POLL = 0.001


def _sees(host: Host, name: str) -> bool:
    return any(peer.name == name and peer.online for peer in host.available_hosts())


def _discovering_host(name: str) -> Host:
    """A loopback host with zeroconf on; the OS picks its port (two hosts cannot both
    bind the default 8765)."""
    return Host(name=name, host="127.0.0.1", port=0, mesh_lan_discovery=True, insecure=True)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    os.environ.setdefault("PAGLETS_HOME", tempfile.mkdtemp(prefix="paglets-bench-home-"))
    samples: list[float] = []
    with _discovering_host("alpha") as alpha:
        for index in range(rounds):
            name = f"beta{index}"
            started = time.monotonic()
            beta = _discovering_host(name)
            try:
                beta.start_background()
                deadline = started + timeout
                while not (_sees(alpha, name) and _sees(beta, "alpha")):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} and alpha did not find each other")
                    time.sleep(POLL)
                samples.append(time.monotonic() - started)
            finally:
                beta.stop()
    print(
        json.dumps(
            {
                "rounds": len(samples),
                "median_s": statistics.median(samples),
                "max_s": max(samples),
                "samples_s": samples,
            }
        )
    )


if __name__ == "__main__":
    main()
