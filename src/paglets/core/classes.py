"""The classes this process has defined that the network may name.

Every ``Paglet`` and ``PagletState`` subclass registers itself here by class path
(``module:QualName``) when it is defined, so that a class defined anywhere in the
process (a test function included) resolves without importing anything.
"""

from __future__ import annotations

import threading
import weakref

_known: weakref.WeakValueDictionary[str, type] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def class_path(cls: type) -> str:
    """Return the class path ``module:QualName`` of ``cls``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def remember_class(cls: type) -> None:
    """Record ``cls`` under its class path (the latest definition wins)."""
    with _lock:
        _known[class_path(cls)] = cls


def known_class(path: str) -> type | None:
    """Return the class recorded under ``path``, or None."""
    with _lock:
        return _known.get(path)
