"""The one SQLite database of a host: opening, locking, schema migrations, transactions.

``persistence_dir/paglets.sqlite3`` holds everything a host must not forget: inactive
paglets and their queued messages, durable checkpoints, transfer records, quarantined
records and the event and job history (:mod:`~paglets.runtime.persistence.schema`).
Artifact metadata shares the same file through the artifact store's own connection.

Durability: the database runs in WAL mode. In WAL mode ``synchronous=NORMAL``
already survives a crash of the process (``kill -9``): a committed transaction is in
the WAL file, which the OS keeps. It does not survive a power cut or a kernel panic,
which may drop the WAL pages not yet fsynced. A write the host acknowledges to
somebody (a reply that leaves after a durable checkpoint, a transfer decision the
peer acts on) is committed at the store's level (``FULL`` by default: the WAL is
fsynced before the commit returns). A write nobody acts on before a later
acknowledged write (``durable=False``: bookkeeping a restart can redo, such as a
transfer marked done) is committed at ``NORMAL``: no fsync of its own, and the next
``FULL`` commit fsyncs it too, since the WAL is one sequential file. docs/durability.md
lists which write is which and why.

A lock (``fcntl.flock`` on ``persistence_dir/host.lock``) keeps a second host off the
same directory; it is released by the OS when the process dies, so a ``kill -9`` never
leaves a stale lock.

A database that SQLite cannot read (truncated, overwritten, failing ``quick_check``) is
never deleted: it is renamed ``paglets.sqlite3.corrupt-<time>`` (with its WAL), the
host starts on a fresh database and :attr:`HostStore.problems` says what happened.

Without a persistence dir the database lives in memory: the same code and the same
guarantees while the process lives, nothing after it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paglets.core.errors import HostStoppedError, StoreError
from paglets.runtime.persistence.schema import migrate

log = logging.getLogger(__name__)

DATABASE_NAME = "paglets.sqlite3"
LOCK_NAME = "host.lock"


class DirectoryLock:
    """An exclusive lock on a persistence dir, held while the host runs."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise StoreError(
                f"persistence dir {directory} is in use by another host (pid {holder}); "
                "stop it or choose another --persistence-dir"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let another host use the directory."""
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1


class HostStore:
    """The host's database connection; every write goes through :meth:`transaction`."""

    def __init__(self, directory: Path | None, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.directory = directory
        self._synchronous = synchronous
        self.problems: list[str] = []
        self._lock = threading.RLock()
        self._closed = False
        self._dir_lock: DirectoryLock | None = None
        if directory is None:
            self._db = self._connect(":memory:", synchronous)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            self._dir_lock = DirectoryLock(directory)
            try:
                self._db = self._open_file(directory / DATABASE_NAME, synchronous)
            except BaseException:
                self._dir_lock.release()
                raise

    @property
    def durable(self) -> bool:
        """Whether the database survives the process."""
        return self.directory is not None

    @property
    def path(self) -> Path | None:
        """The database file, or None in memory."""
        return None if self.directory is None else self.directory / DATABASE_NAME

    def _open_file(self, path: Path, synchronous: str) -> sqlite3.Connection:
        try:
            db = self._connect(str(path), synchronous)
            row = db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                db.close()
                raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
            return db
        except StoreError:
            raise
        except sqlite3.DatabaseError as exc:
            kept = self._quarantine_file(path)
            message = (
                f"the host database {path} is unreadable ({exc}); it was kept as "
                f"{kept.name} and the host started on a fresh database"
            )
            log.error("%s", message)
            self.problems.append(message)
            return self._connect(str(path), synchronous)

    @staticmethod
    def _quarantine_file(path: Path) -> Path:
        kept = path.with_name(f"{path.name}.corrupt-{int(time.time() * 1000)}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{path}{suffix}")
            if part.exists():
                os.replace(part, Path(f"{kept}{suffix}"))
        return kept

    @staticmethod
    def _connect(target: str, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10.0)
        if target != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
        migrate(db)
        return db

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``); rolled back on error.

        Args:
            durable: commit at the store's ``synchronous`` level; False: at ``NORMAL``
                (no fsync of its own; see the module docstring for when that is right).

        Raises:
            HostStoppedError: the store is closed.
            StoreError: the database refused the write (disk full, I/O error).
        """
        with self._lock:
            db = self._open()
            with self._level(db, durable):
                yield from self._in_transaction(db)

    def write(self, sql: str, params: tuple[Any, ...] = (), durable: bool = True) -> int:
        """One statement as its own transaction (atomic); return the rows it changed.

        Raises:
            HostStoppedError: the store is closed.
            StoreError: the database refused the write.
        """
        with self._lock:
            db = self._open()
            try:
                with self._level(db, durable):
                    return int(db.execute(sql, params).rowcount)
            except sqlite3.Error as exc:
                raise StoreError(f"the host store refused a write: {exc}") from exc

    @contextmanager
    def _level(self, db: sqlite3.Connection, durable: bool) -> Iterator[None]:
        relaxed = not durable and self._synchronous != "NORMAL" and self.directory is not None
        if relaxed:
            db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            if relaxed:
                db.execute(f"PRAGMA synchronous={self._synchronous}")

    @staticmethod
    def _in_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"the host store refused a write: {exc}") from exc
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"the host store could not commit: {exc}") from exc

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run a read and return every row."""
        with self._lock:
            return self._open().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run a read and return its first row, or None."""
        with self._lock:
            return self._open().execute(sql, params).fetchone()

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise HostStoppedError("the host stopped: its store is closed")
        return self._db

    def close(self) -> None:
        """Close the database and release the directory lock; later calls raise."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
        if self._dir_lock is not None:
            self._dir_lock.release()
