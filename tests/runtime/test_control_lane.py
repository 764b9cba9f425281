"""The control lane: under user load a host still answers the mesh verbs, and beats.

A host process (``loaded_host.py``) has 64 handlers blocked in user code, and a peer
process (``flood_peer.py``) floods it with one-way messages: ``UNQUEUED_PRIORITY`` ones that
block too, until the worker pool is at its cap, and queued ones that fill the
mailboxes up to their limits. Meanwhile ping asked from this process is answered within
100 ms (p99), abort and mesh within 500 ms, and a peer host never sees the loaded one
offline.
The figures are taken for 3 s after 1 s of warm-up (pings not counted) once the host
is loaded: pool at its cap and queues full.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import HostFactory
from helpers import TIMEOUT, wait_for
from paglets.remote.client import HostClient
from paglets.wire.protocol import VERB_ABORT

SECRET = "control-lane-secret"
BLOCKED = 64
MAX_WORKERS = 256
QUEUED_PER_PAGLET = 200
QUEUED_PER_HOST = 20_000
LOAD_SECONDS = 3.0
WARM_UP_SECONDS = 1.0
PING_P99 = 0.1
"""Ping is answered on the I/O thread itself."""
CONTROL_P99 = 0.5
"""Abort (I/O thread, decodes its body) and mesh (control pool: a thread hand-off)."""
_HERE = Path(__file__).parent


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PAGLETS_API_KEY": SECRET}
    src = str(_HERE.parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, str(_HERE / script), *map(str, args)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ask(process: subprocess.Popen[str], command: str) -> dict[str, Any]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(command + "\n")
    process.stdin.flush()
    answer: dict[str, Any] = json.loads(process.stdout.readline())
    return answer


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)


def test_mesh_verbs_are_answered_and_heartbeats_go_on_under_user_load(
    make_host: HostFactory,
) -> None:
    alpha = _spawn("loaded_host.py", BLOCKED, MAX_WORKERS, QUEUED_PER_PAGLET, QUEUED_PER_HOST)
    flood: subprocess.Popen[str] | None = None
    client: HostClient | None = None
    try:
        assert alpha.stdout is not None
        ready = alpha.stdout.readline().split()
        assert ready and ready[0] == "ready", f"the loaded host did not start: {ready}"
        address, agent_ids = ready[1], ready[2:]
        beta = make_host(
            "beta", api_key=SECRET, peers=[address], heartbeat_interval=0.25, offline_after=1.0
        )
        beta.wait_for_host("alpha", TIMEOUT)

        flood = _spawn("flood_peer.py", address, LOAD_SECONDS + 4 * TIMEOUT, *agent_ids)
        assert flood.stdout is not None and flood.stdout.readline().strip() == "flooding"
        # the pool at its cap, every worker blocked in user code, and the host's queues
        # full: from now on the flood is refused
        wait_for(
            lambda: _ask(alpha, "info")["queued"]["messages"] >= QUEUED_PER_HOST,
            timeout=2 * TIMEOUT,
        )
        loaded = _ask(alpha, "info")
        assert loaded["workers"] >= MAX_WORKERS

        client = HostClient(api_key=SECRET, address=address, timeout=TIMEOUT)
        latencies: dict[str, list[float]] = {"ping": [], "abort": [], "mesh": []}
        offline_seen = 0
        warm_until = time.monotonic() + WARM_UP_SECONDS
        end = warm_until + LOAD_SECONDS
        while time.monotonic() < end:
            if time.monotonic() < warm_until:  # warming up: asked, not counted
                client.health()
                continue
            for verb in latencies:
                started = time.perf_counter()
                if verb == "ping":
                    client.health()
                elif verb == "mesh":
                    client.mesh()
                else:
                    outcome = client.backend.call(address, VERB_ABORT, "no-such-transfer")
                    assert outcome == "aborted"
                latencies[verb].append(time.perf_counter() - started)
            seen = next(peer for peer in beta.peers() if peer.address == address)
            offline_seen += 0 if seen.online else 1
        assert flood.poll() is None, "the flooding peer stopped early"
        held = _ask(alpha, "info")
        _stop(flood)

        figures = {verb: _p99(samples) for verb, samples in latencies.items()}
        print(
            "under load: "
            + ", ".join(f"{verb} p99 {1000 * value:.1f} ms" for verb, value in figures.items())
            + f"; {len(latencies['ping'])} rounds, {held['workers']} workers, "
            f"{held['queued']['messages']} messages queued"
        )
        for verb, value in figures.items():
            bound = PING_P99 if verb == "ping" else CONTROL_P99
            assert value < bound, f"{verb} p99 was {1000 * value:.1f} ms under load"
        assert offline_seen == 0, f"beta saw alpha offline {offline_seen} times"
        assert held["queued"]["messages"] <= QUEUED_PER_HOST

        # the load gone, nothing broke: the queues drain and every paglet answers again
        assert alpha.stdin is not None
        alpha.stdin.write("release\n")
        wait_for(lambda: _ask(alpha, "info")["queued"]["messages"] == 0, timeout=4 * TIMEOUT)
        for agent_id in agent_ids:
            assert client.get_proxy(agent_id).send("noop", timeout=TIMEOUT) is True
    finally:
        if client is not None:
            client.close()
        if flood is not None:
            _stop(flood)
        if alpha.stdin is not None and alpha.poll() is None:
            alpha.stdin.close()  # the host stops on end of input
            try:
                alpha.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        _stop(alpha)
