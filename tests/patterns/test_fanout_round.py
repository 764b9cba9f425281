"""The parts of a fan-out round, without hosts: outcomes, results, target spellings."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from helpers import TIMEOUT
from paglets.patterns.bounded_pool import start_bounded_pool
from paglets.patterns.fanout_round import (
    FanoutResult,
    FanoutRound,
    HostOutcome,
    offline_keys,
    outcome_of_report,
    target_keys,
)


@dataclass
class Facts:
    name: str
    address: str
    online: bool = True


HOSTS = [
    Facts("alpha", "tcp://127.0.0.1:7001"),
    Facts("beta", "tcp://127.0.0.1:7002", online=False),
]


def test_a_report_becomes_an_outcome() -> None:
    good = outcome_of_report("alpha", {"ok": True, "value": [1, 2]})
    bad = outcome_of_report("beta", {"ok": False, "error": "ValueError: no"})
    assert (good.ok, good.value, good.host) == (True, [1, 2], "alpha")
    assert (bad.ok, bad.error, bad.value) == (False, "ValueError: no", None)


def test_a_result_sorts_values_from_errors() -> None:
    result = FanoutResult(
        {
            "alpha": HostOutcome("alpha", True, value=3),
            "beta": HostOutcome("beta", False, error="host went offline"),
        }
    )
    assert result.results == {"alpha": 3}
    assert result.errors == {"beta": "host went offline"}
    assert result.partial
    assert result.to_wire() == {
        "results": {"alpha": 3},
        "errors": {"beta": "host went offline"},
        "partial": True,
    }


def test_a_round_is_complete_when_every_target_answered() -> None:
    work = FanoutRound("r1", ["alpha", "beta"], deadline=0.0)
    work.outcomes["alpha"] = HostOutcome("alpha", True, value=1)
    assert not work.complete() and work.pending() == ["beta"]
    work.outcomes["beta"] = HostOutcome("beta", True, value=2)
    assert work.complete() and work.pending() == []


def test_a_target_stands_for_its_name_and_its_address() -> None:
    own = {"self", "tcp://127.0.0.1:7000"}
    assert target_keys("alpha", own, HOSTS) == {"alpha", "tcp://127.0.0.1:7001"}
    assert target_keys("127.0.0.1:7002", own, HOSTS) == {
        "127.0.0.1:7002",
        "tcp://127.0.0.1:7002",
        "beta",
    }
    assert target_keys("self", own, HOSTS) == own
    assert target_keys("gamma", own, HOSTS) == {"gamma"}


def test_offline_hosts_are_known_by_name_and_address() -> None:
    assert offline_keys(HOSTS) == {"beta", "tcp://127.0.0.1:7002"}


def test_the_pool_runs_every_job_on_at_most_its_limit_of_threads() -> None:
    lock = threading.Lock()
    running = 0
    most = 0
    done: list[int] = []
    gate = threading.Event()

    def job(number: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(TIMEOUT)
        with lock:
            running -= 1
            done.append(number)

    threads = start_bounded_pool([lambda n=n: job(n) for n in range(20)], 3, "test-pool")
    assert len(threads) == 3
    gate.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert sorted(done) == list(range(20))
    assert most <= 3
