"""Compute jobs: a paglet whose subclasses implement only ``run_compute_job()``.

:func:`submit_compute_job` validates the job's estimates, picks a host (tags required,
excluded and preferred, then free slots from the gossip view) and creates the job
paglet on the submitter's host. The job then places itself
(:mod:`paglets.system.compute_placement`): it dispatches itself to that host, asks its
compute slots, follows a redirect onward, and waits for its grant deactivated in the
host store, holding no thread and no process. Once granted, the slots activate it:
its child process starts pinned to the lease's CPUs, ``run()`` calls
``run_compute_job()`` there, and the slots release the lease and record the outcome
when it ends or its process is gone. A job that can never fit is rejected with the
reason; the submitter learns each placement from its own host's slots.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import InvalidAgentError, PagletError, ReplyTimeoutError
from paglets.core.events import PersistencyEvent
from paglets.core.ids import new_id
from paglets.core.sizes import human_size
from paglets.persistence.persistency import DeactivationPolicy, DeactivationRequest
from paglets.system.compute.admission import EstimateError, JobEstimate, cores, tags_fit
from paglets.system.compute.job_runs import MEMORY_POLICIES
from paglets.system.compute_placement import (
    FAILED,
    MAX_REDIRECTS,
    await_placement,
    place_job,
    submit_body,
)
from paglets.system.compute_slots import ComputeRejectedError, ask, lease_of
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value

PLAIN_VALUES = ClassPolicy(())
"""Results are plain values: decoding them imports nothing."""


@dataclass
class ComputeJobState(PagletState):
    """The estimates, placement wishes and outcome of one compute job.

    Attributes:
        cpu_cores, memory, temp_storage: the estimates (cores; bytes; bytes).
        require_tags, exclude_tags, prefer_tags: placement by host tags.
        label: a name for the job in listings.
        memory_policy: ``report`` (a job over its memory estimate is reported) or
            ``kill`` (reported and killed).
        rerun_if_lost: run the job again when its host dies or restarts while it runs.
        job_id: its id (given at submit).
        home: the submitter's host address (placements are reported there).
        target: the host it is on its way to ('' : where it is).
        hops: redirects followed so far.
        granted_cpus, host_name: its lease's CPU ids and host, set when it is granted.
        result: what ``run_compute_job()`` returned (an encodable value).
        error: why it failed ('' on success).
    """

    cpu_cores: int = 1
    memory: int = 0
    temp_storage: int = 0
    require_tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    prefer_tags: list[str] = field(default_factory=list)
    label: str = ""
    memory_policy: str = "report"
    rerun_if_lost: bool = False
    job_id: str = ""
    home: str = ""
    target: str = ""
    hops: int = 0
    granted_cpus: list[int] = field(default_factory=list)
    host_name: str = ""
    result: Any = None
    error: str = ""


class ComputeJobPaglet(Paglet[ComputeJobState]):
    """A coarse compute job. Subclasses implement :meth:`run_compute_job` only.

    Until its slot is granted it runs on its host's threads, only to place itself
    (see :mod:`paglets.system.compute_placement`); once granted it runs isolated.
    """

    ISOLATED = True
    State = ComputeJobState

    def deactivation_policy(self, request: DeactivationRequest) -> DeactivationPolicy:
        """The request's policy, else: back at the next start while it has no lease.

        A job stopped with its host while it placed itself (its ``run()`` between
        hosts or slots) places itself again after the restart; one waiting for its
        slot deactivates itself with a policy of its own (the slots activate it).
        """
        if request.policy is not None:
            return request.policy
        return DeactivationPolicy(activate_on_start=not self.state.granted_cpus)

    def isolation_deferred(self) -> bool:
        """Whether it runs without a child for now: it holds no lease yet."""
        return not self.state.granted_cpus

    def isolation_cpus(self) -> list[int]:
        """The CPU ids the child process is pinned to: the lease's."""
        return list(self.state.granted_cpus)

    def on_activation(self, event: PersistencyEvent) -> None:
        """Take the lease the slots granted (none: it places itself again)."""
        cpus = lease_of(self.context.address, self.state.job_id, self.agent_id)
        with self.locked():
            self.state.granted_cpus = cpus
            self.state.host_name = self.context.name if cpus else ""

    def run(self) -> None:
        """Granted (in the child): run the job and keep its result or error; else place it."""
        if not self.state.granted_cpus:
            place_job(self)
            return
        try:
            result = self.run_compute_job()
        except Exception as exc:
            with self.locked():
                self.state.error = f"{type(exc).__name__}: {exc}"
        else:
            with self.locked():
                self.state.result = result

    def run_compute_job(self) -> Any:
        """Do the work; return an encodable result (raise to fail the job)."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement run_compute_job()")


def estimate_of(state: ComputeJobState) -> JobEstimate:
    """The validated estimates of ``state``.

    Raises:
        EstimateError: an estimate is not a whole number, negative, or cores < 1; an
            unknown memory policy.
    """
    if state.memory_policy not in MEMORY_POLICIES:
        raise EstimateError(
            f"memory_policy must be one of {', '.join(MEMORY_POLICIES)}, "
            f"not {state.memory_policy!r}"
        )
    return JobEstimate(state.cpu_cores, state.memory, state.temp_storage)


def has_mesh_view(where: Any) -> bool:
    """Whether ``where`` (a host, a client or a paglet context) shows the mesh's facts."""
    return hasattr(where, "mesh_view") or hasattr(where, "mesh")


