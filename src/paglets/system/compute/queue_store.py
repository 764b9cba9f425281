"""The compute-slots queue and job history, in the host's own SQLite database.

The tables live in ``persistence_dir/paglets.sqlite3``, the one database file of a
host (the host store's, :mod:`paglets.runtime.persistence`), through a connection of
their own in WAL mode, so a host keeps one store. The compute tables carry their own
schema version in ``compute_meta`` (key ``schema_version``) and never touch the host
store's ``PRAGMA user_version``: each side migrates its own tables.

A job is one row keyed by its job id, so a job can never be queued or leased twice.
A row names the job's paglet (``agent_id``), which waits inactive in the host store
until its slot is granted; it also keeps the job's class and encoded state as
submitted, so a job whose paglet was lost with its host's process (a kill) can be
run again. The queue survives a restart. Finished jobs move
to a history table that keeps the last ``history_size`` of them. The placements this
host's submitted jobs reported home are kept too (the last ``placements_kept``), so a
submitter reads them after its host restarted.

Without a persistence dir everything is kept in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paglets.core.errors import PagletError

QUEUED = "queued"
RUNNING = "running"
DATABASE_NAME = "paglets.sqlite3"
"""The host database's file name (the host store's ``DATABASE_NAME``)."""
SCHEMA_VERSION = 2
"""The version of the compute tables this code writes."""
BUSY_TIMEOUT_MS = 5000
"""How long a write waits for the host store's connection to finish its own."""

_V1 = """
CREATE TABLE IF NOT EXISTS compute_jobs (
    job_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    label TEXT NOT NULL,
    class_path TEXT NOT NULL,
    state_class_path TEXT NOT NULL,
    state BLOB NOT NULL,
    cpu_cores INTEGER NOT NULL,
    memory INTEGER NOT NULL,
    temp_storage INTEGER NOT NULL,
    submitted REAL NOT NULL,
    status TEXT NOT NULL,
    cpus TEXT NOT NULL DEFAULT '[]',
    agent_id TEXT NOT NULL DEFAULT '',
    started REAL,
    reason TEXT NOT NULL DEFAULT '',
    policy TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS compute_history (
    job_id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL,
    result BLOB,
    cpu_cores INTEGER NOT NULL,
    submitted REAL NOT NULL,
    started REAL,
    ended REAL NOT NULL,
    peak_cpu REAL NOT NULL,
    peak_rss INTEGER NOT NULL,
    peak_work INTEGER NOT NULL,
    memory INTEGER NOT NULL DEFAULT 0
);
"""
_V2 = """
CREATE TABLE IF NOT EXISTS compute_placements (
    agent_id TEXT PRIMARY KEY,
    note TEXT NOT NULL,
    at REAL NOT NULL
);
"""
_MIGRATIONS = {1: _V1, 2: _V2}


