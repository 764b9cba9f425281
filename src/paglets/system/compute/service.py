"""The compute-slots service of one host: admission, the queue, leases, usage, history.

Each queued or running row names its job's paglet, which waits inactive in the host
store. One thread per host does the slow work (activating granted job paglets,
finishing ended ones, sampling usage, re-checking the queue when load changes);
requests only read and write the queue under the service's lock, so none of them
waits for a job.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from typing import Any

import psutil

from paglets.core.agent import PagletState
from paglets.core.errors import PagletError
from paglets.core.ids import new_id
from paglets.core.sizes import human_size
from paglets.net.peers import PeerInfo
from paglets.runtime.isolation.spares import drop_spares, keep_spares
from paglets.system.compute.admission import (
    REDIRECT,
    REJECT,
    RUN,
    WAIT,
    Decision,
    HostResources,
    JobEstimate,
    Leased,
    cores,
    decide,
    eligible_cpus,
    never_fits,
    tags_fit,
)
from paglets.system.compute.job_runs import MEMORY_POLICIES, MEMORY_REPORT, JobRuns
from paglets.system.compute.own_load import OwnLoad
from paglets.system.compute.placements import KEPT, Placements
from paglets.system.compute.queue_store import QUEUED, RUNNING, ComputeQueue, JobRow
from paglets.system.compute.usage import Peaks
from paglets.wire.codec import encode_state

log = logging.getLogger(__name__)

TICK = 0.5
"""Seconds between two rounds of the service thread when nothing wakes it."""
MAX_SPARES = 4
"""Warm child processes kept for job launches (one per eligible core, at most this)."""
JOB_MODULE = "paglets.system.compute_job"
"""What every job's child imports (its base class): the spares import it ahead."""
START_BOUND = 35.0
"""Seconds closing waits for a job paglet being created (its child starting)."""


