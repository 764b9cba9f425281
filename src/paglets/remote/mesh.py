"""The mesh as a paglet or a script sees it: :class:`HostRef` values.

:class:`HostRef` is defined in :mod:`paglets.core.hosts` (a paglet's context hands it
out); :func:`host_ref` builds one from what the peer table knows.
"""

from __future__ import annotations

from paglets.core.hosts import HostRef
from paglets.net.peers import PeerInfo


def host_ref(info: PeerInfo, error: str = "") -> HostRef:
    """The :class:`HostRef` of a peer-table entry."""
    return HostRef(
        name=info.name,
        url=info.address,
        code_version=info.mesh_version,
        online=info.online,
        last_seen=info.last_seen,
        active_count=info.active,
        inactive_count=info.inactive,
        tags=tuple(info.tags),
        properties=dict(info.properties),
        error=error or ("" if info.online else "offline"),
        load=info.load,
        cpu_count=info.cpu_count,
        cores_free=info.cores_free,
        memory_free=info.memory_free,
        work_free=info.work_free,
    )


__all__ = ["HostRef", "host_ref"]
