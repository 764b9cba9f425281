"""``paglets host`` as a real subprocess: start it, read its address, stop it by PID."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from helpers import TIMEOUT

ROOT = Path(__file__).resolve().parents[1]


def start_host_process(
    *args: str,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    insecure: bool = True,
) -> tuple[subprocess.Popen[str], str]:
    """Start ``paglets host ARGS`` on loopback, port 0, discovery off; return it and its address.

    Args:
        args: further ``paglets host`` options (``--name``, ``--peer``, ...).
        cwd: its working directory.
        env: its environment (default: this one's).
        insecure: pass ``--insecure`` (no secret needed on loopback).

    Raises:
        AssertionError: it did not print its address within the timeout.
    """
    command = [sys.executable, "-m", "paglets.cli.app", "host", "--host", "127.0.0.1"]
    command += ["--port", "0", "--no-discovery", *(["--insecure"] if insecure else []), *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env=dict(env) if env is not None else None,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while selector.select(4 * TIMEOUT):
            line = process.stdout.readline()
            if not line:
                break
            if " listening on " in line:
                assert "discovery off" in line
                return process, line.split(" listening on ")[1].split()[0]
    stop_process(process)
    raise AssertionError(f"paglets host {' '.join(args)} did not start")


def stop_process(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to ``process`` by its PID; SIGKILL it if it is still there after a while."""
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(2 * TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(TIMEOUT)
