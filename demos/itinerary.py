"""Itinerary: a surveyor visits three hosts with a task plan and comes home with its log.

The surveyor's state holds a ``TaskItineraryPlan``: one task per destination, each in
one of three phases, a default task for every stop, and home as the last destination.
``ItineraryAgentMixin`` does the travelling: ``continue_itinerary()`` in ``run()`` does
the work due on this host and goes on with ``go_to_next_destination()``, which advances
the plan *before* the dispatch, so on each arrival ``plan.current_location`` is the host
it arrived on.

- beta:  ``census``   on arrival  (in ``on_arrival``, before any message is handled)
- gamma: ``crunch``   by default  (in ``run()``, on the paglet's own thread)
- delta: ``farewell`` on dispatch (just before it leaves delta)
- alpha: ``report``   by default, back home
- every stop: ``stamp`` on arrival (a default task of the plan)

Run it with ``uv run python demos/itinerary.py``.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.events import MobilityEvent
from paglets.core.itinerary import (
    EXECUTE_ON_ARRIVAL,
    EXECUTE_ON_DEFAULT,
    EXECUTE_ON_DISPATCH,
    ItineraryAgentMixin,
    ItineraryTask,
    TaskItineraryPlan,
)
from paglets.core.messages import Message
from paglets.runtime.host import Host

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line even when paglets print from other threads."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass
class SurveyState(PagletState):
    itinerary: TaskItineraryPlan = field(default_factory=TaskItineraryPlan)
    log: list[str] = field(default_factory=list)
    finished: bool = False


class SurveyorPaglet(ItineraryAgentMixin, Paglet[SurveyState]):
    State = SurveyState

    def _note(self, line: str) -> None:
        say(f"  [{self.context.name:5}] {line}")
        with self.locked_state() as state:
            state.log.append(f"{self.context.name}: {line}")

    def on_arrival(self, event: MobilityEvent) -> None:
        self.itinerary_on_arrival(event)

    def on_destination_reached(self) -> None:
        plan = self.get_itinerary()
        self._note(
            f"reached stop {len(plan.visited_destinations)}/{len(plan)} "
            f"{plan.current_location!r}, still to go: {plan.remaining()}"
        )

    def execute_itinerary_task(self, task: ItineraryTask) -> Any:
        if task.name == "census":
            result: Any = f"{len(self.context.get_proxies())} paglet(s) live here"
        elif task.name == "crunch":
            result = f"sum of squares below {task.args['n']} is " + str(
                sum(i * i for i in range(task.args["n"]))
            )
        elif task.name == "farewell":
            result = f"leaving at {time.strftime('%H:%M:%S')}"
        elif task.name == "report":
            result = f"home again after {len(self.state.log)} log lines"
        elif task.name == "stamp":
            result = f"stop {len(self.get_itinerary().visited_destinations)} stamped"
        else:
            raise ValueError(f"unknown task {task.name!r}")
        self._note(f"task {task.name!r} ({task.execution}): {result}")
        return result

    def on_itinerary_finished(self) -> None:
        with self.locked_state() as state:
            state.finished = True

    def run(self) -> None:
        self.continue_itinerary()

    def handle_message(self, message: Message) -> Any:
        if message.kind == "log":
            with self.locked():
                return {"finished": self.state.finished, "log": list(self.state.log)}
        return self.not_handled()


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """Call ``read`` until ``done(value)`` holds; return the value (the last one on timeout)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    with Host(name="alpha", port=0) as alpha:
        others = [
            Host(name=name, port=0, peers=[alpha.address]) for name in ("beta", "gamma", "delta")
        ]
        try:
            for host in others:
                host.start_background()
            for host in others:
                alpha.wait_for_host(host.name, timeout=5)
                for peer in others:
                    if peer is not host:
                        host.wait_for_host(peer.name, timeout=5)
            plan = TaskItineraryPlan(
                ["beta", "gamma", "delta", "alpha"],
                tasks={
                    "beta": [ItineraryTask("census", EXECUTE_ON_ARRIVAL)],
                    "gamma": [ItineraryTask("crunch", EXECUTE_ON_DEFAULT, {"n": 100_000})],
                    "delta": [ItineraryTask("farewell", EXECUTE_ON_DISPATCH)],
                    "alpha": [ItineraryTask("report")],
                },
                default_tasks=[ItineraryTask("stamp", EXECUTE_ON_ARRIVAL)],
            )
            say(f"plan: {plan.destinations}")
            surveyor = alpha.create(SurveyorPaglet, SurveyState(itinerary=plan))
            say(f"surveyor {surveyor.agent_id[:8]} created on alpha and sets out")
            report = wait_until(lambda: surveyor.send("log"), lambda value: value["finished"])
            where = surveyor.info()["host"]
            say(f"back on {where}, finished: {report['finished']}; its log:")
            for line in report["log"]:
                say(f"    {line}")
        finally:
            for host in others:
                host.stop()
    say("hosts stopped")


if __name__ == "__main__":
    main()
