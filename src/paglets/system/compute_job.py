"""Compute jobs: a paglet whose subclasses implement only ``run_compute_job()``.

:func:`submit_compute_job` validates the job's estimates, picks a host (tags required,
excluded and preferred, then free slots from the gossip view), and hands the job to
that host's compute slots. The job waits in the slots' persisted queue as its encoded
state, holding no thread and no process; once granted, it is created as an isolated
paglet pinned to its lease's CPUs, ``run()`` calls ``run_compute_job()`` in the child
process, and the service releases the lease and records the outcome when it ends. A
redirect (the host is full, another has room) is followed; a job that can never fit
is rejected with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, ReplyTimeoutError
from paglets.system.compute.admission import EstimateError, JobEstimate, tags_fit
from paglets.system.compute.job_runs import MEMORY_POLICIES
from paglets.system.compute.service import encode_job_state
from paglets.system.compute_slots import ComputeRejectedError, ask
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value

MAX_REDIRECTS = 3
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
        job_id, granted_cpus, host_name: filled by the slots that grant it.
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
    granted_cpus: list[int] = field(default_factory=list)
    host_name: str = ""
    result: Any = None
    error: str = ""


class ComputeJobPaglet(Paglet[ComputeJobState]):
    """A coarse compute job. Subclasses implement :meth:`run_compute_job` only."""

    ISOLATED = True
    State = ComputeJobState

    def isolation_cpus(self) -> list[int]:
        """The CPU ids the child process is pinned to: the lease's."""
        return list(self.state.granted_cpus)

    def run(self) -> None:
        """Run the job (in the child process) and keep its result or error in the state."""
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
        cores = int(facts.get("cores_free", 0))
        memory, work = int(facts.get("memory_free", 0)), int(facts.get("work_free", 0))
        load = float(facts.get("load", 0.0)) / max(1, int(facts.get("cpu_count", 1)))
        why = tags_fit(tags, state.require_tags, state.exclude_tags)
        if not why and cores < estimate.cpu_cores:
            why = f"{cores} cores free"
        elif not why and memory < estimate.memory:
            why = f"{memory} bytes of RAM free"
        elif not why and work < estimate.temp_storage:
            why = f"{work} bytes of temp storage free"
        preferred = sum(1 for tag in state.prefer_tags if tag in tags)
        rows.append(((bool(why), -preferred, -cores, load, -memory, name), name, address, why))
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
    """Validate, place and submit one compute job; return where it runs or waits.

    Args:
        where: a host in this process or a client (its mesh view picks the target).
        job_cls: the job's paglet class.
        state: its estimates and inputs.
        target: a host address to submit to (default: the best candidate).
        timeout: seconds each submit request may take.
        job_id: the job's id (default: the first host assigns one).

    Raises:
        EstimateError: bad estimates.
        ComputeRejectedError: it can never fit on the host(s) it was sent to.
    """
    estimate_of(state)
    if target is None and not has_mesh_view(where):
        target = str(where.address)  # a paglet context: its host's slots place the job
    if target is None:
        ranked = candidates(where, state)
        fitting = [address for _, address, why in ranked if not why]
        tagged = [address for _, address, why in ranked if "tag" not in why]
        if not tagged:
            raise ComputeRejectedError("no known host has the tags this job requires")
        target = (fitting or tagged)[0]
    return place_body(where, submit_body(job_cls, state, job_id), target, timeout)


def place_body(
    where: Any, body: dict[str, Any], address: str, timeout: float | None = None
) -> SubmittedJob:
    """Submit a ``submit`` request to ``address``, following redirects.

    Raises:
        ComputeRejectedError: the host the request ends at can never fit it.
    """
    body = dict(body)
    for hop in range(MAX_REDIRECTS + 1):
        body["redirect"] = hop < MAX_REDIRECTS
        answer = ask(where, address, "submit", body, timeout)
        body["job_id"] = answer["job_id"]
        if answer["decision"] == "reject":
            raise ComputeRejectedError(f"host {answer['host']} rejects the job: {answer['reason']}")
        if answer["decision"] != "redirect":
            return SubmittedJob(
                answer["job_id"],
                answer["host"],
                answer["address"],
                answer["decision"],
                answer["reason"],
            )
        address = _address_of(where, str(answer["target"]))
    raise PagletError("too many redirects")  # unreachable: the last hop allows none


def submit_body(
    job_cls: type[ComputeJobPaglet], state: ComputeJobState, job_id: str | None = None
) -> dict[str, Any]:
    """The ``submit`` request of one job: class, encoded state, estimates, policy."""
    body: dict[str, Any] = {
        "class": class_path(job_cls),
        "state_class": class_path(type(state)),
        "state": encode_job_state(state),
        "cpu_cores": state.cpu_cores,
        "memory": state.memory,
        "temp_storage": state.temp_storage,
        "label": state.label or job_cls.__name__,
        "require_tags": list(state.require_tags),
        "exclude_tags": list(state.exclude_tags),
        "memory_policy": state.memory_policy,
        "rerun_if_lost": state.rerun_if_lost,
        "collector": dict(getattr(state, "collector", {}) or {}),
        "group_id": str(getattr(state, "group_id", "") or ""),
    }
    if job_id:
        body["job_id"] = job_id
    return body


def _address_of(where: Any, name: str) -> str:
    if not has_mesh_view(where):
        return str(where.host_status(name).url)
    view = mesh_view_of(where)
    for peer in [view["self"], *view["peers"]]:  # a redirect may point back at us
        if peer["name"] == name:
            return str(peer["address"])
    return name


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
