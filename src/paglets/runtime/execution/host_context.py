"""The host as one paglet sees it (``self.context``).

Each paglet gets its own small :class:`HostContext` (it knows the paglet's id); all of
them share one :class:`ContextPlace` (what every paglet sees of the host).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from paglets.core.agent import ACTIVE
from paglets.core.hosts import HostRef
from paglets.core.messages import Message, ReplySet
from paglets.core.runtime_values import ServiceScope
from paglets.remote.proxy import PagletProxy
from paglets.remote.proxy_args import as_message
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.host_properties import HostProperties
from paglets.runtime.mesh.directory import MeshDirectory
from paglets.runtime.serving.service_registry import ServiceRegistry


class ContextServices(Protocol):
    """The host operations a context forwards to."""

    def create(
        self, cls: type[Any], state: Any, init: Any, target: str | None = None
    ) -> PagletProxy: ...

    def proxy_of(self, agent_id: str, address: str) -> PagletProxy: ...

    def proxies(self, flags: int) -> list[PagletProxy]: ...

    def multicast(self, message: Message, exclude: Any = None) -> ReplySet: ...

    def move(self, agent_id: str, op: str, target: str) -> PagletProxy: ...


@dataclass(frozen=True)
class ContextPlace:
    """What every paglet's context shares of its host (the per-paglet part is its id).

    Args:
        identity: the host's name and address.
        properties: the host's configured and run-time properties.
        tags: the host's tags.
        files_roots: where paglets may read and write host files.
        services: the host operations a context forwards to.
        service_registry: the host's service records.
        directory: what the host knows of the mesh.
    """

    identity: HostIdentity
    properties: HostProperties
    tags: tuple[str, ...]
    files_roots: tuple[Path, ...]
    services: ContextServices
    service_registry: ServiceRegistry
    directory: MeshDirectory


class HostContext:
    """What one paglet sees of its host; implements ``PagletContext``.

    Args:
        place: what every paglet of this host shares of it.
        agent_id: the paglet this context belongs to ('' for the host's own).
    """

    __slots__ = ("_agent_id", "_directory", "_identity", "_place", "_services")

    def __init__(self, place: ContextPlace, agent_id: str = "") -> None:
        self._place = place
        self._identity = place.identity
        self._services = place.services
        self._directory = place.directory
        self._agent_id = agent_id

    def for_agent(self, agent_id: str) -> HostContext:
        """The context of the paglet ``agent_id`` on this host."""
        return HostContext(self._place, agent_id)

    @property
    def name(self) -> str:
        """The name of this host."""
        return self._identity.name

    @property
    def host(self) -> str:
        """The name of this host."""
        return self._identity.name

    @property
    def address(self) -> str:
        """This host's address, ``tcp://HOST:PORT``."""
        return self._identity.address

    @property
    def agent_id(self) -> str:
        """The id of the paglet this context belongs to."""
        return self._agent_id

    @property
    def properties(self) -> Mapping[str, str]:
        """This host's properties as configured at start."""
        return self._place.properties.configured

    @property
    def tags(self) -> tuple[str, ...]:
        """This host's tags."""
        return self._place.tags

    @property
    def files_roots(self) -> tuple[Path, ...]:
        return self._place.files_roots

    def get_property(self, key: str, default: Any = None) -> Any:
        """A property set with :meth:`set_property`, else a configured one, else ``default``."""
        return self._place.properties.get(key, default)

    def set_property(self, key: str, value: Any) -> None:
        """Set a property of this host (local: it does not travel in gossip)."""
        self._place.properties.set(key, value)

    def get_proxy(self, agent_id: str, host_url: str | None = None) -> PagletProxy:
        """A proxy to ``agent_id`` on this host, or on the host at ``host_url``."""
        return self._services.proxy_of(agent_id, host_url or self._identity.address)

    def get_proxies(self, flags: int = ACTIVE) -> list[PagletProxy]:
        """Proxies of the paglets on this host in the given state flags."""
        return self._services.proxies(flags)

    def create_paglet(
        self,
        cls: type[Any],
        state: Any = None,
        *,
        init: Any = None,
        host_url: str | None = None,
    ) -> PagletProxy:
        """Create a paglet here, or on ``host_url`` (a name or an address); return its proxy."""
        return self._services.create(cls, state, init, host_url)

    def available_hosts(self, online_only: bool = True, include_self: bool = True) -> list[HostRef]:
        """The hosts this host knows (online ones, itself included, by default)."""
        return self._directory.available_hosts(online_only, include_self)

    def host_status(self, name: str) -> HostRef:
        """What is known of the host ``name`` (PeerNotFoundError if nothing)."""
        return self._directory.host_status(name)

    def is_host_online(self, name: str) -> bool:
        """Whether the host ``name`` is known and online."""
        return self._directory.is_host_online(name)

    def wait_for_host(self, name_or_address: str, timeout: float = 10.0) -> HostRef:
        """Wait until the host is known and online (PeerNotFoundError after ``timeout``)."""
        return self._directory.wait_for_host(name_or_address, timeout)

    def dispatch_to(self, name: str) -> PagletProxy:
        """Move this context's paglet to the host ``name``; return its proxy there."""
        return self._services.move(self._agent_id, "dispatch", name)

    def clone_to(self, name: str) -> PagletProxy:
        """Copy this context's paglet to the host ``name``; return the copy's proxy."""
        return self._services.move(self._agent_id, "clone", name)

    def multicast(
        self, kind: str | Message, args: dict[str, Any] | None = None, exclude: Any = None
    ) -> ReplySet:
        """Send a message to every active paglet on this host but those in ``exclude``.

        ``exclude`` is an agent id or an iterable of agent ids.
        """
        return self._services.multicast(as_message(kind, args), exclude)

    def send(self, agent_id: str, message: Message | str, host_url: str | None = None) -> Any:
        """Send a message to ``agent_id`` (on this host, or at ``host_url``); return the reply."""
        return self.get_proxy(agent_id, host_url).send(message)

    # services: thin calls into runtime/serving/service_registry.py ------------------

    def advertise_contract(
        self, contract: Any, provider: Any, metadata: Mapping[str, str] | None = None
    ) -> Any:
        """Advertise ``provider`` (a paglet, proxy or agent id) as offering ``contract``."""
        return self._place.service_registry.advertise_contract(contract, provider, metadata)

    def withdraw_contract(self, contract: Any, provider: Any = None) -> int:
        """Stop advertising ``contract`` here (only ``provider``'s record, if given)."""
        name = contract if isinstance(contract, str) else contract.name
        key = None if provider is None else getattr(provider, "agent_id", provider)
        return self._place.service_registry.withdraw(name, key)

    def lookup_contracts(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> list[Any]:
        """Handles of every provider of ``contract`` in ``scope`` (``local`` or ``mesh``)."""
        return self._place.service_registry.lookup_contracts(contract, scope, timeout)

    def lookup_contract(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> Any:
        """A handle to the first provider of ``contract`` found (this host's first), or None."""
        return self._place.service_registry.lookup_contract(contract, scope, timeout)

    def require_contract(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> Any:
        """Like :meth:`lookup_contract`; raises ServiceNotFoundError when none is found."""
        return self._place.service_registry.require_contract(contract, scope, timeout)