def mesh_view_of(where: Any) -> dict[str, Any]:
    """The mesh view of a host in this process or of a client's entry host."""
    view = where.mesh_view() if hasattr(where, "mesh_view") else where.mesh()
    return dict(view)


def candidates(where: Any, state: ComputeJobState) -> list[tuple[str, str, str]]:
    """Hosts for a job as ``(name, address, why_not)``, best first ('' why_not: it fits).

    ``where`` is a host in this process or a client; its mesh view (own facts and the
    peers' gossip) is the source. Preferred tags rank first, then free cores, load
    per core and free RAM.
    """
    estimate = estimate_of(state)
    view = mesh_view_of(where)
    hosts = [view["self"], *(peer for peer in view["peers"] if peer.get("online"))]
    rows: list[tuple[tuple[Any, ...], str, str, str]] = []
    for facts in hosts:
        name, address = str(facts["name"]), str(facts["address"])
        tags = tuple(facts.get("tags", ()))
        free_cores = int(facts.get("cores_free", 0))
        memory, work = int(facts.get("memory_free", 0)), int(facts.get("work_free", 0))
        load = float(facts.get("load", 0.0)) / max(1, int(facts.get("cpu_count", 1)))
        why = tags_fit(tags, state.require_tags, state.exclude_tags)
        if not why and free_cores < estimate.cpu_cores:
            why = f"{cores(free_cores)} free"
        elif not why and memory < estimate.memory:
            why = f"{human_size(memory)} of RAM free"
        elif not why and work < estimate.temp_storage:
            why = f"{human_size(work)} of temp storage free"
        preferred = sum(1 for tag in state.prefer_tags if tag in tags)
        rows.append(((bool(why), -preferred, -free_cores, load, -memory, name), name, address, why))
    rows.sort(key=lambda row: row[0])
    return [(name, address, why) for _, name, address, why in rows]


@dataclass(frozen=True)
class SubmittedJob:
    """Where a submitted job went and what its host decided."""

    job_id: str
    host: str
    address: str
    decision: str
    reason: str


