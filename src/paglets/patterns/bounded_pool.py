"""A few threads for many short jobs: at most ``limit`` run at once, not one per job."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence


def start_bounded_pool(
    jobs: Sequence[Callable[[], None]], limit: int, name: str
) -> list[threading.Thread]:
    """Run ``jobs`` on at most ``limit`` daemon threads; return the threads started.

    Each thread takes the next job until none is left, so a job that blocks (a host
    that does not answer) holds up one thread, never the caller. Jobs must not raise.
    """
    pending = deque(jobs)

    def drain() -> None:
        while True:
            try:
                job = pending.popleft()
            except IndexError:
                return
            job()

    threads = [
        threading.Thread(target=drain, name=name, daemon=True)
        for _ in range(min(limit, len(pending)))
    ]
    for thread in threads:
        thread.start()
    return threads
