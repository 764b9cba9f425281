"""The compute queue's tables in the host database file (no job processes)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from paglets.system.compute.queue_store import (
    DATABASE_NAME,
    QUEUED,
    SCHEMA_VERSION,
    ComputeQueue,
    ComputeStoreError,
    JobRow,
)
from paglets.system.compute.usage import Peaks


def _row(job_id: str) -> JobRow:
    return JobRow(
        job_id, 0, "label", "m:C", "m:S", b"state", 1, 0, 0, time.time(), QUEUED, (), "",
        None, "", {"memory_policy": "kill", "rerun_if_lost": True},
    )  # fmt: skip


def test_the_queue_lives_in_the_host_database_with_its_own_version(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE_NAME) as other:  # the host store's own tables
        other.execute("PRAGMA user_version = 7")
        other.execute("CREATE TABLE inactive_paglets (agent_id TEXT PRIMARY KEY)")
    queue = ComputeQueue(tmp_path)
    assert queue.add(_row("a")) and not queue.add(_row("a"))  # one row per job
    queue.close()
    again = ComputeQueue(tmp_path)
    (row,) = again.queued()
    assert row.job_id == "a" and row.policy["memory_policy"] == "kill"
    again.finish(row, "succeeded", "", None, Peaks())
    assert again.queued() == [] and again.finished("a")["outcome"] == "succeeded"
    again.close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 7  # untouched
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = db.execute("SELECT value FROM compute_meta WHERE key = 'schema_version'")
        assert int(version.fetchone()[0]) == SCHEMA_VERSION
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"inactive_paglets", "compute_jobs", "compute_history"} <= tables
    assert not (tmp_path / "compute.sqlite").exists()


def test_newer_compute_tables_are_refused(tmp_path: Path) -> None:
    ComputeQueue(tmp_path).close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        db.execute("UPDATE compute_meta SET value = ? WHERE key = 'schema_version'", ("99",))
    with pytest.raises(ComputeStoreError, match="version 99"):
        ComputeQueue(tmp_path)
