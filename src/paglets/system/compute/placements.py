"""Where this host's submitted jobs ended up: the placements they reported home.

A job paglet places itself after its submitter's call returned the paglet's id, so
the submitter learns the decision (run, wait, reject, failed) from the job's
``placed`` report to the compute slots of its own host. The reports are kept in the
compute tables of the host's store (the last :data:`KEPT` of them), by the job
paglet's id: a job run again under its job id is a new paglet, and its submitter must
not read the old one's report. A submitter whose host restarted reads them still.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from paglets.system.compute.queue_store import ComputeQueue

KEPT = 4096
"""Placement reports kept (the oldest are forgotten first)."""


class Placements:
    """Placement reports by job paglet id, with waiting readers. Thread-safe.

    Args:
        queue: the compute tables the reports are kept in.
    """

    def __init__(self, queue: ComputeQueue) -> None:
        self._queue = queue
        self._changed = threading.Condition()
        self._closed = False

    def put(self, note: dict[str, Any]) -> bool:
        """Keep the report ``note`` (``agent_id``, ``job_id``, ``decision``, ``host``...)."""
        agent_id = str(note.get("agent_id", ""))
        if not agent_id:
            return False
        with self._changed:
            if self._closed:
                return False
            self._queue.save_placement(agent_id, dict(note))
            self._changed.notify_all()
        return True

    def get(self, agent_id: str, wait: float) -> dict[str, Any] | None:
        """The report of the job paglet ``agent_id``, waiting up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        with self._changed:
            while not self._closed:  # closed: the tables close next
                note = self._queue.placement(agent_id)
                left = deadline - time.monotonic()
                if note is not None or left <= 0:
                    return note
                self._changed.wait(left)
            return None

    def close(self) -> None:
        """Wake every waiting reader (they get None: the host stops)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
