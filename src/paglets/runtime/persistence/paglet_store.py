"""The store of inactive paglets: an SQLite database in the host's persistence dir.

With no persistence dir the database lives in memory and dies with the process. Each
write is one transaction, so a crash leaves either the old row or the new one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from paglets.core.errors import HostStoppedError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inactive_paglets (
    agent_id TEXT PRIMARY KEY,
    class_path TEXT NOT NULL,
    state_class_path TEXT NOT NULL,
    state BLOB NOT NULL,
    deactivated_at REAL NOT NULL,
    wake_at REAL
)
"""


@dataclass(frozen=True, slots=True)
class StoredPaglet:
    """One inactive paglet as the store keeps it."""

    agent_id: str
    class_path: str
    state_class_path: str
    state: bytes
    deactivated_at: float
    wake_at: float | None


class PagletStore:
    """Inactive paglets by agent id. Thread-safe."""

    def __init__(self, directory: Path | None) -> None:
        if directory is None:
            target = ":memory:"
        else:
            directory.mkdir(parents=True, exist_ok=True)
            target = str(directory / "paglets.sqlite3")
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._closed = False
        with self._lock:
            if directory is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)

    @property
    def durable(self) -> bool:
        """Whether the store survives the process."""
        return bool(self._open().execute("PRAGMA database_list").fetchone()[2] != "")

    def save(
        self,
        agent_id: str,
        class_path: str,
        state_class_path: str,
        state: bytes,
        wake_at: float | None = None,
    ) -> None:
        """Store (or replace) an inactive paglet."""
        with self._lock:
            self._open().execute(
                "INSERT OR REPLACE INTO inactive_paglets VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, class_path, state_class_path, state, time.time(), wake_at),
            )

    def load(self, agent_id: str) -> StoredPaglet | None:
        """Return the stored paglet, or None."""
        with self._lock:
            row = (
                self._open()
                .execute("SELECT * FROM inactive_paglets WHERE agent_id = ?", (agent_id,))
                .fetchone()
            )
        return None if row is None else StoredPaglet(*row)

    def delete(self, agent_id: str) -> bool:
        """Remove a stored paglet; return whether it was there."""
        with self._lock:
            cursor = self._open().execute(
                "DELETE FROM inactive_paglets WHERE agent_id = ?", (agent_id,)
            )
        return cursor.rowcount > 0

    def ids(self) -> list[str]:
        """Every stored agent id."""
        with self._lock:
            rows = self._open().execute("SELECT agent_id FROM inactive_paglets").fetchall()
        return [row[0] for row in rows]

    def contains(self, agent_id: str) -> bool:
        """Whether ``agent_id`` is stored."""
        with self._lock:
            row = (
                self._open()
                .execute("SELECT 1 FROM inactive_paglets WHERE agent_id = ?", (agent_id,))
                .fetchone()
            )
        return row is not None

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise HostStoppedError("the host stopped: its paglet store is closed")
        return self._db

    def close(self) -> None:
        """Close the database; later calls raise HostStoppedError."""
        with self._lock:
            self._closed = True
            self._db.close()
