"""Where paglets keep their files on one host: work dirs, and the file tables of inactive ones.

Layout under the host's files root (its ``persistence_dir``, or the temporary directory
the host removes at stop)::

    work/<agent id>/           a paglet's work dir, created on first use
    work/.incoming/<tid>/      the files of an arriving transfer, until it starts here
    paglet_files.sqlite3       name -> (path, mode) of each inactive paglet's files

An active paglet's table of registered files lives in memory (its slot); a
deactivated paglet's table is saved here with its work dir left in place, and loaded
again on activation.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from pathlib import Path

from paglets.artifacts import check_name
from paglets.core.errors import HostStoppedError
from paglets.runtime.persistence.legacy import merge_legacy_table

log = logging.getLogger(__name__)

INCOMING = ".incoming"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paglet_files (
    agent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    mode TEXT NOT NULL,
    PRIMARY KEY (agent_id, name)
)
"""

FileTable = dict[str, tuple[str, str]]
"""Name -> (path on this host, mode) of one paglet's registered files."""


def remove_tree(path: Path) -> None:
    """Remove a directory tree, logging (not raising) what could not be removed."""
    if not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        log.warning("could not remove all of %s", path)


class WorkArea:
    """The per-paglet work dirs of one host, and the saved tables of inactive paglets.

    Args:
        root: the host's files root; work dirs go to ``root/work``.
        database: the SQLite file of the tables (the host database); None:
            ``root/paglet_files.sqlite3``.
        roots: the host's files roots (:mod:`~paglets.runtime.files.roots`): where
            a paglet may register files besides its work dir; None: anywhere.
    """

    def __init__(
        self, root: Path, roots: tuple[Path, ...] | None = None, database: Path | None = None
    ) -> None:
        self.roots = roots
        self.root = root / "work"
        self._root_text = str(self.root)
        legacy = root / "paglet_files.sqlite3"
        self._db = sqlite3.connect(
            str(database or legacy), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._lock = threading.Lock()
        self._closed = False
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            if database is not None and database != legacy:
                merge_legacy_table(self._db, legacy, "paglet_files")

    # directories ------------------------------------------------------------------------

    def dir_of(self, agent_id: str) -> Path:
        """The work dir of ``agent_id`` (not created)."""
        return self.root / check_name(agent_id)

    def staging(self, transfer_id: str) -> Path:
        """A fresh directory where the files of an arriving transfer are gathered."""
        path = self.root / INCOMING / check_name(transfer_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove(self, agent_id: str) -> None:
        """Remove the work dir of ``agent_id`` and everything in it."""
        # Every dispatch ends here, and most paglets never had a work dir: one stat
        # on a plain string path answers that without building Path objects.
        path = os.path.join(self._root_text, check_name(agent_id))
        if os.path.isdir(path):
            remove_tree(Path(path))

    # the tables of inactive paglets -------------------------------------------------------

    def save_table(self, agent_id: str, table: FileTable) -> None:
        """Keep an inactive paglet's registered files (replacing what was kept)."""
        with self._lock:
            db = self._open()
            db.execute("BEGIN")
            db.execute("DELETE FROM paglet_files WHERE agent_id = ?", (agent_id,))
            db.executemany(
                "INSERT INTO paglet_files VALUES (?, ?, ?, ?)",
                [(agent_id, name, path, mode) for name, (path, mode) in table.items()],
            )
            db.execute("COMMIT")

    def load_table(self, agent_id: str) -> FileTable:
        """The registered files kept for ``agent_id`` (empty when none)."""
        with self._lock:
            rows = (
                self._open()
                .execute(
                    "SELECT name, path, mode FROM paglet_files WHERE agent_id = ?", (agent_id,)
                )
                .fetchall()
            )
        return {name: (path, mode) for name, path, mode in rows}

    def drop_table(self, agent_id: str) -> None:
        """Forget the registered files kept for ``agent_id``."""
        with self._lock:
            self._open().execute("DELETE FROM paglet_files WHERE agent_id = ?", (agent_id,))

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise HostStoppedError("the host stopped: its work area is closed")
        return self._db

    def close(self) -> None:
        """Close the table's database; later table calls raise HostStoppedError."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