class ComputeSlots(JobRuns):
    """Compute slots of one host. Thread-safe.

    Args:
        host: the started host.
    """

    def __init__(self, host: Any) -> None:
        self.host = host
        config = host.config
        self.cpus = eligible_cpus(config.compute_cpus, config.compute_reserved_cpus)
        self.max_load_per_cpu: float | None = config.compute_max_load_per_cpu
        self._own_load = OwnLoad()
        self._work_root = host._work_area.root
        self._work_root.mkdir(parents=True, exist_ok=True)
        self.queue = ComputeQueue(config.persistence_dir, config.compute_history_size, KEPT)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopped = False
        self._poked = False
        self.placements = Placements(self.queue)
        self._init_runs()
        self._recover()
        keep_spares(host.address, min(len(self.cpus), MAX_SPARES), (JOB_MODULE,))
        self._thread = threading.Thread(
            target=self._loop, name=f"compute-slots-{host.name[:16]}", daemon=True
        )
        self._thread.start()

    def _recover(self) -> None:
        """Jobs that ran when the host last stopped (or died): re-queue or report them.

        Their processes are gone. A job whose policy says ``rerun_if_lost`` goes back
        in the queue (a stopping host kept its paglet inactive; a killed one lost it,
        and the row's state brings it back); the others end as ``lost`` in the
        history (and their collector is told), their kept paglets disposed.
        """
        for row in self.queue.running():
            if not row.policy.get("rerun_if_lost"):
                self._dispose_job(row)
            if row.policy.get("rerun_if_lost"):
                self.queue.requeue(row.job_id, "re-queued: the host restarted while it ran")
                log.info("compute slots of %s: job %s re-queued", self.host.name, row.job_id)
            else:
                self._record_end(row, "lost", "the host stopped while it ran", None, Peaks())

    def close(self) -> None:
        """Stop the service thread and close the queue (queued jobs stay in it)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._thread.join(5.0)
        self._join_runs(START_BOUND, 5.0)
        self.placements.close()
        drop_spares(self.host.address)
        self.queue.close()

    # resources ------------------------------------------------------------------------

    def resources(self) -> HostResources:
        """What this host offers now."""
        memory = psutil.virtual_memory()
        disk = shutil.disk_usage(self._work_root)
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = 0.0
        return HostResources(
            cpus=self.cpus,
            memory_total=int(memory.total),
            memory_available=int(memory.available),
            temp_total=int(disk.total),
            temp_free=int(disk.free),
            load=float(load),
            cpu_count=psutil.cpu_count(logical=True) or 1,
            own_load=self._own_load.observe(len(self.leased().cpus)),
        )

    def leased(self) -> Leased:
        """What running jobs hold."""
        return Leased.of((r.cpus, r.memory, r.temp_storage) for r in self.queue.running())

    def cores_free(self) -> int:
        """Eligible cores no lease holds (what gossip publishes)."""
        return len(self.cpus) - len(self.leased().cpus)

    # requests -------------------------------------------------------------------------

    def submit(self, args: dict[str, Any]) -> dict[str, Any]:
        """Admit one job; return the decision map (``decision``, ``reason``, ``job_id``...).

        ``args``: ``class``, ``state_class``, ``state`` (encoded), ``cpu_cores``,
        ``memory``, ``temp_storage``, ``agent_id`` (the job paglet asking, which
        waits inactive here), optional ``job_id``, ``label``, ``redirect`` (allow one,
        default True), ``require_tags``, ``exclude_tags``.
        """
        estimate = JobEstimate(
            int(args.get("cpu_cores", 1)),
            int(args.get("memory", 0)),
            int(args.get("temp_storage", 0)),
        )
        job_id = str(args.get("job_id") or new_id())
        agent_id = str(args.get("agent_id", ""))
        with self._changed:
            known = self.queue.get(job_id)
            if known is not None and known.agent_id != agent_id:  # another copy of it
                why = f"job {job_id} is already {known.status} here"
                return self._answer(Decision(REJECT, why), job_id)
            if known is not None:  # a repeated submit: the same job, not a second one
                kind = RUN if known.status == RUNNING else WAIT
                return self._answer(Decision(kind, known.reason, known.cpus), job_id)
            offer = self.resources()
            why = never_fits(estimate, offer)
            if why:
                return self._answer(Decision(REJECT, why), job_id)
            decision = decide(estimate, offer, self.leased(), self.max_load_per_cpu)
            if decision.kind == WAIT and args.get("redirect", True):
                target = self._better_host(estimate, args)
                if target:
                    return self._answer(Decision(REDIRECT, decision.reason, (), target), job_id)
            row = JobRow(
                job_id, 0, str(args.get("label", "")), str(args["class"]),
                str(args.get("state_class", "")), bytes(args["state"]), estimate.cpu_cores,
                estimate.memory, estimate.temp_storage, time.time(),
                RUNNING if decision.kind == RUN else QUEUED, decision.cpus, agent_id,
                time.time() if decision.kind == RUN else None, decision.reason,
                policy_of(args),
            )  # fmt: skip
            self.queue.add(row)
            self._changed.notify_all()
            return self._answer(decision, job_id)

    def _answer(self, decision: Decision, job_id: str) -> dict[str, Any]:
        return {
            "decision": decision.kind,
            "reason": decision.reason,
            "cpus": list(decision.cpus),
            "target": decision.target,
            "job_id": job_id,
            "host": self.host.name,
            "address": self.host.address,
        }

    def _better_host(self, estimate: JobEstimate, args: dict[str, Any]) -> str:
        """A peer whose gossiped free slots fit the job now, best first ('' if none)."""
        peers = [
            peer
            for peer in self.host.peers()
            if peer.online and self.peer_fits(peer, estimate, args) == ""
        ]
        peers.sort(key=lambda p: (-p.cores_free, p.load_per_cpu, -p.memory_free, p.name))
        return peers[0].name if peers else ""

    @staticmethod
    def peer_fits(peer: PeerInfo, estimate: JobEstimate, args: dict[str, Any]) -> str:
        """Why ``peer`` cannot take the job now, from its gossiped facts ('' if it can)."""
        why = tags_fit(
            tuple(peer.tags), list(args.get("require_tags", [])), list(args.get("exclude_tags", []))
        )
        if why:
            return why
        if peer.cores_free < estimate.cpu_cores:
            return f"{cores(peer.cores_free)} free"
        if peer.memory_free < estimate.memory:
            return f"{human_size(peer.memory_free)} of RAM free"
        if peer.work_free < estimate.temp_storage:
            return f"{human_size(peer.work_free)} of temp storage free"
        return ""

    def cancel(self, job_id: str, force: bool = False) -> dict[str, Any]:
        """Cancel a queued job; a running one only with ``force`` (its process is killed).

        Raises:
            PagletError: no such job here, or it runs and ``force`` is not set.
        """
        with self._changed:
            row = self.queue.get(job_id)
            if row is None:
                raise PagletError(f"no queued or running job {job_id} on {self.host.name}")
            if row.status == QUEUED:
                self._record_end(row, "cancelled", "cancelled while queued", None, Peaks())
                self._dispose_job(row)
                return {"job_id": job_id, "cancelled": True, "was": QUEUED}
            if not force:
                raise PagletError(f"job {job_id} is running; pass force to kill it")
        if row.job_id not in self._launched:  # granted, its process not started yet
            self._record_end(row, "cancelled", "cancelled before it started", None, Peaks())
            self._dispose_job(row)
            return {"job_id": job_id, "cancelled": True, "was": RUNNING}
        slot = self.host._registry.get(row.agent_id)
        if slot is not None and not slot.execution.in_process:
            slot.execution.stop()
        self._finish(row)  # at once: the lease is free when cancel returns
        return {"job_id": job_id, "cancelled": True, "was": RUNNING}

    def wait_finished(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """The history entry of ``job_id`` once it finished, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                entry = self.queue.finished(job_id)
                left = deadline - time.monotonic()
                if entry is not None or left <= 0 or self._stopped:
                    return entry
                self._changed.wait(min(left, TICK))

    def status(self) -> dict[str, Any]:
        """Slots, leases, the queue and running jobs' usage."""
        offer = self.resources()
        with self._lock:
            rows = self.queue.all()
            usage = {job: meter.usage.to_wire() for job, meter in self._meters.items()}
        leased = Leased.of((r.cpus, r.memory, r.temp_storage) for r in rows if r.status == RUNNING)
        jobs = []
        for row in rows:
            summary = row.summary()
            summary["job_paglet"] = row.agent_id
            if row.job_id not in self._launched:  # agent_id: the paglet once its process runs
                summary["agent_id"] = ""
            summary["usage"] = usage.get(row.job_id, {})
            rss = int(summary["usage"].get("rss", 0))
            summary["over_memory"] = bool(row.memory) and rss > row.memory  # reported, not killed
            jobs.append(summary)
        return {
            "host": self.host.name,
            "address": self.host.address,
            "cpus": list(self.cpus),
            "cores_total": len(self.cpus),
            "cores_free": len(self.cpus) - len(leased.cpus),
            "memory_available": offer.memory_available,
            "memory_leased": leased.memory,
            "temp_free": offer.temp_free,
            "temp_leased": leased.temp_storage,
            "load": offer.load,
            "cpu_count": offer.cpu_count,
            "max_load_per_cpu": self.max_load_per_cpu,
            "queued": sum(1 for r in rows if r.status == QUEUED),
            "running": sum(1 for r in rows if r.status == RUNNING),
            "jobs": jobs,
        }

    # the service thread ---------------------------------------------------------------

    def poke(self) -> None:
        """Have the service thread look at its jobs now (never blocks: a job calls it)."""
        self._poked = True
        if self._changed.acquire(blocking=False):
            try:
                self._changed.notify_all()
            finally:
                self._changed.release()

    def _loop(self) -> None:
        while True:
            with self._changed:
                if self._stopped:
                    return
            try:
                self._round()
            except Exception:
                log.exception("compute slots of %s: a round failed", self.host.name)
            with self._changed:
                if self._stopped:
                    return
                if not self._ended and not self._poked:
                    self._changed.wait(TICK)
                self._poked = False

    def _round(self) -> None:
        for row in self.queue.running():
            if row.job_id not in self._launched:
                if self._parked(row):
                    self._start_launch(row)
            elif self._has_ended(row):
                self._finish(row)
            else:
                meter = self._meters.get(row.job_id)
                if meter is not None:
                    meter.sample()
                    self._check_memory(row, meter)
        self._serve_queue()
        self._dispose_orphans()
        self._tick_watched()

    def _serve_queue(self) -> None:
        """Grant every queued job that fits, oldest first."""
        with self._changed:
            for row in self.queue.queued():
                estimate = JobEstimate(row.cpu_cores, row.memory, row.temp_storage)
                decision = decide(estimate, self.resources(), self.leased(), self.max_load_per_cpu)
                if decision.kind == RUN:
                    self.queue.mark_running(row.job_id, decision.cpus, row.agent_id)
                    self._poked = True  # its paglet is activated in the next round
                elif decision.reason != row.reason:
                    self.queue.note_reason(row.job_id, decision.reason)


def policy_of(args: dict[str, Any]) -> dict[str, Any]:
    """The policy a submit asks for: memory policy, re-run when lost, group collector.

    Raises:
        PagletError: an unknown memory policy.
    """
    memory_policy = str(args.get("memory_policy") or MEMORY_REPORT)
    if memory_policy not in MEMORY_POLICIES:
        raise PagletError(f"memory_policy must be one of {MEMORY_POLICIES}, not {memory_policy!r}")
    collector = args.get("collector") or {}
    return {
        "memory_policy": memory_policy,
        "rerun_if_lost": bool(args.get("rerun_if_lost", False)),
        "collector": {str(k): str(v) for k, v in dict(collector).items()},
        "group_id": str(args.get("group_id") or ""),
    }


def encode_job_state(state: PagletState) -> bytes:
    """The encoded state a submit carries."""
    return encode_state(state)
