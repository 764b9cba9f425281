"""Zeroconf discovery: announce this host as ``_paglets._tcp.local.`` and find the others.

Runs on python-zeroconf's own threads (its event loop thread and one browser thread),
never on the host's I/O thread: the owner gets two callbacks, ``on_found`` and
``on_removed``, each with a :class:`DiscoveredHost`, on the browser thread. They must
be quick and must not block on the network.

The service record
    instance ``<name>-<8 hex>._paglets._tcp.local.`` (the suffix keeps two hosts of
    the same name from fighting over one mDNS name: a clash is for the mesh to report,
    not for mDNS to rename away), port = the ROUTER port, one A record (the address the
    host listens on, never another) and the TXT keys:

    ========  =========================================
    ``name``  the host's name in the mesh
    ``mesh``  its mesh version
    ``proto`` the wire protocol version
    ``port``  the ROUTER port
    ``pub``   the gossip PUB port
    ``key``   its identity key (z85; absent on an insecure host)
    ========  =========================================

Discovery only finds hosts; whether a host is alive is told by gossip heartbeats, not
by mDNS TTLs. Nothing in a record is authenticated (anyone on the LAN can announce
anything): a record is only a hint to greet that address, and the hosts kept here are
bounded (:data:`MAX_KNOWN`); the records past that are ignored until some go away.
:meth:`Discovery.stop` unregisters the service (goodbye packets) and closes zeroconf.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zeroconf import (
    DNSQuestionType,
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
)

from paglets.net.endpoint import normalize_address

log = logging.getLogger(__name__)

SERVICE_TYPE = "_paglets._tcp.local."
_INFO_TIMEOUT_MS = 2000
_REGISTER_JOIN = 5.0
# Multicast answers (QM), not unicast (QU): several hosts on one machine share UDP port
# 5353, and the kernel hands a unicast answer to just one of their sockets, often the
# wrong one; a multicast answer reaches them all.
_QUESTIONS = DNSQuestionType.QM
MAX_KNOWN = 1024


@dataclass(frozen=True)
class DiscoveredHost:
    """A host announced on the LAN, as its TXT record describes it."""

    instance: str
    name: str
    address: str
    pub_address: str
    mesh_version: str
    protocol: int
    key: str = ""


FoundCallback = Callable[[DiscoveredHost], None]


def _txt(properties: dict[bytes, bytes | None], key: str) -> str:
    value = properties.get(key.encode())
    return value.decode("utf-8", "replace") if value else ""


def host_from_info(info: ServiceInfo) -> DiscoveredHost | None:
    """Read a resolved service record; None if it lacks what a paglets host announces."""
    properties = info.properties or {}
    name = _txt(properties, "name")
    addresses = info.parsed_addresses(IPVersion.V4Only)
    try:
        port = int(_txt(properties, "port") or info.port or 0)
        pub = int(_txt(properties, "pub"))
        protocol = int(_txt(properties, "proto") or 0)
    except ValueError:
        return None
    if not name or not addresses or not 0 < port < 65536 or not 0 < pub < 65536:
        return None
    ip = addresses[0]
    return DiscoveredHost(
        instance=info.name,
        name=name,
        address=normalize_address(f"{ip}:{port}"),
        pub_address=normalize_address(f"{ip}:{pub}"),
        mesh_version=_txt(properties, "mesh"),
        protocol=protocol,
        key=_txt(properties, "key")[:64],
    )


class Discovery:
    """Announce one host and browse for the others.

    Args:
        name, mesh_version, protocol, key: what the TXT record says.
        ip: the IPv4 address the host listens on; announced and used for mDNS.
        router_port, pub_port: the ports announced.
        on_found: called for every host announced (again on updates), itself excluded.
        on_removed: called when a host's record goes away (goodbye or expiry).
    """

    def __init__(
        self,
        *,
        name: str,
        mesh_version: str,
        protocol: int,
        ip: str,
        router_port: int,
        pub_port: int,
        on_found: FoundCallback,
        on_removed: FoundCallback,
        key: str = "",
    ) -> None:
        self.ip = ip
        self._on_found = on_found
        self._on_removed = on_removed
        label = f"{name[:50]}-{uuid.uuid4().hex[:8]}"
        self._info = ServiceInfo(
            SERVICE_TYPE,
            f"{label}.{SERVICE_TYPE}",
            port=router_port,
            properties={
                "name": name,
                "mesh": mesh_version,
                "proto": str(protocol),
                "port": str(router_port),
                "pub": str(pub_port),
                **({"key": key} if key else {}),
            },
            server=f"paglets-{label}.local.",
            parsed_addresses=[ip],
        )
        self._zeroconf: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None
        self._register_thread: threading.Thread | None = None
        self._registered = threading.Event()
        self._known: dict[str, DiscoveredHost] = {}
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def instance(self) -> str:
        """This host's service instance name."""
        return self._info.name

    @property
    def registered(self) -> bool:
        """Whether the announcement finished probing and went out."""
        return self._registered.is_set()

    def start(self) -> None:
        """Open zeroconf on :attr:`ip`, start browsing, announce in the background.

        Announcing takes a few hundred milliseconds (three announcements); browsing
        does not wait for it.

        Raises:
            OSError: the mDNS sockets could not be opened on that interface.
        """
        self._zeroconf = Zeroconf(interfaces=[self.ip], ip_version=IPVersion.V4Only)
        self._browser = ServiceBrowser(
            self._zeroconf, SERVICE_TYPE, handlers=[self._on_change], question_type=_QUESTIONS
        )
        self._register_thread = threading.Thread(
            target=self._register, name=f"paglets-zeroconf-register-{self.ip}", daemon=True
        )
        self._register_thread.start()

    def _register(self) -> None:
        zeroconf = self._zeroconf
        if zeroconf is None:
            return
        try:
            # The random suffix makes the instance name unique, so the one-second
            # conflict probe would only delay the announcement: skip it.
            zeroconf.register_service(self._info, cooperating_responders=True)
        except Exception as exc:
            if not self._stopping:
                log.warning("zeroconf could not announce %s: %s", self._info.name, exc)
            return
        self._registered.set()

    def stop(self) -> None:
        """Stop browsing, unregister the service (goodbye packets), close zeroconf."""
        self._stopping = True
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is None:
            return
        if self._browser is not None:
            self._browser.cancel()
            self._browser = None
        if self._register_thread is not None:
            self._register_thread.join(_REGISTER_JOIN)
        try:
            if self._registered.is_set():
                zeroconf.unregister_service(self._info)
        except Exception as exc:
            log.warning("zeroconf could not unregister %s: %s", self._info.name, exc)
        finally:
            self._registered.clear()
            zeroconf.close()

    def known(self) -> list[DiscoveredHost]:
        """The hosts currently announced (this one excluded)."""
        with self._lock:
            return list(self._known.values())

    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if self._stopping or name == self._info.name:
            return
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                gone = self._known.pop(name, None)
            if gone is not None:
                self._on_removed(gone)
            return
        info = zeroconf.get_service_info(
            service_type, name, timeout=_INFO_TIMEOUT_MS, question_type=_QUESTIONS
        )
        found = host_from_info(info) if info is not None else None
        if found is None:
            log.debug("ignoring service %s: not a complete paglets record", name)
            return
        self.found(name, found)

    def found(self, instance: str, host: DiscoveredHost) -> bool:
        """Take one resolved record (the browser's path; tests feed records here).

        Returns:
            Whether it was passed on (False once :data:`MAX_KNOWN` hosts are known).
        """
        with self._lock:
            if instance not in self._known and len(self._known) >= MAX_KNOWN:
                return False
            self._known[instance] = host
        self._on_found(host)
        return True


