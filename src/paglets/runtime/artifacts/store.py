"""The artifact store of one host: content-addressed blobs and their metadata.

Layout under the store's root (the host's ``persistence_dir``, or a temporary directory
the host removes at stop)::

    paglets.sqlite3          metadata rows, in the host database (artifacts.sqlite3
                             when the store stands alone, e.g. a host in memory)
    blobs/ab/abcdef...       one file per distinct content, named by its sha256
    partial/<sha256>.part    bytes still arriving (never listed, never served)

Several artifacts (rows) may share one blob: uploading content the store already holds
adds a row and moves no byte. A blob is removed with its last row. A blob becomes
visible only through a row inserted after the verified partial was fsynced and renamed
into ``blobs/``, so a crash leaves at worst an orphan blob or partial, which the
start-up sweep removes; rows never point at missing or partial bytes.

Room is checked before the first byte is accepted: the size limit, the quota (blobs
plus the sizes of partials being received) and the free disk space.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paglets.artifacts import ArtifactRef, check_name
from paglets.core.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    HostStoppedError,
    LimitExceededError,
    StorageQuotaError,
)
from paglets.core.ids import new_id
from paglets.disk.partial_file import PartialFile
from paglets.remote.blob_stream import hash_file
from paglets.runtime.persistence.legacy import merge_legacy_table

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    artifact_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS artifacts_by_sha256 ON artifacts (sha256);
"""
_COLUMNS = "artifact_id, sha256, name, size, owner, created_at, expires_at"
_SWEEP_INTERVAL = 10.0


@dataclass(frozen=True)
class StoreLimits:
    """What the store accepts (see ``HostConfig.artifact_*``)."""

    max_size: int | None = None
    quota: int | None = None
    partial_ttl: float = 3600.0
    max_open: int | None = None
    """Partials leased (each an open file descriptor) at once: ``max_upload_fds``."""


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """One artifact as the store keeps it."""

    artifact_id: str
    sha256: str
    name: str
    size: int
    owner: str
    created_at: float
    expires_at: float | None

    def ref(self, host: str) -> ArtifactRef:
        """The encodable handle to this artifact on ``host``."""
        return ArtifactRef(
            host,
            self.artifact_id,
            self.name,
            self.size,
            self.sha256,
            self.created_at,
            self.expires_at,
            self.owner,
        )

    def info(self, host: str) -> dict[str, Any]:
        """The metadata map the ``art.stat`` and ``art.list`` verbs answer."""
        return {
            "artifact_id": self.artifact_id,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "owner": self.owner,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "host": host,
        }


