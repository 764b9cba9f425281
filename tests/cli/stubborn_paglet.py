"""A paglet whose handler ignores the host stopping, so a graceful stop has to wait.

Imported by ``paglets host`` subprocesses of the signal tests (``--allow-module``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.messages import Message

_NEVER = threading.Event()


@dataclass
class StubbornState(PagletState):
    blocks: int = 0


class StubbornPaglet(Paglet[StubbornState]):
    State = StubbornState

    def handle_message(self, message: Message) -> Any:
        if message.kind == "block":
            self.state.blocks += 1
            _NEVER.wait(float(message.get_arg("seconds", 30.0)))  # deaf to is_leaving
            return "done"
        return self.not_handled()
