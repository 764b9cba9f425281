"""Admission of compute jobs: does a job run now, wait, or never fit on this host.

Pure functions over plain values, so the rules are tested without a host. A job
declares ``cpu_cores`` (whole logical cores, pinned), ``memory`` and ``temp_storage``
(bytes). A host offers its eligible CPU ids minus the reserved ones, its RAM and its
free temp storage; what running jobs have leased is taken off. A load gate keeps jobs
off a machine that others already keep busy: the load average beyond the cores this
service leased, per logical CPU, must not pass ``max_load_per_cpu``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psutil

from paglets.core.errors import PagletError
from paglets.core.sizes import human_size
from paglets.runtime.config import LOAD_VARIABLE

RUN = "run"
WAIT = "wait"
REDIRECT = "redirect"
REJECT = "reject"


class EstimateError(PagletError):
    """A compute job's estimates are not valid (not whole, negative, or missing)."""


@dataclass(frozen=True)
class JobEstimate:
    """What a job says it needs.

    Attributes:
        cpu_cores: logical cores, at least 1.
        memory: bytes of RAM at peak.
        temp_storage: bytes of scratch space in its work dir at peak.
    """

    cpu_cores: int = 1
    memory: int = 0
    temp_storage: int = 0

    def __post_init__(self) -> None:
        for name in ("cpu_cores", "memory", "temp_storage"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise EstimateError(f"{name} must be a whole number >= 0, not {value!r}")
        if self.cpu_cores < 1:
            raise EstimateError("cpu_cores must be at least 1")


@dataclass(frozen=True)
class HostResources:
    """What this host offers at one moment.

    Attributes:
        cpus: the eligible CPU ids minus the reserved ones.
        memory_total, memory_available: RAM in bytes.
        temp_total, temp_free: storage of the work area in bytes.
        load: the 1-minute load average.
        cpu_count: logical CPUs of the machine (the load gate divides by it).
        own_load: the part of ``load`` this service's jobs make (see
            :mod:`~paglets.system.compute.own_load`); None: the cores leased now.
    """

    cpus: tuple[int, ...]
    memory_total: int
    memory_available: int
    temp_total: int
    temp_free: int
    load: float
    cpu_count: int
    own_load: float | None = None


@dataclass(frozen=True)
class Leased:
    """What running jobs hold: CPU ids, RAM and temp storage bytes."""

    cpus: frozenset[int] = frozenset()
    memory: int = 0
    temp_storage: int = 0

    @classmethod
    def of(cls, leases: Iterable[tuple[Sequence[int], int, int]]) -> Leased:
        """Sum ``(cpus, memory, temp_storage)`` of each lease."""
        cpus: set[int] = set()
        memory = temp = 0
        for lease_cpus, lease_memory, lease_temp in leases:
            cpus.update(lease_cpus)
            memory += lease_memory
            temp += lease_temp
        return cls(frozenset(cpus), memory, temp)


@dataclass(frozen=True)
class Decision:
    """The answer to one request: ``run`` (with ``cpus``), ``wait``, ``redirect`` or ``reject``."""

    kind: str
    reason: str = ""
    cpus: tuple[int, ...] = ()
    target: str = ""


def cores(count: int) -> str:
    """``1 core``, ``2 cores``: a core count for a reason."""
    return f"{count} core" if count == 1 else f"{count} cores"


def never_fits(estimate: JobEstimate, offer: HostResources) -> str:
    """Why ``estimate`` can never run here ('' when it could, once resources free up)."""
    if estimate.cpu_cores > len(offer.cpus):
        return f"needs {cores(estimate.cpu_cores)}; this host has {len(offer.cpus)} for jobs"
    if estimate.memory > offer.memory_total:
        return (
            f"needs {human_size(estimate.memory)} of RAM; "
            f"this host has {human_size(offer.memory_total)}"
        )
    if estimate.temp_storage > offer.temp_total:
        return (
            f"needs {human_size(estimate.temp_storage)} of temp storage; "
            f"this host's work area holds {human_size(offer.temp_total)}"
        )
    return ""


def decide(
    estimate: JobEstimate,
    offer: HostResources,
    leased: Leased,
    max_load_per_cpu: float | None = 1.0,
) -> Decision:
    """Decide whether a job runs now, waits, or is rejected on this host.

    Returns:
        ``run`` with the lowest free CPU ids, ``wait`` with what it waits for, or
        ``reject`` with why it never fits.
    """
    why = never_fits(estimate, offer)
    if why:
        return Decision(REJECT, why)
    free = [cpu for cpu in offer.cpus if cpu not in leased.cpus]
    if len(free) < estimate.cpu_cores:
        return Decision(WAIT, f"waiting for {cores(estimate.cpu_cores)} ({len(free)} free)")
    memory_free = offer.memory_available - leased.memory
    if estimate.memory > memory_free:
        return Decision(
            WAIT,
            f"waiting for {human_size(estimate.memory)} of RAM ({human_size(memory_free)} free)",
        )
    temp_free = offer.temp_free - leased.temp_storage
    if estimate.temp_storage > temp_free:
        return Decision(
            WAIT,
            f"waiting for {human_size(estimate.temp_storage)} of temp storage "
            f"({human_size(temp_free)} free)",
        )
    if max_load_per_cpu is not None:
        # the service's own jobs are not "others": take their part off the load
        own = len(leased.cpus) if offer.own_load is None else offer.own_load
        outside = max(0.0, offer.load - own) / max(1, offer.cpu_count)
        if outside > max_load_per_cpu:
            return Decision(
                WAIT,
                f"load per cpu {outside:.2f} from other work is over {max_load_per_cpu:g} "
                f"(a host started with --max-load-per-cpu none or {LOAD_VARIABLE}=none "
                "has no gate)",
            )
    return Decision(RUN, "", tuple(free[: estimate.cpu_cores]))


def eligible_cpus(configured: tuple[int, ...] | None, reserved: tuple[int, ...]) -> tuple[int, ...]:
    """The CPU ids jobs may use: configured (else this process's affinity) minus reserved."""
    if configured is not None:
        base = sorted(set(configured))
    elif hasattr(os, "sched_getaffinity"):
        base = sorted(os.sched_getaffinity(0))
    else:
        base = list(range(psutil.cpu_count(logical=True) or 1))
    return tuple(cpu for cpu in base if cpu not in set(reserved))


def tags_fit(tags: tuple[str, ...], require: list[str], exclude: list[str]) -> str:
    """Why a host with ``tags`` does not suit a job ('' when it does)."""
    missing = [tag for tag in require if tag not in tags]
    if missing:
        return f"lacks tag {', '.join(missing)}"
    banned = [tag for tag in exclude if tag in tags]
    if banned:
        return f"has excluded tag {', '.join(banned)}"
    return ""
