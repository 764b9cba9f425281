"""Compute job classes the compute tests submit (importable by the job's child process)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from paglets.system.compute_groups import CollectingComputeJobPaglet, CollectingComputeJobState
from paglets.system.compute_job import ComputeJobPaglet, ComputeJobState


@dataclass
class SleepState(ComputeJobState):
    seconds: float = 0.0
    fail: bool = False


class SleepJob(ComputeJobPaglet):
    """Busy-waits ``seconds`` (a CPU-bound job); reports its pid and affinity."""

    State = SleepState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, SleepState)
        if state.fail:
            raise RuntimeError("asked to fail")
        end = time.monotonic() + state.seconds
        while time.monotonic() < end:
            pass
        return {"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0)), "started": time.time()}


@dataclass
class CollectingSleepState(CollectingComputeJobState):
    seconds: float = 0.0
    fail: bool = False
    value: int = 0
    slow_on: str = ""
    """Busy-wait ``seconds`` only on the host of this name ('' : everywhere)."""


class CollectingSleepJob(CollectingComputeJobPaglet):
    """A job of a group: busy-waits ``seconds``, returns ``value`` squared and where it ran."""

    State = CollectingSleepState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, CollectingSleepState)
        if state.fail:
            raise RuntimeError(f"job {state.value} asked to fail")
        slow = not state.slow_on or state.slow_on == self.context.name
        end = time.monotonic() + (state.seconds if slow else 0.0)
        while time.monotonic() < end:
            pass
        return {"square": state.value * state.value, "host": self.context.name}


@dataclass
class HogState(ComputeJobState):
    megabytes: int = 0
    hold: float = 0.0


class MemoryHogJob(ComputeJobPaglet):
    """Holds ``megabytes`` of touched memory for ``hold`` seconds."""

    State = HogState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, HogState)
        block = bytearray(state.megabytes * 1024 * 1024)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        end = time.monotonic() + state.hold
        while time.monotonic() < end:
            time.sleep(0.05)
        return len(block)


@dataclass
class GateState(ComputeJobState):
    gate: str = ""
    bound: float = 120.0


class GateJob(ComputeJobPaglet):
    """Holds its lease until the file ``gate`` exists (a test opens it), ``bound`` at most."""

    State = GateState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, GateState)
        end = time.monotonic() + state.bound
        while not os.path.exists(state.gate):
            if time.monotonic() > end:
                raise TimeoutError(f"the gate {state.gate} did not open within {state.bound}s")
            time.sleep(0.02)
        return {"pid": os.getpid()}
