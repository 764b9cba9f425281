"""Fan-out: a collector clones itself to every host, gathers one answer each, cleans up.

A ``CensusPaglet`` on alpha uses ``MeshFanoutMixin``: each round clones it to alpha,
beta and gamma; each clone counts the paglets of its host, reports, and disposes of
itself. In the second round gamma is made too slow for the deadline: the round comes
back partial, gamma listed as an error (not dropped), and its clone is disposed by the
collector (the clone wakes from its wait when it is disposed). The outcomes stream in
through ``on_fanout_result`` as they arrive.

Then a ``TaskClient`` runs a census as a task: ``status`` answers while it runs, and
``wait`` ends when it does.

Run it with ``uv run python demos/fanout.py``.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet
from paglets.core.messages import Message
from paglets.patterns.coordination import FanoutState, HostOutcome, MeshFanoutMixin
from paglets.patterns.tasks import TaskClient, TaskPaglet
from paglets.runtime.host import Host

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line even when paglets print from other threads."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass
class CensusState(FanoutState):
    pass


class CensusPaglet(MeshFanoutMixin, Paglet[CensusState]):
    State = CensusState

    def fanout_task(self, args: dict[str, Any]) -> Any:
        here = self.context.name
        if here in args.get("slow", []):
            self.wait_leaving(30.0)  # longer than any deadline: woken when disposed
        return {"paglets": len(self.context.get_proxies()), "host": here}

    def on_fanout_result(self, outcome: HostOutcome) -> None:
        shown = outcome.value if outcome.ok else f"error: {outcome.error}"
        say(f"  [{self.context.name}] {outcome.host}: {shown}")

    def handle_message(self, message: Message) -> Any:
        if message.kind == "census":
            result = self.fanout(
                {"slow": message.args.get("slow", [])},
                deadline=float(message.args.get("deadline", 5.0)),
            )
            return result.to_wire()
        return self.not_handled()


class CountdownTask(TaskPaglet):
    """Counts down, showing its progress; the result is what it counted."""

    def execute(self, args: dict[str, Any]) -> Any:
        steps = int(args["steps"])
        for left in range(steps, 0, -1):
            self.report_progress(left)
            self.wait_leaving(0.05)
        return steps


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    with Host(name="alpha", port=0) as alpha:
        others = [
            Host(name=n, port=0, peers=[alpha.address]).start_background()
            for n in ("beta", "gamma")
        ]
        try:
            for each in others:
                alpha.wait_for_host(each.name, timeout=5)
            say("mesh: alpha, beta, gamma")
            census = alpha.create(CensusPaglet)

            say("round 1:")
            first = census.send("census", args={"deadline": 5.0}, timeout=15)
            say(f"round 1: {len(first['results'])} answers, {len(first['errors'])} errors")

            say("round 2 (gamma too slow for a 1s deadline):")
            second = census.send("census", args={"deadline": 1.0, "slow": ["gamma"]}, timeout=15)
            say(f"round 2: partial={second['partial']}, errors={second['errors']}")

            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(h.get_proxies() for h in others):
                time.sleep(0.01)
            say(f"clones left on beta and gamma: {sum(len(h.get_proxies()) for h in others)}")

            task = TaskClient.create(alpha, CountdownTask, target="beta")
            task.start({"steps": 10})
            running = task.status()
            say(f"task on {running.host}: {running.status.value}")
            done = task.wait(timeout=10)
            say(f"task {done.status.value} with result {done.result} on {done.host}")
        finally:
            for each in others:
                each.stop()
    say("hosts stopped")


if __name__ == "__main__":
    main()
