"""Zeroconf for one host: announce it on the LAN, greet the hosts of its mesh found there.

:class:`~paglets.runtime.mesh.membership.Membership` inherits this; a host found on
zeroconf is only heard of until it answers a ``hello`` (see that module).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from paglets.net.endpoint import split_address
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.runtime.config import HostConfig
from paglets.runtime.host_identity import HostIdentity
from paglets.wire.protocol import PROTOCOL_VERSION

if TYPE_CHECKING:
    from paglets.net.discovery import DiscoveredHost, Discovery

log = logging.getLogger(__name__)

DISCOVERED_RETRIES = 3
"""Greetings tried for a host only heard of (zeroconf, peer lists, gossip)."""


class LanDiscovery:
    """Starting zeroconf and reacting to what it finds, for :class:`Membership`."""

    _config: HostConfig
    _identity: HostIdentity
    _transport: Transport
    _peers: PeerTable
    _stopped: bool
    discovery: Discovery | None
    ignored: dict[str, dict[str, Any]]

    def greet(
        self, address: str, *, want_peers: bool = False, retries: int | None = 0, pub: str = ""
    ) -> None:
        raise NotImplementedError

    def _ignore(self, address: str, name: str, mesh: str, protocol: Any, reason: str) -> None:
        raise NotImplementedError

    def _start_discovery(self, ip: str, router_port: int, pub_address: str) -> None:
        from paglets.net.discovery import Discovery  # zeroconf: only with discovery on

        config = self._config
        discovery = Discovery(
            name=config.name,
            mesh_version=config.mesh_version,
            protocol=PROTOCOL_VERSION,
            ip=ip,
            router_port=router_port,
            pub_port=split_address(pub_address)[1],
            on_found=self._on_discovered,
            on_removed=self._on_vanished,
            key=self._transport.identity_key,
        )
        try:
            discovery.start()
        except Exception as exc:
            log.warning("zeroconf discovery is unavailable on %s (%s); seeds only", ip, exc)
            discovery.stop()
            return
        self.discovery = discovery

    def _on_discovered(self, found: DiscoveredHost) -> None:
        """A host announced itself on zeroconf (on the browser thread)."""
        if self._stopped or self._identity.is_local(found.address):
            return
        config = self._config
        if found.mesh_version != config.mesh_version or found.protocol != PROTOCOL_VERSION:
            self._ignore(
                found.address,
                found.name,
                found.mesh_version,
                found.protocol,
                f"mesh version {found.mesh_version!r} / protocol {found.protocol} "
                f"(this host: {config.mesh_version!r} / {PROTOCOL_VERSION})",
            )
            return
        known = self._peers.get(found.address)
        if known is not None and known.online and known.pub_address == found.pub_address:
            return
        self.greet(found.address, retries=DISCOVERED_RETRIES, pub=found.pub_address)

    def _on_vanished(self, found: DiscoveredHost) -> None:
        # liveness comes from gossip; a vanished record only ends an "ignored" listing
        self.ignored.pop(found.address, None)
