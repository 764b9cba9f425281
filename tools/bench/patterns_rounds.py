"""Median wall time of the patterns' round trips, on three in-process loopback hosts.

Not a scenario of ``run.py`` (no raw limit to hold it to): a quick look at what one
fan-out round, one task and one operation call cost. Hosts run in this process on
127.0.0.1 with OS-chosen ports and no discovery, and are stopped at the end.

    uv run python tools/bench/patterns_rounds.py [--rounds 35]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from paglets.core.agent import Paglet
from paglets.core.messages import Message
from paglets.patterns.coordination import FanoutState, MeshFanoutMixin
from paglets.patterns.operations import OperationClient, OperationPaglet, operation
from paglets.patterns.tasks import TaskClient, TaskPaglet
from paglets.runtime.host import Host


@dataclass
class CensusState(FanoutState):
    pass


class Census(MeshFanoutMixin, Paglet[CensusState]):
    State = CensusState

    def fanout_task(self, args: dict[str, Any]) -> Any:
        return self.context.name

    def handle_message(self, message: Message) -> Any:
        if message.kind == "round":
            return self.fanout(hosts=message.args["hosts"], deadline=10.0).to_wire()
        return self.not_handled()


class Nothing(TaskPaglet):
    def execute(self, args: dict[str, Any]) -> Any:
        return None


class Adder(OperationPaglet):
    @operation
    def add(self, a: int, b: int) -> int:
        return a + b


def _start_and_wait(host: Host, target: str | None) -> Any:
    return TaskClient.create(host, Nothing, target=target).start_and_wait(timeout=10)


def median_ms(action: Callable[[], Any], rounds: int) -> float:
    """Run ``action`` once to warm up, then ``rounds`` times; the median in ms."""
    action()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=35)
    rounds = parser.parse_args().rounds
    with Host(name="alpha", port=0) as alpha:
        others = [
            Host(name=n, port=0, peers=[alpha.address]).start_background()
            for n in ("beta", "gamma")
        ]
        try:
            for each in others:
                alpha.wait_for_host(each.name, timeout=5)
            census = alpha.create(Census)
            for hosts in (["alpha"], ["beta"], ["alpha", "beta", "gamma"]):
                ms = median_ms(partial(census.send, "round", args={"hosts": hosts}), rounds)
                print(f"fan-out round over {', '.join(hosts):<19} {ms:8.2f} ms")
            for target in (None, "beta"):
                ms = median_ms(partial(_start_and_wait, alpha, target), rounds)
                print(f"task create+start+wait on {target or 'alpha':<13} {ms:8.2f} ms")
            adder = OperationClient(others[0].create(Adder))
            ms = median_ms(lambda: adder.call("add", a=1, b=2), rounds)
            print(f"operation call alpha -> beta             {ms:8.2f} ms")
        finally:
            for each in others:
                each.stop()


if __name__ == "__main__":
    main()
