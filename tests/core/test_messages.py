"""Tests for paglets.core.messages: Message validation, FutureReply and ReplySet."""

from __future__ import annotations

import threading

import pytest

from helpers import TIMEOUT
from paglets.core.errors import NotHandledError, PagletError, ReplyTimeoutError, SerializationError
from paglets.core.messages import (
    DEACTIVATE,
    FUTURE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    NORMAL_PRIORITY,
    ONEWAY,
    SYNCHRONOUS,
    UNQUEUED_PRIORITY,
    FutureReply,
    Message,
    ReplySet,
    check_priority,
)

# Message -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "priority", [UNQUEUED_PRIORITY, MIN_PRIORITY, NORMAL_PRIORITY, MAX_PRIORITY]
)
def test_message_accepts_priorities_one_to_ten_and_unqueued(priority: int) -> None:
    assert Message("work", priority=priority).priority == priority
    assert check_priority(priority) == priority


@pytest.mark.parametrize("priority", [-1, 11, 100, 5.0, "5", None, True])
def test_message_rejects_other_priorities(priority: object) -> None:
    with pytest.raises(ValueError, match="priority"):
        Message("work", priority=priority)  # type: ignore[arg-type]


def test_message_defaults() -> None:
    message = Message("work")
    assert message.priority == NORMAL_PRIORITY
    assert message.args == {}
    assert message.arg is None


@pytest.mark.parametrize("kind", ["", None, 3, b"work"])
def test_message_kind_must_be_a_non_empty_string(kind: object) -> None:
    with pytest.raises(ValueError, match="kind"):
        Message(kind)  # type: ignore[arg-type]


def test_message_args_must_be_a_dict() -> None:
    with pytest.raises(ValueError, match="args"):
        Message("work", args=[1, 2])  # type: ignore[arg-type]
    assert Message("work", args=None).args == {}  # type: ignore[arg-type]


def test_message_arguments() -> None:
    message = Message("work", {"a": 1}, arg="single")
    assert message.get_arg() == "single"
    assert message.get_arg("a") == 1
    assert message.get_arg("missing", "fallback") == "fallback"
    assert message.set_arg("b", 2) is message
    assert message.args == {"a": 1, "b": 2}
    assert message.same_kind("work") and not message.same_kind("play")
    assert message.same_kind(Message("work")) and not message.same_kind(Message("play"))


def test_message_metadata_defaults_and_wire_round_trip() -> None:
    message = Message("work", {"a": [1]}, arg=b"x", priority=MAX_PRIORITY, sender="s1")
    assert message.message_type == SYNCHRONOUS
    assert message.reply_to is None
    assert message.message_id and message.timestamp > 0
    again = Message.from_wire(message.to_wire())
    assert again == message
    assert Message.from_wire({"kind": "bare"}).priority == NORMAL_PRIORITY


@pytest.mark.parametrize(
    "data",
    [{"args": {}}, "work", {"kind": "work", "colour": 1}, {"kind": "work", "priority": 99}],
)
def test_message_from_bad_wire_data_is_a_serialization_error(data: object) -> None:
    with pytest.raises(SerializationError):
        Message.from_wire(data)  # type: ignore[arg-type]


def test_message_type_must_be_a_known_one() -> None:
    for message_type in (SYNCHRONOUS, FUTURE, ONEWAY):
        assert Message("work", message_type=message_type).message_type == message_type
    with pytest.raises(ValueError, match="message_type"):
        Message("work", message_type="later")


def test_the_deactivate_kind_is_reserved_with_the_original_spelling() -> None:
    assert DEACTIVATE == "_deactivate"


# FutureReply ---------------------------------------------------------------------------


def test_future_is_completed_once() -> None:
    future = FutureReply()
    assert not future.is_available()
    assert future.set_result(1) is True
    assert future.set_result(2) is False
    assert future.set_error(PagletError("late")) is False
    assert future.is_available()
    assert future.get_reply(0) == 1
    assert future.error() is None


def test_future_error_is_raised_by_get_reply() -> None:
    future = FutureReply()
    error = NotHandledError("no such kind")
    assert future.set_error(error) is True
    assert future.set_result("late") is False
    assert future.error() is error
    with pytest.raises(NotHandledError) as caught:
        future.get_reply(0)
    assert caught.value is error


def test_future_timeout_raises_reply_timeout_error() -> None:
    future = FutureReply()
    assert future.wait_for_reply(0.01) is False
    with pytest.raises(ReplyTimeoutError):
        future.get_reply(0.01)
    assert not isinstance(ReplyTimeoutError("x"), TimeoutError)  # never shadows a built-in


def test_future_wakes_a_waiter_completed_from_another_thread() -> None:
    future = FutureReply()
    completer = threading.Thread(target=future.set_result, args=("done",))
    completer.start()
    assert future.get_reply(TIMEOUT) == "done"
    completer.join(TIMEOUT)


