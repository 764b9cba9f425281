"""The files a paglet carries: its registered files and its work dir on this host.

Each paglet may have a work dir (``<work root>/<agent id>``, created on first use) and
a table of *registered files*: name -> (path on this host, mode). A registered file may
live anywhere; when the paglet moves it travels under its name into the work dir of
the paglet on the target host, and is in place before ``on_arrival``/``on_clone``.

* ``copy`` (the default): a file outside the work dir stays where it was after a
  dispatch; the paglet takes a copy.
* ``move``: after a committed dispatch the file is deleted from this host.
* a clone always copies; a failed move changes nothing.

The work dir belongs to the paglet: it is removed when the paglet leaves this host for
good (dispatch, retract) or is disposed, and kept while it is inactive.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paglets.artifacts import PagletFileRef, check_name
from paglets.core.errors import ArtifactError, ArtifactNotFoundError
from paglets.remote.blob_stream import hash_file
from paglets.runtime.files.roots import check_path
from paglets.runtime.files.work_area import FileTable, WorkArea, remove_tree
from paglets.wire.handoff_bodies import CarriedFile

MODES = ("copy", "move")


@dataclass
class FileEntry:
    """One registered file; caches its digest while size, mtime and inode stay the same."""

    path: Path
    mode: str
    _stamp: tuple[int, int, int] | None = None
    _digest: str = ""

    def digest(self) -> tuple[int, str]:
        """The size and sha256 of the file now.

        Raises:
            ArtifactNotFoundError: the file is gone or unreadable.
        """
        try:
            info = os.stat(self.path)
            stamp = (info.st_size, info.st_mtime_ns, info.st_ino)
            if stamp != self._stamp:
                size, self._digest = hash_file(self.path)
                self._stamp = (size, info.st_mtime_ns, info.st_ino)
        except OSError as exc:
            raise ArtifactNotFoundError(
                f"registered file {self.path} is unreadable: {exc}"
            ) from None
        return self._stamp[0], self._digest


class PagletFiles:
    """One paglet's registered files and work dir. Thread-safe."""

    def __init__(self, area: WorkArea, agent_id: str) -> None:
        self._area = area
        self._agent_id = agent_id
        self._entries: dict[str, FileEntry] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._entries)

    def work_dir(self) -> Path:
        """The paglet's work dir on this host, created on demand."""
        path = self._area.dir_of(self._agent_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def register(self, path: str | os.PathLike[str], name: str | None, mode: str) -> PagletFileRef:
        """Register a file to travel with the paglet; return its ref.

        Raises:
            ArtifactNotFoundError: ``path`` is not a regular file.
            ArtifactError: a bad ``name`` or ``mode``.
            ForbiddenError: ``path`` (resolved) is outside the host's files roots and
                the paglet's work dir.
        """
        if mode not in MODES:
            raise ArtifactError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        source = Path(path).absolute()
        if self._area.roots is not None:
            own = Path(os.path.realpath(self._area.dir_of(self._agent_id)))
            source = check_path(source, (*self._area.roots, own))
        if not source.is_file():
            raise ArtifactNotFoundError(f"{source} is not a regular file")
        label = check_name(name or source.name)
        entry = FileEntry(source, mode)
        size, sha256 = entry.digest()
        with self._lock:
            self._entries[label] = entry
        return PagletFileRef(label, mode, size, sha256, source)

    def unregister(self, name: str, delete: bool = False) -> None:
        """Stop carrying ``name``; delete the file too when ``delete``."""
        with self._lock:
            entry = self._entries.pop(name, None)
        if entry is None:
            raise ArtifactNotFoundError(f"no registered file {name!r}")
        if delete:
            entry.path.unlink(missing_ok=True)

    def path_of(self, name: str) -> Path:
        """Where the registered file ``name`` is on this host.

        Raises:
            ArtifactNotFoundError: no file of that name is registered.
        """
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            raise ArtifactNotFoundError(f"no registered file {name!r}")
        return entry.path

    def refs(self) -> list[PagletFileRef]:
        """A ref of every registered file (size and hash as they are now).

        A file gone since it was registered has size -1 and no sha256.
        """
        with self._lock:
            entries = list(self._entries.items())
        refs = []
        for name, entry in entries:
            try:
                size, sha256 = entry.digest()
            except ArtifactNotFoundError:
                size, sha256 = -1, ""  # gone since it was registered: a move will say so
            refs.append(PagletFileRef(name, entry.mode, size, sha256, entry.path))
        return refs

    def registered(self) -> dict[str, Path]:
        """Name -> path of every registered file."""
        with self._lock:
            return {name: entry.path for name, entry in self._entries.items()}

    # moving -------------------------------------------------------------------------

    def manifest(self) -> list[CarriedFile]:
        """What travels in a transfer record (its ``files``).

        Raises:
            ArtifactNotFoundError: a registered file is gone.
        """
        with self._lock:
            entries = list(self._entries.items())
        files = []
        for name, entry in entries:
            size, sha256 = entry.digest()
            files.append(CarriedFile(name, size, sha256, entry.mode))
        return files

    def after_move(self) -> None:
        """The paglet left for good: delete ``move`` files and the work dir."""
        work = self._area.dir_of(self._agent_id)
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            if entry.mode == "move" and not entry.path.is_relative_to(work):
                entry.path.unlink(missing_ok=True)
        self._area.remove(self._agent_id)

    def adopt(self, staging: Path, files: Sequence[CarriedFile]) -> None:
        """Move the verified files of an arriving transfer into the work dir."""
        work = self.work_dir()
        entries = {}
        for item in files:
            name = check_name(item.name)
            target = work / name
            os.replace(staging / name, target)
            entries[name] = FileEntry(target, item.mode)
        remove_tree(staging)
        with self._lock:
            self._entries.update(entries)

    def dispose(self) -> None:
        """The paglet is destroyed: remove its work dir."""
        with self._lock:
            self._entries.clear()
        self._area.remove(self._agent_id)

    # persistence while inactive ---------------------------------------------------------

    def table(self) -> FileTable:
        """Name -> (path, mode), for the store of inactive paglets."""
        with self._lock:
            return {name: (str(e.path), e.mode) for name, e in self._entries.items()}

    def load(self, table: FileTable) -> None:
        """Restore a table saved by :meth:`table`."""
        with self._lock:
            for name, (path, mode) in table.items():
                self._entries[name] = FileEntry(Path(path), mode)
