"""The interfaces a paglet sees of its host.

The runtime implements them; a paglet author only calls them. They live here, in the
core layer, so that a paglet module imports nothing above ``paglets.core``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from paglets.core.runtime_values import ServiceScope

if TYPE_CHECKING:
    from paglets.core.agent import Paglet, PagletState
    from paglets.core.messages import Message, ReplySet
    from paglets.core.refs import PagletProxyRef


class HostRef(Protocol):
    """What a paglet can know of another host of the mesh (read-only)."""

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def mesh_version(self) -> str: ...

    @property
    def tags(self) -> tuple[str, ...]: ...

    @property
    def properties(self) -> Mapping[str, str]: ...

    @property
    def online(self) -> bool: ...

    @property
    def active(self) -> int:
        """Its active paglets."""
        ...

    @property
    def load(self) -> float:
        """Its 1-minute load average."""
        ...

    @property
    def cpu_count(self) -> int:
        """Its logical cores."""
        ...

    @property
    def cores_free(self) -> int:
        """Cores free for compute jobs."""
        ...

    @property
    def memory_free(self) -> int:
        """Free RAM, in bytes."""
        ...

    @property
    def work_free(self) -> int:
        """Free bytes where its paglets' work files go."""
        ...


class PagletContext(Protocol):
    """The host a paglet currently lives on, as seen from the paglet."""

    @property
    def host_name(self) -> str:
        """The name of this host."""
        ...

    @property
    def host_address(self) -> str:
        """This host's request endpoint, ``tcp://HOST:PORT``."""
        ...

    @property
    def properties(self) -> Mapping[str, str]:
        """This host's properties (``--property KEY=VALUE``)."""
        ...

    @property
    def tags(self) -> tuple[str, ...]:
        """This host's tags."""
        ...

    def available_hosts(self) -> Sequence[HostRef]:
        """The other hosts this host knows, online or not."""
        ...

    def wait_for_host(self, name: str, timeout: float) -> HostRef:
        """Wait until a host called ``name`` is known; raise PeerNotFoundError after timeout."""
        ...

    def create_paglet(
        self,
        cls: type[Paglet[Any]],
        state: PagletState | None = None,
        init: Any = None,
        target: str | None = None,
    ) -> Any:
        """Create a paglet here (or on ``target``) and return its proxy."""
        ...

    def proxy(self, ref: PagletProxyRef | str, address: str | None = None) -> Any:
        """Return a live proxy for a ref (or an agent id and address)."""
        ...

    def proxies(self, flags: int = ...) -> list[Any]:
        """Proxies of the paglets on this host with the given state flags."""
        ...

    def multicast(self, message: Message) -> ReplySet:
        """Send ``message`` to every paglet on this host; return the replies as they come."""
        ...

    # services (``contract``: a ServiceContract for a typed handle, or a contract name
    # for records; ``scope``: ServiceScope.LOCAL or ServiceScope.MESH)

    def advertise_contract(
        self, contract: Any, provider: Any, metadata: Mapping[str, str] | None = None
    ) -> Any:
        """Advertise ``provider`` (a paglet, proxy or agent id) as offering ``contract``."""
        ...

    def withdraw_contract(self, contract: Any, provider: Any = None) -> int:
        """Stop advertising ``contract`` on this host."""
        ...

    def lookup_contracts(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> list[Any]:
        """Handles of every provider of ``contract`` in ``scope``."""
        ...

    def lookup_contract(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> Any:
        """A handle to the first provider found (this host's first), or None."""
        ...

    def require_contract(
        self, contract: Any, scope: ServiceScope = ServiceScope.LOCAL, timeout: float | None = None
    ) -> Any:
        """Like ``lookup_contract``; raises ServiceNotFoundError when none is found."""
        ...


class PagletControl(Protocol):
    """The operations the runtime performs on behalf of one paglet (its self-operations)."""

    def dispatch(self, target: str, options: Mapping[str, Any]) -> Any: ...

    def clone(self, target: str | None, options: Mapping[str, Any]) -> Any: ...

    def deactivate(self, duration: float | None) -> None: ...

    def dispose(self) -> None: ...

    def own_proxy(self) -> Any: ...

    def wait_message(self, timeout: float | None) -> bool: ...

    def notify_message(self) -> None: ...

    def notify_all_messages(self) -> None: ...

    def register_file(self, path: str | PathLike[str], name: str | None, mode: str) -> Path: ...

    def unregister_file(self, name: str, delete: bool) -> None: ...

    def registered_files(self) -> dict[str, Path]: ...

    def file_path(self, name: str) -> Path: ...

    def work_dir(self) -> Path: ...
