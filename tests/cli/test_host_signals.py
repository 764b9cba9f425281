"""``paglets host`` and signals: never a hang, whatever moment a signal lands.

Many host processes each get one or two SIGTERM/SIGINT at a moment of start (even
before the handlers exist), serve or stop; every one exits within the stop bound. A
slow stop answers a second signal with what it waits for, and a third with an exit
at once that leaves the store consistent (a restart finds the paglets).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from paglets.cli.host import STOP_TIMEOUT
from paglets.core.errors import ReplyTimeoutError
from paglets.remote.client import HostClient

HOSTS = int(os.environ.get("PAGLETS_SIGNAL_HOSTS", "16"))
"""Processes of the many-hosts test (the issue's bar is 100: set this to run it)."""
PARALLEL = 4
STOP_BOUND = STOP_TIMEOUT + 10.0
"""Seconds from the first signal to the exit: the stop's own bound plus a loaded start."""
START_TIMEOUT = 30.0
HERE = Path(__file__).parent


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paglets.cli.host",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-discovery",
            "--log-level",
            "WARNING",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _read_until(process: subprocess.Popen[str], marker: str, lines: list[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return line
    raise AssertionError(f"never saw {marker!r}: {''.join(lines)}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _one_host(n: int, started: list[subprocess.Popen[str]]) -> tuple[str, int, float, str]:
    rng = random.Random(n)
    signals = [rng.choice([signal.SIGTERM, signal.SIGINT]) for _ in range(2)]
    phase = ("start", "starting", "serve", "stop")[n % 4]
    process = _spawn("--name", f"sig-{n}")
    started.append(process)
    lines: list[str] = []
    if phase == "start":  # during interpreter start: perhaps before any handler exists
        time.sleep(rng.uniform(0.0, 0.3))
    elif phase == "starting":
        time.sleep(rng.uniform(0.3, 1.5))
    else:
        _read_until(process, "listening on", lines)
        time.sleep(rng.uniform(0.0, 0.2))
    first = time.monotonic()
    os.kill(process.pid, signals[0])
    if phase == "stop" or rng.random() < 0.3:
        time.sleep(rng.uniform(0.0, 0.2))
        os.kill(process.pid, signals[1])
    try:
        output, _ = process.communicate(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        return phase, -999, time.monotonic() - first, "".join(lines)
    return phase, process.returncode, time.monotonic() - first, "".join(lines) + output


def test_many_hosts_signalled_at_random_moments_all_exit_in_time(
    processes: list[subprocess.Popen[str]],
) -> None:
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda n: _one_host(n, processes), range(HOSTS)))
    hung = [r for r in results if r[1] == -999]
    assert not hung, hung
    for phase, code, took, output in results:
        assert took < STOP_BOUND, (phase, took, output)
        # 0: a graceful stop; before the handlers exist the default action applies:
        # SIGTERM ends the process, SIGINT raises KeyboardInterrupt (exit code 1, or
        # -SIGINT once Python re-raises it at exit). Inside typer's command call but
        # before the handlers, typer turns KeyboardInterrupt into a silent exit 130.
        assert code in (0, 1, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGINT), (
            phase,
            code,
            output,
        )
        if code == 128 + signal.SIGINT:
            assert output == "", output
        assert "Traceback" not in output or "KeyboardInterrupt" in output, output
        if phase in ("serve", "stop"):
            assert code == 0 and "stopped" in output, (phase, code, output)
    served = sum(1 for r in results if "listening on" in r[3])
    slowest = max(r[2] for r in results)
    print(f"{HOSTS} hosts, {served} served before the signal; slowest exit {slowest:.2f}s")


def test_a_second_signal_says_what_the_stop_waits_for_a_third_exits_at_once(
    processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    process = _spawn(
        "--name", "stubborn", "--persistence-dir", str(store), "--allow-module", "stubborn_paglet"
    )
    processes.append(process)
    lines: list[str] = []
    line = _read_until(process, "listening on", lines)
    address = line.split(" listening on ")[1].split()[0]
    with HostClient(address=address, timeout=10) as client:
        kept = client.create("stubborn_paglet:StubbornPaglet")
        kept.deactivate()  # in the store before the abrupt exit: it must survive it
        busy = client.create("stubborn_paglet:StubbornPaglet")
        busy.send_oneway("block", args={"seconds": 60.0})
        with pytest.raises(ReplyTimeoutError):  # queued behind the block: it is running
            busy.send("block", args={"seconds": 0.0}, timeout=0.5)
    os.kill(process.pid, signal.SIGTERM)
    _read_until(process, "stopping", lines)
    os.kill(process.pid, signal.SIGINT)
    said = _read_until(process, "still stopping", lines)
    assert "1 active paglet(s)" in said and "signal once more" in said, said
    began = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=STOP_BOUND)
    assert time.monotonic() - began < 5.0
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "exiting now" in output, output
    again = _spawn(
        "--name", "stubborn", "--persistence-dir", str(store), "--allow-module", "stubborn_paglet"
    )
    processes.append(again)
    line = _read_until(again, "listening on", [])
    address = line.split(" listening on ")[1].split()[0]
    with HostClient(address=address, timeout=10) as client:
        listed = {entry["agent_id"] for entry in client.list_agents()}
    assert kept.agent_id in listed, listed
    os.kill(again.pid, signal.SIGTERM)
    again.communicate(timeout=STOP_BOUND)
    assert again.returncode == 0
