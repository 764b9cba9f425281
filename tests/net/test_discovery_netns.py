"""Zeroconf discovery end to end, inside a private network namespace.

mDNS never goes out on this machine's interfaces: pytest runs this very file as a
script under ``unshare -rn`` (a new user and network namespace whose only interface is
a loopback with multicast turned on), the script runs every scenario there and prints
one JSON object, and the tests assert on it. Hosts are in-process ``Host`` objects and
``paglets host`` subprocesses bound to 127.0.0.1; every subprocess is stopped by PID.
Without ``unshare`` (or user namespaces) the tests are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

NETNS = (
    "ip link set lo up && ip link set lo multicast on && "
    'ip route add 224.0.0.0/4 dev lo && exec "$@"'
)
SCRIPT_TIMEOUT = 150.0
ROUNDS = 3


# the script side: runs inside the namespace -----------------------------------------------


def _until(check: Callable[[], Any], timeout: float, what: str, poll: float = 0.005) -> float:
    """Poll ``check`` until truthy; return the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout}s: {what}")
        time.sleep(poll)
    return time.monotonic() - started


def _online(host: Any, name: str) -> bool:
    return any(p.name == name and p.online for p in host.peers())


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``paglets host ARGS``; return the process, its address and start-up line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "paglets.cli.app", "host", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("paglets host") and " listening on " in line:
                address = line.split(" listening on ")[1].split()[0]
                return process, address, line.strip()
    _stop(process)
    raise RuntimeError(f"paglets host {' '.join(args)} did not start")


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


def _view(address: str) -> dict[str, Any]:
    from paglets.cli.entry import fetch_mesh_view
    from paglets.remote.client import HostClient

    with HostClient(address=address, timeout=5) as client:
        return fetch_mesh_view(client)


def _sees(address: str, names: set[str]) -> bool:
    peers = _view(address)["peers"]
    return names <= {p["name"] for p in peers if p["online"]}


def scenario_pair(rounds: int) -> dict[str, Any]:
    """Alpha is up and announced; beta starts: seconds until both know each other."""
    from paglets.runtime.host import Host

    alpha = Host(name="alpha", port=0, mesh_lan_discovery=True).start_background()
    times, unregistered = [], []
    discovery = alpha._membership.discovery
    try:
        assert discovery is not None
        _until(lambda: discovery.registered, 5, "alpha announced")
        for index in range(rounds):
            name = f"beta{index}"
            started = time.monotonic()
            beta = Host(name=name, port=0, mesh_lan_discovery=True).start_background()
            try:
                _until(
                    lambda b=beta, n=name: _online(alpha, n) and _online(b, "alpha"), 10, "mutual"
                )
                times.append(time.monotonic() - started)
            finally:
                beta.stop()
            unregistered.append(_until(lambda: not discovery.known(), 5, "goodbye seen"))
        both = time.monotonic()
        gamma = Host(name="gamma", port=0, mesh_lan_discovery=True).start_background()
        delta = Host(name="delta", port=0, mesh_lan_discovery=True).start_background()
        try:
            _until(lambda: _online(gamma, "delta") and _online(delta, "gamma"), 10, "both new")
            simultaneous = time.monotonic() - both
        finally:
            gamma.stop()
            delta.stop()
    finally:
        alpha.stop()

    def leftovers() -> list[str]:
        names = [thread.name for thread in threading.enumerate()]
        return [n for n in names if "zeroconf" in n.lower() or n.startswith("paglets-io")]

    try:
        _until(lambda: not leftovers(), 5, "zeroconf and I/O threads to end", poll=0.05)
    except TimeoutError:
        pass
    return {
        "leftover_threads": leftovers(),
        "times": times,
        "median": statistics.median(times),
        "simultaneous": simultaneous,
        "unregistered": unregistered,
    }


def scenario_cli_three() -> dict[str, Any]:
    """Three ``paglets host --name X`` with no other flag find each other."""
    processes: list[subprocess.Popen[str]] = []
    try:
        started = time.monotonic()
        hosts = {}
        for name in ("alpha", "beta", "gamma"):
            process, address, line = _start_cli("--name", name)
            processes.append(process)
            hosts[name] = (address, line)
        found = _until(
            lambda: all(
                _sees(address, set(hosts) - {name}) for name, (address, _) in hosts.items()
            ),
            15,
            "three CLI hosts seeing each other",
            poll=0.05,
        )
        alpha_address = hosts["alpha"][0]
        _stop(processes[2])  # gamma stops gracefully: a goodbye on gossip
        offline = _until(
            lambda: not _sees(alpha_address, {"gamma"}), 5, "gamma offline after SIGTERM", 0.05
        )
        return {
            "lines": {name: line for name, (_, line) in hosts.items()},
            "addresses": {name: address for name, (address, _) in hosts.items()},
            "found_after_start": found,
            "since_first_start": time.monotonic() - started,
            "offline_after_sigterm": offline,
        }
    finally:
        for process in processes:
            _stop(process)


