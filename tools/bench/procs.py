"""Child processes of a benchmark run: start, talk to over stdin/stdout, stop by PID.

Every benchmark child (a host, a raw server) is a Python script in ``tools/bench`` that
prints one JSON line when it is ready, then answers JSON commands read from stdin, one
line each. A child treats end-of-file on stdin as "stop now", so it never outlives the
run even when the driver dies without cleaning up. The driver stops each child by PID:
a polite ``stop`` command, then SIGTERM, then SIGKILL, each with a bounded wait.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

_live: dict[int, Child] = {}
_live_lock = threading.Lock()


class ChildError(RuntimeError):
    """A child failed to start, answer, or died; the message carries its stderr tail."""


class Child:
    """One benchmark child process speaking JSON lines.

    Args:
        script: file name of the script in ``tools/bench``.
        args: its command-line arguments.
        ready_timeout: seconds to wait for the ready line.
        argv: a whole command line instead of ``script`` (e.g. the CLI host).
        wait_ready: wait for the ready line (False for programs that print none).
    """

    def __init__(
        self,
        script: str = "",
        args: list[str] | None = None,
        *,
        ready_timeout: float = 20.0,
        argv: list[str] | None = None,
        wait_ready: bool = True,
    ) -> None:
        command = argv or [sys.executable, str(BENCH_DIR / script), *(args or [])]
        self.name = script or " ".join(command[1:3])
        self._speaks_protocol = argv is None
        # stderr goes to a file, not a pipe: nobody has to drain it while we measure
        self._log = tempfile.NamedTemporaryFile(
            prefix="paglets-bench-", suffix=".log", delete=False
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            env=env,
            cwd=str(BENCH_DIR),
        )
        self.pid = self.process.pid
        with _live_lock:
            _live[self.pid] = self
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(
            target=self._read_stdout, name=f"bench-child-{self.pid}", daemon=True
        )
        self._reader.start()
        self.ready: dict[str, Any] = {}
        if wait_ready:
            try:
                self.ready = self._next(ready_timeout)
            except ChildError:
                self.stop()
                raise

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildError(
                    f"{self.name} (pid {self.pid}) gave no answer in {timeout}s{self.stderr_tail()}"
                )
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait(5)
                raise ChildError(
                    f"{self.name} (pid {self.pid}) exited with {code}{self.stderr_tail()}"
                )
            line = line.strip()
            if not line.startswith("{"):
                continue  # stray output of a library; the protocol is JSON objects only
            reply: dict[str, Any] = json.loads(line)
            if "error" in reply:
                raise ChildError(f"{self.name} (pid {self.pid}): {reply['error']}")
            return reply

    def request(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one JSON command; return the child's JSON answer.

        Raises:
            ChildError: no answer within ``timeout``, the child died, or it answered
                with ``{"error": ...}``.
        """
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise ChildError(f"{self.name} (pid {self.pid}) is gone: {exc}") from None
        return self._next(timeout)

    def wait_result(self, timeout: float) -> dict[str, Any]:
        """Wait for the next JSON line the child prints on its own (a result)."""
        return self._next(timeout)

    def stderr_tail(self, limit: int = 1500) -> str:
        """The end of what the child wrote to stderr, prefixed for error messages."""
        try:
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""
        text = text.strip()
        return f"\n--- stderr of {self.name} ---\n{text[-limit:]}" if text else ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the child: ``stop`` command and EOF, then SIGTERM, then SIGKILL.

        A foreign program (started with ``argv``) gets SIGTERM at once.

        Args:
            timeout: how long the polite stop may take before SIGTERM.

        Returns:
            The exit code (negative: killed by that signal), None if it would not die.
        """
        process = self.process
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
                process.stdin.flush()
                process.stdin.close()
            except (BrokenPipeError, ValueError, OSError):
                pass
            steps = (None, "terminate", "kill") if self._speaks_protocol else ("terminate", "kill")
            for signal_step in steps:
                if signal_step == "terminate":
                    process.terminate()
                elif signal_step == "kill":
                    process.kill()
                try:
                    process.wait(timeout if signal_step is None else 5.0)
                    break
                except subprocess.TimeoutExpired:
                    continue
        with _live_lock:
            _live.pop(self.pid, None)
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass
        return process.poll()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_all(timeout: float = 5.0) -> list[int]:
    """Stop every child still running (the last-resort cleanup); return their PIDs."""
    with _live_lock:
        children = list(_live.values())
    for child in children:
        child.stop(timeout)
    return [child.pid for child in children]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for programs that need one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# the child's end ------------------------------------------------------------------------


def emit(message: dict[str, Any]) -> None:
    """Print one JSON line to the driver (the ready line, an answer, a result)."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def commands() -> Iterator[dict[str, Any]]:
    """The driver's commands, one per stdin line, until ``stop`` or end-of-file."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        command: dict[str, Any] = json.loads(line)
        if command.get("cmd") == "stop":
            return
        yield command


def exit_when_driver_goes() -> None:
    """In a child whose main thread is busy: exit at once when stdin closes or says stop."""

    def watch() -> None:
        for _ in commands():
            pass
        os._exit(0)

    threading.Thread(target=watch, name="bench-stdin-watch", daemon=True).start()
