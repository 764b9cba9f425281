"""Compute job groups: many jobs submitted together, their ends collected in one place.

:func:`submit_compute_job_group` creates a :class:`ResultCollectorPaglet` on the
submitting host, gives every job an id and the collector's reference, and submits
each one (placement as for a single job). When a job ends, the compute slots of the
host it ran on send its end (``job-finished``) to the collector, retrying a while;
the collector keeps the first report of each job and ignores the rest, so results
and failures are collected exactly once each, whatever repeats the mesh delivers.

The collector also watches the hosts its jobs run on: a job whose host goes offline is
reported ``lost``; if the job's policy says ``rerun_if_lost`` it is submitted again
(same job id, a new job paglet from the collector's host) and the group keeps
waiting for it. A subclass may act on each placement and end
(:meth:`ResultCollectorPaglet.on_job_placed`, :meth:`~ResultCollectorPaglet.on_job_ended`),
as the analysis example's collector writes its SQLite rows. ``summary`` answers at any time;
``wait`` answers once every job ended. With ``return_home_when_complete`` a collector
placed elsewhere (``collector_host``) moves back to the submitting host once complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import PagletError
from paglets.core.ids import new_id
from paglets.core.messages import UNQUEUED_PRIORITY, Message
from paglets.system.compute.job_runs import REPORT_KIND, WATCH_KIND
from paglets.system.compute_job import (
    PLAIN_VALUES,
    ComputeJobPaglet,
    ComputeJobState,
    estimate_of,
    resubmit_compute_job,
    submit_body,
    submit_compute_job,
)
from paglets.system.compute_slots import ComputeRejectedError, watch
from paglets.wire.codec import decode_value

WATCH_INTERVAL = 1.0
"""Seconds between two looks of a collector at the hosts its jobs run on."""
MAX_WAIT = 60.0
"""The longest one ``wait`` request blocks (callers loop)."""


@dataclass
class CollectingComputeJobState(ComputeJobState):
    """A job state that knows its group.

    Attributes:
        collector: the ``to_wire()`` reference of the group's collector.
        group_id: the group's id.
    """

    collector: dict[str, str] = field(default_factory=dict)
    group_id: str = ""


class CollectingComputeJobPaglet(ComputeJobPaglet):
    """A compute job of a group: its end goes to the group's collector.

    Subclasses implement :meth:`run_compute_job` only, as for any compute job; the
    report is sent by the compute slots that ran it, so a crash or a kill is reported
    too.
    """

    State = CollectingComputeJobState


@dataclass
class ResultCollectorState(PagletState):
    """What a collector knows of its group.

    Attributes:
        group_id: the group's id.
        label: a name for listings.
        home: the submitting host's address.
        return_home_when_complete: move home once every job ended.
        expected: how many jobs the group has (complete needs every one's end).
        jobs: job id -> ``{host, address, body}`` (body: the submit request, kept
            to run the job again when it is lost).
        results: job id -> result (plain values).
        failures: job id -> why it failed.
        lost: ``{job_id, host, rerun}`` for every loss seen.
        duplicates: reports ignored because the job had already ended.
        created, completed: wall-clock times (completed: 0 until complete).
    """

    group_id: str = ""
    label: str = ""
    home: str = ""
    return_home_when_complete: bool = False
    expected: int = 0
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    lost: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    created: float = 0.0
    completed: float = 0.0


class ResultCollectorPaglet(Paglet[ResultCollectorState]):
    """Collects the ends of a group's jobs (see the module docstring).

    Message kinds: ``expect`` (``job_id``, ``host``, ``address``, ``body``),
    ``job-finished`` (from the compute slots), ``summary`` (``results``: include
    them), ``wait`` (``timeout``; sent unqueued, answers the summary once complete).
    """

    State = ResultCollectorState
    _looked = 0.0

    def handle_message(self, message: Message) -> Any:
        args = message.args
        if message.kind == "expect":
            return self._expect(args)
        if message.kind == REPORT_KIND:
            return self._report(args)
        if message.kind == WATCH_KIND:
            now = time.monotonic()
            if now - self._looked >= WATCH_INTERVAL / 2:  # ticks queued behind a slow look
                self._looked = now
                self._look()
            return None
        if message.kind == "summary":
            return self.summary(bool(args.get("results", True)))
        if message.kind == "wait":
            wait = min(max(0.0, float(args.get("timeout", MAX_WAIT))), MAX_WAIT)
            self.wait_state(lambda s: bool(s.completed), wait)
            return self.summary(bool(args.get("results", True)))
        return self.not_handled()

    def _expect(self, args: dict[str, Any]) -> bool:
        job_id = str(args["job_id"])
        with self.locked():
            entry = self.state.jobs.setdefault(job_id, {})
            entry.update(host=str(args.get("host", "")), address=str(args.get("address", "")))
            for key in ("body", "index", "decision", "reason"):
                if key in args:
                    entry[key] = args[key]
            rejected = str(args.get("rejected", ""))
            fresh = rejected and job_id not in self.state.results
            fresh = fresh and job_id not in self.state.failures
            if fresh:
                self.state.failures[job_id] = f"rejected: {rejected}"
            self._check_complete()
            placed = {k: v for k, v in entry.items() if k != "body"}
        if "body" not in args:  # the second expect: where it went
            self.on_job_placed(job_id, placed)
        if fresh:
            self.on_job_ended(job_id, "rejected", rejected, None)
        self.notify_state_changed()
        return True

    def on_job_placed(self, job_id: str, entry: dict[str, Any]) -> None:
        """Called once a job of the group is placed (``host``, ``decision``, ``index``...)."""

    def on_job_ended(self, job_id: str, outcome: str, error: str, result: Any) -> None:
        """Called once per job when its first end is collected (repeats are not)."""

    def _report(self, args: dict[str, Any]) -> bool:
        """Keep the first end of a job; return False for a repeat or a stranger."""
        job_id = str(args.get("job_id", ""))
        with self.locked():
            ended = job_id in self.state.results or job_id in self.state.failures
            if job_id not in self.state.jobs or ended:
                self.state.duplicates += 1
                return False
            outcome, result, why = str(args.get("outcome")), None, ""
            if outcome == "succeeded":
                raw = args.get("result")
                result = decode_value(raw, PLAIN_VALUES) if raw else None
                self.state.results[job_id] = result
            else:
                why = str(args.get("error") or args.get("outcome") or "failed")
                self.state.failures[job_id] = f"{args.get('outcome')}: {why}"
            self.state.jobs[job_id]["host"] = str(args.get("host", ""))
            self._check_complete()
        self.on_job_ended(job_id, outcome, why, result)
        self.notify_state_changed()
        return True

    def _check_complete(self) -> None:
        state = self.state
        ended = len(set(state.results) | set(state.failures))
        if not state.completed and len(state.jobs) >= state.expected and ended >= len(state.jobs):
            state.completed = time.time()

    def summary(self, results: bool = True) -> dict[str, Any]:
        """The group's counts, failures, losses and (optionally) results."""
        with self.locked():
            state = self.state
            ended = set(state.results) | set(state.failures)
            answer: dict[str, Any] = {
                "group_id": state.group_id,
                "label": state.label,
                "collector": self.agent_id,
                "host": self.context.name,
                "total": len(state.jobs),
                "succeeded": len(state.results),
                "failed": len(state.failures),
                "pending": sorted(j for j in state.jobs if j not in ended),
                "failures": dict(state.failures),
                "lost": list(state.lost),
                "duplicates": state.duplicates,
                "placed": {
                    job: {k: v for k, v in entry.items() if k != "body"}
                    for job, entry in state.jobs.items()
                },
                "created": state.created,
                "completed": state.completed,
                "complete": bool(state.completed),
            }
            if results:
                answer["results"] = dict(state.results)
        return answer

    def run(self) -> None:
        """Watch the jobs' hosts; go home once complete if asked to.

        On a host that runs compute slots their thread does the watching: it sends
        ``watch`` every second (:data:`WATCH_KIND`), and this returns at once, so a
        collector holds no thread while it waits. Elsewhere it loops here.
        """
        if watch(self.context.address, self.agent_id):
            return
        while not self.wait_leaving(WATCH_INTERVAL):
            if self._look():
                return

    def _look(self) -> bool:
        """One look at the jobs' hosts; True once it left for home."""
        if self.state.completed:
            if self.state.return_home_when_complete and self.state.home != self.context.address:
                self.dispatch(self.state.home)
                return True
            return False
        for job_id, host in self._pending_on_offline_hosts():
            self._lost(job_id, host)
        return False

    def _pending_on_offline_hosts(self) -> list[tuple[str, str]]:
        with self.locked():
            ended = set(self.state.results) | set(self.state.failures)
            pending = [(j, e.get("host", "")) for j, e in self.state.jobs.items() if j not in ended]
        own = self.context.name
        return [(j, h) for j, h in pending if h and h != own and not self.context.is_host_online(h)]

    def _lost(self, job_id: str, host: str) -> None:
        with self.locked():
            body = dict(self.state.jobs[job_id].get("body") or {})
        rerun = bool(body.get("rerun_if_lost"))
        with self.locked():
            self.state.lost.append({"job_id": job_id, "host": host, "rerun": rerun})
        if not rerun:
            self._report(
                {"job_id": job_id, "outcome": "lost", "error": f"host {host} went offline"}
            )
            return
        body["job_id"] = job_id
        try:
            job = resubmit_compute_job(self.context, body)
        except PagletError as exc:
            self._report({"job_id": job_id, "outcome": "lost", "error": f"not re-run: {exc}"})
            return
        with self.locked():
            self.state.jobs[job_id].update(host=job.host, address=job.address)


@dataclass(frozen=True)
class ComputeJobGroup:
    """A submitted group: its id, its collector and its job ids."""

    group_id: str
    collector_url: str
    collector_id: str
    job_ids: tuple[str, ...]


def submit_compute_job_group(
    context: Any,
    job_cls: type[CollectingComputeJobPaglet],
    states: list[CollectingComputeJobState],
    return_home_when_complete: bool = False,
    *,
    label: str = "",
    collector_host: str | None = None,
    collector_cls: type[ResultCollectorPaglet] | None = None,
    collector_state: ResultCollectorState | None = None,
) -> ComputeJobGroup:
    """Create a collector, then submit every job of the group.

    Args:
        context: a paglet context, or a host in this process.
        job_cls: the jobs' class.
        states: one state per job (each is given the group and collector).
        return_home_when_complete: a collector placed on ``collector_host`` moves
            back to ``context``'s host once every job ended.
        label: a name for listings.
        collector_host: where the collector lives (default: ``context``'s host).
        collector_cls: a :class:`ResultCollectorPaglet` subclass to collect with.
        collector_state: its state (the group's fields are filled in).

    Returns:
        The group; ask its collector with :func:`group_summary` / :func:`wait_group`.

    Raises:
        EstimateError: a job's estimates are malformed (nothing was submitted).
    """
    for state in states:
        estimate_of(state)
    group_id = new_id()
    collector = collector_state or ResultCollectorState()
    collector.group_id = group_id
    collector.label = label or job_cls.__name__
    collector.home = str(context.address)
    collector.return_home_when_complete = return_home_when_complete
    collector.expected = len(states)
    collector.created = time.time()
    proxy = _create(context, collector_cls or ResultCollectorPaglet, collector, collector_host)
    ref = proxy.to_wire()
    job_ids = []
    for index, state in enumerate(states):
        job_id = new_id()
        state.collector, state.group_id = dict(ref), group_id
        # expected before it is submitted: a quick job's report must find it known
        body = submit_body(job_cls, state, job_id)
        proxy.send(Message("expect", {"job_id": job_id, "body": body, "index": index}))
        placed: dict[str, Any] = {"job_id": job_id}
        try:
            job = submit_compute_job(context, job_cls, state, job_id=job_id)
            placed.update(host=job.host, address=job.address, decision=job.decision)
            placed["reason"] = job.reason
        except (ComputeRejectedError, PagletError) as exc:
            placed["rejected"] = str(exc)
        proxy.send(Message("expect", placed))
        job_ids.append(job_id)
    return ComputeJobGroup(group_id, proxy.host_url, proxy.agent_id, tuple(job_ids))


def _create(
    context: Any, cls: type[ResultCollectorPaglet], state: ResultCollectorState, where: str | None
) -> Any:
    if hasattr(context, "create_paglet"):
        return context.create_paglet(cls, state, host_url=where)
    if where is not None:
        return context.create_remote(where, cls, state)
    return context.create(cls, state)


def collector_proxy(where: Any, group: ComputeJobGroup) -> Any:
    """A proxy of the group's collector (``where``: a host, a client or a context)."""
    if hasattr(where, "proxy"):  # a Host
        return where.proxy(group.collector_id, group.collector_url)
    return where.get_proxy(group.collector_id, group.collector_url)


def group_summary(where: Any, group: ComputeJobGroup, results: bool = True) -> dict[str, Any]:
    """The collector's summary of ``group`` (``where``: a host, a client or a context)."""
    proxy = collector_proxy(where, group)
    return dict(proxy.send(Message("summary", {"results": results})))


def wait_group(where: Any, group: ComputeJobGroup, timeout: float) -> dict[str, Any]:
    """Wait until every job of ``group`` ended; return the summary (maybe incomplete).

    The wait skips the collector's mailbox (unqueued), so reports keep arriving.
    """
    proxy = collector_proxy(where, group)
    deadline = time.monotonic() + timeout
    while True:
        left = max(0.0, deadline - time.monotonic())
        chunk = min(left, MAX_WAIT)
        message = Message("wait", {"timeout": chunk}, priority=UNQUEUED_PRIORITY)
        summary = dict(proxy.send(message, timeout=chunk + 10.0))
        if summary["complete"] or left <= 0:
            return summary
