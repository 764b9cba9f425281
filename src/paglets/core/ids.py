"""Fresh ids for paglets and transfers: 128 random bits as 32 hex digits (uuid4 form).

The bits come from a per-process generator seeded from the OS entropy pool (and
re-seeded after ``fork``), because asking the pool for every id costs a system call
that, on small virtual machines, takes longer than creating a paglet. Ids need to be
unique, not secret: every request that names one is authenticated.
"""

from __future__ import annotations

import os
import random
import threading

_lock = threading.Lock()
_generator = random.Random(os.urandom(32))


def _reseed() -> None:
    global _lock
    _lock = threading.Lock()
    _generator.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """Return a fresh random id: 32 lowercase hex digits, uuid4 version and variant."""
    with _lock:
        bits = _generator.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return f"{bits:032x}"
