"""Compute job classes the compute tests submit (importable by the job's child process)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

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
