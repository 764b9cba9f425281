"""The mailbox on its own, on a real worker pool: order, one at a time, turns, waits.

Each test builds a :class:`Mailbox` whose handler records what it sees; handlers that
must stay in progress wait on events the test sets. Nothing sleeps for a fixed time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from helpers import TIMEOUT, wait_for
from paglets.runtime.execution.mailbox import Mailbox
from paglets.runtime.execution.workers import WorkerPool


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    made = WorkerPool("mailbox-test", max_workers=16)
    yield made
    made.stop(TIMEOUT)


class Recorder:
    """A mailbox handler: logs each envelope, runs its action, counts overlaps."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.actions: dict[Any, Callable[[], Any]] = {}
        self.threads: list[threading.Thread] = []
        self.max_inside = 0
        self._inside = 0
        self._lock = threading.Lock()
        self.mailbox: Mailbox | None = None

    def __call__(self, envelope: Any) -> None:
        with self._lock:
            self._inside += 1
            self.max_inside = max(self.max_inside, self._inside)
            self.threads.append(threading.current_thread())
        try:
            assert self.mailbox is not None and self.mailbox.holds_turn()
            action = self.actions.get(envelope)
            if action is not None:
                action()
            with self._lock:
                self.seen.append(envelope)
        finally:
            with self._lock:
                self._inside -= 1

    def log(self, entry: Any) -> None:
        with self._lock:
            self.seen.append(entry)


def make(pool: WorkerPool) -> tuple[Mailbox, Recorder]:
    recorder = Recorder()
    mailbox = Mailbox(pool, recorder)
    recorder.mailbox = mailbox
    return mailbox, recorder


def length_is(items: list[Any], size: int) -> Callable[[], bool]:
    """A condition for :func:`wait_for`: ``items`` has ``size`` entries."""
    return lambda: len(items) == size


def blocker(recorder: Recorder, key: Any) -> tuple[threading.Event, threading.Event]:
    """Make ``key``'s handling wait: returns (entered, release) events."""
    entered, release = threading.Event(), threading.Event()

    def action() -> None:
        entered.set()
        assert release.wait(TIMEOUT), "the test never released the handler"

    recorder.actions[key] = action
    return entered, release


# order and serial handling ---------------------------------------------------------------


