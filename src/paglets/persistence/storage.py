"""ManagedStorage: a paglet class's own directory on a host, with a byte quota.

Every paglet of one class on one host shares one directory under the host's files root
(``storage/<class path>``). It survives restarts of a host with a persistence dir and
never moves with the paglet: it belongs to the host. Writes through
:meth:`ManagedStorage.write_bytes`/:meth:`~ManagedStorage.write_text` are checked
against the quota first; a write that would go over it raises ``StorageQuotaError`` and
leaves the old content in place.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from paglets.core.errors import ForbiddenError, StorageQuotaError

DEFAULT_QUOTA = 64 * 1024 * 1024
"""Bytes one class's storage may hold unless the host says otherwise."""


class ManagedStorage:
    """One class's directory, its quota, and checked reads and writes.

    Args:
        root: the directory (created if missing).
        quota: the most bytes the directory may hold.

    Raises:
        ValueError: ``quota`` is not a positive int.
    """

    def __init__(self, root: Path, quota: int = DEFAULT_QUOTA) -> None:
        if isinstance(quota, bool) or not isinstance(quota, int) or quota <= 0:
            raise ValueError(f"quota must be a positive int of bytes, not {quota!r}")
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._quota = quota
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The directory."""
        return self._root

    @property
    def quota(self) -> int:
        """The most bytes the directory may hold."""
        return self._quota

    def used(self) -> int:
        """Bytes held now (the sum of the regular files' sizes)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self._root):
            for name in files:
                try:
                    total += (Path(dirpath) / name).stat().st_size
                except OSError:
                    continue
        return total

    def free(self) -> int:
        """Bytes that can still be written."""
        return max(0, self._quota - self.used())

    def file(self, name: str) -> Path:
        """The path of ``name`` inside the directory (a relative path, no ``..``).

        Raises:
            ForbiddenError: ``name`` leaves the directory.
        """
        if not isinstance(name, str) or not name:
            raise ForbiddenError("a storage file name must be a non-empty string")
        candidate = (self._root / name).resolve()
        root = self._root.resolve()
        if candidate == root or root not in candidate.parents:
            raise ForbiddenError(f"{name[:100]!r} is outside this paglet class's storage")
        return candidate

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``data`` to ``name`` (replacing it) if the quota allows; return the path.

        Raises:
            StorageQuotaError: the write would take the directory over its quota.
            ForbiddenError: ``name`` leaves the directory.
        """
        target = self.file(name)
        with self._lock:
            old = target.stat().st_size if target.is_file() else 0
            needed = self.used() - old + len(data)
            if needed > self._quota:
                raise StorageQuotaError(
                    f"writing {len(data)} bytes to {name!r} needs {needed} bytes; "
                    f"the quota of {self._root.name} is {self._quota}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.part")
            partial.write_bytes(data)
            os.replace(partial, target)
        return target

    def write_text(self, name: str, text: str, encoding: str = "utf-8") -> Path:
        """Write ``text`` to ``name`` (see :meth:`write_bytes`)."""
        return self.write_bytes(name, text.encode(encoding))

    def read_bytes(self, name: str) -> bytes:
        """The content of ``name`` (FileNotFoundError if there is none)."""
        return self.file(name).read_bytes()

    def read_text(self, name: str, encoding: str = "utf-8") -> str:
        """The content of ``name`` as text."""
        return self.file(name).read_text(encoding)

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a file in the directory."""
        return self.file(name).is_file()

    def delete(self, name: str) -> bool:
        """Remove ``name``; return whether it was there."""
        target = self.file(name)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        return True

    def __repr__(self) -> str:
        return f"<ManagedStorage {self._root} quota={self._quota}>"
