"""Host-to-host moves of bytes: pulls by the receiver, and what the source serves.

* :meth:`ArtifactStreams.fetch` pulls an artifact of another host into this host's
  store (``art.fetch``); content held already is not pulled again.
* :meth:`ArtifactStreams.pull_files` pulls the files a paglet carries, listed in its
  transfer record, into a staging directory before the paglet starts here. A file whose
  content is in the store already is copied locally instead of pulled.
* :class:`FileServing` is the source's side of a transfer: the files it serves under
  the transfer id until the transfer ended (``art.read`` with ``t``/``n``).
* :class:`StreamBoard` counts the bytes of every stream in flight (``art.progress``)
  for progress bars.

Pulls run on the thread that asked for them (a worker, never the I/O thread); each
keeps ``window`` chunk requests in flight and resumes after an interruption.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paglets.artifacts import ArtifactRef, check_name
from paglets.core.errors import ArtifactError
from paglets.disk.partial_file import storage_error
from paglets.net.transport import Transport
from paglets.remote.blob_stream import StreamSettings, pull
from paglets.runtime.artifacts.store import ArtifactRecord, ArtifactStore, is_sha256
from paglets.wire.handoff_bodies import CarriedFile


@dataclass
class StreamEntry:
    """One byte stream in flight, as ``art.progress`` shows it."""

    direction: str
    agent_id: str
    name: str
    size: int
    done: int = 0
    started: float = field(default_factory=time.time)

    def to_wire(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "agent_id": self.agent_id,
            "name": self.name,
            "size": self.size,
            "done": self.done,
            "started": self.started,
        }


class StreamBoard:
    """The byte streams in flight on one host, with their bytes done. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[int, StreamEntry] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, direction: str, agent_id: str, name: str, size: int) -> int:
        """Add a stream; return its key for :meth:`update` and :meth:`finish`."""
        key = next(self._ids)
        with self._lock:
            self._entries[key] = StreamEntry(direction, agent_id, name, size)
        return key

    def update(self, key: int, done: int) -> None:
        """Record the bytes done so far."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.done = done

    def add(self, key: int, count: int) -> None:
        """Add ``count`` bytes to the bytes done."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.done += count

    def finish(self, key: int) -> None:
        """Remove a stream that ended."""
        with self._lock:
            self._entries.pop(key, None)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every stream in flight."""
        with self._lock:
            return [entry.to_wire() for entry in self._entries.values()]


@dataclass
class _Served:
    agent_id: str
    files: dict[str, Path]
    keys: dict[str, int]


class FileServing:
    """The files a source host serves for the transfers it has in flight."""

    def __init__(self, board: StreamBoard) -> None:
        self._board = board
        self._served: dict[str, _Served] = {}
        self._lock = threading.Lock()

    def serve(self, transfer_id: str, agent_id: str, files: dict[str, tuple[Path, int]]) -> None:
        """Serve ``files`` (name -> (path, size)) under ``transfer_id`` until :meth:`stop`."""
        keys = {
            name: self._board.start("out", agent_id, name, size)
            for name, (_, size) in files.items()
        }
        paths = {name: path for name, (path, _) in files.items()}
        with self._lock:
            self._served[transfer_id] = _Served(agent_id, paths, keys)

    def stop(self, transfer_id: str) -> None:
        """Stop serving the files of ``transfer_id``."""
        with self._lock:
            served = self._served.pop(transfer_id, None)
        for key in served.keys.values() if served else ():
            self._board.finish(key)

    def lookup(self, transfer_id: str, name: str) -> tuple[Path, int] | None:
        """The path and progress key of a file served under ``transfer_id``, or None."""
        with self._lock:
            served = self._served.get(transfer_id)
        if served is None or name not in served.files:
            return None
        return served.files[name], served.keys[name]


class ArtifactStreams:
    """The receiving side of host-to-host moves, for one host."""

    def __init__(
        self,
        transport: Transport,
        store: ArtifactStore,
        settings: StreamSettings,
        board: StreamBoard,
    ) -> None:
        self._transport = transport
        self._store = store
        self.settings = settings
        self.board = board
        self.serving = FileServing(board)

    def fetch(self, ref: ArtifactRef, owner: str = "") -> ArtifactRecord:
        """Pull ``ref`` from its host into this store; return the local artifact.

        Raises:
            ArtifactError: a malformed ref; StorageQuotaError, IntegrityError, or the
                error of an unreachable source after every retry.
        """
        if not is_sha256(ref.sha256) or ref.size_bytes < 0 or not ref.host_url:
            raise ArtifactError(f"not a valid artifact ref: {ref!r}"[:200])
        existing = self._store.add_existing(ref.sha256, ref.name, owner)
        if existing is not None:
            return existing
        partial = self._store.open_partial(ref.sha256, ref.size_bytes)
        key = self.board.start("in", owner, ref.name, ref.size_bytes)
        try:
            existing = self._store.add_existing(ref.sha256, ref.name, owner)
            if existing is not None:  # another receiver finished it while we waited
                return existing
            pull(
                self._transport,
                ref.host_url,
                {"a": ref.artifact_id},
                partial,
                self.settings,
                progress=lambda done: self.board.update(key, done),
            )
            return self._store.commit(partial, ref.name, owner)
        finally:
            partial.close()
            self._store.release(ref.sha256)
            self.board.finish(key)

    def pull_files(
        self,
        source: str,
        transfer_id: str,
        agent_id: str,
        files: Sequence[CarriedFile],
        staging: Path,
        cancelled: threading.Event,
    ) -> None:
        """Gather the files of an arriving paglet into ``staging``, each verified.

        Raises:
            ArtifactError: a name that is not a plain file name (``../x`` is refused);
                IntegrityError, StorageQuotaError, TransferError (cancelled), or the
                error of an unreachable source after every retry.
        """
        for item in files:
            name, size, sha256 = check_name(item.name), item.size, item.sha256
            target = staging / name
            if self._copy_from_store(sha256, target):
                continue
            partial = self._store.open_partial(sha256, size, quota=False)
            key = self.board.start("in", agent_id, name, size)
            try:
                pull(
                    self._transport,
                    source,
                    {"t": transfer_id, "n": name},
                    partial,
                    self.settings,
                    progress=functools.partial(self.board.update, key),
                    cancelled=cancelled,
                )
                partial.finish(target, overwrite=True)
            finally:
                partial.close()
                self._store.release(sha256)
                self.board.finish(key)

    def _copy_from_store(self, sha256: str, target: Path) -> bool:
        blob = self._store.blob_path(sha256)
        if not blob.exists():
            return False
        try:
            shutil.copyfile(blob, target)
        except FileNotFoundError:
            return False  # deleted meanwhile: pull it instead
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise storage_error(exc, str(target)) from None
        return True
