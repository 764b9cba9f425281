"""Admission reasons read as a person would write them: sizes in units, '1 core'."""

from __future__ import annotations

from paglets.core.sizes import human_size
from paglets.system.compute.admission import (
    REJECT,
    WAIT,
    HostResources,
    JobEstimate,
    Leased,
    decide,
)

GIB = 2**30


def _offer() -> HostResources:
    return HostResources(
        cpus=(0, 1),
        memory_total=8 * GIB,
        memory_available=2 * GIB,
        temp_total=100 * GIB,
        temp_free=GIB // 2,
        load=0.0,
        cpu_count=2,
        own_load=None,
    )


def test_sizes_read_in_units() -> None:
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(10 * 2**40) == "10.0 TiB"


def test_a_job_that_never_fits_says_so_in_units() -> None:
    memory = decide(JobEstimate(memory=10 * 2**40), _offer(), Leased(), None)
    assert memory.kind == REJECT
    assert memory.reason == "needs 10.0 TiB of RAM; this host has 8.0 GiB"
    scratch = decide(JobEstimate(temp_storage=200 * GIB), _offer(), Leased(), None)
    assert (
        scratch.reason == "needs 200.0 GiB of temp storage; this host's work area holds 100.0 GiB"
    )


def test_a_waiting_job_says_what_it_waits_for() -> None:
    cores = decide(JobEstimate(cpu_cores=1), _offer(), Leased(cpus=frozenset({0, 1})), None)
    assert cores.kind == WAIT and cores.reason == "waiting for 1 core (0 free)"
    memory = decide(JobEstimate(memory=4 * GIB), _offer(), Leased(), None)
    assert memory.reason == "waiting for 4.0 GiB of RAM (2.0 GiB free)"
    scratch = decide(JobEstimate(temp_storage=GIB), _offer(), Leased(), None)
    assert scratch.reason == "waiting for 1.0 GiB of temp storage (512.0 MiB free)"
