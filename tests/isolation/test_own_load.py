"""OwnLoad follows the kernel's damping, so the gate does not count ended jobs as others."""

from __future__ import annotations

import math

import pytest

from paglets.system.compute.admission import RUN, WAIT, HostResources, JobEstimate, Leased, decide
from paglets.system.compute.own_load import LOAD_WINDOW, OwnLoad


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cores_held_for_a_minute_make_most_of_their_load() -> None:
    clock = Clock()
    own = OwnLoad(clock)
    own.observe(2)
    clock.now += LOAD_WINDOW
    assert own.value() == pytest.approx(2 * (1 - math.exp(-1)))


def test_after_the_jobs_end_their_load_decays_like_the_average() -> None:
    clock = Clock()
    own = OwnLoad(clock)
    own.observe(1)
    clock.now += 10 * LOAD_WINDOW  # long enough to be fully counted
    held = own.observe(0)
    assert held == pytest.approx(1.0, abs=1e-3)
    clock.now += 30.0
    assert own.value() == pytest.approx(held * math.exp(-30.0 / LOAD_WINDOW))


def test_a_clock_that_does_not_move_changes_nothing() -> None:
    clock = Clock()
    own = OwnLoad(clock)
    own.observe(4)
    assert own.value() == 0.0
    assert own.observe(-3) == 0.0  # a negative count is taken as none


def test_the_gate_takes_the_own_load_off_not_only_the_cores_leased_now() -> None:
    def offer(own_load: float | None) -> HostResources:
        return HostResources(
            cpus=(0, 1),
            memory_total=2**30,
            memory_available=2**30,
            temp_total=2**30,
            temp_free=2**30,
            load=3.0,
            cpu_count=2,
            own_load=own_load,
        )

    one_core = JobEstimate(cpu_cores=1)
    just_ended = decide(one_core, offer(1.9), Leased(), max_load_per_cpu=1.0)
    assert just_ended.kind == RUN  # the jobs that just ended are no one else's work
    others = decide(one_core, offer(None), Leased(), max_load_per_cpu=1.0)
    assert others.kind == WAIT and "from other work" in others.reason
