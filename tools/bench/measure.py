"""Timing loops and statistics shared by the scenarios; every loop bounded in count and time."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """How hard a run works: ``quick`` (CI's smoke run) or full."""

    quick: bool

    def pick(self, quick: int | float, full: int | float) -> int | float:
        """The quick or the full value of a knob."""
        return quick if self.quick else full

    def count(self, quick: int, full: int) -> int:
        """The quick or the full value of a count."""
        return int(quick if self.quick else full)


def percentile(samples: list[int] | list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (``fraction`` in 0..1); nan when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return float(ordered[rank])


def summary_us(samples_ns: list[int]) -> dict[str, float]:
    """p50, p99, mean and count of nanosecond samples, in microseconds."""
    if not samples_ns:
        return {"count": 0, "p50_us": math.nan, "p99_us": math.nan, "mean_us": math.nan}
    return {
        "count": len(samples_ns),
        "p50_us": percentile(samples_ns, 0.50) / 1000,
        "p99_us": percentile(samples_ns, 0.99) / 1000,
        "mean_us": sum(samples_ns) / len(samples_ns) / 1000,
    }


def time_calls(call: Callable[[int], object], count: int, budget: float) -> list[int]:
    """Time ``call(i)`` up to ``count`` times, stopping after ``budget`` seconds; ns each."""
    samples: list[int] = []
    clock = time.perf_counter_ns
    deadline = time.monotonic() + budget
    for index in range(count):
        started = clock()
        call(index)
        samples.append(clock() - started)
        if time.monotonic() > deadline:
            break
    return samples


def interleaved(
    rounds: int,
    raw: Callable[[], list[int]],
    ours: Callable[[], list[int]],
) -> tuple[list[int], list[int]]:
    """Run the raw and our measurement alternately ``rounds`` times; pool the samples.

    Alternating spreads slow phases of a shared machine over both sides.
    """
    raw_samples: list[int] = []
    our_samples: list[int] = []
    for _ in range(rounds):
        raw_samples.extend(raw())
        our_samples.extend(ours())
    return raw_samples, our_samples


def best_rate(results: list[tuple[int, float]]) -> float:
    """The best messages-per-second figure of several ``(count, seconds)`` runs."""
    rates = [count / seconds for count, seconds in results if seconds > 0 and count > 0]
    return max(rates) if rates else math.nan
