"""Messages: sync send, oneway, futures, priorities, multicast, and the errors a caller sees.

A clerk paglet lives on host beta; alpha talks to it over ZeroMQ through a proxy.

1. ``send`` waits for the reply; ``send_oneway`` does not wait and gets none.
2. ``send_future`` returns a ``FutureReply`` at once; ``get_reply(timeout)`` waits.
3. Priorities: while the clerk is busy, queued messages are handled highest priority
   first, first-in first-out within one priority; an ``UNQUEUED_PRIORITY`` message skips the
   queue and is answered at once.
4. ``Host.multicast_message`` reaches every paglet of a host; the ``ReplySet`` hands
   out the replies as they complete.
5. A kind the paglet does not handle raises ``NotHandledError``; an exception in the
   handler raises ``HostError`` with the remote type name and text.

Run it with ``uv run python demos/messages.py``.
"""

from __future__ import annotations

import faulthandler
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import HostError, NotHandledError, ReplyTimeoutError
from paglets.core.messages import MAX_PRIORITY, MIN_PRIORITY, UNQUEUED_PRIORITY, Message
from paglets.runtime.host import Host


@dataclass
class ClerkState(PagletState):
    name: str = "clerk"
    notes: list[str] = field(default_factory=list)
    handled_order: list[str] = field(default_factory=list)


class ClerkPaglet(Paglet[ClerkState]):
    State = ClerkState

    def on_creation(self, event: Any) -> None:
        if event.init:
            self.state.name = str(event.init)

    def handle_message(self, message: Message) -> Any:
        kind = message.kind
        if kind == "add":
            return message.get_arg("a") + message.get_arg("b")
        if kind == "note":
            self.state.notes.append(str(message.get_arg("text")))
            return None
        if kind == "notes":
            return list(self.state.notes)
        if kind == "slow":
            self.state.handled_order.append("slow")
            self.wait_leaving(float(message.get_arg("seconds", 0.5)))
            return "done being slow"
        if kind == "job":
            self.state.handled_order.append(message.get_arg("name"))
            return message.get_arg("name")
        if kind == "order":
            return list(self.state.handled_order)
        if kind == "ping":
            return f"{self.state.name} on {self.context.name}"
        if kind == "divide":
            return message.get_arg("a") / message.get_arg("b")
        return self.not_handled()


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """Call ``read`` until ``done(value)`` holds; return the value (the last one on timeout)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    with (
        Host(name="alpha", port=0) as alpha,
        Host(name="beta", port=0, peers=[alpha.address]) as beta,
    ):
        alpha.wait_for_host("beta", timeout=5)
        clerk = alpha.create_remote("beta", ClerkPaglet, init="clerk-0")
        print(f"clerk {clerk.agent_id[:8]} created on beta, talked to from alpha")

        print("\n-- 1. sync send and oneway")
        print("send add(2, 3) ->", clerk.send("add", args={"a": 2, "b": 3}))
        clerk.send_oneway("note", args={"text": "first oneway note"})
        clerk.send_oneway("note", args={"text": "second oneway note"})
        print("send_oneway returned at once, with no reply")
        # A oneway message and a later sync send travel on different sockets, so the
        # send may overtake it: wait until both notes are in.
        notes = wait_until(lambda: clerk.send("notes"), lambda value: len(value) == 2)
        print("notes the clerk took:", notes)

        print("\n-- 2. send_future and FutureReply")
        future = clerk.send_future("slow", args={"seconds": 0.4})
        print("send_future returned; reply available yet?", future.is_available())
        try:
            future.get_reply(timeout=0.05)
        except ReplyTimeoutError as exc:
            print("get_reply(timeout=0.05) raised ReplyTimeoutError:", exc)
        print("get_reply(timeout=5) ->", future.get_reply(timeout=5))

        print("\n-- 3. priorities")
        blocker = clerk.send_future(Message("slow", {"seconds": 0.5}, priority=MAX_PRIORITY))
        jobs = [
            clerk.send_future(Message("job", {"name": name}, priority=priority))
            for name, priority in [
                ("low-1", MIN_PRIORITY),
                ("normal", 5),
                ("high", MAX_PRIORITY),
                ("low-2", MIN_PRIORITY),
            ]
        ]
        started = time.monotonic()
        pong = clerk.send(Message("ping", priority=UNQUEUED_PRIORITY))
        took_ms = (time.monotonic() - started) * 1000
        print(
            f"UNQUEUED_PRIORITY ping answered in {took_ms:.1f} ms while the clerk was busy "
            f"(slow reply available: {blocker.is_available()}): {pong}"
        )
        blocker.get_reply(timeout=5)
        for job in jobs:
            job.get_reply(timeout=5)
        print("queued messages were handled in this order:", clerk.send("order")[1:])

        print("\n-- 4. multicast")
        for number in (1, 2, 3):
            alpha.create_remote("beta", ClerkPaglet, init=f"clerk-{number}")
        replies = beta.multicast_message("ping")
        print(f"multicast to beta's {len(replies)} paglets; replies as they complete:")
        for reply in replies:
            print("  ", reply.get_reply(0))
        print("all replies in:", replies.wait_for_all_replies(timeout=5))

        print("\n-- 5. errors")
        try:
            clerk.send("dance")
        except NotHandledError as exc:
            print("NotHandledError:", exc)
        try:
            clerk.send("divide", args={"a": 1, "b": 0})
        except HostError as exc:
            print(
                f"HostError: remote_type={exc.remote_type!r} remote_message={exc.remote_message!r}"
            )
    print("\nhosts stopped")


if __name__ == "__main__":
    main()
