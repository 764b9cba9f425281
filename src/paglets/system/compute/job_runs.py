"""How the compute slots run granted jobs: launch, watch, collect, report.

A mixin of :class:`~paglets.system.compute.service.ComputeSlots`, kept apart because
it is the part that touches job paglets and processes: activating a granted job's
paglet from the host store, which starts its child pinned to the lease (on a thread
of its own, since a child process takes a while to start), noticing its end,
reading its outcome back, releasing the lease and recording the history, killing a
job over its memory estimate when its policy says so, and telling a job group's
collector how each job ended (retried a while; the collector ignores repeats).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.ids import new_id
from paglets.core.messages import Message
from paglets.system.compute.queue_store import ComputeQueue, JobRow
from paglets.system.compute.usage import Peaks, UsageMeter
from paglets.wire.classpath import resolve_class
from paglets.wire.codec import decode_state, encode_value

log = logging.getLogger(__name__)

MEMORY_REPORT = "report"
"""Memory policy: a job over its memory estimate is reported and keeps running."""
MEMORY_KILL = "kill"
"""Memory policy: a job over its memory estimate is reported and killed."""
MEMORY_POLICIES = (MEMORY_REPORT, MEMORY_KILL)
REPORT_KIND = "job-finished"
"""The message a collector gets for each job end (``job_id``, ``outcome``, ``error``,
``result`` as encoded bytes or None, ``host``)."""
WATCH_KIND = "watch"
"""The tick a watched paglet (a job group's collector) gets about once a second."""
WATCH_EVERY = 1.0
DELIVERY_ATTEMPTS = 8
_RESOLVING = threading.Lock()
DELIVERY_TIMEOUT = 10.0


class JobRuns:
    """The job-process half of the compute slots (see the module docstring)."""

    host: Any
    queue: ComputeQueue
    _changed: threading.Condition
    _stopped: bool
    _meters: dict[str, UsageMeter]
    _ended: set[str]
    _finishing: set[str]
    _launching: dict[str, threading.Thread]
    _launched: set[str]
    _watched: set[str]
    _orphans: set[str]
    _next_watch: float
    _killed: dict[str, str]
    _over_memory: set[str]
    _deliveries: list[threading.Thread]
    _delivery_stop: threading.Event

    def _init_runs(self) -> None:
        self._meters = {}
        self._ended = set()
        self._finishing = set()
        self._launching = {}
        self._launched = set()
        self._watched = set()
        self._orphans = set()
        self._next_watch = 0.0
        self._killed = {}
        self._over_memory = set()
        self._deliveries = []
        self._delivery_stop = threading.Event()

    def _join_runs(self, launch_bound: float, delivery_bound: float) -> None:
        with self._changed:
            launching = list(self._launching.values())
            deliveries = list(self._deliveries)
        for thread in launching:
            thread.join(launch_bound)
        for thread in deliveries:
            thread.join(delivery_bound)
        self._delivery_stop.set()  # the rest give up at their next retry

    def _start_launch(self, row: JobRow) -> None:
        """Launch on a thread of its own: a child process takes a while to start."""
        with self._changed:
            if row.job_id in self._launching or self._stopped:
                return
            thread = threading.Thread(
                target=self._launch, args=(row,), name=f"compute-launch-{row.job_id[:8]}"
            )
            self._launching[row.job_id] = thread
        thread.start()

    def _launch(self, row: JobRow) -> None:
        try:
            self._create_job(row)
        finally:
            with self._changed:
                self._launching.pop(row.job_id, None)
                self._changed.notify_all()

    def _parked(self, row: JobRow) -> bool:
        """Whether the granted job's paglet is ready to be activated (not placing itself)."""
        slot = self.host._registry.get(row.agent_id)
        return slot is None or not slot.execution.in_process

    def _create_job(self, row: JobRow) -> None:
        """Activate the granted job's paglet: its child starts pinned to the lease's CPUs.

        The paglet waits inactive in the host store. One lost with its host's process
        (a kill while it ran, then ``rerun_if_lost``) is created again from the state
        its queue row keeps, under the same paglet id.
        """
        host = self.host
        try:
            slot = host._registry.get(row.agent_id)
            if slot is None and host._store.load(row.agent_id) is not None:
                self.host.activate(row.agent_id)
            elif slot is None:
                self._recreate(row)
        except PagletError as exc:
            self._record_end(row, "failed", f"could not start: {exc}", None, Peaks())
            return
        slot = host._registry.get(row.agent_id)
        if slot is None or slot.execution.in_process:
            self._record_end(row, "failed", "could not start: it took no lease", None, Peaks())
            return
        with self._changed:
            self._launched.add(row.job_id)
        slot.execution.on_end = self._wake_for(row.job_id)
        pid = getattr(slot.execution, "pid", None)
        if pid is not None:
            self._meters[row.job_id] = UsageMeter(pid, host._work_area.dir_of(row.agent_id))
        if slot.execution.ended:
            self._wake_for(row.job_id)()

    def _decode_job(self, class_path: str, state_class_path: str, state: bytes) -> Any:
        host = self.host
        with _RESOLVING:  # two launches importing one module: the second saw it half-built
            cls = resolve_class(class_path, Paglet, host._policy)
            fallback = f"{cls.State.__module__}.{cls.State.__qualname__}"
            state_cls = resolve_class(state_class_path or fallback, PagletState, host._policy)
        return cls, decode_state(state, state_cls, host._policy)

    def _recreate(self, row: JobRow) -> None:
        cls, state = self._decode_job(row.class_path, row.state_class_path, row.state)
        for name, value in (
            ("job_id", row.job_id),
            ("granted_cpus", list(row.cpus)),
            ("host_name", self.host.name),
            ("target", ""),
        ):
            if hasattr(state, name):
                setattr(state, name, value)
        self.host.create(cls, state, agent_id=row.agent_id)

    def create_job(self, body: dict[str, Any]) -> str:
        """Create here the job paglet a ``submit`` request describes; return its agent id.

        It places itself from this host, reporting to it (a lost job run again).

        Raises:
            PagletError: its class or state is unusable here.
        """
        cls, state = self._decode_job(
            str(body["class"]), str(body.get("state_class", "")), bytes(body["state"])
        )
        job_id = str(body.get("job_id") or new_id())
        fields = {"job_id": job_id, "home": self.host.address, "target": "", "hops": 0,
                  "granted_cpus": [], "host_name": "", "result": None, "error": ""}  # fmt: skip
        for name, value in fields.items():
            if hasattr(state, name):
                setattr(state, name, value)
        return str(self.host.create(cls, state).agent_id)

    def _dispose_job(self, row: JobRow) -> None:
        """Have the service thread dispose the job's paglet (a cancelled job's).

        Not here: the paglet may still be placing itself (its ``run()`` about to
        deactivate it), so it is disposed once it waits in the store or its
        ``run()`` returned.
        """
        if row.agent_id:
            with self._changed:
                self._orphans.add(row.agent_id)
                self._changed.notify_all()

    def _dispose_orphans(self) -> None:
        with self._changed:
            orphans = list(self._orphans)
        for agent_id in orphans:
            slot = self.host._registry.get(agent_id)
            if slot is not None and slot.execution.in_process and slot.run_alive:
                continue  # still placing itself: next round
            if slot is None and self.host._store.load(agent_id) is None:
                done = True  # gone already
            else:
                try:
                    self.host.dispose(agent_id)
                    done = True
                except PagletError as exc:
                    log.debug("job paglet %s not disposed yet: %s", agent_id, exc)
                    done = self.host._registry.get(agent_id) is None
            if done:
                with self._changed:
                    self._orphans.discard(agent_id)

    def watch(self, agent_id: str) -> None:
        """Send the local paglet ``agent_id`` a ``watch`` tick about once a second.

        It stops when the paglet is no longer active here (moved, disposed).
        """
        with self._changed:
            self._watched.add(agent_id)

    def _tick_watched(self) -> None:
        now = time.monotonic()
        if now < self._next_watch:
            return
        self._next_watch = now + WATCH_EVERY
        with self._changed:
            watched = list(self._watched)
        for agent_id in watched:
            proxy = self.host.get_proxy(agent_id, include_inactive=False)
            try:
                if proxy is None:
                    raise PagletError("gone")
                proxy.send_oneway(Message(WATCH_KIND, {}), activate_if_inactive=False)
            except PagletError:
                with self._changed:
                    self._watched.discard(agent_id)

    def _wake_for(self, job_id: str) -> Callable[[], None]:
        def wake() -> None:
            with self._changed:
                self._ended.add(job_id)
                self._changed.notify_all()

        return wake

    def _has_ended(self, row: JobRow) -> bool:  # of a launched job
        slot = self.host._registry.get(row.agent_id)
        if slot is None or slot.execution.in_process:
            return True
        runner = slot.execution
        return bool(runner.ended or runner.run_state in ("done", "failed"))

    def _finish(self, row: JobRow) -> None:
        """Collect the ended job's outcome, release its lease, record its history."""
        with self._changed:
            self._ended.discard(row.job_id)
            if row.job_id in self._finishing or self.queue.get(row.job_id) is None:
                return
            self._finishing.add(row.job_id)
        try:
            self._collect(row)
        finally:
            with self._changed:
                self._finishing.discard(row.job_id)

    def _collect(self, row: JobRow) -> None:
        meter = self._meters.pop(row.job_id, None)
        if meter is not None:
            meter.sample()  # the child still lives: a job shorter than a tick gets a sample too
        peaks = meter.usage.peaks if meter is not None else Peaks()
        slot = self.host._registry.get(row.agent_id)
        outcome, error, result = "lost", "its paglet is gone from the host", None
        if slot is not None and not slot.execution.in_process:
            runner = slot.execution
            killed = self._killed.pop(row.job_id, "")
            if killed:
                outcome, error = "killed", killed
            elif runner.ended and runner.crashed:
                outcome, error = "crashed", str(runner.info()["failed"])
            elif runner.ended:
                outcome, error = "cancelled", "killed by a forced cancel"
            else:
                try:
                    runner.snapshot()
                    state = slot.paglet.state
                    error = str(getattr(state, "error", ""))
                    outcome = "failed" if error else "succeeded"
                    result = encode_value(getattr(state, "result", None))
                except PagletError as exc:
                    outcome, error = "failed", f"result not collected: {exc}"
            try:
                self.host.dispose(row.agent_id)
            except PagletError as exc:
                log.info("job paglet %s not disposed: %s", row.agent_id, exc)
        self._record_end(row, outcome, error, result, peaks)

    def _record_end(
        self, row: JobRow, outcome: str, error: str, result: bytes | None, peaks: Peaks
    ) -> None:
        """Move ``row`` to the history and tell its group's collector, if it has one."""
        with self._changed:
            self.queue.finish(row, outcome, error, result, peaks)
            self._launched.discard(row.job_id)
            self._changed.notify_all()
        collector = row.policy.get("collector")
        if collector:
            report = {
                "job_id": row.job_id,
                "outcome": outcome,
                "error": error,
                "result": result,
                "host": self.host.name,
            }
            thread = threading.Thread(
                target=self._deliver,
                args=(dict(collector), report),
                name=f"compute-report-{row.job_id[:8]}",
                daemon=True,
            )
            with self._changed:
                self._deliveries = [t for t in self._deliveries if t.is_alive()] + [thread]
            thread.start()

    def _deliver(self, collector: dict[str, str], report: dict[str, Any]) -> None:
        """Send one job's end to its collector, retrying a while (it ignores repeats)."""
        delay = 0.2
        for attempt in range(DELIVERY_ATTEMPTS):
            try:
                proxy = self.host.proxy(collector)
                proxy.send(Message(REPORT_KIND, report), timeout=DELIVERY_TIMEOUT)
                return
            except PagletError as exc:
                if attempt == DELIVERY_ATTEMPTS - 1 or self._delivery_stop.wait(delay):
                    log.warning("job %s: its collector did not get the report: %s",
                                report["job_id"], exc)  # fmt: skip
                    return
                delay = min(delay * 2, 2.0)

    # memory ---------------------------------------------------------------------------

    def _check_memory(self, row: JobRow, meter: UsageMeter) -> None:
        """Report a job over its memory estimate once; kill it if its policy says so."""
        rss = int(meter.usage.rss)
        if not row.memory or rss <= row.memory or row.job_id in self._over_memory:
            return
        self._over_memory.add(row.job_id)
        text = f"exceeded its memory estimate: RSS {rss} > {row.memory} bytes"
        policy = str(row.policy.get("memory_policy", MEMORY_REPORT))
        self.host._events.record(
            "compute-over-memory", row.agent_id, job_id=row.job_id, rss=rss, policy=policy
        )
        log.warning("compute job %s on %s %s", row.job_id, self.host.name, text)
        if policy != MEMORY_KILL:
            return
        slot = self.host._registry.get(row.agent_id)
        self._killed[row.job_id] = f"killed: {text}"
        if slot is not None and not slot.execution.in_process:
            slot.execution.stop()
        self._finish(row)
