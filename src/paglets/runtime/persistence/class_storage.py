"""The persistent storage of each paglet class on this host (``persistent_storage()``).

One :class:`~paglets.persistence.storage.ManagedStorage` per paglet class, under
``<files root>/storage/<class path>``: the persistence dir when the host has one (so it
survives restarts), else the host's temporary directory.
"""

from __future__ import annotations

import threading

from paglets.persistence.storage import ManagedStorage
from paglets.runtime.files.work_area import WorkArea


def _dir_name(class_path: str) -> str:
    """A plain directory name for a class path (``module:QualName``)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in class_path)[:200]


class ClassStorage:
    """Hands out (and keeps) the storage of each paglet class."""

    def __init__(self, work_area: WorkArea, quota: int) -> None:
        self._root = work_area.root.parent / "storage"
        self._quota = quota
        self._stores: dict[str, ManagedStorage] = {}
        self._lock = threading.Lock()

    def of(self, class_path: str) -> ManagedStorage:
        """The storage of the paglet class at ``class_path`` (created on first use)."""
        with self._lock:
            store = self._stores.get(class_path)
            if store is None:
                store = ManagedStorage(self._root / _dir_name(class_path), self._quota)
                self._stores[class_path] = store
            return store
