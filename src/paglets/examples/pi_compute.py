"""Digits of pi by the Chudnovsky series, its terms summed by compute-job paglets.

The series is split into term ranges; each range is one compute job that returns the
binary-splitting triple ``(P, Q, T)`` of its terms (as hex, the integers are large).
The submitter folds the triples in order and finishes with one integer square root,
so every digit printed is exact: ten guard digits are computed and dropped.

``paglets examples pi --digits N`` and the classic ``paglets-pi-compute``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from paglets.cli.embedded import Entry
from paglets.cli.jobs_common import (
    EntryOption,
    MaxLoad,
    Timeout,
    compute_example_host,
    run_on_entry,
)
from paglets.cli.options import ApiKeyEnv, Insecure, Json
from paglets.cli.output import print_json
from paglets.cli.sizes import parse_size
from paglets.core.errors import PagletError
from paglets.system.compute_job import (
    ComputeJobPaglet,
    ComputeJobState,
    SubmittedJob,
    submit_compute_job,
    wait_compute_job,
)
from paglets.system.compute_slots import ask

_C3_24 = 640320**3 // 24
DIGITS_PER_TERM = math.log10(_C3_24 / 72)  # each term adds about 14.18 digits
GUARD = 10


def split_terms(a: int, b: int) -> tuple[int, int, int]:
    """The binary-splitting triple ``(P, Q, T)`` of Chudnovsky terms ``a <= k < b``."""
    if b - a == 1:
        if a == 0:
            p = q = 1
        else:
            p = -(6 * a - 5) * (2 * a - 1) * (6 * a - 1)
            q = a * a * a * _C3_24
        return p, q, p * (13591409 + 545140134 * a)
    middle = (a + b) // 2
    p1, q1, t1 = split_terms(a, middle)
    p2, q2, t2 = split_terms(middle, b)
    return p1 * p2, q1 * q2, t1 * q2 + p1 * t2


def fold(triples: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Join the triples of consecutive ranges, first range first."""
    p, q, t = triples[0]
    for p2, q2, t2 in triples[1:]:
        p, q, t = p * p2, q * q2, t * q2 + p * t2
    return p, q, t


def pi_digits(digits: int, q: int, t: int) -> str:
    """``3.`` and ``digits`` decimals of pi from the folded ``Q`` and ``T``."""
    scale = 10 ** (digits + GUARD)
    root = math.isqrt(10005 * scale * scale)
    value = str(q * 426880 * root // t)
    return f"{value[0]}.{value[1 : digits + 1]}"


def terms_for(digits: int) -> int:
    """How many series terms ``digits`` decimals (plus guard digits) need."""
    return int((digits + GUARD) / DIGITS_PER_TERM) + 2


@dataclass
class PiTermsState(ComputeJobState):
    """A range of series terms ``first <= k < stop``."""

    first: int = 0
    stop: int = 1


class PiTermsJob(ComputeJobPaglet):
    """Sums one range of Chudnovsky terms."""

    State = PiTermsState

    def run_compute_job(self) -> Any:
        state = self.state
        assert isinstance(state, PiTermsState)
        p, q, t = split_terms(state.first, state.stop)
        return [_hex(p), _hex(q), _hex(t)]


def _hex(value: int) -> str:
    return ("-" if value < 0 else "") + format(abs(value), "x")


def _cancel(where: Any, jobs: list[SubmittedJob]) -> None:
    for job in jobs:
        try:
            ask(where, job.address, "cancel", {"job_id": job.job_id, "force": True})
        except PagletError:
            pass  # it ended already, or its host is gone


def compute_pi(
    where: Any, digits: int, jobs: int, timeout: float, cpu_cores: int = 1, memory: int = 0
) -> dict[str, Any]:
    """Submit the jobs, wait for all, fold; return the digits and where each job ran.

    Raises:
        EstimateError: bad estimates.
        ComputeRejectedError: a job can never fit (nothing is left running: the jobs
            already submitted are cancelled).
        ReplyTimeoutError: a job did not finish within ``timeout`` (the jobs not
            finished are cancelled, as on Ctrl-C).
        PagletError: a job failed.
    """
    terms = terms_for(digits)
    jobs = max(1, min(jobs, terms))
    bounds = [terms * i // jobs for i in range(jobs + 1)]
    started = time.monotonic()
    submitted = []
    try:
        for a, b in zip(bounds, bounds[1:], strict=False):
            state = PiTermsState(first=a, stop=b, label=f"pi {a}-{b}")
            state.cpu_cores, state.memory = cpu_cores, memory
            submitted.append(submit_compute_job(where, PiTermsJob, state))
    except PagletError:
        _cancel(where, submitted)
        raise
    for index, job in enumerate(submitted):
        if job.decision == "wait":  # a silent wait looks like a hang
            print(f"job {index} waits on {job.host}: {job.reason}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    try:
        for job in submitted:
            results.append(wait_compute_job(where, job, timeout))
    except BaseException:  # a timeout or Ctrl-C: leave no job of ours on the mesh
        _cancel(where, submitted[len(results) :])
        raise
    failed = [r for r in results if r["outcome"] != "succeeded"]
    if failed:
        raise PagletError(f"{len(failed)} of {len(results)} jobs failed: {failed[0]['error']}")
    triples = [tuple(int(part, 16) for part in r["result"]) for r in results]
    _, q, t = fold(triples)  # type: ignore[arg-type]
    return {
        "digits": digits,
        "pi": pi_digits(digits, q, t),
        "jobs": len(submitted),
        "hosts": sorted({job.host for job in submitted}),
        "seconds": round(time.monotonic() - started, 3),
    }


def pi(
    digits: Annotated[int, typer.Option(help="Decimals of pi to compute.")] = 32,
    jobs: Annotated[int, typer.Option(help="Compute jobs to split the series into.")] = 4,
    output: Annotated[Path | None, typer.Option(help="Also write the digits here.")] = None,
    cpu_cores: Annotated[int, typer.Option(help="Cores each job asks for.")] = 1,
    memory: Annotated[str, typer.Option(help="RAM each job asks for (512M, 2G...).")] = "0",
    max_load: MaxLoad = None, entry: EntryOption = None, timeout: Timeout = 600.0,
    api_key_env: ApiKeyEnv = None, insecure: Insecure = False, json_output: Json = False,
) -> None:  # fmt: skip
    """Compute digits of pi with compute-job paglets across the mesh."""
    if digits < 1 or jobs < 1:
        raise typer.BadParameter("--digits and --jobs must be at least 1")
    memory_bytes = parse_size(memory)

    def work(found: Entry) -> dict[str, Any]:
        where = found.host if found.host is not None else found.client
        return compute_pi(where, digits, jobs, timeout, cpu_cores, memory_bytes)

    answer = run_on_entry(entry, 10.0, api_key_env, insecure, work, compute_example_host(max_load))
    if output is not None:
        output.write_text(answer["pi"] + "\n")
    if json_output:
        print_json(answer)
        return
    print(answer["pi"])
    hosts = ", ".join(answer["hosts"])
    print(f"{answer['jobs']} jobs on {hosts} in {answer['seconds']}s", file=sys.stderr)


def main() -> None:
    """Entry point of ``paglets-pi-compute``."""
    typer.run(pi)
