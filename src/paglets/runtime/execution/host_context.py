"""The host as a paglet sees it (``self.context``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from paglets.core.agent import ACTIVE, Paglet, PagletState
from paglets.core.messages import Message, ReplySet
from paglets.core.refs import PagletProxyRef
from paglets.core.runtime_values import ServiceScope
from paglets.net.peers import PeerInfo
from paglets.runtime.parts import HostParts


class ContextServices(Protocol):
    """The host operations a context forwards to."""

    def create(
        self, cls: type[Paglet[Any]], state: PagletState | None, init: Any, target: str | None
    ) -> Any: ...

    def proxy_of(self, agent_id: str, address: str) -> Any: ...

    def proxies(self, flags: int) -> list[Any]: ...

    def multicast(self, message: Message) -> ReplySet: ...


class HostContext:
    """What every paglet on one host sees of it; implements ``PagletContext``."""

    def __init__(self, parts: HostParts, services: ContextServices) -> None:
        self._parts = parts
        self._services = services

    @property
    def host_name(self) -> str:
        return self._parts.name

    @property
    def host_address(self) -> str:
        return self._parts.address

    @property
    def properties(self) -> Mapping[str, str]:
        return dict(self._parts.config.properties)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._parts.config.tags)

    def available_hosts(self) -> list[PeerInfo]:
        """The other hosts this host knows."""
        return self._parts.peers.all()

    def wait_for_host(self, name: str, timeout: float) -> PeerInfo:
        """Wait until a host called ``name`` is known (PeerNotFoundError after timeout)."""
        return self._parts.peers.wait_for(name, timeout)

    def create_paglet(
        self,
        cls: type[Paglet[Any]],
        state: PagletState | None = None,
        init: Any = None,
        target: str | None = None,
    ) -> Any:
        """Create a paglet here, or on ``target``; return its proxy."""
        return self._services.create(cls, state, init, target)

    def proxy(self, ref: PagletProxyRef | str, address: str | None = None) -> Any:
        """A live proxy for a ref, or for an agent id (here, or at ``address``)."""
        if isinstance(ref, PagletProxyRef):
            return self._services.proxy_of(ref.agent_id, ref.address)
        return self._services.proxy_of(ref, address or self._parts.address)

    def proxies(self, flags: int = ACTIVE) -> list[Any]:
        """Proxies of the paglets on this host in the given state flags."""
        return self._services.proxies(flags)

    def multicast(self, message: Message) -> ReplySet:
        """Send ``message`` to every active paglet on this host."""
        return self._services.multicast(message)

    # services: thin calls into runtime/serving/service_registry.py ------------------

    def advertise_contract(
        self, contract: Any, provider: Any, metadata: Mapping[str, str] | None = None
    ) -> Any:
        """Advertise ``provider`` (a paglet, proxy or agent id) as offering ``contract``."""
        return self._parts.require_service_registry().advertise_contract(
            contract, provider, metadata
        )

    def withdraw_contract(self, contract: Any, provider: Any = None) -> int:
        """Stop advertising ``contract`` here (only ``provider``'s record, if given)."""
        name = contract if isinstance(contract, str) else contract.name
        key = None if provider is None else getattr(provider, "agent_id", provider)
        return self._parts.require_service_registry().withdraw(name, key)

    def lookup_contracts(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> list[Any]:
        """Handles of every provider of ``contract`` in ``scope`` (``local`` or ``mesh``)."""
        return self._parts.require_service_registry().lookup_contracts(contract, scope, timeout)

    def lookup_contract(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> Any:
        """A handle to the first provider of ``contract`` found (this host's first), or None."""
        return self._parts.require_service_registry().lookup_contract(contract, scope, timeout)

    def require_contract(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> Any:
        """Like :meth:`lookup_contract`; raises ServiceNotFoundError when none is found."""
        return self._parts.require_service_registry().require_contract(contract, scope, timeout)
