"""A host stopping: the flag its parts check, and the hooks that run first."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class StopSignal:
    """Set once when the host begins to stop; work arriving after it is refused.

    Stop hooks (services of higher layers) run before the flag is set, last added
    first, while the paglets they serve are still in place.
    """

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        """Whether the host is stopping."""
        return self._flag.is_set()

    def set(self) -> None:
        """Mark the host as stopping (for good)."""
        self._flag.set()

    def add_hook(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` when the host stops, before its paglets are deactivated."""
        with self._lock:
            self._hooks.append(hook)

    def remove_hook(self, hook: Callable[[], None]) -> None:
        """Forget a hook (absent: nothing happens)."""
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def run_hooks(self, host_name: str) -> None:
        """Run and forget the hooks, last added first; a failing one is logged."""
        with self._lock:
            hooks, self._hooks = self._hooks, []
        for hook in reversed(hooks):
            try:
                hook()
            except Exception:
                log.exception("host %s: a stop hook failed", host_name)
