"""Where a paglet's handlers and ``run()`` execute: this process, or a child process.

:class:`~paglets.runtime.execution.local_paglet.LocalPaglet` reaches a paglet's code
only through an :class:`Execution`: :class:`InProcess` (the default) calls the
paglet's methods here; an isolated paglet's
:class:`~paglets.runtime.isolation.runner.IsolatedRunner` forwards them to its child
(a ZeroMQ peer on ``ipc://`` speaking the hosts' frames). The hooks, the mailbox and
the registry entry stay on the host either way, so the execution layer never
imports the isolation code built on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from paglets.core.agent import Paglet
from paglets.core.messages import Message


class Execution(Protocol):
    """The seam between a local paglet's bookkeeping and its code."""

    in_process: bool
    """Whether ``run()`` runs on a host thread (False: in a child process)."""

    def handle(self, message: Message) -> Any:
        """Run the paglet's handler for ``message`` and return its reply."""
        ...

    def synced(self, action: Callable[[], Any]) -> Callable[[], Any]:
        """Wrap a host action that needs the paglet's current state (a move, a copy)."""
        ...

    def refresh(self, timeout: float) -> bool:
        """Bring the paglet's state up to date here, waiting at most ``timeout`` seconds.

        Returns:
            Whether the host's copy is now the paglet's current state.
        """
        ...

    def begin_stop(self) -> None:
        """Ask what runs the paglet's code to end, without waiting (:meth:`stop` waits).

        A host ending many paglets at once asks them all first, so their ends overlap.
        """
        ...

    def stop(self) -> None:
        """The paglet left this host: end what runs its code."""
        ...

    def info(self) -> dict[str, Any]:
        """Facts to add to ``info()`` (a child's pid, exit code, CPUs)."""
        ...


class InProcess:
    """A paglet whose code runs in the host's own process (every class not ISOLATED)."""

    in_process = True

    def __init__(self, paglet: Paglet[Any]) -> None:
        self._paglet = paglet

    def handle(self, message: Message) -> Any:
        """Call the paglet's ``handle_message``."""
        return self._paglet.handle_message(message)

    def synced(self, action: Callable[[], Any]) -> Callable[[], Any]:
        """The state is here already: ``action`` as it is."""
        return action

    def refresh(self, timeout: float) -> bool:
        """The state is here already."""
        return True

    def begin_stop(self) -> None:
        """Nothing runs apart from the host."""

    def stop(self) -> None:
        """Nothing runs apart from the host."""

    def info(self) -> dict[str, Any]:
        """No facts beyond the host's own."""
        return {}
