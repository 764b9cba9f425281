"""The job side of the pi example: Chudnovsky terms summed by binary splitting.

Kept apart from the command (:mod:`paglets.examples.pi_compute`) so a job's child
process imports only this and the compute-job base, not the CLI: that import took
the child more than a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from paglets.system.compute_job import ComputeJobPaglet, ComputeJobState

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
