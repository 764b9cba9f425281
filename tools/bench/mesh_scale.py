"""What gossip costs as the mesh grows: convergence, steady traffic, idle CPU, dead-host detection.

Usage::

    uv run python tools/bench/mesh_scale.py                  # 10, 50 and 100 hosts
    uv run python tools/bench/mesh_scale.py --sizes 10 --steady 3
    uv run python tools/bench/mesh_scale.py --secure         # with a mesh secret (CURVE)

For each size N the script starts N hosts on 127.0.0.1, discovery off, every host
seeded with the first one. Hosts run in-process, up to ``--per-process`` of them in
each worker process (one process cannot hold the ~8 sockets' worth of file
descriptors per host pair a 100-host full mesh needs), plus one *victim* process with
a single host. It then measures:

* converge: seconds from the first host's start (and from the last one's) until every
  host sees every other online;
* steady: over ``--steady`` seconds, gossip messages sent and received per host per
  second, and the CPU of the worker processes divided by their hosts (% of one core
  per idle host);
* dead: the victim is killed with SIGKILL; seconds until every other host marks it
  offline (the liveness window is ~3 heartbeats).

Every child is stopped by PID (stdin closed, then SIGTERM, then SIGKILL), and the whole
run is bounded by ``--timeout``. Absolute figures are noise on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_POLL = 0.05


# worker side ------------------------------------------------------------------------------


def worker(names: list[str], seed: str | None, secure: bool) -> None:
    """Run hosts ``names`` and answer JSON commands on stdin until it closes."""
    import psutil

    from paglets.runtime.host import Host

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    hosts: list[Host] = []
    started = []
    for name in names:
        peers = [seed] if seed else []
        host = Host(name=name, host="127.0.0.1", port=0, peers=peers, insecure=not secure)
        started.append(time.time())
        host.start_background()
        hosts.append(host)
        seed = seed or host.address
    me = psutil.Process()
    _say({"started": started, "addresses": [h.address for h in hosts]})
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "status":
            online = [sum(1 for p in h.available_hosts() if p.online) for h in hosts]
            _say({"min_online": min(online), "time": time.time()})
        elif command["cmd"] == "sees_offline":
            name = command["name"]
            seen = [
                not any(p.name == name and p.online for p in h.available_hosts()) for h in hosts
            ]
            _say({"all": all(seen), "time": time.time()})
        elif command["cmd"] == "counters":
            sent = received = 0
            for h in hosts:
                gossip = h.mesh_view()["gossip"]
                sent += gossip["sent"]
                received += gossip["received"]
            cpu = me.cpu_times()
            _say(
                {
                    "sent": sent,
                    "received": received,
                    "cpu": cpu.user + cpu.system,
                    "time": time.monotonic(),
                    "hosts": len(hosts),
                }
            )
    for h in hosts:
        h.stop(timeout=2.0)


def _say(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


# driver side ------------------------------------------------------------------------------


class Child:
    """One worker process, spoken to in JSON lines."""

    def __init__(self, names: list[str], seed: str | None, secure: bool, deadline: float) -> None:
        command = [sys.executable, __file__, "--worker", ",".join(names)]
        if seed:
            command += ["--seed", seed]
        if secure:
            command.append("--secure")
        self.names = names
        self.deadline = deadline
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.process.pid} ended (exit {self.process.poll()})")
        if time.monotonic() > self.deadline:
            raise TimeoutError("the run passed its --timeout")
        return dict(json.loads(line))

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def stop(self) -> None:
        process = self.process
        if process.poll() is not None:
            return
        try:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=3)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)


def _wait(check: Any, deadline: float, what: str) -> float:
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(_POLL)
    raise TimeoutError(f"timed out waiting for {what}")


def measure(
    size: int, per_process: int, steady: float, secure: bool, deadline: float, verbose: bool
) -> dict[str, Any]:
    """Start ``size`` hosts, measure, stop them; return the figures."""
    names = [f"h{i:03d}" for i in range(size - 1)]
    children: list[Child] = []
    try:
        first = Child(names[:per_process], None, secure, deadline)
        children.append(first)
        hello = first.read()
        seed = hello["addresses"][0]
        starts = list(hello["started"])
        for index in range(per_process, len(names), per_process):
            children.append(Child(names[index : index + per_process], seed, secure, deadline))
        victim = Child(["victim"], seed, secure, deadline)
        for child in children[1:]:
            starts += child.read()["started"]
        starts += victim.read()["started"]
        workers = list(children)
        children.append(victim)
        everyone = size - 1

        def converged() -> bool:
            least: int = min(c.ask({"cmd": "status"})["min_online"] for c in children)
            if verbose:
                print(f"  {size} hosts: each sees at least {least} of {everyone}", flush=True)
            return least >= everyone

        done = _wait(converged, deadline, f"{size} hosts to see each other")
        converge_first, converge_last = done - min(starts), done - max(starts)
        time.sleep(1.0)  # let the greetings of the join settle
        before = [c.ask({"cmd": "counters"}) for c in workers]
        time.sleep(steady)
        after = [c.ask({"cmd": "counters"}) for c in workers]
        hosts = sum(a["hosts"] for a in after)
        seconds = max(a["time"] - b["time"] for a, b in zip(after, before, strict=True))
        sent = sum(a["sent"] - b["sent"] for a, b in zip(after, before, strict=True))
        received = sum(a["received"] - b["received"] for a, b in zip(after, before, strict=True))
        cpu = sum(a["cpu"] - b["cpu"] for a, b in zip(after, before, strict=True))
        killed = time.time()
        victim.kill()
        gone = _wait(
            lambda: all(c.ask({"cmd": "sees_offline", "name": "victim"})["all"] for c in workers),
            deadline,
            "the killed host to be marked offline everywhere",
        )
        return {
            "hosts": size,
            "processes": len(workers) + 1,
            "converge_first": converge_first,
            "converge_last": converge_last,
            "sent_per_host_s": sent / hosts / seconds,
            "received_per_host_s": received / hosts / seconds,
            "cpu_per_host_pct": 100 * cpu / hosts / seconds,
            "dead_detect_s": gone - killed,
        }
    finally:
        for child in children:
            child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100", help="comma-separated mesh sizes")
    parser.add_argument("--per-process", type=int, default=25, help="hosts per worker process")
    parser.add_argument("--steady", type=float, default=5.0, help="seconds of steady state")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound of the whole run")
    parser.add_argument("--secure", action="store_true", help="use a mesh secret (CURVE)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--verbose", action="store_true", help="print convergence progress")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker.split(","), args.seed, args.secure)
        return
    home = tempfile.TemporaryDirectory(prefix="paglets-mesh-scale-")
    os.environ["PAGLETS_HOME"] = home.name  # never the user's own mesh secret
    os.environ.pop("PAGLETS_API_KEY", None)
    deadline = time.monotonic() + args.timeout

    def out_of_time(signum: int, frame: object) -> None:
        raise TimeoutError(f"the run passed its --timeout of {args.timeout:g}s")

    signal.signal(signal.SIGALRM, out_of_time)  # interrupts a read from a stuck worker
    signal.alarm(int(args.timeout) + 1)
    rows = []
    with home:
        for size in (int(s) for s in args.sizes.split(",")):
            rows.append(
                measure(size, args.per_process, args.steady, args.secure, deadline, args.verbose)
            )
            _print(rows[-1:], header=len(rows) == 1, secure=args.secure)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _print(rows: list[dict[str, Any]], header: bool, secure: bool) -> None:
    if header:
        mode = "CURVE" if secure else "plain sockets"
        print(f"mesh scale on 127.0.0.1 ({os.cpu_count()} cores, {mode}, heartbeat 1 s)")
        print(
            f"{'hosts':>5} {'procs':>5} {'converge s':>10} {'after last':>10} "
            f"{'sent/host/s':>11} {'recv/host/s':>11} {'cpu %/host':>10} {'dead s':>7}"
        )
    for r in rows:
        print(
            f"{r['hosts']:>5} {r['processes']:>5} {r['converge_first']:>10.2f} "
            f"{r['converge_last']:>10.2f} {r['sent_per_host_s']:>11.2f} "
            f"{r['received_per_host_s']:>11.1f} {r['cpu_per_host_pct']:>10.3f} "
            f"{r['dead_detect_s']:>7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
