"""The user-info system service: notifications and streamed text for the host's console.

Work that runs detached (a paglet that travelled on, a task started from a CLI that
exited) reports to a person through the console of a host: ``paglets host`` prints
what arrives on its stderr, one line per notification, and streamed text as it comes,
each line prefixed by the stream's name. The last notifications are kept for
``recent`` (a CLI or a test can read them back).

Contract ``paglets.system.user_info`` (version 1): ``notify(Notification) ->
Delivered``, ``stream(TextChunk) -> Delivered``, ``recent(RecentRequest) ->
RecentNotifications``. :class:`~paglets.patterns.notifications.NotificationMixin` is
the paglet-side helper.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from paglets.core.errors import ServiceContractError
from paglets.core.runtime_values import ResidentLifecycle
from paglets.services.contracts import ServiceContract, ServiceOperation
from paglets.services.provider import ServicePaglet, ServiceState

KEPT_NOTIFICATIONS = 200
"""How many notifications a host keeps for ``recent``."""
LEVELS = ("debug", "info", "warning", "error")
MAX_TEXT = 64 * 1024
"""The longest text one notification or chunk may carry, in characters."""


@dataclass
class Notification:
    """A message for the person at a host's console."""

    text: str = ""
    title: str = ""
    level: str = "info"
    source: str = ""
    source_host: str = ""
    time: float = 0.0


@dataclass
class TextChunk:
    """A piece of a text stream; ``done`` closes the stream."""

    stream: str = ""
    text: str = ""
    done: bool = False
    source_host: str = ""


@dataclass
class Delivered:
    """What became of a notification or chunk."""

    host: str = ""
    shown: bool = True
    number: int = 0


@dataclass
class RecentRequest:
    """How many of the last notifications to return."""

    limit: int = 20


@dataclass
class RecentNotifications:
    """The last notifications, oldest first."""

    host: str = ""
    notifications: list[Notification] = field(default_factory=list)


USER_INFO = ServiceContract(
    name="paglets.system.user_info",
    version=1,
    description="Notifications and streamed text shown on a host's console.",
    operations=(
        ServiceOperation("notify", Notification, Delivered, description="show a notification"),
        ServiceOperation("stream", TextChunk, Delivered, description="show streamed text"),
        ServiceOperation("recent", RecentRequest, RecentNotifications, description="read back"),
    ),
)


@dataclass
class UserInfoState(ServiceState):
    """What survives a deactivation: the kept notifications and unfinished lines."""

    kept: list[Notification] = field(default_factory=list)
    partial: dict[str, str] = field(default_factory=dict)
    count: int = 0


class UserInfoService(ServicePaglet[UserInfoState]):
    """Provides :data:`USER_INFO`: prints to the host process's stderr."""

    State = UserInfoState
    CONTRACT = USER_INFO
    RESIDENT_LIFECYCLE = ResidentLifecycle.LAZY
    IDLE_TIMEOUT = 300.0

    _console_lock = threading.Lock()

    def _console(self) -> TextIO:
        return sys.stderr

    def notify(self, request: Notification) -> Delivered:
        """Answer ``notify``: print one line and keep it."""
        if request.level not in LEVELS:
            raise ServiceContractError(f"notification level {request.level!r} not in {LEVELS}")
        text = _clip(request.text)
        request.time = request.time or time.time()
        request.text = text
        state = self.state
        state.kept = [*state.kept[-(KEPT_NOTIFICATIONS - 1) :], request]
        state.count += 1
        origin = "@".join(part for part in (request.source, request.source_host) if part)
        parts = [f"[{request.level}]"]
        parts += [f"{label}:" for label in (origin, request.title) if label]
        self._print(" ".join([*parts, text]))
        return Delivered(self.context.name, True, state.count)

    def stream(self, request: TextChunk) -> Delivered:
        """Answer ``stream``: print every complete line; ``done`` flushes the rest."""
        state = self.state
        name = request.stream or "stream"
        pending = state.partial.pop(name, "") + _clip(request.text)
        *lines, rest = pending.split("\n")
        if request.done and rest:
            lines.append(rest)
            rest = ""
        for line in lines:
            self._print(f"[{name}] {line}")
        if rest:
            state.partial[name] = rest[-MAX_TEXT:]
        state.count += 1
        return Delivered(self.context.name, bool(lines), state.count)

    def recent(self, request: RecentRequest) -> RecentNotifications:
        """Answer ``recent``."""
        limit = max(0, int(request.limit))
        kept = list(self.state.kept)[-limit:] if limit else []
        return RecentNotifications(self.context.name, kept)

    def _print(self, line: str) -> None:
        with self._console_lock:
            print(line, file=self._console(), flush=True)


def _clip(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [clipped]"
