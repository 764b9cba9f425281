"""Mobility events: every lifecycle hook, printed as it fires, across two hosts.

A paglet is created on alpha, dispatched to beta, cloned back to alpha, retracted
from beta to alpha, deactivated and activated again (once explicitly, once by a
message), and finally disposed, with its clone. Each hook prints the host it runs on;
``run()`` prints too, from its own thread. The paglet also writes every hook into its
state, which travels with it, so at the end it can tell its whole story.

Run it with ``uv run python demos/mobility_events.py``.
"""

from __future__ import annotations

import faulthandler
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.events import (
    CloneEvent,
    CreationEvent,
    DisposalEvent,
    MobilityEvent,
    PersistencyEvent,
)
from paglets.core.messages import Message
from paglets.runtime.host import Host

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line even when hooks print from other threads."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass
class WatchedState(PagletState):
    label: str = "original"
    history: list[str] = field(default_factory=list)


class WatchedPaglet(Paglet[WatchedState]):
    """Prints and remembers every hook the runtime calls."""

    State = WatchedState

    def _show(self, hook: str, detail: str) -> None:
        say(f"    [{self.context.name:5}] {self.state.label:8} {hook:16} {detail}".rstrip())

    def _saw(self, hook: str, detail: str = "") -> None:
        self._show(hook, detail)
        with self.locked_state() as state:
            state.history.append(f"{hook}@{self.context.name}")

    def on_creation(self, event: CreationEvent) -> None:
        self._saw("on_creation", f"init={event.init!r}")

    def on_dispatching(self, event: MobilityEvent) -> None:
        self._saw("on_dispatching", f"{event.source_host_name} -> {event.target_host_name}")

    def on_arrival(self, event: MobilityEvent) -> None:
        self._saw(
            "on_arrival",
            f"from {event.source_host_name} (reason {event.reason})",
        )

    def on_reverting(self, event: MobilityEvent) -> None:
        self._saw("on_reverting", f"pulled back to {event.target_host_name}")

    def on_cloning(self, event: CloneEvent) -> None:
        self._saw("on_cloning", f"copy goes to {event.target_host_name}")

    def on_clone(self, event: CloneEvent) -> None:
        with self.locked_state() as state:
            state.label = "clone"
        self._saw("on_clone", f"copy of {event.source_agent_id[:8]}")

    def on_cloned(self, event: CloneEvent) -> None:
        self._saw("on_cloned", f"my copy is {event.clone_agent_id[:8]}")

    def on_deactivating(self, event: PersistencyEvent) -> None:
        self._saw("on_deactivating", "state goes to the store")

    def on_activation(self, event: PersistencyEvent) -> None:
        self._saw("on_activation", "state loaded again")

    def on_disposing(self, event: DisposalEvent) -> None:
        self._saw("on_disposing", "goodbye")

    def run(self) -> None:
        self._show("run()", "on its own thread")

    def handle_message(self, message: Message) -> Any:
        if message.kind == "history":
            with self.locked():
                return list(self.state.history)
        return self.not_handled()


def main() -> None:
    # A demo must end: if anything hangs, print where and exit.
    faulthandler.dump_traceback_later(45, exit=True)
    with (
        Host(name="alpha", port=0) as alpha,
        Host(name="beta", port=0, peers=[alpha.address]) as beta,
    ):
        alpha.wait_for_host("beta", timeout=5)
        beta.wait_for_host("alpha", timeout=5)

        say("== create on alpha")
        proxy = alpha.create(WatchedPaglet, init="hello")
        agent_id = proxy.agent_id

        say("== dispatch alpha -> beta")
        proxy.dispatch("beta")

        say("== clone on beta, the copy to alpha")
        copy = proxy.clone("alpha")

        say("== retract from beta to alpha")
        alpha.retract("beta", agent_id)

        say("== deactivate on alpha, then activate")
        alpha.deactivate(agent_id)
        say(f"    active after deactivate? {proxy.is_active()}")
        alpha.activate(agent_id)

        say("== deactivate again; a message activates it")
        proxy.deactivate()
        history = proxy.send("history")

        say("== dispose both")
        proxy.dispose()
        copy.dispose()
        say(f"    original still valid? {proxy.is_valid()}; clone? {copy.is_valid()}")

        say("== the original's history, as its state carried it:")
        say(
            textwrap.fill(
                ", ".join(history), width=88, initial_indent="    ", subsequent_indent="    "
            )
        )
    say("hosts stopped")


if __name__ == "__main__":
    main()
