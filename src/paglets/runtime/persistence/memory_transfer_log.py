"""Transfer records of a host without a store: the same phases, in a dict.

A host without ``persistence_dir`` keeps nothing across its death, so its transfer
records need no database: the protocol only needs them while the process lives
(idempotent verbs, ``transfer.status`` answers, settlement). Keeping them in memory
spares every hand-off its SQLite calls (each one lets other threads take the GIL).
Checkpoint changes asked with a move still go to the (in-memory) host store.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from paglets.runtime.persistence.host_store import HostStore
from paglets.runtime.persistence.transfer_log import (
    ABORTED,
    COMMITTED,
    DONE,
    PREPARED,
    TransferLog,
    TransferRecord,
)


class MemoryTransferLog(TransferLog):
    """:class:`TransferLog` in memory, for a host whose store is in memory."""

    def __init__(self, db: HostStore) -> None:
        super().__init__(db)
        self._lock = threading.Lock()
        self._rows: dict[
            tuple[str, str], list[Any]
        ] = {}  # [agent, peer, phase, record, deadline, at]

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
        """Write a new ``prepared`` record."""
        with self._lock:
            self.version += 1
            self._rows[(tid, role)] = [agent_id, peer, PREPARED, record, deadline, time.time()]

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
        """Set a record's phase; return False (nothing changed) if it was not ``expect``."""
        with self._lock:
            row = self._rows.get((tid, role))
            if row is None or (expect is not None and row[2] != expect):
                return False
            self.version += 1
            row[2], row[5] = phase, time.time()
            if phase in (DONE, ABORTED):
                row[3] = {}
        if drop_checkpoint is not None:
            self._db.write("DELETE FROM checkpoints WHERE agent_id = ?", (drop_checkpoint,))
        if checkpoint is not None:
            self._db.write(
                "INSERT OR REPLACE INTO checkpoints (agent_id, class_path, state_class_path, "
                "state, updated_at) VALUES (?, ?, ?, ?, ?)",
                (*checkpoint, time.time()),
            )
        return True

    def settle(self, tids: list[str], role: str, expect: str) -> int:
        """Move every record of ``tids`` in phase ``expect`` to ``done``."""
        return sum(self.move(tid, role, DONE, expect=expect) for tid in tids)

    def get(self, tid: str, role: str) -> TransferRecord | None:
        """The record of ``tid`` on side ``role``, or None."""
        with self._lock:
            row = self._rows.get((tid, role))
            return None if row is None else _entry(tid, role, row)

    def phase(self, tid: str, role: str) -> str | None:
        """The phase of ``tid`` on side ``role``, or None if unknown here."""
        with self._lock:
            row = self._rows.get((tid, role))
            return None if row is None else str(row[2])

    def phases(self, role: str) -> list[str]:
        """The phase of every record on side ``role``, oldest first."""
        with self._lock:
            rows = sorted((row[5], row[2]) for (_, side), row in self._rows.items() if side == role)
        return [str(phase) for _, phase in rows]

    def unsettled(self) -> list[TransferRecord]:
        """Records still waiting for the other side (prepared, or committed not done)."""
        with self._lock:
            open_rows = [
                (row[5], _entry(tid, role, row))
                for (tid, role), row in self._rows.items()
                if row[2] in (PREPARED, COMMITTED)
            ]
        return [entry for _, entry in sorted(open_rows, key=lambda item: item[0])]

    def forget_settled(self, older_than: float) -> int:
        """Delete done and aborted records last touched before ``older_than``."""
        with self._lock:
            old = [
                key
                for key, row in self._rows.items()
                if row[2] in (DONE, ABORTED) and row[5] < older_than
            ]
            for key in old:
                del self._rows[key]
        return len(old)


def _entry(tid: str, role: str, row: list[Any]) -> TransferRecord:
    return TransferRecord(tid, role, str(row[0]), str(row[1]), str(row[2]), row[3], row[4])
