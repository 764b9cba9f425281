"""The worker pool: growth, holding a batch of submissions back, stopping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from helpers import TIMEOUT, wait_for
from paglets.runtime.execution.workers import WorkerPool


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    made = WorkerPool("test", max_workers=8)
    yield made
    made.stop(TIMEOUT)


def test_a_blocked_task_does_not_delay_the_next(pool: WorkerPool) -> None:
    release = threading.Event()
    done = threading.Event()
    pool.submit(release.wait, TIMEOUT)
    pool.submit(done.set)
    assert done.wait(TIMEOUT)
    release.set()
    assert pool.size == 2


def test_the_first_task_starts_at_once_the_rest_when_the_block_ends(pool: WorkerPool) -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def record(n: int) -> None:
        with lock:
            ran.append(n)

    with pool.holding():
        for n in range(5):
            pool.submit(record, n)
        with pool.holding():  # nested: the outer block starts them
            pool.submit(record, 5)
        wait_for(lambda: ran == [0])
        # nothing else starts while held, however long the block lasts
        assert not threading.Event().wait(0.05)
        assert ran == [0]
    wait_for(lambda: len(ran) == 6)
    assert sorted(ran) == list(range(6))


def test_holding_is_per_thread(pool: WorkerPool) -> None:
    started = threading.Event()
    with pool.holding():
        other = threading.Thread(target=pool.submit, args=(started.set,))
        other.start()
        other.join(TIMEOUT)
        assert started.wait(TIMEOUT)


def test_a_stopped_pool_refuses_tasks_held_or_not(pool: WorkerPool) -> None:
    pool.stop(TIMEOUT)
    with pytest.raises(RuntimeError, match="stopped"):
        pool.submit(print)
    with pytest.raises(RuntimeError, match="stopped"), pool.holding():
        pool.submit(print)
