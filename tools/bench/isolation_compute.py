"""Isolation and compute-slot figures: message round trips, submit-to-start, a job batch.

Run: ``uv run python tools/bench/isolation_compute.py [--rtt N] [--jobs N] [--batch N]
[--gap S]``.
One host in this process (loopback, no discovery), compute slots on CPUs 0 and 1
with the load gate off (other work on the machine must not hold the batch back).
Prints one JSON map of figures.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_paglets import InProcessCount, IsolatedCount, SpinJob, SpinState  # noqa: E402

from paglets.runtime.host import Host  # noqa: E402
from paglets.system.compute_job import submit_compute_job, wait_compute_job  # noqa: E402
from paglets.system.compute_slots import attach  # noqa: E402


def round_trips(host: Host, cls: type[InProcessCount], count: int) -> dict[str, float]:
    """Median and p95 microseconds of ``count`` request/reply messages to one paglet."""
    proxy = host.create(cls)
    proxy.send("add")  # warm: the link to a child is connected
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        proxy.send("add")
        samples.append((time.perf_counter() - started) * 1e6)
    proxy.dispose()
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(0.95 * len(samples))], 1),
    }


def submit_to_start(host: Host, count: int, gap: float = 0.0) -> dict[str, float]:
    """Seconds from submit to the job's code running, one job at a time, idle slots.

    ``start``: submit until ``run_compute_job()`` began in its child process;
    ``result``: submit until the submitter holds the result (the lease released).
    ``gap``: seconds idle before each submit (the slots' warm spare children boot
    meanwhile; with none, back-to-back jobs outrun them).
    """
    starts, totals = [], []
    for _ in range(count):
        time.sleep(gap)
        submitted = time.time()
        job = submit_compute_job(host, SpinJob, SpinState(seconds=0.0))
        entry = wait_compute_job(host, job, 120.0)
        starts.append(entry["result"]["started"] - submitted)
        totals.append(time.time() - submitted)
    return {
        "jobs": count,
        "gap_s": gap,
        "submit_to_start_median_s": round(statistics.median(starts), 3),
        "submit_to_start_max_s": round(max(starts), 3),
        "submit_to_result_median_s": round(statistics.median(totals), 3),
    }


def batch(host: Host, jobs: int, seconds: float) -> dict[str, float]:
    """Wall time of ``jobs`` one-core jobs of ``seconds`` on the host's slots."""
    started = time.monotonic()
    submitted = [submit_compute_job(host, SpinJob, SpinState(seconds=seconds)) for _ in range(jobs)]
    entries = [wait_compute_job(host, job, 600.0) for job in submitted]
    wall = time.monotonic() - started
    cores = len(host.config.compute_cpus or ())
    return {
        "jobs": jobs,
        "cores": cores,
        "wall_s": round(wall, 2),
        "ideal_s": round(jobs * seconds / cores, 2),
        "succeeded": sum(1 for e in entries if e["outcome"] == "succeeded"),
    }


def main() -> None:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rtt", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--gap", type=float, default=0.0, help="idle seconds before each submit")
    options = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints where it waits
    os.environ.setdefault("PAGLETS_MAX_LOAD_PER_CPU", "none")
    with tempfile.TemporaryDirectory() as store:
        host = Host(
            name="bench", host="127.0.0.1", port=0, mesh_lan_discovery=False,
            persistence_dir=store, insecure=True, compute_cpus=(0, 1),
            allowed_modules=("compute_paglets",),
        ).start_background()  # fmt: skip
        attach(host)  # the compute slots (a CLI host gets them from its host services)
        try:
            figures = {
                "load_before": os.getloadavg()[0],
                "rtt_in_process": round_trips(host, InProcessCount, options.rtt),
                "rtt_isolated": round_trips(host, IsolatedCount, options.rtt),
                "submit": submit_to_start(host, options.jobs, options.gap),
                "batch": batch(host, options.batch, options.seconds),
                "load_after": os.getloadavg()[0],
            }
        finally:
            host.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