def submit_compute_job(
    where: Any,
    job_cls: type[ComputeJobPaglet],
    state: ComputeJobState,
    target: str | None = None,
    timeout: float | None = None,
    job_id: str | None = None,
) -> SubmittedJob:
    """Validate and place one compute job; return where it runs or waits.

    The job paglet is created on ``where``'s host (a copy of ``state``), dispatches
    itself to ``target`` and reports its placement back; this waits for that report.

    Args:
        where: a host in this process, a client (its entry host) or a paglet context.
        job_cls: the job's paglet class.
        state: its estimates and inputs.
        target: a host address or name to send it to (default: the best candidate
            of ``where``'s mesh view; a paglet context: its own host).
        timeout: seconds the placement may take.
        job_id: the job's id (default: a new one).

    Raises:
        EstimateError: bad estimates.
        ComputeRejectedError: it can never fit on the host it ended at.
        PagletError: it could not reach any compute slots (the text says why).
    """
    estimate_of(state)
    if target is None and has_mesh_view(where):
        ranked = candidates(where, state)
        fitting = [address for _, address, why in ranked if not why]
        tagged = [address for _, address, why in ranked if "tag" not in why]
        if not tagged:
            raise ComputeRejectedError("no known host has the tags this job requires")
        target = (fitting or tagged)[0]
    home = str(where.address)
    check_home(where, home)
    job = dataclasses.replace(
        state, job_id=job_id or state.job_id or new_id(), home=home, target=target or "",
        hops=0, granted_cpus=[], host_name="", result=None, error="",
    )  # fmt: skip
    proxy = _create(where, job_cls, job)
    return placed(await_placement(where, home, proxy.agent_id, timeout))


def placed(note: dict[str, Any]) -> SubmittedJob:
    """The submitted job a placement report describes.

    Raises:
        ComputeRejectedError: the report is a rejection.
        PagletError: the job could not reach any compute slots.
    """
    if note["decision"] == "reject":
        raise ComputeRejectedError(f"host {note['host']} rejects the job: {note['reason']}")
    if note["decision"] == FAILED:
        raise PagletError(f"job {note['job_id']} was not placed: {note['reason']}")
    return SubmittedJob(
        str(note["job_id"]), str(note["host"]), str(note["address"]),
        str(note["decision"]), str(note["reason"]),
    )  # fmt: skip


def resubmit_compute_job(
    where: Any, body: dict[str, Any], timeout: float | None = None
) -> SubmittedJob:
    """Submit again, from ``where``'s host, the job a ``submit`` request describes.

    The host's compute slots create the job paglet from the request's class and
    encoded state (same job id); it places itself from there.

    Raises:
        ComputeRejectedError, PagletError: as :func:`submit_compute_job`.
    """
    home = str(where.address)
    check_home(where, home)
    agent_id = str(ask(where, home, "create-job", dict(body)))
    return placed(await_placement(where, home, agent_id, timeout))


def check_home(where: Any, home: str) -> None:
    """Make sure the submitter's host runs compute slots (its jobs report there).

    Raises:
        PagletError: it runs none.
    """
    try:
        ask(where, home, "placement", {"agent_id": "", "wait": 0.0})
    except InvalidAgentError:
        raise PagletError(
            f"the host at {home} runs no compute slots: a job reports its placement to "
            "its submitter's host, so submit through a host that runs them"
        ) from None


def _create(where: Any, job_cls: type[ComputeJobPaglet], state: ComputeJobState) -> Any:
    if hasattr(where, "create_paglet"):  # a paglet context
        return where.create_paglet(job_cls, state)
    return where.create(job_cls, state)  # a host in this process, or a client


def wait_compute_job(where: Any, job: SubmittedJob, timeout: float) -> dict[str, Any]:
    """Wait for ``job`` to finish; return its history entry with ``result`` decoded.

    Raises:
        ReplyTimeoutError: it did not finish within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReplyTimeoutError(f"job {job.job_id} did not finish within {timeout}s")
        wait = min(left, 20.0)
        entry = ask(where, job.address, "result", {"job_id": job.job_id, "wait": wait}, wait + 10)
        if entry is not None:
            raw = entry.get("result")
            entry["result"] = decode_value(raw, PLAIN_VALUES) if raw else None
            return dict(entry)


__all__ = [
    "MAX_REDIRECTS",
    "PLAIN_VALUES",
    "ComputeJobPaglet",
    "ComputeJobState",
    "EstimateError",
    "SubmittedJob",
    "candidates",
    "estimate_of",
    "resubmit_compute_job",
    "submit_body",
    "submit_compute_job",
    "wait_compute_job",
]