def test_priority_first_then_arrival(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    mailbox.hold()
    posted = [("a", 1), ("b", 5), ("c", 10), ("d", 5), ("e", 1), ("f", 10), ("g", 7)]
    for name, priority in posted:
        mailbox.post(name, priority)
    assert recorder.seen == [] and len(mailbox) == len(posted)
    mailbox.release()
    wait_for(lambda: len(recorder.seen) == len(posted))
    assert recorder.seen == ["c", "f", "g", "b", "d", "a", "e"]
    assert len(mailbox) == 0


def test_messages_posted_while_one_is_handled_wait_and_keep_their_order(
    pool: WorkerPool,
) -> None:
    mailbox, recorder = make(pool)
    entered, release = blocker(recorder, "first")
    mailbox.post("first", 1)
    assert entered.wait(TIMEOUT)
    for name, priority in [("low", 1), ("high", 9), ("mid", 5), ("high2", 9)]:
        mailbox.post(name, priority)
    assert recorder.seen == []  # "first" is still in progress; nothing overtook it
    release.set()
    wait_for(lambda: len(recorder.seen) == 5)
    assert recorder.seen == ["first", "high", "high2", "mid", "low"]


def test_never_two_handlers_at_once_for_one_mailbox(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    # slow the first one down so the posts below pile up against a busy mailbox
    entered, release = blocker(recorder, (0, 0))
    mailbox.post((0, 0), 5)
    assert entered.wait(TIMEOUT)

    def poster(n: int) -> None:
        for i in range(50):
            mailbox.post((n, i), 1 + (i % 10))

    posters = [threading.Thread(target=poster, args=(n,)) for n in range(1, 5)]
    for each in posters:
        each.start()
    release.set()
    for each in posters:
        each.join(TIMEOUT)
    wait_for(lambda: len(recorder.seen) == 1 + 4 * 50)
    assert recorder.max_inside == 1
    assert sorted(recorder.seen) == sorted(
        [(0, 0)] + [(n, i) for n in range(1, 5) for i in range(50)]
    )
    # within one poster and one priority, arrival order holds
    for n in range(1, 5):
        for priority in range(1, 11):
            mine = [i for (m, i) in recorder.seen if m == n and 1 + (i % 10) == priority]
            assert mine == sorted(mine)


def test_a_handler_that_raises_is_logged_and_later_envelopes_still_run(
    pool: WorkerPool, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, recorder = make(pool)

    def boom() -> None:
        raise RuntimeError("handler bug")

    recorder.actions["bad"] = boom
    mailbox.hold()
    mailbox.post("bad", 9)
    mailbox.post("good", 1)
    with caplog.at_level(logging.ERROR, logger="paglets.runtime.execution.mailbox"):
        mailbox.release()
        wait_for(lambda: recorder.seen == ["good"])
    assert any(
        "handling an envelope failed" in record.getMessage() and record.exc_info
        for record in caplog.records
    )
    # not stuck busy: a later post starts a new drain
    mailbox.post("later", 5)
    wait_for(lambda: recorder.seen == ["good", "later"])
    assert not mailbox.holds_turn()


# no thread while idle ----------------------------------------------------------------


def test_an_idle_mailbox_holds_no_worker_thread() -> None:
    single = WorkerPool("mailbox-single", max_workers=1)
    try:
        boxes = [make(single) for _ in range(40)]
        for n, (mailbox, _) in enumerate(boxes):
            mailbox.post(n, 5)
        # one thread served every mailbox in turn: none kept it after draining
        wait_for(lambda: all(recorder.seen == [n] for n, (_, recorder) in enumerate(boxes)))
        assert single.size == 1
        ran = threading.Event()
        single.submit(ran.set)  # the only worker is free again
        assert ran.wait(TIMEOUT)
        # and a drained mailbox starts a drain again when a message comes
        boxes[0][0].post("again", 5)
        wait_for(lambda: boxes[0][1].seen == [0, "again"])
    finally:
        single.stop(TIMEOUT)


# turns -------------------------------------------------------------------------------


def test_turn_makes_the_caller_the_turn_holder_and_nests(pool: WorkerPool) -> None:
    first, _ = make(pool)
    second, _ = make(pool)
    assert not first.holds_turn() and not second.holds_turn()
    with first.turn():
        assert first.holds_turn() and not second.holds_turn()
        with second.turn():
            assert second.holds_turn() and not first.holds_turn()
        assert first.holds_turn() and not second.holds_turn()
        seen_elsewhere: list[bool] = []
        other = threading.Thread(target=lambda: seen_elsewhere.append(first.holds_turn()))
        other.start()
        other.join(TIMEOUT)
        assert seen_elsewhere == [False]  # the turn belongs to a thread
    assert not first.holds_turn()


def test_the_turn_is_given_back_when_turn_raises(pool: WorkerPool) -> None:
    mailbox, _ = make(pool)
    with pytest.raises(ValueError), mailbox.turn():
        raise ValueError("hook failed")
    assert not mailbox.holds_turn()


def test_run_if_idle_runs_on_the_calling_thread_as_turn_holder(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    where: list[tuple[threading.Thread, bool]] = []

    def action() -> str:
        where.append((threading.current_thread(), mailbox.holds_turn()))
        return "done"

    assert mailbox.run_if_idle(action) == (True, "done")
    assert where == [(threading.current_thread(), True)]
    assert not mailbox.holds_turn()
    mailbox.post("after", 5)  # the mailbox is not left busy
    wait_for(lambda: recorder.seen == ["after"])


def test_run_if_idle_refuses_when_busy_held_or_queued(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    calls: list[int] = []

    def action() -> None:
        calls.append(1)

    entered, release = blocker(recorder, "slow")
    mailbox.post("slow", 5)
    assert entered.wait(TIMEOUT)
    assert mailbox.run_if_idle(action) == (False, None)  # busy
    release.set()
    wait_for(lambda: recorder.seen == ["slow"])
    mailbox.hold()
    assert mailbox.run_if_idle(action) == (False, None)  # held, empty
    mailbox.post("queued", 5)
    assert mailbox.run_if_idle(action) == (False, None)  # held, with mail
    assert calls == []
    mailbox.release()
    wait_for(lambda: recorder.seen == ["slow", "queued"])
    wait_for(lambda: mailbox.run_if_idle(action) == (True, None))
    assert calls == [1]


def test_mail_posted_during_run_if_idle_waits_for_it_then_runs(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)

    def action() -> int:
        mailbox.post("during", 5)
        assert recorder.seen == []  # the caller holds the turn: no drain started
        assert len(mailbox) == 1
        return 7

    assert mailbox.run_if_idle(action) == (True, 7)
    wait_for(lambda: recorder.seen == ["during"])


def test_an_exception_in_run_if_idle_propagates_and_frees_the_mailbox(
    pool: WorkerPool,
) -> None:
    mailbox, recorder = make(pool)

    def action() -> None:
        mailbox.post("during", 5)
        raise KeyError("hook")

    with pytest.raises(KeyError):
        mailbox.run_if_idle(action)
    wait_for(lambda: recorder.seen == ["during"])
    assert mailbox.run_if_idle(lambda: 1) == (True, 1)


# hold / release / take_all -----------------------------------------------------------


def test_take_all_empties_a_held_mailbox_highest_priority_first(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    mailbox.hold()
    for name, priority in [("x", 2), ("y", 8), ("z", 2), ("w", 8)]:
        mailbox.post(name, priority)
    assert mailbox.take_all() == ["y", "w", "x", "z"]
    assert len(mailbox) == 0 and mailbox.take_all() == []
    mailbox.release()  # nothing queued: nothing runs
    mailbox.post("new", 5)
    wait_for(lambda: recorder.seen == ["new"])


def test_hold_during_a_handler_stops_the_drain_after_it(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    finished = threading.Event()
    entered, release = blocker(recorder, "moving")
    original = recorder.actions["moving"]

    def moving() -> None:
        original()
        finished.set()

    recorder.actions["moving"] = moving
    mailbox.post("moving", 5)
    assert entered.wait(TIMEOUT)
    mailbox.hold()
    mailbox.post("m1", 1)
    mailbox.post("m2", 9)
    release.set()
    assert finished.wait(TIMEOUT)
    wait_for(lambda: recorder.seen == ["moving"])
    # held: the drain popped nothing more, whenever it noticed
    assert mailbox.take_all() == ["m2", "m1"]
    mailbox.post("m3", 5)
    assert len(mailbox) == 1
    mailbox.release()
    wait_for(lambda: recorder.seen == ["moving", "m3"])


# wait / notify -----------------------------------------------------------------------


def test_wait_message_gives_the_turn_away_and_notify_gives_it_back(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    results: list[bool] = []

    def waiter() -> None:
        recorder.log("A waits")
        results.append(mailbox.wait_message(TIMEOUT))
        assert mailbox.holds_turn()
        recorder.log("A resumed")

    recorder.actions["A"] = waiter
    recorder.actions["B"] = mailbox.notify_message
    mailbox.post("A", 5)
    wait_for(lambda: recorder.seen == ["A waits"])
    mailbox.post("B", 5)  # handled although A has not finished
    wait_for(lambda: len(recorder.seen) == 4)
    assert recorder.seen == ["A waits", "B", "A resumed", "A"]
    assert results == [True]
    assert recorder.max_inside == 2  # A paused inside while B ran; never both running
    mailbox.post("C", 5)
    wait_for(lambda: recorder.seen[-1:] == ["C"])


def test_wait_message_times_out_and_the_handler_keeps_its_turn(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    results: list[tuple[bool, float, bool]] = []

    def waiter() -> None:
        started = time.monotonic()
        notified = mailbox.wait_message(0.05)
        results.append((notified, time.monotonic() - started, mailbox.holds_turn()))

    recorder.actions["A"] = waiter
    mailbox.post("A", 5)
    wait_for(lambda: recorder.seen == ["A"])
    [(notified, took, has_turn)] = results
    assert notified is False and has_turn
    assert 0.04 <= took < TIMEOUT
    mailbox.notify_message()  # the timed-out waiter is gone: nothing to wake
    mailbox.post("B", 5)
    wait_for(lambda: recorder.seen == ["A", "B"])


def test_notify_message_wakes_the_longest_waiting_only(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    results: dict[str, bool] = {}

    def waiter(name: str) -> Callable[[], None]:
        def run() -> None:
            recorder.log(f"{name} waits")
            results[name] = mailbox.wait_message(TIMEOUT)
            recorder.log(f"{name} resumed")

        return run

    recorder.actions["A"] = waiter("A")
    recorder.actions["B"] = waiter("B")
    recorder.actions["C"] = mailbox.notify_message
    recorder.actions["D"] = mailbox.notify_message
    mailbox.post("A", 5)
    wait_for(lambda: recorder.seen == ["A waits"])
    mailbox.post("B", 5)
    wait_for(lambda: recorder.seen == ["A waits", "B waits"])
    mailbox.post("C", 5)
    wait_for(lambda: recorder.seen[-1:] == ["A"])
    assert recorder.seen == ["A waits", "B waits", "C", "A resumed", "A"]
    assert results == {"A": True}  # B still waits
    mailbox.post("D", 5)
    wait_for(lambda: recorder.seen[-1:] == ["B"])
    assert recorder.seen[5:] == ["D", "B resumed", "B"]
    assert results == {"A": True, "B": True}


def test_notify_all_messages_wakes_every_waiter(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    results: dict[str, bool] = {}

    def waiter(name: str) -> Callable[[], None]:
        def run() -> None:
            recorder.log(f"{name} waits")
            results[name] = mailbox.wait_message(TIMEOUT)

        return run

    for count, name in enumerate("ABC", 1):
        recorder.actions[name] = waiter(name)
        mailbox.post(name, 5)
        wait_for(length_is(recorder.seen, count))  # each waits before the next is handled
    recorder.actions["wake"] = mailbox.notify_all_messages
    mailbox.post("wake", 5)
    wait_for(lambda: {"A", "B", "C"} <= set(recorder.seen))
    assert results == {"A": True, "B": True, "C": True}
    assert recorder.seen.index("wake") < min(recorder.seen.index(name) for name in "ABC")


def test_wait_message_outside_a_turn_blocks_only_the_caller(pool: WorkerPool) -> None:
    mailbox, recorder = make(pool)
    results: list[bool] = []
    waiting = threading.Thread(target=lambda: results.append(mailbox.wait_message(TIMEOUT)))
    waiting.start()
    # a waiter that held no turn leaves the mailbox serving as usual
    recorder.actions["wake"] = mailbox.notify_message
    mailbox.post("wake", 5)
    wait_for(lambda: recorder.seen == ["wake"])
    # the waiter may have registered after "wake" ran: keep notifying until it returns
    wait_for(lambda: bool(mailbox.notify_message() or results))
    waiting.join(TIMEOUT)
    assert results == [True]
    started = time.monotonic()
    assert mailbox.wait_message(0.02) is False
    assert time.monotonic() - started >= 0.015
    mailbox.notify_all_messages()  # nobody waits: harmless
    assert mailbox.run_if_idle(lambda: "idle") == (True, "idle")
