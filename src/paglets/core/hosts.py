"""HostRef: what is known of one host of the mesh, as plain read-only data.

The public path is :mod:`paglets.remote.mesh`; the class lives here so that a paglet's
context (core) can hand it out. The first ten fields are the original package's; the
rest are facts our heartbeat carries (load, free cores, memory and work space).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HostRef:
    """One host as this host sees it.

    Attributes:
        name: the host's name.
        url: its address, ``tcp://HOST:PORT``.
        code_version: the mesh (code) version it runs.
        online: whether it answered recently.
        last_seen: when it was last heard from (seconds since the epoch).
        active_count, inactive_count: its paglets.
        tags, properties: what its operator labelled it with.
        error: why it is not usable ('' when it is).
        load: its 1-minute load average.
        cpu_count: its logical cores.
        cores_free: cores free for compute jobs.
        memory_free: free RAM, in bytes.
        work_free: free bytes where its paglets' work files go.
    """

    name: str
    url: str
    code_version: str = ""
    online: bool = True
    last_seen: float = 0.0
    active_count: int = 0
    inactive_count: int = 0
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    load: float = 0.0
    cpu_count: int = 0
    cores_free: int = 0
    memory_free: int = 0
    work_free: int = 0

    def has_capabilities(self, required: tuple[str, ...]) -> bool:
        """Whether every one of ``required`` is among its tags or property keys."""
        return all(cap in self.tags or cap in self.properties for cap in required)