def is_sha256(text: object) -> bool:
    """Whether ``text`` is a lowercase hex sha256 digest."""
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class ArtifactStore:
    """Blobs, metadata and partial uploads under one root directory. Thread-safe."""

    def __init__(
        self, root: Path, limits: StoreLimits | None = None, database: Path | None = None
    ) -> None:
        """Open the store under ``root``; metadata go to ``database`` (the host database:
        rows of an older ``artifacts.sqlite3`` move into it), else that file."""
        self.root = root
        self.limits = limits or StoreLimits()
        self.blobs = root / "blobs"
        self.partials = root / "partial"
        for directory in (self.blobs, self.partials):
            directory.mkdir(parents=True, exist_ok=True)
        legacy = root / "artifacts.sqlite3"
        self._db = sqlite3.connect(
            str(database or legacy), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._cond = threading.Condition()
        self._leased: dict[str, int] = {}
        self._closed = False
        self._swept = 0.0
        with self._cond:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            if database is not None and database != legacy:
                merge_legacy_table(self._db, legacy, "artifacts")
        self._sweep_orphans()

    # reading ----------------------------------------------------------------------------

    def get(self, artifact_id: str) -> ArtifactRecord:
        """The artifact ``artifact_id``.

        Raises:
            ArtifactNotFoundError: no such artifact (or it expired).
        """
        with self._cond:
            row = (
                self._open()
                .execute(f"SELECT {_COLUMNS} FROM artifacts WHERE artifact_id = ?", (artifact_id,))
                .fetchone()
            )
        if row is None:
            raise ArtifactNotFoundError(f"no artifact {str(artifact_id)[:64]!r} here")
        record = ArtifactRecord(*row)
        if record.expires_at is not None and record.expires_at <= time.time():
            raise ArtifactNotFoundError(f"artifact {artifact_id} expired")
        return record

    def list(self) -> list[ArtifactRecord]:
        """Every artifact, newest first."""
        self.sweep()
        with self._cond:
            rows = (
                self._open()
                .execute(f"SELECT {_COLUMNS} FROM artifacts ORDER BY created_at DESC")
                .fetchall()
            )
        return [ArtifactRecord(*row) for row in rows]

    def blob_path(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        return self.blobs / sha256[:2] / sha256

    def used_bytes(self) -> int:
        """Bytes held by blobs (each distinct content counted once)."""
        with self._cond:
            return self._used()

    def _used(self) -> int:
        row = (
            self._open()
            .execute(
                "SELECT COALESCE(SUM(size), 0) FROM "
                "(SELECT MAX(size) AS size FROM artifacts GROUP BY sha256)"
            )
            .fetchone()
        )
        return int(row[0])

    # adding -----------------------------------------------------------------------------

    def add_existing(
        self, sha256: str, name: str, owner: str = "", ttl: float | None = None
    ) -> ArtifactRecord | None:
        """A new artifact sharing a blob already stored; None when there is no such blob."""
        with self._cond:
            if not self.blob_path(sha256).exists():
                return None
            size = self.blob_path(sha256).stat().st_size
            return self._insert(sha256, name, size, owner, ttl)

    def open_partial(
        self, sha256: str, size: int, *, quota: bool = True, wait: float = 30.0
    ) -> PartialFile:
        """Lease the partial of ``sha256`` for receiving it (resumed if it exists).

        Only one receiver writes a given content at a time; a second one waits for the
        lease. Release it with :meth:`release`.

        Raises:
            StorageQuotaError: over the size limit, the quota (when ``quota``) or the
                free disk space.
            LimitExceededError: ``max_open`` partials are leased already.
            ArtifactError: the lease was not free within ``wait`` seconds.
        """
        self.sweep()
        with self._cond:
            if not self._cond.wait_for(lambda: sha256 not in self._leased, wait):
                raise ArtifactError(f"content {sha256[:16]} is being received already")
            path = self.partials / f"{sha256}.part"
            limit = self.limits.max_open
            if limit is not None and len(self._leased) >= limit:
                raise LimitExceededError(
                    f"{len(self._leased)} files are being received already", "max_upload_fds"
                )
            self._check_room(size, path, quota)
            self._leased[sha256] = size
        try:
            return PartialFile(path, size, sha256)
        except BaseException:
            self.release(sha256)
            raise

    def _check_room(self, size: int, path: Path, quota: bool) -> None:
        limits = self.limits
        if limits.max_size is not None and size > limits.max_size:
            raise StorageQuotaError(
                f"{size} bytes is over this host's artifact size limit of {limits.max_size}"
            )
        have = path.stat().st_size if path.exists() else 0
        arriving = sum(self._leased.values())
        if quota and limits.quota is not None and self._used() + arriving + size > limits.quota:
            raise StorageQuotaError(
                f"{size} more bytes would put the artifact store over its quota of "
                f"{limits.quota} ({self._used()} used, {arriving} arriving)"
            )
        free = shutil.disk_usage(self.root).free
        if free + have < size + arriving:
            raise StorageQuotaError(f"not enough free disk space for {size} bytes ({free} free)")

    def release(self, sha256: str) -> None:
        """Give the lease of ``sha256`` back (the partial stays unless discarded)."""
        with self._cond:
            self._leased.pop(sha256, None)
            self._cond.notify_all()

    def commit(
        self, partial: PartialFile, name: str, owner: str = "", ttl: float | None = None
    ) -> ArtifactRecord:
        """Verify a complete partial, move it into ``blobs/`` and add its artifact.

        Raises:
            IntegrityError: truncated or wrong hash (the partial is removed).
        """
        check_name(name)
        target = self.blob_path(partial.sha256)
        target.parent.mkdir(exist_ok=True)
        partial.seal()  # verify and fsync outside the lock: it may take a while
        with self._cond:
            partial.place(target, overwrite=True)
            return self._insert(partial.sha256, name, partial.size, owner, ttl)

    def import_file(
        self, path: Path, name: str | None = None, owner: str = "", ttl: float | None = None
    ) -> ArtifactRecord:
        """Store a copy of a local file (no network); content already held is not copied.

        Raises:
            ArtifactNotFoundError: ``path`` is not a readable regular file.
            StorageQuotaError, IntegrityError (the file changed while copied).
        """
        label = check_name(name or path.name)
        try:
            size, sha256 = hash_file(path)
        except OSError as exc:
            raise ArtifactNotFoundError(f"cannot read {path}: {exc}") from None
        existing = self.add_existing(sha256, label, owner, ttl)
        if existing is not None:
            return existing
        partial = self.open_partial(sha256, size)
        try:
            with path.open("rb") as stream:
                stream.seek(partial.offset)
                while block := stream.read(4 * 1024 * 1024):
                    partial.write(partial.offset, block)
            return self.commit(partial, label, owner, ttl)
        finally:
            partial.close()
            self.release(sha256)

    def _insert(
        self, sha256: str, name: str, size: int, owner: str, ttl: float | None
    ) -> ArtifactRecord:
        now = time.time()
        record = ArtifactRecord(
            new_id(),
            sha256,
            check_name(name),
            size,
            owner,
            now,
            None if ttl is None else now + float(ttl),
        )
        self._open().execute(
            f"INSERT INTO artifacts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.artifact_id, sha256, record.name, size, owner, now, record.expires_at),
        )
        return record

    # removing ---------------------------------------------------------------------------

    def delete(self, artifact_id: str) -> bool:
        """Delete an artifact (and its blob with the last artifact using it)."""
        with self._cond:
            db = self._open()
            row = db.execute(
                "SELECT sha256 FROM artifacts WHERE artifact_id = ?", (artifact_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM artifacts WHERE artifact_id = ?", (artifact_id,))
            self._drop_blob_if_unused(row[0])
        return True

    def _drop_blob_if_unused(self, sha256: str) -> None:
        if self._db.execute("SELECT 1 FROM artifacts WHERE sha256 = ?", (sha256,)).fetchone():
            return
        self.blob_path(sha256).unlink(missing_ok=True)

    def sweep(self, force: bool = False) -> None:
        """Delete expired artifacts and stale partials (at most every few seconds)."""
        now = time.time()
        if not force and now - self._swept < _SWEEP_INTERVAL:
            return
        self._swept = now
        with self._cond:
            db = self._open()
            expired = db.execute(
                "SELECT artifact_id, sha256 FROM artifacts WHERE expires_at <= ?", (now,)
            ).fetchall()
            for artifact_id, sha256 in expired:
                db.execute("DELETE FROM artifacts WHERE artifact_id = ?", (artifact_id,))
                self._drop_blob_if_unused(sha256)
            for partial in self.partials.glob("*.part"):
                if partial.stem in self._leased:
                    continue
                try:
                    if now - partial.stat().st_mtime > self.limits.partial_ttl:
                        partial.unlink()
                except FileNotFoundError:
                    continue
        if expired:
            log.info("artifact store: %d expired artifact(s) deleted", len(expired))

    def _sweep_orphans(self) -> None:
        """Drop rows without a blob and blobs without a row (a crash in between)."""
        with self._cond:
            db = self._open()
            shas = {row[0] for row in db.execute("SELECT DISTINCT sha256 FROM artifacts")}
            for sha256 in shas:
                if not self.blob_path(sha256).exists():
                    db.execute("DELETE FROM artifacts WHERE sha256 = ?", (sha256,))
            for blob in self.blobs.glob("*/*"):
                if blob.name not in shas:
                    blob.unlink(missing_ok=True)
        self.sweep(force=True)

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise HostStoppedError("the host stopped: its artifact store is closed")
        return self._db

    def close(self) -> None:
        """Close the database; later calls raise HostStoppedError."""
        with self._cond:
            if not self._closed:
                self._closed = True
                self._db.close()
