"""The tables of the host database and the migrations that build them.

``PRAGMA user_version`` is the schema version. Each migration takes the database from
version ``n`` to ``n + 1`` inside one transaction, so an upgrade interrupted by a crash
leaves the old version whole. A database newer than this code is refused: an older
paglets must not write rows it does not understand.

Tables (version 3)::

    inactive_paglets   agent_id -> class paths, state, deactivated_at, wake_at,
                       activate_on_start, activate_on_message (its policy)
    queued_messages    seq (arrival order) -> agent_id, priority, body
                       (the message as the ``msg`` verb carries it)
    checkpoints        agent_id -> the state of an active DURABLE paglet
    transfers          tid -> role (out/in), agent_id, peer, phase, deadline
    transfer_records   tid -> the record (class, state, files) of an open transfer;
                       apart from its phase, so moving the phase rewrites a small row,
                       not the paglet's state (SQLite rewrites a whole row on update)
    quarantine         records the host could not use, kept for a human to look at
    events             host event history (seq, time, kind, agent_id, detail: the
                       event as a msgpack map), written by event_history.py
    jobs               job history (job_id, kind, status, started_at, ended_at, detail)
"""

from __future__ import annotations

import sqlite3

from paglets.core.errors import StoreError

_V1 = """
CREATE TABLE IF NOT EXISTS inactive_paglets (
    agent_id TEXT PRIMARY KEY,
    class_path TEXT NOT NULL,
    state_class_path TEXT NOT NULL,
    state BLOB NOT NULL,
    deactivated_at REAL NOT NULL,
    wake_at REAL
);
"""

_V2 = """
ALTER TABLE inactive_paglets ADD COLUMN activate_on_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inactive_paglets ADD COLUMN activate_on_message INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS inactive_by_wake ON inactive_paglets (wake_at)
    WHERE wake_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS queued_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    body BLOB NOT NULL,
    queued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queued_by_agent ON queued_messages (agent_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    agent_id TEXT PRIMARY KEY,
    class_path TEXT NOT NULL,
    state_class_path TEXT NOT NULL,
    state BLOB NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    tid TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    peer TEXT NOT NULL,
    phase TEXT NOT NULL,
    record BLOB NOT NULL,
    deadline REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_by_phase ON transfers (phase);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    quarantined_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    detail BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    detail BLOB NOT NULL
);
"""

_V3 = """
CREATE TABLE IF NOT EXISTS transfer_records (
    tid TEXT PRIMARY KEY,
    record BLOB NOT NULL
);
INSERT OR IGNORE INTO transfer_records (tid, record)
    SELECT tid, record FROM transfers WHERE length(record) > 0;
UPDATE transfers SET record = x'';
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
"""``MIGRATIONS[n]`` takes the database from version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` (autocommit mode) up to :data:`SCHEMA_VERSION`; return the old version.

    Raises:
        StoreError: the database is newer than this code.
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and _has_v1_table(db):
        version = 1  # a store from before versioning: the inactive_paglets table only
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the host database has schema version {version}, newer than this paglets "
            f"({SCHEMA_VERSION}); upgrade paglets or use another persistence dir"
        )
    start = version
    while version < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        version += 1
    return start


def _has_v1_table(db: sqlite3.Connection) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inactive_paglets'"
    ).fetchone()
    return row is not None


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