def scenario_versions() -> dict[str, Any]:
    """Hosts of another mesh version are listed as ignored, never joined; tags travel."""
    from paglets.runtime.host import Host

    alpha = Host(
        name="alpha", port=0, mesh_lan_discovery=True, tags=["gpu"], properties={"room": "1"}
    )
    beta = Host(name="beta", port=0, mesh_lan_discovery=True)
    other = Host(name="other", port=0, mesh_lan_discovery=True, mesh_version="v2")
    hosts = [alpha, beta, other]
    try:
        for host in hosts:
            host.start_background()
        _until(lambda: _online(alpha, "beta") and _online(beta, "alpha"), 10, "alpha-beta")
        _until(
            lambda: (
                alpha.mesh_view()["ignored"]
                and beta.mesh_view()["ignored"]
                and len(other.mesh_view()["ignored"]) == 2
            ),
            10,
            "ignored",
        )
        seen = next(p for p in beta.peers() if p.name == "alpha")
        return {
            "alpha_peers": [p.name for p in alpha.peers()],
            "beta_peers": [p.name for p in beta.peers()],
            "other_peers": [p.name for p in other.peers()],
            "alpha_ignored": alpha.mesh_view()["ignored"],
            "other_ignored": other.mesh_view()["ignored"],
            "alpha_seen_by_beta": {"tags": list(seen.tags), "properties": dict(seen.properties)},
        }
    finally:
        for host in hosts:
            host.stop()


def scenario_kill_restart() -> dict[str, Any]:
    """A CLI host killed with SIGKILL goes offline; restarted, it is back online."""
    import socket

    from paglets.runtime.host import Host

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    alpha = Host(name="alpha", port=0, mesh_lan_discovery=True).start_background()
    processes: list[subprocess.Popen[str]] = []
    try:
        beta, _, _ = _start_cli("--name", "beta", "--port", port)
        processes.append(beta)

        def beta_seq() -> int:
            info = next((p for p in alpha.peers() if p.name == "beta"), None)
            return info.seq if info is not None and info.online else 0

        _until(lambda: beta_seq() >= 3, 15, "gossip from beta")
        killed = time.monotonic()
        _stop(beta, signal.SIGKILL)
        offline = _until(lambda: not _online(alpha, "beta"), 10, "beta offline")
        offline_since_kill = time.monotonic() - killed
        again, address, _ = _start_cli("--name", "beta", "--port", port)
        processes.append(again)
        back = _until(lambda: _online(alpha, "beta"), 15, "beta online again")
        mutual = _until(lambda: _sees(address, {"alpha"}), 10, "beta sees alpha again", 0.05)
        return {
            "offline_after_kill": offline_since_kill,
            "offline_wait": offline,
            "back_online_after_restart": back,
            "beta_sees_alpha": mutual,
            "events": [e.kind for e in alpha.list_events() if e.data.get("name") == "beta"],
        }
    finally:
        for process in processes:
            _stop(process, signal.SIGKILL)
        alpha.stop()


def scenario_clash() -> dict[str, Any]:
    """Two hosts called alpha are reported as a clash, not merged."""
    from paglets.runtime.host import Host

    names = ("alpha", "alpha", "beta")
    hosts = [Host(name=name, port=0, mesh_lan_discovery=True) for name in names]
    try:
        for host in hosts:
            host.start_background()
        beta = hosts[2]
        _until(lambda: beta.mesh_view()["clashes"], 10, "clash reported")
        return {
            "clashes": beta.mesh_view()["clashes"],
            "alpha_addresses": sorted(h.address for h in hosts[:2]),
            "alpha_sees": hosts[0].mesh_view()["clashes"],
        }
    finally:
        for host in hosts:
            host.stop()


