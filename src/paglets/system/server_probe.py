"""What this machine is and how busy it is, read with psutil (and ``nvidia-smi``).

Pure functions returning the reply dataclasses of the server-info contract
(:mod:`paglets.system.server_info`); they touch ``/proc`` and may take a fraction of a
second (CPU percentages need two samples), so they run on a worker thread.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

GPU_QUERY = "name,utilization.gpu,memory.used,memory.total,temperature.gpu"
GPU_PROBE_TIMEOUT = 2.0
"""Seconds ``nvidia-smi`` may take before the host is reported as having no GPU info."""
CPU_SAMPLE_SECONDS = 0.1
"""The interval over which CPU percentages are measured."""


@dataclass
class ServerSummary:
    """What a host is: platform, Python, boot time, CPUs and RAM."""

    host: str = ""
    node: str = ""
    platform: str = ""
    python: str = ""
    boot_time: float = 0.0
    cpu_physical: int = 0
    cpu_logical: int = 0
    memory_total: int = 0


@dataclass
class GpuLoad:
    """One GPU as ``nvidia-smi`` reports it (percent, MiB, degrees C)."""

    name: str = ""
    utilization: float = 0.0
    memory_used_mib: float = 0.0
    memory_total_mib: float = 0.0
    temperature: float = 0.0


@dataclass
class ServerLoad:
    """How busy a host is now."""

    host: str = ""
    cpu_percent: float = 0.0
    cpu_logical: int = 0
    load_1: float = 0.0
    load_5: float = 0.0
    load_15: float = 0.0
    memory_total: int = 0
    memory_available: int = 0
    memory_percent: float = 0.0
    swap_total: int = 0
    swap_used: int = 0
    swap_percent: float = 0.0
    gpus: list[GpuLoad] = field(default_factory=list)


@dataclass
class DiskUsage:
    """Usage of the file system holding one path ('' fields and ``error`` if unreadable)."""

    path: str = ""
    mountpoint: str = ""
    total: int = 0
    used: int = 0
    free: int = 0
    percent: float = 0.0
    error: str = ""


@dataclass
class ProcessInfo:
    """One process that matched a query."""

    pid: int = 0
    name: str = ""
    user: str = ""
    cpu_percent: float = 0.0
    memory_rss: int = 0
    command: str = ""


def summary(host: str) -> ServerSummary:
    """The machine's platform, Python, boot time, CPU counts and RAM."""
    return ServerSummary(
        host=host,
        node=platform.node(),
        platform=platform.platform(terse=True),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        boot_time=float(psutil.boot_time()),
        cpu_physical=int(psutil.cpu_count(logical=False) or 0),
        cpu_logical=int(psutil.cpu_count(logical=True) or 0),
        memory_total=int(psutil.virtual_memory().total),
    )


def load(host: str) -> ServerLoad:
    """CPU percent, load averages, memory, swap and (when ``nvidia-smi`` answers) GPUs."""
    cpu = psutil.cpu_percent(interval=CPU_SAMPLE_SECONDS)
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        one = five = fifteen = 0.0
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return ServerLoad(
        host=host,
        cpu_percent=float(cpu),
        cpu_logical=int(psutil.cpu_count(logical=True) or 0),
        load_1=round(one, 2),
        load_5=round(five, 2),
        load_15=round(fifteen, 2),
        memory_total=int(memory.total),
        memory_available=int(memory.available),
        memory_percent=float(memory.percent),
        swap_total=int(swap.total),
        swap_used=int(swap.used),
        swap_percent=float(swap.percent),
        gpus=gpus(),
    )


def gpus(timeout: float = GPU_PROBE_TIMEOUT) -> list[GpuLoad]:
    """The GPUs ``nvidia-smi`` reports; empty when it is absent, fails or is slow."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        done = subprocess.run(
            [binary, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    return [gpu for line in done.stdout.splitlines() if (gpu := parse_gpu_line(line))]


def parse_gpu_line(line: str) -> GpuLoad | None:
    """One ``nvidia-smi`` CSV line as a GpuLoad (None when it is not one)."""
    cells = [cell.strip() for cell in line.split(",")]
    if len(cells) != 5 or not cells[0]:
        return None

    def number(text: str) -> float:
        try:
            return float(text)
        except ValueError:  # "[N/A]" on some boards
            return 0.0

    return GpuLoad(cells[0], *(number(cell) for cell in cells[1:]))


def disk_usage(paths: list[str]) -> list[DiskUsage]:
    """Usage of each path's file system; no paths: every mounted local file system.

    Relative paths are taken from this host's working directory.
    """
    if not paths:
        seen: set[str] = set()
        paths = []
        for part in psutil.disk_partitions(all=False):
            if part.mountpoint not in seen:
                seen.add(part.mountpoint)
                paths.append(part.mountpoint)
        paths = paths or [os.sep]
    return [_usage(path) for path in paths]


def _usage(path: str) -> DiskUsage:
    resolved = Path(path).expanduser()
    try:
        resolved = resolved.resolve(strict=True)
        usage = shutil.disk_usage(resolved)
    except OSError as exc:
        return DiskUsage(path=path, error=exc.strerror or str(exc))
    used = usage.total - usage.free
    return DiskUsage(
        path=path,
        mountpoint=_mountpoint(resolved),
        total=int(usage.total),
        used=int(used),
        free=int(usage.free),
        percent=round(100.0 * used / usage.total, 1) if usage.total else 0.0,
    )


def _mountpoint(path: Path) -> str:
    current = path
    while not os.path.ismount(current) and current.parent != current:
        current = current.parent
    return str(current)


def processes(query: str, limit: int = 20) -> tuple[list[ProcessInfo], int]:
    """Processes whose pid, name or command line matches ``query`` (case-insensitive).

    Returns:
        The first ``limit`` by CPU then memory, and how many matched in all.
    """
    wanted = query.strip().lower()
    matched: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        info = proc.info
        command = " ".join(info.get("cmdline") or ())
        if (
            not wanted
            or wanted == str(info["pid"])
            or wanted in (info.get("name") or "").lower()
            or wanted in command.lower()
        ):
            matched.append(proc)
    for proc in matched:  # the first sample of each; the second follows the pause
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            continue
    time.sleep(CPU_SAMPLE_SECONDS)  # psutil needs two samples apart to give a percent
    found = [info for proc in matched if (info := _process_info(proc)) is not None]
    found.sort(key=lambda p: (-p.cpu_percent, -p.memory_rss, p.pid))
    return found[: max(0, limit)], len(found)


def _process_info(proc: psutil.Process) -> ProcessInfo | None:
    try:
        with proc.oneshot():
            return ProcessInfo(
                pid=proc.pid,
                name=proc.name(),
                user=_user(proc),
                cpu_percent=float(proc.cpu_percent(None)),
                memory_rss=int(proc.memory_info().rss),
                command=" ".join(proc.cmdline()) or proc.name(),
            )
    except psutil.Error:  # it ended, or it is not ours to read
        return None


def _user(proc: psutil.Process) -> str:
    try:
        return str(proc.username())
    except (psutil.Error, KeyError):
        return ""
