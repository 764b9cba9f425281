"""``paglets sys summary`` wall time across 3 hosts against 1 host.

Starts ``paglets host --insecure --no-discovery`` subprocesses on 127.0.0.1 (one mesh
of 1 host, then one of 3, the others seeded with the first), runs the CLI against the
first host ``--runs`` times each and prints, per mesh size, the median and best of:

- ``wall``: the whole CLI process, interpreter start included, as a user waits for it;
- ``survey``: the survey alone (the ``seconds`` the CLI reports in ``--json``): create
  the collector, clone to every other host, collect, dispose.

Every host is stopped by PID at the end, whatever happens.

    uv run python tools/bench/sys_fanout.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def start_host(name: str, *peers: str) -> tuple[subprocess.Popen[str], str]:
    """Start one host; return the process and its address."""
    command = [sys.executable, "-m", "paglets.cli.app", "host", "--name", name]
    command += ["--host", "127.0.0.1", "--port", "0", "--insecure", "--no-discovery"]
    for peer in peers:
        command += ["--peer", peer]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
            line = process.stdout.readline()
            if not line:
                break
            if " listening on " in line:
                return process, line.split(" listening on ")[1].split()[0]
    stop(process)
    raise RuntimeError(f"host {name} did not start")


def stop(process: subprocess.Popen[str]) -> None:
    """Stop one host by PID: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)


def run_cli(entry: str) -> tuple[float, float, int]:
    """One ``paglets sys summary --json``: wall seconds, survey seconds, hosts answered."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "paglets.cli.sysinfo", "summary", "--entry", entry]
        + ["--insecure", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"paglets sys failed: {done.stderr}")
    report = json.loads(done.stdout)
    return wall, float(report["seconds"]), sum(1 for row in report["hosts"] if row["ok"])


def wait_joined(entry: str, expected: int) -> None:
    """Run the CLI until every host answers (the mesh has formed)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if run_cli(entry)[2] == expected:
            return
    raise RuntimeError(f"the mesh of {expected} hosts did not form")


def measure(size: int, runs: int) -> dict[str, float]:
    """Medians and bests over ``runs`` CLI runs against a mesh of ``size`` hosts."""
    processes: list[subprocess.Popen[str]] = []
    try:
        first, entry = start_host("h1")
        processes.append(first)
        for index in range(2, size + 1):
            processes.append(start_host(f"h{index}", entry)[0])
        wait_joined(entry, size)  # also warms every host's server-info service
        walls, surveys = [], []
        for _ in range(runs):
            wall, survey, answered = run_cli(entry)
            if answered != size:
                raise RuntimeError(f"{answered} of {size} hosts answered")
            walls.append(wall)
            surveys.append(survey)
        return {
            "hosts": size,
            "wall_median": statistics.median(walls),
            "wall_best": min(walls),
            "survey_median": statistics.median(surveys),
            "survey_best": min(surveys),
        }
    finally:
        for process in processes:
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description="paglets sys summary: 3 hosts vs 1")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = [measure(1, args.runs), measure(3, args.runs)]
    one, three = results
    ratio = {
        "wall": three["wall_median"] / one["wall_median"],
        "survey": three["survey_median"] / one["survey_median"],
    }
    if args.json:
        print(json.dumps({"results": results, "ratio_3_to_1": ratio}, indent=2))
        return
    print(f"paglets sys summary, {args.runs} runs per mesh, median (best), seconds")
    print(f"{'hosts':>5}  {'wall':>15}  {'survey':>15}")
    for row in results:
        print(
            f"{row['hosts']:>5}  {row['wall_median']:>7.3f} ({row['wall_best']:.3f})"
            f"  {row['survey_median']:>7.3f} ({row['survey_best']:.3f})"
        )
    print(f"3 hosts / 1 host: wall {ratio['wall']:.2f}x, survey {ratio['survey']:.2f}x")


if __name__ == "__main__":
    main()
