"""A paglets host in a process of its own, driven by the benchmark over stdin/stdout.

Usage: ``python host_server.py --name NAME [--port PORT] [--peer ADDRESS ...]
[--persistence-dir DIR] [--config JSON]`` (``--config``: extra ``HostConfig`` fields)

Starts ``Host(..., allowed_modules=["bench_paglets"])`` on 127.0.0.1 (discovery off;
plain or secured sockets as :mod:`mode` says),
prints ``{"address", "pid", "name", "start_seconds"}`` when it answers, then serves the
commands of :func:`serve` until ``stop`` or end-of-file on stdin, and stops the host.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import threading
import time
from typing import Any

import psutil
from mode import host_options
from procs import commands, emit
from raw_artifact import peak_rss, reset_peak_rss

from paglets.runtime.host import Host


def create_many(host: Host, count: int, class_name: str) -> dict[str, Any]:
    """Create ``count`` paglets of ``bench_paglets.<class_name>`` here; time it, weigh it."""
    module = importlib.import_module("bench_paglets")
    cls = getattr(module, class_name)
    state_cls = cls.State
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss
    threads_before = threading.active_count()
    started = time.perf_counter()
    for index in range(count):
        host.create(cls, state_cls(label=f"paglet-{index}", number=index))
    seconds = time.perf_counter() - started
    gc.collect()
    return {
        "count": count,
        "seconds": seconds,
        "rss_before": rss_before,
        "rss_after": process.memory_info().rss,
        "threads_before": threads_before,
        "threads_after": threading.active_count(),
        "active": host.info()["active"],
    }


def serve(host: Host) -> None:
    """Answer the driver's commands: ``rss``, ``create_many``, ``info``, ``peak_reset``,
    ``peak`` (peak RSS since the reset, ``VmHWM`` on Linux)."""
    process = psutil.Process()
    for command in commands():
        name = command.get("cmd")
        try:
            if name == "rss":
                emit({"rss": process.memory_info().rss, "threads": threading.active_count()})
            elif name == "create_many":
                emit(create_many(host, int(command["count"]), str(command["class"])))
            elif name == "info":
                emit({"info": host.info()})
            elif name == "peak_reset":
                emit({"rss": reset_peak_rss()})
            elif name == "peak":
                emit({"peak": peak_rss(), "rss": process.memory_info().rss})
            else:
                emit({"error": f"unknown command {name!r}"})
        except Exception as exc:  # report, keep serving: the driver decides what to do
            emit({"error": f"{type(exc).__name__}: {exc}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="bench")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--persistence-dir", default=None)
    parser.add_argument("--config", default="{}", help="extra HostConfig fields as JSON")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    started = time.perf_counter()
    host = Host(
        name=options.name,
        host="127.0.0.1",
        port=options.port,
        peers=options.peer,
        allowed_modules=["bench_paglets"],
        persistence_dir=options.persistence_dir,
        **host_options(),
        **json.loads(options.config),
    )
    host.start_background()
    try:
        emit(
            {
                "name": host.name,
                "address": host.address,
                "pid": psutil.Process().pid,
                "start_seconds": time.perf_counter() - started,
            }
        )
        serve(host)
    finally:
        host.stop()


if __name__ == "__main__":
    main()
