"""``scale``: what many idle paglets and an idle host cost, and how fast a host comes up.

* 1,000 and 10,000 ``IdlePaglet`` created by ``host.create`` inside a fresh host process
  (``host_server.py``): RSS growth and wall time (bars for 10,000: <= 250 MiB, <= 5 s);
  then that host's idle CPU with the 10,000 paglets and the time its graceful stop
  takes (no bars);
* a fresh idle host: CPU over a few seconds (bar < 0.5 % of a core) and RSS (bar
  <= 60 MiB); the limit is the raw server (:mod:`raw`) measured over the same seconds.
  CPU comes from the scheduler's nanosecond counters on Linux, since
  ``psutil.cpu_times`` counts 10 ms ticks, a 0.33 % step over 3 s (both are in the JSON);
* a host started from the command line, timed from spawning the process until
  ``HostClient.health()`` answered (bar <= 0.5 s): ``python -m paglets.cli.host`` when
  that module exists, else ``host_server.py`` (an in-process Host in a subprocess), as
  the row notes. The limit is ``raw.py``, timed from spawning it until its first echo
  reply.
"""

from __future__ import annotations

import importlib.util
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from lab import Lab
from measure import MIB, Settings
from mode import cli_flags, host_options
from procs import BENCH_DIR, Child, ChildError, free_port
from raw import RawClient
from report import Row, ScenarioResult, value_at_most, value_below

from paglets.remote.client import HostClient

CLI_MODULE = "paglets.cli.host"
START_LIMIT = 15.0


def create_many(count: int, settings: Settings) -> dict[str, Any]:
    """Figures of creating ``count`` idle paglets in a fresh host process."""
    with Child("host_server.py", ["--name", f"bench-scale-{count}"]) as host:
        figures = host.request(
            {"cmd": "create_many", "count": count, "class": "IdlePaglet"},
            timeout=60.0 + count / 100,
        )
        if count >= 10_000:
            figures["idle"] = idle_figures([host.pid], float(settings.pick(2.0, 5.0)))[0]
        started = time.perf_counter()
        figures["stop_exit_code"] = host.stop(timeout=30.0)
        figures["stop_seconds"] = time.perf_counter() - started
    figures["rss_growth_mib"] = (figures["rss_after"] - figures["rss_before"]) / MIB
    return figures


def _cpu_seconds(process: psutil.Process) -> tuple[float, float | None]:
    """CPU seconds used so far: psutil's (10 ms ticks) and, on Linux, the scheduler's (ns).

    The scheduler's figure sums ``/proc/PID/task/*/schedstat``, so it misses threads that
    ended meanwhile; an idle host starts and ends none.
    """
    ticks = sum(process.cpu_times()[:2])
    try:
        tasks = Path(f"/proc/{process.pid}/task").iterdir()
        exact = sum(int((task / "schedstat").read_text().split()[0]) for task in tasks) / 1e9
    except (OSError, ValueError, IndexError):
        exact = None
    return ticks, exact


def idle_figures(pids: list[int], seconds: float) -> list[dict[str, Any]]:
    """CPU (% of one core) and RSS of each process over the same ``seconds``."""
    processes = [psutil.Process(pid) for pid in pids]
    time.sleep(0.5)  # let start-up work (greetings, imports finishing) settle
    before = [_cpu_seconds(p) for p in processes]
    started = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    figures = []
    for process, (ticks_before, exact_before) in zip(processes, before, strict=True):
        ticks_after, exact_after = _cpu_seconds(process)
        psutil_percent = 100 * (ticks_after - ticks_before) / elapsed
        exact_percent = (
            None
            if exact_before is None or exact_after is None
            else 100 * (exact_after - exact_before) / elapsed
        )
        figures.append(
            {
                "cpu_percent": psutil_percent if exact_percent is None else exact_percent,
                "cpu_percent_psutil": psutil_percent,
                "cpu_percent_schedstat": exact_percent,
                "rss_mib": process.memory_info().rss / MIB,
                "threads": process.num_threads(),
                "seconds": elapsed,
            }
        )
    return figures


