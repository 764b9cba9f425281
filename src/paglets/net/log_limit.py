"""A log that says a recurring complaint once per source per interval, with a count.

A peer that sends junk in a loop must not flood the log (one line per malformed frame
was 20,000 lines in 15 s of fuzzing). :class:`RateLimitedLog` writes the first
occurrence from a source at once, then at most one line per ``interval`` seconds
saying how many were suppressed since, and keeps at most ``max_sources`` sources (the
quietest are forgotten first), so a flood of distinct sources cannot grow it either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Source:
    logged_at: float
    suppressed: int = 0


class RateLimitedLog:
    """Rate-limits one kind of log line per source (a peer address, a routing id...).

    Args:
        logger: where lines go.
        interval: seconds between two lines for one source.
        max_sources: sources remembered at once.
    """

    def __init__(
        self, logger: logging.Logger, interval: float = 10.0, max_sources: int = 1024
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._max_sources = max_sources
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._lock = threading.Lock()
        self.total = 0

    def warning(self, source: str, message: str, *args: object) -> bool:
        """Log ``message % (source, *args)`` unless ``source`` was logged recently.

        Returns:
            Whether a line was written.
        """
        return self.log(logging.WARNING, source, message, *args)

    def log(self, level: int, source: str, message: str, *args: object) -> bool:
        """Like :meth:`warning`, at ``level``."""
        now = time.monotonic()
        with self._lock:
            self.total += 1
            entry = self._sources.get(source)
            if entry is not None and now - entry.logged_at < self._interval:
                entry.suppressed += 1
                return False
            suppressed = entry.suppressed if entry is not None else 0
            self._sources[source] = _Source(now)
            self._sources.move_to_end(source)
            while len(self._sources) > self._max_sources:
                self._sources.popitem(last=False)
        if suppressed:
            message += f" (and {suppressed} more like it in the last %.0fs)"
            args = (*args, self._interval)
        self._logger.log(level, message, source, *args)
        return True

    def sources(self) -> int:
        """How many sources are remembered (bounded by ``max_sources``)."""
        with self._lock:
            return len(self._sources)
