"""Where this host's submitted jobs ended up: the placements they reported home.

A job paglet places itself after its submitter's call returned the paglet's id, so
the submitter learns the decision (run, wait, reject, failed) from the job's
``placed`` report to the compute slots of its own host. The reports are kept in
memory (the last :data:`KEPT` of them), by the job paglet's id: a job run again
under its job id is a new paglet, and its submitter must not read the old one's
report. A submitter asks within seconds; a job's end is kept durably in the
history of the host that ran it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

KEPT = 4096
"""Placement reports kept (the oldest are forgotten first)."""


class Placements:
    """Placement reports by job paglet id, with waiting readers. Thread-safe."""

    def __init__(self) -> None:
        self._notes: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._changed = threading.Condition()
        self._closed = False

    def put(self, note: dict[str, Any]) -> bool:
        """Keep the report ``note`` (``agent_id``, ``job_id``, ``decision``, ``host``...)."""
        agent_id = str(note.get("agent_id", ""))
        if not agent_id:
            return False
        with self._changed:
            self._notes[agent_id] = dict(note)
            self._notes.move_to_end(agent_id)
            while len(self._notes) > KEPT:
                self._notes.popitem(last=False)
            self._changed.notify_all()
        return True

    def get(self, agent_id: str, wait: float) -> dict[str, Any] | None:
        """The report of the job paglet ``agent_id``, waiting up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        with self._changed:
            while True:
                note = self._notes.get(agent_id)
                left = deadline - time.monotonic()
                if note is not None or left <= 0 or self._closed:
                    return None if note is None else dict(note)
                self._changed.wait(left)

    def close(self) -> None:
        """Wake every waiting reader (they get what is there)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
