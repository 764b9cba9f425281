"""A file being received: written in order, hashed as it grows, visible only once verified.

Every receiver of artifact bytes (a host's store, a paglet's arriving files, a client's
download) writes through :class:`PartialFile`:

* bytes go to a hidden *partial* path, strictly in offset order, and feed an
  incremental sha256 as they are written;
* a partial left behind by an interrupted transfer is picked up again: its prefix is
  hashed once more and the transfer resumes at its length;
* :meth:`PartialFile.finish` checks size and hash, fsyncs, then renames the partial to
  its final name (atomic on one filesystem): a reader sees the whole verified file or
  nothing. Writeback of what was written is started every few MiB along the way
  (:mod:`paglets.disk.writeback`), so that final fsync has little left to do;
* a full disk raises :class:`~paglets.core.errors.StorageQuotaError` and removes the
  partial, a wrong hash raises :class:`~paglets.core.errors.IntegrityError` and removes
  it too.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import threading
from pathlib import Path
from typing import Any

from paglets.core.errors import (
    ArtifactError,
    DestinationExistsError,
    IntegrityError,
    StorageQuotaError,
)
from paglets.disk.writeback import start_writeback

_REHASH_BLOCK = 4 * 1024 * 1024
BACKGROUND_HASH_SIZE = 8 * 1024 * 1024
"""Blobs from this size on are hashed on a thread of their own, overlapping the writes."""
_HASH_DEPTH = 4
_HASH_PUT_SLICE = 1.0  # seconds between checks that the hasher still lives
_WRITEBACK_EVERY = 8 * 1024 * 1024


def storage_error(exc: OSError, where: str) -> ArtifactError:
    """The paglets error for an ``OSError`` met while storing bytes at ``where``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageQuotaError(f"no space left for {where}: {exc.strerror}")
    return ArtifactError(f"cannot write {where}: {exc}")


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (best effort off POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _place_new(source: Path, dest: Path) -> None:
    """Rename ``source`` to ``dest`` unless ``dest`` exists (FileExistsError)."""
    try:
        os.link(source, dest)  # fails if dest exists: no check-then-act race
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: check, then rename
        if dest.exists():
            raise FileExistsError(dest) from None
        os.rename(source, dest)
        return
    os.unlink(source)


class _BackgroundHash:
    """A sha256 fed on a thread of its own, in order, at most ``depth`` chunks behind.

    Hashing then overlaps the next write (both release the GIL). The thread ends at
    :meth:`hexdigest` or :meth:`stop`; a dead hasher is never waited for longer than
    it takes to hash what is queued.
    """

    def __init__(self, digest: Any, depth: int = _HASH_DEPTH) -> None:
        self._digest = digest
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="paglets-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._digest.update(item)

    def update(self, data: bytes | memoryview) -> None:
        while True:
            try:
                self._queue.put(data, timeout=_HASH_PUT_SLICE)
                return
            except queue.Full:
                if not self._thread.is_alive():  # it died: no one will ever take it
                    raise IntegrityError("the sha256 of the partial file stopped") from None

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.stop()
        return str(self._digest.hexdigest())


class PartialFile:
    """The receiving end of one blob of ``size`` bytes whose sha256 is ``sha256``.

    Args:
        path: the partial file; created, or resumed when it exists.
        size: the announced size.
        sha256: the announced hex digest.

    Raises:
        StorageQuotaError, ArtifactError: the partial cannot be created.
    """

    def __init__(self, path: Path, size: int, sha256: str) -> None:
        self.path = path
        self.size = size
        self.sha256 = sha256
        self._hash: Any = hashlib.sha256()
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise storage_error(exc, str(path)) from None
        self.offset = 0
        self.resumed_from = 0
        self._flushed = 0
        self._sealed = False
        try:
            self._resume()
        except BaseException:
            self.discard()
            raise
        if size - self.offset >= BACKGROUND_HASH_SIZE:
            self._hash = _BackgroundHash(self._hash)

    def _resume(self) -> None:
        length = os.fstat(self._fd).st_size
        if length > self.size:
            os.ftruncate(self._fd, 0)
            length = 0
        done = 0
        while done < length:
            block = os.pread(self._fd, min(_REHASH_BLOCK, length - done), done)
            if not block:
                break
            self._hash.update(block)
            done += len(block)
        os.ftruncate(self._fd, done)
        os.lseek(self._fd, done, os.SEEK_SET)
        self.offset = self.resumed_from = done

    @property
    def complete(self) -> bool:
        """Whether every announced byte has been written."""
        return self.offset == self.size

    def write(self, offset: int, data: bytes | memoryview) -> int:
        """Append ``data``, which must start at :attr:`offset`; return the new offset.

        A chunk that ends at or before the current offset is a repeat and is ignored.

        Raises:
            IntegrityError: a gap before ``offset``, or more bytes than announced.
            StorageQuotaError: the disk is full (the partial is removed).
        """
        end = offset + len(data)
        if end <= self.offset and offset < self.offset:
            return self.offset
        if offset != self.offset:
            raise IntegrityError(f"chunk at offset {offset}, expected {self.offset}")
        if end > self.size:
            raise IntegrityError(f"{end} bytes received, {self.size} were announced")
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            error = storage_error(exc, str(self.path))
            if isinstance(error, StorageQuotaError):
                self.discard()
            raise error from None
        self._hash.update(data)
        self.offset = end
        if end - self._flushed >= _WRITEBACK_EVERY:
            self._start_writeback()
        return end

    def _start_writeback(self) -> None:
        start_writeback(self._fd, self._flushed, self.offset - self._flushed)
        self._flushed = self.offset

    def verify(self) -> None:
        """Check size and hash; remove the partial when the hash is wrong.

        Raises:
            IntegrityError: truncated, or the sha256 differs.
        """
        if self.offset != self.size:
            raise IntegrityError(f"stream truncated: {self.offset} of {self.size} bytes received")
        digest = self._hash.hexdigest()
        if digest != self.sha256:
            self.discard()
            raise IntegrityError(
                f"sha256 mismatch: received {digest}, expected {self.sha256}; discarded"
            )

    def finish(self, dest: Path, *, overwrite: bool = True) -> Path:
        """Verify, fsync and rename the partial to ``dest``; return ``dest``.

        Raises:
            IntegrityError: the bytes are not the announced ones (partial removed).
            DestinationExistsError: ``dest`` exists and ``overwrite`` is False (the
                verified partial is kept for a later attempt).
            StorageQuotaError, ArtifactError: fsync or rename failed.
        """
        self.seal()
        return self.place(dest, overwrite=overwrite)

    def seal(self) -> None:
        """Verify the content, fsync and close the partial (it is ready to be placed).

        Raises:
            IntegrityError: truncated or wrong hash (the partial is removed).
            StorageQuotaError, ArtifactError: fsync failed.
        """
        if self._sealed:
            return
        self.verify()
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise storage_error(exc, str(self.path)) from None
        self.close()
        self._sealed = True

    def place(self, dest: Path, *, overwrite: bool = True) -> Path:
        """Rename the sealed partial to ``dest`` (see :meth:`finish`); return ``dest``."""
        if not self._sealed:
            raise ArtifactError(f"{self.path} is not verified yet; seal() it first")
        try:
            if overwrite:
                os.replace(self.path, dest)
            else:
                _place_new(self.path, dest)
        except FileExistsError:
            raise DestinationExistsError(f"{dest} exists; overwrite was not asked") from None
        except OSError as exc:
            raise storage_error(exc, str(dest)) from None
        fsync_directory(dest.parent)
        return dest

    def close(self) -> None:
        """Close the file, keeping the partial for a later resume."""
        if isinstance(self._hash, _BackgroundHash):
            self._hash.stop()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        """Close and remove the partial."""
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
