"""A paglet's ``run()``: its own thread, its run slot, and how it ended."""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from paglets.core.agent import Paglet, overrides_run
from paglets.core.context_events import PAGLET_CRASHED
from paglets.core.errors import HostStoppedError
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.limits import RunSlot, RunSlots
from paglets.runtime.execution.sender import sending_as

log = logging.getLogger(__name__)

RUN_START_WAIT = 5.0
"""Seconds :meth:`PagletRun.start` waits for the thread to enter ``run()``."""


class PagletRun:
    """The ``run()`` of one paglet, if its class defines one.

    The run slot is taken at construction (so a paglet that could not run is refused
    before it exists) and given back when ``run()`` returns, or when the paglet
    leaves before it started.

    Raises:
        LimitExceededError: every ``max_run_threads`` slot is held.
    """

    def __init__(
        self,
        paglet: Paglet[Any],
        agent_id: str,
        class_path: str,
        run_slots: RunSlots | None,
        events: EventLog | None,
    ) -> None:
        self._paglet = paglet
        self._agent_id = agent_id
        self._class_path = class_path
        self._events = events
        self._runs = overrides_run(type(paglet))
        self._slot: RunSlot | None = run_slots.take(agent_id) if run_slots and self._runs else None
        self._thread: threading.Thread | None = None
        self.failure = ""

    def start(self) -> None:
        """Start ``run()`` on a thread of its own, if the paglet class defines one.

        Returns once that thread entered ``run()`` (bounded by :data:`RUN_START_WAIT`),
        so a caller's first message comes after ``run()`` began.
        """
        if not self._runs:
            return
        entered = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(entered,), name=f"paglet-run-{self._agent_id[:8]}", daemon=True
        )
        self._thread = thread
        thread.start()
        entered.wait(RUN_START_WAIT)

    def left(self) -> None:
        """The paglet left this host: give the slot back if ``run()`` never started."""
        if self._thread is None and self._slot is not None:
            self._slot.release()

    @property
    def alive(self) -> bool:
        """Whether ``run()`` is still running."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self, entered: threading.Event) -> None:
        entered.set()
        try:
            with sending_as(self._agent_id):
                self._paglet.run()
        except HostStoppedError:
            log.info("%r: run() ended because the host stopped", self._paglet)
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            if self._events is not None:
                self._events.record(
                    PAGLET_CRASHED, self._agent_id, class_name=self._class_path, error=self.failure
                )
            log.error("%r: run() failed:\n%s", self._paglet, traceback.format_exc())
        finally:
            if self._slot is not None:
                self._slot.release()