def _wait_port(port: int, child: Child, deadline: float) -> None:
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise ChildError(
                f"{child.name} exited with {child.process.returncode}{child.stderr_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                return
        except OSError:
            time.sleep(0.005)
    raise ChildError(f"{child.name} did not open port {port}{child.stderr_tail()}")


def host_start_seconds(use_cli: bool) -> float:
    """Seconds from spawning a host until it answered ``HostClient.health()``."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with HostClient(address=address, timeout=START_LIMIT, **host_options()) as client:
        started = time.perf_counter()
        if use_cli:
            argv = [
                sys.executable,
                "-m",
                CLI_MODULE,
                "--name",
                "bench-cli",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-discovery",
                *cli_flags(),
            ]
            child = Child(argv=argv, wait_ready=False)
        else:
            child = Child(
                "host_server.py", ["--name", "bench-cli", "--port", str(port)], wait_ready=False
            )
        try:
            _wait_port(port, child, time.monotonic() + START_LIMIT)
            client.health()
            return time.perf_counter() - started
        finally:
            child.stop(timeout=2.0)


def raw_start_seconds() -> float:
    """Seconds from spawning the raw server until it answered one echo."""
    started = time.perf_counter()
    child = Child("raw.py", [], ready_timeout=START_LIMIT)
    try:
        client = RawClient(child.ready["address"], child.ready.get("server_key", ""))
        client.call("echo", {"n": 1})
        seconds = time.perf_counter() - started
        client.close()
        return seconds
    finally:
        child.stop(timeout=2.0)


def start_note(use_cli: bool) -> str:
    """What the start figure depends on besides the code: the command, bytecode caching."""
    notes = [] if use_cli else ["no paglets.cli.host: host_server.py"]
    if sys.flags.dont_write_bytecode:  # the host process inherits it
        notes.append("PYTHONDONTWRITEBYTECODE: imports without a .pyc compile")
    return "; ".join(notes)


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """Many paglets, an idle host, and a host started from the command line."""
    result = ScenarioResult("scale")
    small, large = create_many(1_000, settings), create_many(10_000, settings)
    with Child("host_server.py", ["--name", "bench-idle"]) as host, Child("raw.py", []) as raw:
        idle, raw_idle = idle_figures([host.pid, raw.pid], float(settings.pick(3.0, 5.0)))
    use_cli = importlib.util.find_spec(CLI_MODULE) is not None
    starts = settings.count(3, 5)
    ours_start = [host_start_seconds(use_cli) for _ in range(starts)]
    raw_start = [raw_start_seconds() for _ in range(starts)]
    how = (
        f"python -m {CLI_MODULE}"
        if use_cli
        else f"{CLI_MODULE} missing: host_server.py (in-process Host) in a subprocess"
    )
    result.details = {
        "create_1000": small,
        "create_10000": large,
        "idle_host": idle,
        "idle_raw": raw_idle,
        "start_seconds": ours_start,
        "raw_start_seconds": raw_start,
        "start_command": how,
        "bench_dir": str(BENCH_DIR),
    }
    result.rows = [
        Row("1,000 paglets: RSS growth", small["rss_growth_mib"], None, "MiB"),
        Row("1,000 paglets: create time", small["seconds"], None, "s"),
        Row("10,000 paglets: RSS growth", large["rss_growth_mib"], None, "MiB", value_at_most(250)),
        Row("10,000 paglets: create time", large["seconds"], None, "s", value_at_most(5)),
        Row("10,000 idle paglets: host CPU", large["idle"]["cpu_percent"], None, "% core"),
        Row("10,000 paglets: host stop", large["stop_seconds"], None, "s"),
        Row(
            "idle host CPU",
            idle["cpu_percent"],
            raw_idle["cpu_percent"],
            "% core",
            value_below(0.5),
        ),
        Row("idle host RSS", idle["rss_mib"], raw_idle["rss_mib"], "MiB", value_at_most(60)),
        Row(
            "CLI host answers ping (median)",
            statistics.median(ours_start),
            statistics.median(raw_start),
            "s",
            value_at_most(0.5),
            note=start_note(use_cli),
        ),
    ]
    return result
