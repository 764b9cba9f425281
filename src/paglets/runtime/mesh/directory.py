"""The mesh as :class:`~paglets.core.hosts.HostRef` values, and names to addresses.

``Host`` and every paglet's context answer ``available_hosts``, ``host_status``,
``is_host_online`` and ``wait_for_host`` from here, out of the peer table plus this
host's own facts; every move resolves its target here (a name not known yet waits
``name_wait`` seconds for the mesh, since a host may be joining right now).
"""

from __future__ import annotations

import time

from paglets.core.errors import PeerNotFoundError
from paglets.core.hosts import HostRef
from paglets.net.endpoint import looks_like_address, normalize_address
from paglets.net.peers import PeerTable
from paglets.remote.mesh import host_ref
from paglets.runtime.config import HostConfig
from paglets.runtime.execution.registry import Registry
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.persistence.paglet_store import PagletStore


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


class MeshDirectory:
    """Answers what this host knows of the mesh, itself included.

    Args:
        config: the host's config (mesh version, tags, properties, ``name_wait``).
        identity: this host's name and addresses.
        peers: the peer table.
        registry, store: where this host's active and inactive paglets are counted.
    """

    def __init__(
        self,
        config: HostConfig,
        identity: HostIdentity,
        peers: PeerTable,
        registry: Registry,
        store: PagletStore,
    ) -> None:
        self._config = config
        self._identity = identity
        self._peers = peers
        self._registry = registry
        self._store = store

    def own_ref(self) -> HostRef:
        """This host as a :class:`HostRef`."""
        return HostRef(
            name=self._identity.name,
            url=self._identity.address,
            code_version=self._config.mesh_version,
            online=True,
            last_seen=time.time(),
            active_count=len(self._registry),
            inactive_count=len(self._store.ids()),
            tags=tuple(self._config.tags),
            properties=dict(self._config.properties),
        )

    def ref_at(self, address: str) -> HostRef | None:
        """What is known of the host at ``address`` (canonical; None: nothing yet)."""
        if self._identity.is_local(address):
            return self.own_ref()
        info = self._peers.get(address)
        return None if info is None else host_ref(info)

    def available_hosts(self, online_only: bool = True, include_self: bool = True) -> list[HostRef]:
        """The known hosts, sorted by name (this one first when included).

        Raises:
            TypeError: a flag is not a bool.
        """
        _flag("online_only", online_only)
        refs = [own for own in [self.own_ref()] if _flag("include_self", include_self)]
        for info in self._peers.all():
            if info.online or not online_only:
                refs.append(host_ref(info))
        return refs

    def host_status(self, name: str) -> HostRef:
        """What is known of the host ``name`` (or address), online or not.

        Raises:
            PeerNotFoundError: no such host is known.
        """
        if name in (self._identity.name,) or (
            looks_like_address(name) and self._identity.is_local(normalize_address(name))
        ):
            return self.own_ref()
        if looks_like_address(name):
            info = self._peers.get(normalize_address(name))
        else:
            info = self._peers.by_name(name)
        if info is None:
            raise PeerNotFoundError(f"no host {name!r} is known to {self._identity.name}")
        return host_ref(info)

    def is_host_online(self, name: str) -> bool:
        """Whether the host ``name`` (or address) is known and online."""
        try:
            return self.host_status(name).online
        except PeerNotFoundError:
            return False

    def wait_for_host(self, name_or_address: str, timeout: float = 10.0) -> HostRef:
        """Wait until the host is known and online; return it.

        Raises:
            PeerNotFoundError: not within ``timeout`` seconds.
            TypeError: ``timeout`` is not a number.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
        if not looks_like_address(name_or_address):
            if name_or_address == self._identity.name:
                return self.own_ref()
            return host_ref(self._peers.wait_for(name_or_address, timeout))
        address = normalize_address(name_or_address)
        if self._identity.is_local(address):
            return self.own_ref()
        deadline = time.monotonic() + timeout
        while True:
            info = self._peers.get(address)
            if info is not None and info.online:
                return host_ref(info)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerNotFoundError(f"no online host at {address} within {timeout}s")
            self._peers.wait_changed(min(remaining, 0.5))

    def resolve_target(self, target: str) -> str:
        """The address of ``target``: an address in any spelling, or a host name.

        Raises:
            PeerNotFoundError: no known host has that name.
            RemoteHostError: two online hosts share that name.
        """
        if not target:
            raise PeerNotFoundError("no target host given")
        if looks_like_address(target):
            return normalize_address(target)
        if target == self._identity.name:
            return self._identity.address
        info = self._peers.resolve(target)
        if info is None:
            # a host that is joining right now: give the mesh a moment to learn it
            try:
                self._peers.wait_for(target, self._config.name_wait)
            except PeerNotFoundError:
                pass
            info = self._peers.resolve(target)
        if info is None:
            known = ", ".join(sorted({peer.name for peer in self._peers.all()}))
            raise PeerNotFoundError(
                f"unknown host {target!r} (this host knows: {known or 'no other host'})"
            )
        return info.address
