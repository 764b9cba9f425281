"""The compute-slots queue and job history: an SQLite file next to the host's store.

A job is one row keyed by its job id, so a job can never be queued or leased twice.
A queued row carries the job's class and encoded state: the job paglet is created
only when its slot is granted, and the queue survives a restart. Finished jobs move
to a history table that keeps the last ``history_size`` of them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUED = "queued"
RUNNING = "running"

_SCHEMA = """
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
    reason TEXT NOT NULL DEFAULT ''
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
    peak_work INTEGER NOT NULL
);
"""

_JOB_COLUMNS = (
    "job_id, seq, label, class_path, state_class_path, state, cpu_cores, memory, "
    "temp_storage, submitted, status, cpus, agent_id, started, reason"
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
        }


class ComputeQueue:
    """Queued and running jobs and the history, in one SQLite file. Thread-safe.

    Args:
        directory: the host's persistence dir; None keeps everything in memory.
        history_size: finished jobs kept.
    """

    def __init__(self, directory: Path | None, history_size: int = 100) -> None:
        target = ":memory:" if directory is None else str(directory / "compute.sqlite")
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._history_size = history_size
        with self._lock:
            if directory is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

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
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def requeue_running(self, reason: str) -> int:
        """Put every running job back in the queue (their processes are gone)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE compute_jobs SET status = ?, cpus = '[]', agent_id = '', started = NULL, "
                "reason = ? WHERE status = ?",
                (QUEUED, reason, RUNNING),
            )
        return int(cursor.rowcount)

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
            self._db.execute("DELETE FROM compute_jobs WHERE job_id = ?", (row.job_id,))
            self._db.execute(
                "INSERT OR REPLACE INTO compute_history "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )
            self._db.execute(
                "DELETE FROM compute_history WHERE job_id NOT IN (SELECT job_id FROM "
                "compute_history ORDER BY ended DESC LIMIT ?)",
                (self._history_size,),
            )

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


def _job_row(row: tuple[Any, ...]) -> JobRow:
    values = list(row)
    values[11] = tuple(json.loads(values[11]))
    return JobRow(*values)
