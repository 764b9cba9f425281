"""ResourceRegistry: what a paglet holds open and how to let go of it.

Its public path is :mod:`paglets.runtime.resources`.

A paglet registers cleanup callbacks (or closeable objects) under names. Before its
host lets it go (dispatch, retract, deactivate, dispose) the callbacks run, newest
first. A callback that raises cancels the operation with ``ResourceCleanupError``: the
paglet stays where and as it was, its remaining resources still registered. A callback
registered with ``suppress=True`` may fail without cancelling anything (the failure is
logged and shown by :meth:`ResourceRegistry.status`). Callbacks that succeeded are
removed; a cancelled operation leaves the rest for the next attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from paglets.core.errors import ResourceCleanupError

log = logging.getLogger(__name__)


class Closeable(Protocol):
    """Anything with a ``close()``."""

    def close(self) -> Any: ...


@dataclass(slots=True)
class _Entry:
    callback: Callable[[], Any]
    suppress: bool
    last_error: str = ""


class ResourceRegistry:
    """Named cleanup callbacks of one paglet, run newest first."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()

    def register(self, name: str, fn: Callable[[], Any], suppress: bool = False) -> None:
        """Run ``fn()`` before the paglet leaves; registering a name again replaces it.

        Raises:
            TypeError: ``name`` is not a non-empty str, ``fn`` not callable, or
                ``suppress`` not a bool.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, not {name!r}")
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        if not isinstance(suppress, bool):
            raise TypeError(f"suppress must be True or False, not {suppress!r}")
        with self._lock:
            self._entries.pop(name, None)  # a replaced name moves to the newest place
            self._entries[name] = _Entry(fn, suppress)

    def track_closeable(self, name: str, obj: Closeable, suppress: bool = False) -> None:
        """Register ``obj.close`` under ``name``.

        Raises:
            TypeError: ``obj`` has no ``close()``.
        """
        close = getattr(obj, "close", None)
        if not callable(close):
            raise TypeError(f"{type(obj).__name__} has no close() to track")
        self.register(name, close, suppress)

    def remove(self, name: str) -> bool:
        """Forget ``name`` without running it; return whether it was registered."""
        with self._lock:
            return self._entries.pop(name, None) is not None

    def names(self) -> list[str]:
        """The registered names, oldest first."""
        with self._lock:
            return list(self._entries)

    def cleanup(self) -> None:
        """Run every callback, newest first, removing those that ran.

        Raises:
            ResourceCleanupError: a callback without ``suppress`` raised; the ones
                not yet run (and the failed one) stay registered.
        """
        with self._lock:
            for name in reversed(list(self._entries)):
                entry = self._entries[name]
                try:
                    entry.callback()
                except Exception as exc:
                    entry.last_error = f"{type(exc).__name__}: {exc}"
                    if not entry.suppress:
                        raise ResourceCleanupError(
                            f"cleanup of resource {name!r} failed: {entry.last_error}"
                        ) from exc
                    log.warning("cleanup of resource %r failed (suppressed): %s", name, exc)
                del self._entries[name]

    def status(self) -> dict[str, dict[str, Any]]:
        """Name -> ``{"suppress": bool, "last_error": str}`` of every registered resource."""
        with self._lock:
            return {
                name: {"suppress": entry.suppress, "last_error": entry.last_error}
                for name, entry in self._entries.items()
            }

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
