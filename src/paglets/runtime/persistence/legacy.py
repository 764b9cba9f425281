"""Folding the databases of older versions into the one host database.

Before the one store, the artifact metadata (``artifacts.sqlite3``) and the tables of
inactive paglets' files (``paglet_files.sqlite3``) had their own files in the
persistence dir. On first start with the host database, their rows are copied in
(``INSERT OR IGNORE``: a row already there wins) in one transaction and the old file
is renamed ``*.migrated``: kept, never deleted, never read again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)


def merge_legacy_table(db: sqlite3.Connection, legacy: Path, table: str) -> int:
    """Copy ``table`` from the database file ``legacy`` into ``db``; return rows copied.

    ``db`` must be in autocommit mode and already hold ``table``. Nothing happens when
    ``legacy`` does not exist.
    """
    if not legacy.exists():
        return 0
    db.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            found = db.execute(
                "SELECT 1 FROM legacy.sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            copied = 0
            if found is not None:
                copied = db.execute(
                    f"INSERT OR IGNORE INTO main.{table} SELECT * FROM legacy.{table}"
                ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute("DETACH DATABASE legacy")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{legacy}{suffix}")
        if part.exists():
            os.replace(part, Path(f"{legacy}.migrated{suffix}"))
    log.info("moved %d rows of %s from %s into the host database", copied, table, legacy.name)
    return copied
