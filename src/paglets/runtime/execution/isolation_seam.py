"""The seam between a local paglet and the child process an isolated one runs in.

:class:`~paglets.runtime.execution.local_paglet.LocalPaglet` talks to
:mod:`paglets.runtime.isolation` only through this protocol, so the execution layer
does not import the isolation code that builds on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from paglets.core.messages import Message


class Isolation(Protocol):
    """The child process an isolated paglet's handlers run in (runtime.isolation)."""

    def handle(self, message: Message) -> Any: ...

    def synced(self, action: Callable[[], Any]) -> Callable[[], Any]: ...

    def stop(self) -> None: ...

    def info(self) -> dict[str, Any]: ...
