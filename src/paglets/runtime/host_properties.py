"""A host's properties: the configured ones, and those set at run time."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any


class HostProperties:
    """Configured properties, shadowed by those set at run time (local: not gossiped).

    Args:
        configured: the properties of the host's config.
    """

    def __init__(self, configured: Mapping[str, str]) -> None:
        self._configured = dict(configured)
        self._set: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> dict[str, str]:
        """A copy of the configured properties (what other hosts see)."""
        return dict(self._configured)

    def get(self, key: str, default: Any = None) -> Any:
        """A property set at run time, else a configured one, else ``default``."""
        with self._lock:
            if key in self._set:
                return self._set[key]
        return self._configured.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set a run-time property.

        Raises:
            TypeError: ``key`` is not a non-empty str.
        """
        if not isinstance(key, str) or not key:
            raise TypeError(f"property key must be a non-empty str, not {key!r}")
        with self._lock:
            self._set[key] = value
