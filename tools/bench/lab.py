"""The set-up most scenarios share: our hosts and the raw server, each in its process.

* host A: the driver's own :class:`~paglets.runtime.host.Host`, in this process; user
  code runs here and reaches other hosts through proxies, as an application would;
* hosts B and C: ``host_server.py`` children on 127.0.0.1 (port 0, no discovery);
* the raw limit: a ``raw.py`` child and a :class:`~raw.RawClient` to it.

Everything starts once per run, on first use, and stops (children by PID) in
:meth:`Lab.close`.
"""

from __future__ import annotations

import logging
from types import TracebackType

from mode import host_options
from procs import Child
from raw import RawClient

from paglets.runtime.host import Host

log = logging.getLogger(__name__)


class Lab:
    """Lazily started hosts A, B, C and the raw server; close() stops them all."""

    def __init__(self) -> None:
        self._children: list[Child] = []
        self._host: Host | None = None
        self._raw: RawClient | None = None
        self._b: Child | None = None
        self._c: Child | None = None

    def _child(self, script: str, args: list[str]) -> Child:
        child = Child(script, args)
        self._children.append(child)
        return child

    @property
    def b_address(self) -> str:
        """Address of host B (another process)."""
        if self._b is None:
            self._b = self._child("host_server.py", ["--name", "bench-b"])
        return str(self._b.ready["address"])

    @property
    def c_address(self) -> str:
        """Address of host C (a third process)."""
        if self._c is None:
            self._c = self._child("host_server.py", ["--name", "bench-c"])
        return str(self._c.ready["address"])

    @property
    def host(self) -> Host:
        """Host A, in this process, with B and C as its seeds."""
        if self._host is None:
            peers = [self.b_address, self.c_address]
            self._host = Host(
                name="bench-a",
                port=0,
                peers=peers,
                allowed_modules=["bench_paglets"],
                **host_options(),
            )
            self._host.start_background()
        return self._host

    @property
    def raw(self) -> RawClient:
        """The raw client, connected to a raw server in another process."""
        if self._raw is None:
            server = self._child("raw.py", [])
            self._raw = RawClient(server.ready["address"], server.ready.get("server_key", ""))
        return self._raw

    def child_pids(self) -> list[int]:
        """PIDs of the children this lab started."""
        return [child.pid for child in self._children]

    def close(self) -> None:
        """Stop host A, close the raw client, stop every child by PID."""
        if self._host is not None:
            try:
                self._host.stop(timeout=5.0)
            except Exception:  # keep stopping the rest
                log.exception("host A did not stop cleanly")
            self._host = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        for child in self._children:
            child.stop()
        self._children.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
