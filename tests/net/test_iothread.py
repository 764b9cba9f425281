"""Tests for paglets.net.iothread: hand-over to the loop thread, timers, stopping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from helpers import TIMEOUT
from paglets.core.errors import HostStoppedError
from paglets.net.iothread import IOThread


@pytest.fixture
def loop() -> Iterator[IOThread]:
    io = IOThread("test")
    io.start(TIMEOUT)
    yield io
    io.stop(TIMEOUT)


def test_call_soon_runs_on_the_loop_thread_in_order(loop: IOThread) -> None:
    seen: list[tuple[int, bool]] = []
    done = threading.Event()
    for n in range(100):
        loop.call_soon(lambda n=n: seen.append((n, loop.in_loop())))
    loop.call_soon(done.set)
    assert done.wait(TIMEOUT)
    assert seen == [(n, True) for n in range(100)]
    assert not loop.in_loop()


def test_call_later_runs_timers_in_deadline_order(loop: IOThread) -> None:
    order: list[str] = []
    done = threading.Event()

    def schedule() -> None:
        loop.call_later(0.03, lambda: (order.append("late"), done.set()))
        loop.call_later(0.0, lambda: order.append("early"))

    loop.call_soon(schedule)
    assert done.wait(TIMEOUT)
    assert order == ["early", "late"]


def test_a_failing_callback_does_not_stop_the_loop(loop: IOThread) -> None:
    done = threading.Event()
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(done.set)
    assert done.wait(TIMEOUT)
    assert loop.is_running


def test_stop_runs_stop_callbacks_and_refuses_later_work() -> None:
    io = IOThread("stopping")
    stopped_on_loop: list[bool] = []
    io.add_stop_callback(lambda: stopped_on_loop.append(io.in_loop()))
    io.start(TIMEOUT)
    io.stop(TIMEOUT)
    assert stopped_on_loop == [True]
    assert not io.is_running
    with pytest.raises(HostStoppedError):
        io.call_soon(print)
