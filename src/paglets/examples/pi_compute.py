"""Digits of pi by the Chudnovsky series, its terms summed by compute-job paglets.

The series is split into term ranges; each range is one compute job that returns the
binary-splitting triple ``(P, Q, T)`` of its terms (as hex, the integers are large).
The submitter folds the triples in order and finishes with one integer square root,
so every digit printed is exact: ten guard digits are computed and dropped.

``paglets examples pi --digits N`` and the classic ``paglets-pi-compute``; the jobs
are :mod:`paglets.examples.pi_terms`.
"""

from __future__ import annotations

import sys
import time
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
from paglets.examples.pi_terms import PiTermsJob, PiTermsState, fold, pi_digits, terms_for
from paglets.system.compute_job import SubmittedJob, submit_compute_job, wait_compute_job
from paglets.system.compute_slots import ask


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