def browse(
    timeout: float,
    *,
    until: Callable[[DiscoveredHost], bool] | None = None,
    interfaces: list[str] | None = None,
) -> list[DiscoveredHost]:
    """Browse the LAN for paglets hosts for up to ``timeout`` seconds (for clients).

    Args:
        timeout: seconds to browse.
        until: stop early once a host satisfies this predicate.
        interfaces: IPv4 addresses to browse on (default: every interface).

    Returns:
        The hosts found, in the order they were found.
    """
    found: list[DiscoveredHost] = []
    done = threading.Event()
    lock = threading.Lock()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed or done.is_set():
            return
        info = zeroconf.get_service_info(
            service_type, name, timeout=_INFO_TIMEOUT_MS, question_type=_QUESTIONS
        )
        host = host_from_info(info) if info is not None else None
        if host is None:
            return
        with lock:
            found.append(host)
        if until is not None and until(host):
            done.set()

    kwargs: dict[str, Any] = {"ip_version": IPVersion.V4Only}
    if interfaces:
        kwargs["interfaces"] = interfaces
    zeroconf = Zeroconf(**kwargs)
    try:
        browser = ServiceBrowser(
            zeroconf, SERVICE_TYPE, handlers=[on_change], question_type=_QUESTIONS
        )
        started = time.monotonic()
        done.wait(timeout)
        done.set()
        browser.cancel()
        log.debug("browsed %.2fs, found %d hosts", time.monotonic() - started, len(found))
    finally:
        zeroconf.close()
    with lock:
        return list(found)
