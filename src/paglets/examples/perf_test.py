"""A CPU, memory and disk benchmark paglet, cloned to every host of the mesh.

``paglets examples perf`` (classic ``paglets-perf-test``) creates one
:class:`PerfTestPaglet` on the entry host, clones it to every other online host the
entry host knows, asks each copy to ``measure`` its host, gathers the answers into one
table (``--json`` for the full figures) and disposes every copy.

What each copy measures, all pure Python and stdlib on the host it sits on:

- ``cpu_mops``: millions of iterations per second of a small integer loop in the
  interpreter (one thread: a per-core figure, GIL-bound by design);
- ``sha256_mb_s``: ``hashlib.sha256`` over a 1 MiB block, in MB/s (C code, one core);
- ``memcpy_gb_s``: copies between two buffers of ``--memory-mb`` MiB, in GB/s;
- ``write_mb_s`` / ``read_mb_s``: a ``--disk-mb`` MiB file written in 1 MiB blocks and
  ``fsync``-ed in the paglet's work directory, then read back. The file's pages are
  dropped from the page cache first where the platform allows (``posix_fadvise``);
  elsewhere the read figure is mostly the page cache's.

Hosts that share a machine share its cores: by default the hosts are measured one
after the other; ``--parallel`` measures them all at once.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs import EntryOption, Timeout, hosts_of, print_table, run_on_entry
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.messages import Message

MIB = 1024 * 1024
MAX_SECONDS = 30.0
MAX_MEMORY_MB = 4096
MAX_DISK_MB = 16384


def cpu_loop_mops(seconds: float) -> float:
    """Millions of iterations of an integer loop per second, for ``seconds``."""
    value, done = 1, 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(20_000):
            value = (value * 1103515245 + 12345) & 0x7FFFFFFF
        done += 20_000
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started) / 1e6


def sha256_mb_s(seconds: float) -> float:
    """MB/s of ``hashlib.sha256`` over a 1 MiB block, for ``seconds``."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        digest.update(block)
        done += MIB
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started) / 1e6


def memcpy_gb_s(size_mb: int, seconds: float) -> float:
    """GB/s of copies between two ``size_mb`` MiB buffers, for ``seconds``."""
    source = bytearray(os.urandom(1024)) * (size_mb * 1024)
    target = bytearray(len(source))
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        target[:] = source
        done += len(source)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started) / 1e9


def disk_mb_s(directory: Path, size_mb: int) -> tuple[float, float, bool]:
    """``(write MB/s, read MB/s, cache dropped)`` of a ``size_mb`` MiB file in ``directory``.

    The file is removed afterwards, whatever happens.
    """
    path = directory / f"paglets-perf-{os.getpid()}-{time.monotonic_ns()}.bin"
    block = os.urandom(MIB)
    try:
        started = time.perf_counter()
        with open(path, "wb") as file:
            for _ in range(size_mb):
                file.write(block)
            file.flush()
            os.fsync(file.fileno())
        write = size_mb * MIB / (time.perf_counter() - started) / 1e6
        dropped = False
        with open(path, "rb") as file:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                dropped = True
            started = time.perf_counter()
            while file.read(MIB):
                pass
            read = size_mb * MIB / (time.perf_counter() - started) / 1e6
        return write, read, dropped
    finally:
        path.unlink(missing_ok=True)


def check_sizes(seconds: float, memory_mb: int, disk_mb: int) -> None:
    """Refuse benchmark sizes out of range.

    Raises:
        ValueError: a size is out of its range (the text says which).
    """
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be above 0 and at most {MAX_SECONDS:g}")
    if not 1 <= memory_mb <= MAX_MEMORY_MB:
        raise ValueError(f"--memory-mb must be from 1 to {MAX_MEMORY_MB}")
    if not 1 <= disk_mb <= MAX_DISK_MB:
        raise ValueError(f"--disk-mb must be from 1 to {MAX_DISK_MB}")


@dataclass
class PerfTestState(PagletState):
    """The benchmark keeps nothing between measurements."""


