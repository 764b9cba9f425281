"""The paglet classes the isolation/compute benchmark runs (importable by job processes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message
from paglets.system.compute_job import ComputeJobPaglet, ComputeJobState


@dataclass
class CountState(PagletState):
    """A counter."""

    count: int = 0


class InProcessCount(Paglet[CountState]):
    """Counts ``add`` messages in the host's process."""

    State = CountState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += 1
            return self.state.count
        return self.not_handled()


class IsolatedCount(InProcessCount):
    """The same counter in a child process."""

    ISOLATED = True


@dataclass
class SpinState(ComputeJobState):
    """How long the job keeps one core busy."""

    seconds: float = 1.0


class SpinJob(ComputeJobPaglet):
    """Keeps its core busy for ``seconds``."""

    State = SpinState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, SpinState)
        started = time.time()  # wall clock: the submitter compares it with its own
        end = time.monotonic() + state.seconds
        spins = 0
        while time.monotonic() < end:
            spins += 1
        return {"spins": spins, "started": started}
