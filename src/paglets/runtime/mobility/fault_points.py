"""A test hook: die at a named step of a hand-off, as ``kill -9`` would.

Fault tests start a host process with ``PAGLETS_FAULT_STOP_AT=<step>``; when the
hand-off reaches that step the process sends itself SIGKILL (no cleanup, no reply).
Steps: ``source-preparing`` (the source's record written, the transfer not sent),
``source-prepared`` (the target answered prepared, nothing decided),
``source-committed`` (commit recorded, the target not told), ``source-commit-sent``
(a waited-for commit answered, not yet marked done), ``target-preparing`` (the
transfer received, nothing recorded), ``target-prepared`` (prepared recorded, not
answered), ``target-committing`` (the commit received, not recorded),
``target-committed`` (commit recorded, not started).
Unset (always, outside tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "PAGLETS_FAULT_STOP_AT"


def fault_point(step: str) -> None:
    """SIGKILL this process if ``$PAGLETS_FAULT_STOP_AT`` names ``step``."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