class PerfTestPaglet(Paglet[PerfTestState]):
    """Measures the host it is on when asked ``measure`` (``seconds``, ``memory_mb``, ``disk_mb``).

    The reply maps the figures of the module docstring plus ``cpu_count``, ``python``,
    ``platform`` and ``elapsed`` (seconds the whole measurement took).
    """

    State = PerfTestState

    def handle_message(self, message: Message) -> Any:
        if message.kind != "measure":
            return self.not_handled()
        args = message.args
        seconds = float(args.get("seconds", 0.5))
        memory_mb, disk_mb = int(args.get("memory_mb", 64)), int(args.get("disk_mb", 32))
        check_sizes(seconds, memory_mb, disk_mb)
        started = time.perf_counter()
        write, read, dropped = disk_mb_s(self.work_dir(), disk_mb)
        return {
            "cpu_mops": round(cpu_loop_mops(seconds), 2),
            "sha256_mb_s": round(sha256_mb_s(seconds), 1),
            "memcpy_gb_s": round(memcpy_gb_s(memory_mb, seconds), 2),
            "write_mb_s": round(write, 1),
            "read_mb_s": round(read, 1),
            "read_cache_dropped": dropped,
            "cpu_count": os.cpu_count() or 1,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "elapsed": round(time.perf_counter() - started, 3),
        }


def run_perf_test(
    found: Entry, args: dict[str, Any], timeout: float, parallel: bool = False
) -> list[dict[str, Any]]:
    """Clone the benchmark to every online host, measure, dispose; one row per host.

    A host whose copy could not be made or failed is listed with its ``error``.
    """
    hosts = hosts_of(found, None)
    original = found.client.create(PerfTestPaglet)
    copies: list[tuple[str, Any]] = [(hosts[0][0], original)]
    rows: dict[str, dict[str, Any]] = {}
    try:
        for name, address in hosts[1:]:
            try:
                copies.append((name, original.clone(address, timeout=timeout)))
            except PagletError as exc:
                rows[name] = {"host": name, "error": f"{type(exc).__name__}: {exc}"}
        if parallel:
            futures = [
                (name, proxy.send_future("measure", args=args, timeout=timeout))
                for name, proxy in copies
            ]
            for name, future in futures:
                rows[name] = _row(name, lambda f=future: f.get_reply(timeout + 5))
        else:
            for name, proxy in copies:
                rows[name] = _row(
                    name, lambda p=proxy: p.send("measure", args=args, timeout=timeout)
                )
    finally:
        for _, proxy in reversed(copies):
            try:
                proxy.dispose(timeout=timeout)
            except PagletError:
                pass  # its host went away: nothing left to clean
    return [rows[name] for name, _ in hosts if name in rows]


def _row(name: str, measure: Any) -> dict[str, Any]:
    try:
        return {"host": name, **measure()}
    except PagletError as exc:
        return {"host": name, "error": f"{type(exc).__name__}: {exc}"}


COLUMNS = ["host", "cpu Mops/s", "sha256 MB/s", "memcpy GB/s", "write MB/s", "read MB/s"]
KEYS = ["cpu_mops", "sha256_mb_s", "memcpy_gb_s", "write_mb_s", "read_mb_s"]


def perf(
    seconds: Annotated[float, typer.Option(help="Seconds each CPU and memory test runs.")] = 0.5,
    memory_mb: Annotated[int, typer.Option(help="MiB per buffer of the memory test.")] = 64,
    disk_mb: Annotated[int, typer.Option(help="MiB the disk test writes and reads.")] = 32,
    parallel: Annotated[bool, typer.Option(help="Measure all hosts at once.")] = False,
    entry: EntryOption = None, timeout: Timeout = 120.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Benchmark CPU, memory and disk of every host with a cloned paglet."""
    try:
        check_sizes(seconds, memory_mb, disk_mb)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    args = {"seconds": seconds, "memory_mb": memory_mb, "disk_mb": disk_mb}
    rows = run_on_entry(
        entry,
        timeout,
        api_key_env,
        insecure,
        lambda found: run_perf_test(found, args, timeout, parallel),
    )
    if json_output:
        print_json(rows)
    else:
        table = [[row["host"], *(row.get(key, "") for key in KEYS)] for row in rows]
        print_table("perf test", COLUMNS, table)
        for row in rows:
            if "error" in row:
                print(f"{row['host']}: {row['error']}", file=sys.stderr)
    if any("error" in row for row in rows):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of ``paglets-perf-test``."""
    typer.run(perf)