def test_future_is_completed_once_under_a_race() -> None:
    future = FutureReply()
    start = threading.Barrier(8)
    wins: list[int] = []

    def complete(value: int) -> None:
        start.wait(TIMEOUT)
        if future.set_result(value):
            wins.append(value)

    threads = [threading.Thread(target=complete, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(wins) == 1
    assert future.get_reply(0) == wins[0]


def test_future_callbacks_run_once_on_completion_and_at_once_when_late() -> None:
    future = FutureReply()
    calls: list[tuple[str, FutureReply]] = []
    future.add_done_callback(lambda done: calls.append(("early", done)))
    assert calls == []
    future.set_result(7)
    assert calls == [("early", future)]
    future.set_result(8)  # a second completion calls nothing again
    future.add_done_callback(lambda done: calls.append(("late", done)))
    assert calls == [("early", future), ("late", future)]


def test_future_callback_sees_the_error() -> None:
    future = FutureReply()
    seen: list[BaseException | None] = []
    future.add_done_callback(lambda done: seen.append(done.error()))
    error = PagletError("boom")
    future.set_error(error)
    assert seen == [error]


def test_typed_replies_check_the_type() -> None:
    def done(value: object) -> FutureReply:
        future = FutureReply()
        future.set_result(value)
        return future

    assert done(True).get_boolean_reply(0) is True
    assert done(7).get_int_reply(0) == 7
    assert done(7).get_float_reply(0) == 7.0 and done(0.5).get_float_reply() == 0.5
    assert done("seven").get_string_reply(0) == "seven"
    for call in (
        done("true").get_boolean_reply,
        done(True).get_int_reply,
        done("7").get_int_reply,
        done(False).get_float_reply,
        done(7).get_string_reply,
    ):
        with pytest.raises(TypeError, match="the reply is"):
            call(0)
    with pytest.raises(ReplyTimeoutError):
        FutureReply().get_int_reply(0.01)


# ReplySet ------------------------------------------------------------------------------


def test_reply_set_iterates_in_completion_order() -> None:
    futures = [FutureReply() for _ in range(3)]
    replies = ReplySet(futures)
    assert len(replies) == 3
    futures[2].set_result("c")
    futures[0].set_result("a")
    futures[1].set_result("b")
    assert [future.get_reply(0) for future in replies] == ["c", "a", "b"]


def test_reply_set_iteration_waits_for_futures_completed_later() -> None:
    futures = [FutureReply() for _ in range(3)]
    replies = ReplySet(futures)
    order = [1, 2, 0]
    got: list[str] = []

    def consume() -> None:
        got.extend(future.get_reply(0) for future in replies)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for index in order:
        futures[index].set_result(f"r{index}")
    consumer.join(TIMEOUT)
    assert not consumer.is_alive()
    assert got == ["r1", "r2", "r0"]


def test_reply_set_next_future_and_counters() -> None:
    first, second = FutureReply(), FutureReply()
    replies = ReplySet()
    replies.add_future_reply(first)
    replies.add_future_reply(second)
    assert replies.futures == [first, second]
    assert not replies.is_any_available()
    assert replies.get_next_future_reply() is None
    assert (replies.count_available(), replies.count_unavailable()) == (0, 2)
    assert not replies.are_all_available()
    with pytest.raises(ReplyTimeoutError):
        replies.wait_for_next_future_reply(0.01)
    second.set_result(2)
    assert replies.count_available() == 1
    assert replies.is_any_available()
    assert replies.wait_for_next_future_reply(0) is second
    assert replies.has_more_future_replies()
    first.set_error(PagletError("failed"))
    assert replies.get_next_future_reply() is first
    assert replies.are_all_available() and replies.count_unavailable() == 0
    assert replies.get_next_future_reply() is None
    assert not replies.has_more_future_replies()
    with pytest.raises(LookupError):
        replies.wait_for_next_future_reply(0)


def test_reply_set_wait_for_all_replies() -> None:
    futures = [FutureReply() for _ in range(3)]
    replies = ReplySet(futures)
    futures[0].set_result(0)
    futures[2].set_result(2)
    assert replies.wait_for_all_replies(0.01) is False
    threading.Thread(target=futures[1].set_result, args=(1,)).start()
    assert replies.wait_for_all_replies(TIMEOUT) is True


def test_reply_set_replies_are_in_the_order_futures_were_added() -> None:
    futures = [FutureReply() for _ in range(3)]
    replies = ReplySet(futures)
    for index in (2, 0, 1):
        futures[index].set_result(index * 10)
    assert replies.replies(TIMEOUT) == [0, 10, 20]


def test_reply_set_replies_raise_the_first_error_or_a_timeout() -> None:
    pending = ReplySet([FutureReply(), FutureReply()])
    pending.futures[0].set_result(1)
    with pytest.raises(ReplyTimeoutError):
        pending.replies(0.01)

    failed = ReplySet([FutureReply(), FutureReply()])
    failed.futures[1].set_error(NotHandledError("second"))
    failed.futures[0].set_result("first")
    with pytest.raises(NotHandledError, match="second"):
        failed.replies(TIMEOUT)


def test_empty_reply_set() -> None:
    replies = ReplySet()
    assert len(replies) == 0
    assert list(replies) == []
    assert replies.wait_for_all_replies(0) is True
    assert replies.replies(0) == []