class ComputeStoreError(PagletError):
    """The compute tables cannot be used (a newer schema, an unreadable file)."""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the compute tables to :data:`SCHEMA_VERSION`, one step per transaction.

    Raises:
        ComputeStoreError: the tables are newer than this code.
    """
    db.execute("CREATE TABLE IF NOT EXISTS compute_meta (key TEXT PRIMARY KEY, value TEXT)")
    row = db.execute("SELECT value FROM compute_meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise ComputeStoreError(
            f"the compute tables are version {version}; this paglets knows {SCHEMA_VERSION}"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[step].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(
                "INSERT OR REPLACE INTO compute_meta VALUES ('schema_version', ?)", (str(step),)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


_JOB_COLUMNS = (
    "job_id, seq, label, class_path, state_class_path, state, cpu_cores, memory, "
    "temp_storage, submitted, status, cpus, agent_id, started, reason, policy"
)


@dataclass(frozen=True)
class JobRow:
    """One queued or running job."""

    job_id: str
    seq: int
    label: str
    class_path: str
    state_class_path: str
    state: bytes
    cpu_cores: int
    memory: int
    temp_storage: int
    submitted: float
    status: str
    cpus: tuple[int, ...]
    agent_id: str
    started: float | None
    reason: str
    policy: dict[str, Any]
    """``memory_policy`` (report/kill), ``rerun_if_lost``, ``collector``, ``group_id``."""

    def summary(self) -> dict[str, Any]:
        """The row without its state, as the CLI shows it."""
        return {
            "job_id": self.job_id,
            "label": self.label,
            "status": self.status,
            "cpu_cores": self.cpu_cores,
            "memory": self.memory,
            "temp_storage": self.temp_storage,
            "submitted": self.submitted,
            "started": self.started,
            "cpus": list(self.cpus),
            "agent_id": self.agent_id,
            "reason": self.reason,
            "group_id": str(self.policy.get("group_id", "")),
            "memory_policy": str(self.policy.get("memory_policy", "report")),
        }


class ComputeQueue:
    """Queued and running jobs and the history, in one SQLite file. Thread-safe.

    Args:
        directory: the host's persistence dir; None keeps everything in memory.
        history_size: finished jobs kept.
        placements_kept: placement reports kept.
    """

    def __init__(
        self, directory: Path | None, history_size: int = 100, placements_kept: int = 4096
    ) -> None:
        self.path = None if directory is None else directory / DATABASE_NAME
        target = ":memory:" if self.path is None else str(self.path)
        self._lock = threading.Lock()
        self._history_size = history_size
        self._placements_kept = placements_kept
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                target,
                check_same_thread=False,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except (OSError, sqlite3.Error) as exc:
            raise ComputeStoreError(
                f"the compute queue in {target} cannot be opened: {exc}"
            ) from None
        try:
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # a queued job is a promise
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _migrate(self._db)
        except sqlite3.Error as exc:
            self._db.close()
            raise ComputeStoreError(
                f"the compute queue in {target} cannot be used: {exc}"
            ) from None
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _rows(self, where: str = "", args: tuple[Any, ...] = ()) -> list[JobRow]:
        with self._lock:
            found = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM compute_jobs {where} ORDER BY seq", args
            ).fetchall()
        return [_job_row(row) for row in found]

    def get(self, job_id: str) -> JobRow | None:
        """The queued or running job ``job_id`` (None: not here)."""
        rows = self._rows("WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def queued(self) -> list[JobRow]:
        """Queued jobs, oldest first."""
        return self._rows("WHERE status = ?", (QUEUED,))

    def running(self) -> list[JobRow]:
        """Running jobs, oldest first."""
        return self._rows("WHERE status = ?", (RUNNING,))

    def all(self) -> list[JobRow]:
        """Every queued and running job, oldest first."""
        return self._rows()

    def add(self, row: JobRow) -> bool:
        """Insert ``row`` (its ``seq`` is assigned); False if the job id is already here."""
        with self._lock:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM compute_jobs").fetchone()
            try:
                self._db.execute(
                    f"INSERT INTO compute_jobs ({_JOB_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.job_id,
                        seq[0],
                        row.label,
                        row.class_path,
                        row.state_class_path,
                        row.state,
                        row.cpu_cores,
                        row.memory,
                        row.temp_storage,
                        row.submitted,
                        row.status,
                        json.dumps(list(row.cpus)),
                        row.agent_id,
                        row.started,
                        row.reason,
                        json.dumps(row.policy),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def mark_running(self, job_id: str, cpus: tuple[int, ...], agent_id: str) -> None:
        """Record the lease of a granted job."""
        with self._lock:
            self._db.execute(
                "UPDATE compute_jobs SET status = ?, cpus = ?, agent_id = ?, started = ?, "
                "reason = '' WHERE job_id = ?",
                (RUNNING, json.dumps(list(cpus)), agent_id, time.time(), job_id),
            )

    def note_reason(self, job_id: str, reason: str) -> None:
        """Record why a queued job still waits."""
        with self._lock:
            self._db.execute(
                "UPDATE compute_jobs SET reason = ? WHERE job_id = ?", (reason, job_id)
            )

    def requeue(self, job_id: str, reason: str) -> bool:
        """Put a running job back in the queue (its process is gone); False if absent."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE compute_jobs SET status = ?, cpus = '[]', started = NULL, "
                "reason = ? WHERE status = ? AND job_id = ?",
                (QUEUED, reason, RUNNING, job_id),
            )
        return cursor.rowcount > 0

    def remove(self, job_id: str) -> bool:
        """Drop a job (cancelled, or finished and moved to history)."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM compute_jobs WHERE job_id = ?", (job_id,))
        return cursor.rowcount > 0

    def finish(
        self, row: JobRow, outcome: str, error: str, result: bytes | None, peaks: Any
    ) -> None:
        """Move ``row`` to the history with its outcome and usage peaks; trim the history."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the row leaves the queue and enters history
            self._db.execute("DELETE FROM compute_jobs WHERE job_id = ?", (row.job_id,))
            self._db.execute(
                "INSERT OR REPLACE INTO compute_history "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.job_id,
                    row.label,
                    outcome,
                    error,
                    result,
                    row.cpu_cores,
                    row.submitted,
                    row.started,
                    time.time(),
                    float(peaks.cpu_percent),
                    int(peaks.rss),
                    int(peaks.work_bytes),
                    row.memory,
                ),
            )
            self._db.execute(
                "DELETE FROM compute_history WHERE job_id NOT IN (SELECT job_id FROM "
                "compute_history ORDER BY ended DESC LIMIT ?)",
                (self._history_size,),
            )
            self._db.execute("COMMIT")

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Finished jobs, newest first (``result`` is the encoded value or None)."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT * FROM compute_history ORDER BY ended DESC LIMIT ?",
                (-1 if limit is None else limit,),
            )
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def clear_history(self) -> int:
        """Forget every finished job; return how many."""
        with self._lock:
            return int(self._db.execute("DELETE FROM compute_history").rowcount)

    def finished(self, job_id: str) -> dict[str, Any] | None:
        """The history entry of ``job_id`` (None: not finished here)."""
        return next((entry for entry in self.history() if entry["job_id"] == job_id), None)

    def save_placement(self, agent_id: str, note: dict[str, Any]) -> None:
        """Keep the placement report of the job paglet ``agent_id``; forget the oldest."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO compute_placements VALUES (?, ?, ?)",
                (agent_id, json.dumps(note), time.time()),
            )
            self._db.execute(
                "DELETE FROM compute_placements WHERE agent_id NOT IN (SELECT agent_id "
                "FROM compute_placements ORDER BY at DESC LIMIT ?)",
                (self._placements_kept,),
            )
            self._db.execute("COMMIT")

    def placement(self, agent_id: str) -> dict[str, Any] | None:
        """The placement report of the job paglet ``agent_id`` (None: none kept)."""
        with self._lock:
            row = self._db.execute(
                "SELECT note FROM compute_placements WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))


def _job_row(row: tuple[Any, ...]) -> JobRow:
    values = list(row)
    values[11] = tuple(json.loads(values[11]))
    values[15] = dict(json.loads(values[15] or "{}"))
    return JobRow(*values)
