"""Coordination patterns: fan a paglet out over the mesh, and drain what it produces.

This module is the public face of two patterns, each in a module of its own:

- :class:`MeshFanoutMixin` (:mod:`paglets.patterns.fanout`): clone a collector to a set
  of hosts, gather one result from each before a deadline, list the hosts that failed
  or timed out as errors, and dispose every clone that is left;
- :class:`CursorDrainMixin` (:mod:`paglets.patterns.cursor_drain`): a paglet appends
  items to a bounded buffer; clients drain them by cursor with a long poll.
"""

from __future__ import annotations

from paglets.patterns.cursor_drain import (
    DRAIN,
    CursorDrainMixin,
    DrainBatch,
    DrainClient,
    DrainPolicy,
    DrainState,
)
from paglets.patterns.fanout import (
    FANOUT_RESULT,
    FanoutResult,
    FanoutState,
    HostOutcome,
    MeshFanoutMixin,
)

__all__ = [
    "DRAIN",
    "CursorDrainMixin",
    "DrainBatch",
    "DrainClient",
    "DrainPolicy",
    "DrainState",
    "FANOUT_RESULT",
    "FanoutResult",
    "FanoutState",
    "HostOutcome",
    "MeshFanoutMixin",
]
