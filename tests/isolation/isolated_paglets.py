"""Paglet classes the isolation tests run in child processes (importable by the child)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message


@dataclass
class CounterState(PagletState):
    count: int = 0
    seen_pids: list[int] | None = None


class IsolatedCounter(Paglet[CounterState]):
    """Counts in its child process; can be told to die in three ways."""

    ISOLATED = True
    State = CounterState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += int(message.args.get("n", 1))
            return self.state.count
        if message.kind == "pid":
            return os.getpid()
        if message.kind == "affinity":
            return sorted(os.sched_getaffinity(0))
        if message.kind == "exit":
            sys.exit(int(message.args["code"]))
        if message.kind == "hard-exit":
            os._exit(int(message.args["code"]))
        if message.kind == "raise":
            raise ValueError("bad value in the child")
        if message.kind == "block":  # args {"mark": PATH}: touched once the handler runs
            if isinstance(message.args, dict) and message.args.get("mark"):
                Path(message.args["mark"]).touch()
            time.sleep(600)
        return self.not_handled()


class InProcessCounter(Paglet[CounterState]):
    """The same counter, in the host's process (the neighbour that must keep running)."""

    State = CounterState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "add":
            self.state.count += int(message.args.get("n", 1))
            return self.state.count
        if message.kind == "pid":
            return os.getpid()
        return self.not_handled()
