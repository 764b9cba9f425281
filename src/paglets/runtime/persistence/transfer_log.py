"""Transfer records: what each side of a hand-off decided, kept in the host database.

One row per transfer id and side (``out`` at the source, ``in`` at the target). The
phases, and who may move a record from one to the next, are in docs/durability.md::

    out: prepared -> committed -> done        (the source alone decides commit/abort)
                  -> aborted
    in:  prepared -> committed -> done        (the target only follows the source)
                  -> aborted

The record carries everything the target needs to start the paglet (class, state,
files), so a side that restarts after ``kill -9`` can finish the hand-off from it.
Moving the source's record to ``committed`` drops the paglet's checkpoint in the same
transaction: after a crash the paglet is either still the source's or the target's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgpack

from paglets.runtime.persistence.host_store import HostStore

PREPARED = "prepared"
COMMITTED = "committed"
ABORTED = "aborted"
DONE = "done"

OUT = "out"
IN = "in"


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """One side's record of one transfer."""

    tid: str
    role: str
    agent_id: str
    peer: str
    phase: str
    record: dict[str, Any]
    deadline: float


class TransferLog:
    """Transfer records by id and side. Thread-safe (through the host store)."""

    def __init__(self, db: HostStore) -> None:
        self._db = db
        self.version = 0  # bumped by every write: a reader may skip a pass when unchanged

    def begin(
        self,
        tid: str,
        role: str,
        agent_id: str,
        peer: str,
        record: dict[str, Any],
        deadline: float,
        durable: bool = True,
    ) -> None:
        """Write a new ``prepared`` record.

        The paglet's record goes first, the phase row second, each one statement: a
        crash between leaves a record without a phase, which is no transfer at all
        (:meth:`forget_settled` removes it).

        Args:
            durable: False commits without an fsync of its own (the source's record:
                docs/durability.md says why a power cut losing it is harmless).
        """
        key = _key(tid, role)
        blob = msgpack.packb(record, use_bin_type=True) if record else b""
        self.version += 1
        if blob:
            self._db.write(
                "INSERT OR REPLACE INTO transfer_records (tid, record) VALUES (?, ?)",
                (key, blob),
                durable=False,  # the phase row's commit below covers it (one WAL)
            )
        self._db.write(
            "INSERT INTO transfers (tid, role, agent_id, peer, phase, record, deadline, "
            "updated_at) VALUES (?, ?, ?, ?, ?, x'', ?, ?)",
            (key, role, agent_id, peer, PREPARED, deadline, time.time()),
            durable,
        )

    def move(
        self,
        tid: str,
        role: str,
        phase: str,
        *,
        expect: str | None = None,
        drop_checkpoint: str | None = None,
        checkpoint: tuple[str, str, str, bytes] | None = None,
        durable: bool = True,
    ) -> bool:
        """Set a record's phase; return False (nothing changed) if it was not ``expect``.

        A record that reaches ``done`` or ``aborted`` keeps its phase only.

        Args:
            drop_checkpoint: forget this agent's checkpoint in the same transaction.
            checkpoint: ``(agent_id, class, state class, state)`` written in the same
                transaction (a durable paglet that starts here).
            durable: False commits without an fsync of its own (see docs/durability.md).
        """
        key = _key(tid, role)
        self.version += 1
        sql = "UPDATE transfers SET phase = ?, updated_at = ? WHERE tid = ?"
        params: tuple[str, ...] = ()
        if expect is not None:
            sql, params = sql + " AND phase = ?", (expect,)
        if drop_checkpoint is None and checkpoint is None:  # one statement, no BEGIN
            changed = self._db.write(sql, (phase, time.time(), key, *params), durable) > 0
        else:
            with self._db.transaction(durable) as db:
                changed = db.execute(sql, (phase, time.time(), key, *params)).rowcount > 0
                if changed and drop_checkpoint is not None:
                    db.execute("DELETE FROM checkpoints WHERE agent_id = ?", (drop_checkpoint,))
                if changed and checkpoint is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO checkpoints (agent_id, class_path, "
                        "state_class_path, state, updated_at) VALUES (?, ?, ?, ?, ?)",
                        (*checkpoint, time.time()),
                    )
        if changed and phase in (DONE, ABORTED):  # nothing reads its paglet again
            self._db.write("DELETE FROM transfer_records WHERE tid = ?", (key,), durable=False)
        return changed

    def settle(self, tids: list[str], role: str, expect: str) -> int:
        """Move every record of ``tids`` in phase ``expect`` to ``done``, in one transaction
        committed without an fsync of its own; return how many moved."""
        self.version += 1
        moved = 0
        with self._db.transaction(durable=False) as db:
            for tid in tids:
                key = _key(tid, role)
                changed = db.execute(
                    "UPDATE transfers SET phase = ?, updated_at = ? WHERE tid = ? AND phase = ?",
                    (DONE, time.time(), key, expect),
                ).rowcount
                if changed:
                    db.execute("DELETE FROM transfer_records WHERE tid = ?", (key,))
                moved += changed
        return moved

    def get(self, tid: str, role: str) -> TransferRecord | None:
        """The record of ``tid`` on side ``role``, or None."""
        row = self._db.query_one(
            "SELECT t.tid, role, agent_id, peer, phase, r.record, deadline FROM transfers t "
            "LEFT JOIN transfer_records r ON r.tid = t.tid WHERE t.tid = ?",
            (_key(tid, role),),
        )
        return None if row is None else _record(row)

    def phase(self, tid: str, role: str) -> str | None:
        """The phase of ``tid`` on side ``role``, or None if unknown here."""
        row = self._db.query_one("SELECT phase FROM transfers WHERE tid = ?", (_key(tid, role),))
        return None if row is None else str(row[0])

    def phases(self, role: str) -> list[str]:
        """The phase of every record on side ``role``, oldest first."""
        rows = self._db.query(
            "SELECT phase FROM transfers WHERE role = ? ORDER BY updated_at", (role,)
        )
        return [str(row[0]) for row in rows]

    def unsettled(self) -> list[TransferRecord]:
        """Records still waiting for the other side (prepared, or committed not done)."""
        rows = self._db.query(
            "SELECT t.tid, role, agent_id, peer, phase, r.record, deadline FROM transfers t "
            "LEFT JOIN transfer_records r ON r.tid = t.tid "
            "WHERE phase IN (?, ?) ORDER BY updated_at",
            (PREPARED, COMMITTED),
        )
        return [_record(row) for row in rows]

    def forget_settled(self, older_than: float) -> int:
        """Delete done and aborted records last touched before ``older_than``."""
        with self._db.transaction(durable=False) as db:
            cursor = db.execute(
                "DELETE FROM transfers WHERE phase IN (?, ?) AND updated_at < ?",
                (DONE, ABORTED, older_than),
            )
            db.execute(  # records left by a crash between their two writes
                "DELETE FROM transfer_records WHERE tid NOT IN "
                "(SELECT tid FROM transfers WHERE phase IN (?, ?))",
                (PREPARED, COMMITTED),
            )
        return cursor.rowcount


def _key(tid: str, role: str) -> str:
    # a local clone has both sides in one database
    return f"{role}:{tid}"


def _record(row: Any) -> TransferRecord:
    key, role, agent_id, peer, phase, blob, deadline = row
    return TransferRecord(
        str(key).split(":", 1)[1],
        str(role),
        str(agent_id),
        str(peer),
        str(phase),
        msgpack.unpackb(blob, raw=False) if blob else {},
        float(deadline),
    )