def main() -> None:
    """Run every scenario (or those named on the command line); print one JSON object."""
    from paglets.net.mesh_secret import resolve_secret

    resolve_secret()  # create the run's secret once, before hosts race to create it
    rounds = int(os.environ.get("PAGLETS_NETNS_ROUNDS", ROUNDS))
    scenarios: dict[str, Callable[[], dict[str, Any]]] = {
        "pair": lambda: scenario_pair(rounds),
        "cli_three": scenario_cli_three,
        "versions": scenario_versions,
        "kill_restart": scenario_kill_restart,
        "clash": scenario_clash,
    }
    wanted = sys.argv[1:] or list(scenarios)
    results: dict[str, Any] = {}
    for name in wanted:
        try:
            results[name] = scenarios[name]()
        except Exception:
            results[name] = {"error": traceback.format_exc()}
    print(json.dumps(results), flush=True)


# the pytest side -------------------------------------------------------------------------


def _namespace_unavailable() -> str:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "-rn", "sh", "-c", NETNS, "sh", "true"], capture_output=True, timeout=10
    )
    if probe.returncode != 0:
        return f"cannot make a private network namespace: {probe.stderr.decode().strip()}"
    return ""


@pytest.fixture(scope="module")
def netns_results() -> Iterator[dict[str, Any]]:
    """Run the scenarios once in a private network namespace; yield their results."""
    why = _namespace_unavailable()
    if why:
        pytest.skip(f"discovery tests need a private network namespace: {why}")
    with tempfile.TemporaryDirectory(prefix="paglets-netns-") as home:
        env = {**os.environ, "PAGLETS_HOME": home, "PYTHONUNBUFFERED": "1"}
        env.pop("PAGLETS_API_KEY", None)
        env.pop("PAGLETS_PORT", None)  # a private namespace: its hosts take the real default
        command = ["unshare", "-rn", "sh", "-c", NETNS, "sh", sys.executable, __file__]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=SCRIPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the script and the hosts it started
            out, err = process.communicate(timeout=10)
            pytest.fail(f"discovery scenarios took over {SCRIPT_TIMEOUT}s:\n{err[-3000:]}")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, (
        f"no results from the namespace script (exit {process.returncode}):\n{err[-3000:]}"
    )
    yield json.loads(lines[-1])


def _result(results: dict[str, Any], name: str) -> dict[str, Any]:
    result = results[name]
    assert "error" not in result, result.get("error")
    return dict(result)


def test_two_hosts_find_each_other_with_no_configuration(netns_results: dict[str, Any]) -> None:
    pair = _result(netns_results, "pair")
    assert len(pair["times"]) == ROUNDS
    assert pair["median"] < 2.0, pair
    assert pair["simultaneous"] < 3.0, pair
    assert all(seconds < 3.0 for seconds in pair["unregistered"]), pair  # goodbye on stop
    assert pair["leftover_threads"] == [], pair  # stopping ends every thread it started


def test_three_cli_hosts_find_each_other_given_only_names(netns_results: dict[str, Any]) -> None:
    three = _result(netns_results, "cli_three")
    assert three["found_after_start"] < 5.0, three
    for name, line in three["lines"].items():
        assert f"paglets host {name} listening on tcp://127.0.0.1:" in line
        assert "discovery on 127.0.0.1" in line
    assert three["addresses"]["alpha"] == "tcp://127.0.0.1:8765"  # the default port
    assert len(set(three["addresses"].values())) == 3  # the others fell back to free ones
    assert three["offline_after_sigterm"] < 2.0, three


def test_another_mesh_version_is_ignored_and_listed(netns_results: dict[str, Any]) -> None:
    versions = _result(netns_results, "versions")
    assert versions["alpha_peers"] == ["beta"] and versions["beta_peers"] == ["alpha"]
    assert versions["other_peers"] == []
    assert [i["name"] for i in versions["alpha_ignored"]] == ["other"]
    assert versions["alpha_ignored"][0]["mesh_version"] == "v2"
    assert {i["name"] for i in versions["other_ignored"]} == {"alpha", "beta"}
    assert versions["alpha_seen_by_beta"] == {"tags": ["gpu"], "properties": {"room": "1"}}


def test_a_killed_host_goes_offline_and_comes_back(netns_results: dict[str, Any]) -> None:
    kill = _result(netns_results, "kill_restart")
    assert kill["offline_after_kill"] < 6.0, kill  # ~3 heartbeats of silence
    assert kill["back_online_after_restart"] < 5.0, kill
    assert "host-offline" in kill["events"], kill
    assert kill["events"][-1] in ("host-restarted", "host-online"), kill


def test_a_name_clash_is_reported(netns_results: dict[str, Any]) -> None:
    clash = _result(netns_results, "clash")
    assert clash["clashes"] == [{"name": "alpha", "addresses": clash["alpha_addresses"]}]
    assert clash["alpha_sees"] and clash["alpha_sees"][0]["name"] == "alpha"


if __name__ == "__main__":
    main()
