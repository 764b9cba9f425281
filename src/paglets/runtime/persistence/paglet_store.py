"""Paglets at rest in the host database: inactive ones, their queued messages, checkpoints.

An inactive paglet is one row of ``inactive_paglets`` plus its messages in
``queued_messages`` (in arrival order). Deactivating writes the row, the messages that
were waiting in its mailbox and drops its checkpoint in one transaction; activating
deletes them (and writes the checkpoint of a durable paglet) in one transaction. A
DURABLE paglet that is active has one row in ``checkpoints``, rewritten after every
message that changed its state. A row the host cannot use (its class no longer
imports, its state no longer decodes) is moved to ``quarantine``, never deleted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from paglets.runtime.persistence.host_store import HostStore


@dataclass(frozen=True, slots=True)
class StoredPaglet:
    """One paglet as the store keeps it (inactive, or the checkpoint of an active one)."""

    agent_id: str
    class_path: str
    state_class_path: str
    state: bytes
    deactivated_at: float
    wake_at: float | None = None
    activate_on_start: bool = False
    activate_on_message: bool = True


@dataclass(frozen=True, slots=True)
class InactiveRow:
    """A paglet about to be stored inactive, with the messages it had waiting."""

    agent_id: str
    class_path: str
    state_class_path: str
    state: bytes
    wake_at: float | None
    messages: tuple[tuple[int, bytes], ...]
    activate_on_start: bool
    activate_on_message: bool


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message kept for an inactive paglet: its order, priority and encoded body."""

    seq: int
    priority: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record the host could not use, kept aside with the reason."""

    id: int
    kind: str
    key: str
    reason: str
    quarantined_at: float


_INACTIVE_COLUMNS = (
    "agent_id, class_path, state_class_path, state, deactivated_at, wake_at, "
    "activate_on_start, activate_on_message"
)


class PagletStore:
    """Inactive paglets, queued messages and checkpoints by agent id. Thread-safe."""

    def __init__(self, directory: Path | HostStore | None) -> None:
        self.db = directory if isinstance(directory, HostStore) else HostStore(directory)

    @property
    def durable(self) -> bool:
        """Whether the store survives the process."""
        return self.db.durable

    # inactive paglets -----------------------------------------------------------------

    def save(
        self,
        agent_id: str,
        class_path: str,
        state_class_path: str,
        state: bytes,
        wake_at: float | None = None,
        messages: Sequence[tuple[int, bytes]] = (),
        activate_on_start: bool = False,
        activate_on_message: bool = True,
    ) -> None:
        """Store one inactive paglet with its waiting messages; drop its checkpoint."""
        self.save_many(
            [
                InactiveRow(
                    agent_id,
                    class_path,
                    state_class_path,
                    state,
                    wake_at,
                    tuple(messages),
                    activate_on_start,
                    activate_on_message,
                )
            ]
        )

    def save_many(self, rows: Sequence[InactiveRow]) -> None:
        """Store inactive paglets with their messages, dropping their checkpoints.

        One transaction (one fsync for all of them): after a crash each paglet is
        either still active (with its checkpoint, if durable) or inactive with every
        message.
        """
        now = time.time()
        with self.db.transaction() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO inactive_paglets ({_INACTIVE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        row.agent_id,
                        row.class_path,
                        row.state_class_path,
                        row.state,
                        now,
                        row.wake_at,
                        int(row.activate_on_start),
                        int(row.activate_on_message),
                    )
                    for row in rows
                ],
            )
            db.executemany(
                "INSERT INTO queued_messages (agent_id, priority, body, queued_at) "
                "VALUES (?, ?, ?, ?)",
                [
                    (row.agent_id, priority, body, now)
                    for row in rows
                    for priority, body in row.messages
                ],
            )
            db.executemany(
                "DELETE FROM checkpoints WHERE agent_id = ?", [(row.agent_id,) for row in rows]
            )

    def load(self, agent_id: str) -> StoredPaglet | None:
        """Return the stored inactive paglet, or None."""
        row = self.db.query_one(
            f"SELECT {_INACTIVE_COLUMNS} FROM inactive_paglets WHERE agent_id = ?", (agent_id,)
        )
        return None if row is None else _stored(row)

    def messages(self, agent_id: str) -> list[QueuedMessage]:
        """The messages kept for ``agent_id``, in arrival order."""
        rows = self.db.query(
            "SELECT seq, priority, body FROM queued_messages WHERE agent_id = ? ORDER BY seq",
            (agent_id,),
        )
        return [QueuedMessage(int(seq), int(priority), bytes(body)) for seq, priority, body in rows]

    def queue_message(self, agent_id: str, priority: int, body: bytes) -> int:
        """Keep a message for an inactive paglet; return its sequence number."""
        with self.db.transaction() as db:
            cursor = db.execute(
                "INSERT INTO queued_messages (agent_id, priority, body, queued_at) "
                "VALUES (?, ?, ?, ?)",
                (agent_id, priority, body, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def activated(self, stored: StoredPaglet, checkpoint: bytes | None) -> None:
        """Remove an inactive paglet and its messages; keep ``checkpoint`` if durable."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM inactive_paglets WHERE agent_id = ?", (stored.agent_id,))
            db.execute("DELETE FROM queued_messages WHERE agent_id = ?", (stored.agent_id,))
            if checkpoint is not None:
                _write_checkpoint(db, stored.agent_id, stored, checkpoint)

    def delete(self, agent_id: str) -> bool:
        """Remove a stored paglet and its messages; return whether it was there."""
        with self.db.transaction() as db:
            cursor = db.execute("DELETE FROM inactive_paglets WHERE agent_id = ?", (agent_id,))
            db.execute("DELETE FROM queued_messages WHERE agent_id = ?", (agent_id,))
        return cursor.rowcount > 0

    def ids(self) -> list[str]:
        """Every stored inactive agent id."""
        return [row[0] for row in self.db.query("SELECT agent_id FROM inactive_paglets")]

    def count(self) -> int:
        """How many paglets are inactive here."""
        return int(self.db.query_one("SELECT count(*) FROM inactive_paglets")[0])

    def contains(self, agent_id: str) -> bool:
        """Whether ``agent_id`` is stored inactive."""
        row = self.db.query_one("SELECT 1 FROM inactive_paglets WHERE agent_id = ?", (agent_id,))
        return row is not None

    def wake_ups(self) -> list[tuple[str, float]]:
        """``(agent_id, wake_at)`` of every inactive paglet with a timed activation."""
        rows = self.db.query(
            "SELECT agent_id, wake_at FROM inactive_paglets WHERE wake_at IS NOT NULL"
        )
        return [(str(agent_id), float(wake_at)) for agent_id, wake_at in rows]

    def activate_on_start(self) -> list[str]:
        """Inactive paglets to activate when the host starts.

        Those whose policy asks for it, and those with kept messages that activate on
        a message (the messages are work that was accepted).
        """
        rows = self.db.query(
            "SELECT agent_id FROM inactive_paglets WHERE activate_on_start = 1 OR "
            "(activate_on_message = 1 AND agent_id IN (SELECT agent_id FROM queued_messages))"
        )
        return [str(row[0]) for row in rows]

    # checkpoints ----------------------------------------------------------------------

    def checkpoint(
        self, agent_id: str, class_path: str, state_class_path: str, state: bytes
    ) -> None:
        """Write the state of an active durable paglet (replaces the previous one).

        Raises:
            StoreError: the write failed (disk full, I/O error); the old one stays.
        """
        stored = StoredPaglet(agent_id, class_path, state_class_path, state, 0.0)
        with self.db.transaction() as db:
            _write_checkpoint(db, agent_id, stored, state)

    def drop_checkpoint(self, agent_id: str) -> None:
        """Forget the checkpoint of a paglet that left or was disposed."""
        with self.db.transaction() as db:
            db.execute("DELETE FROM checkpoints WHERE agent_id = ?", (agent_id,))

    def checkpoints(self) -> list[StoredPaglet]:
        """Every durable paglet that was active when the store was last written."""
        rows = self.db.query(
            "SELECT agent_id, class_path, state_class_path, state, updated_at FROM checkpoints"
        )
        return [StoredPaglet(str(a), str(c), str(s), bytes(b), float(t)) for a, c, s, b, t in rows]

    def load_checkpoint(self, agent_id: str) -> StoredPaglet | None:
        """The checkpoint of ``agent_id``, or None."""
        row = self.db.query_one(
            "SELECT agent_id, class_path, state_class_path, state, updated_at FROM checkpoints "
            "WHERE agent_id = ?",
            (agent_id,),
        )
        return None if row is None else StoredPaglet(row[0], row[1], row[2], bytes(row[3]), row[4])

    # quarantine -----------------------------------------------------------------------

    def quarantine(self, kind: str, agent_id: str, reason: str) -> None:
        """Move an unusable inactive paglet (``kind="inactive"``) or checkpoint aside.

        The row and its messages go to ``quarantine`` in one transaction: nothing is
        deleted, and the host no longer tries to load it.
        """
        with self.db.transaction() as db:
            if kind == "inactive":
                row = db.execute(
                    f"SELECT {_INACTIVE_COLUMNS} FROM inactive_paglets WHERE agent_id = ?",
                    (agent_id,),
                ).fetchone()
                queued = db.execute(
                    "SELECT priority, body FROM queued_messages WHERE agent_id = ? ORDER BY seq",
                    (agent_id,),
                ).fetchall()
                db.execute("DELETE FROM inactive_paglets WHERE agent_id = ?", (agent_id,))
                db.execute("DELETE FROM queued_messages WHERE agent_id = ?", (agent_id,))
                payload: Any = {"row": list(row or ()), "messages": [list(m) for m in queued]}
            else:
                row = db.execute(
                    "SELECT agent_id, class_path, state_class_path, state, updated_at "
                    "FROM checkpoints WHERE agent_id = ?",
                    (agent_id,),
                ).fetchone()
                db.execute("DELETE FROM checkpoints WHERE agent_id = ?", (agent_id,))
                payload = {"row": list(row or ())}
            db.execute(
                "INSERT INTO quarantine (kind, key, reason, payload, quarantined_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, agent_id, reason, msgpack.packb(payload, use_bin_type=True), time.time()),
            )

    def quarantined(self) -> list[Quarantined]:
        """Every record set aside, oldest first."""
        rows = self.db.query(
            "SELECT id, kind, key, reason, quarantined_at FROM quarantine ORDER BY id"
        )
        return [Quarantined(int(i), str(k), str(key), str(r), float(t)) for i, k, key, r, t in rows]

    def close(self) -> None:
        """Close the database; later calls raise HostStoppedError."""
        self.db.close()


def _stored(row: Any) -> StoredPaglet:
    agent_id, cls, state_cls, state, at, wake_at, on_start, on_message = row
    return StoredPaglet(
        str(agent_id),
        str(cls),
        str(state_cls),
        bytes(state),
        float(at),
        None if wake_at is None else float(wake_at),
        bool(on_start),
        bool(on_message),
    )


def _write_checkpoint(db: Any, agent_id: str, stored: StoredPaglet, state: bytes) -> None:
    db.execute(
        "INSERT OR REPLACE INTO checkpoints "
        "(agent_id, class_path, state_class_path, state, updated_at) VALUES (?, ?, ?, ?, ?)",
        (agent_id, stored.class_path, stored.state_class_path, state, time.time()),
    )
