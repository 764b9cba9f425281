"""Usage of running compute jobs: CPU %, process-tree RSS, work-dir bytes, and peaks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass
class Usage:
    """One job's latest sample and the peaks seen so far."""

    cpu_percent: float = 0.0
    rss: int = 0
    work_bytes: int = 0
    peaks: Peaks = field(default_factory=lambda: Peaks())

    def to_wire(self) -> dict[str, Any]:
        """The sample and its peaks as plain values."""
        return {
            "cpu_percent": round(self.cpu_percent, 1),
            "rss": self.rss,
            "work_bytes": self.work_bytes,
            "peak_cpu_percent": round(self.peaks.cpu_percent, 1),
            "peak_rss": self.peaks.rss,
            "peak_work_bytes": self.peaks.work_bytes,
        }


@dataclass
class Peaks:
    """The highest CPU %, RSS and work-dir bytes a job reached."""

    cpu_percent: float = 0.0
    rss: int = 0
    work_bytes: int = 0


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 if it does not exist)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


class UsageMeter:
    """Samples one job's process tree; CPU % is measured between two samples."""

    def __init__(self, pid: int, work_dir: Path) -> None:
        self._work_dir = work_dir
        self._processes: dict[int, psutil.Process] = {}
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
            self._root.cpu_percent(None)
        except psutil.Error:
            self._root = None
        self.usage = Usage()

    def sample(self) -> Usage:
        """Take a sample of the tree and the work dir; update the peaks."""
        cpu = 0.0
        rss = 0
        if self._root is not None:
            try:
                tree = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for process in tree:
                known = self._processes.setdefault(process.pid, process)
                try:
                    cpu += known.cpu_percent(None)
                    rss += known.memory_info().rss
                except psutil.Error:
                    continue
        usage = self.usage
        usage.cpu_percent, usage.rss = cpu, rss
        usage.work_bytes = tree_bytes(self._work_dir)
        peaks = usage.peaks
        peaks.cpu_percent = max(peaks.cpu_percent, cpu)
        peaks.rss = max(peaks.rss, rss)
        peaks.work_bytes = max(peaks.work_bytes, usage.work_bytes)
        return usage
