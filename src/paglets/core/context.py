"""The interfaces a paglet sees of its host, and of the paglets it talks to.

The runtime implements them; a paglet author only calls them. They live here, in the
core layer, so that a paglet module imports nothing above ``paglets.core``. None of
them names :class:`~paglets.core.agent.Paglet` (this module is below it: a paglet class
is passed as ``type[Any]``), so ``agent`` imports ``context`` and never the reverse.

* :class:`PagletHandle`: what a proxy offers (``paglets.remote.proxy.PagletProxy`` is
  one);
* :class:`PagletContext`: ``self.context``, the host the paglet lives on;
* :class:`PagletControl`: the operations the host performs for one paglet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

from paglets.artifacts import PagletFileRef
from paglets.core.hosts import HostRef
from paglets.core.messages import FutureReply, Message, ReplySet
from paglets.core.refs import PagletProxyRef
from paglets.core.runtime_values import ServiceScope
from paglets.persistence.persistency import DeactivationRequest
from paglets.persistence.storage import ManagedStorage


class PagletHandle(Protocol):
    """A handle to one paglet, here or on another host."""

    @property
    def agent_id(self) -> str: ...

    @property
    def host_url(self) -> str: ...

    def send(
        self,
        message: Message | str,
        activate_if_inactive: bool = True,
        no_delay: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Send a message and wait for the reply."""
        ...

    def send_future(
        self,
        message: Message | str,
        activate_if_inactive: bool = True,
        no_delay: bool = False,
        timeout: float | None = None,
    ) -> FutureReply:
        """Send a message; the reply comes as a future."""
        ...

    def send_oneway(
        self, message: Message | str, activate_if_inactive: bool = True, no_delay: bool = False
    ) -> None:
        """Send a message and do not wait."""
        ...

    def is_valid(self) -> bool: ...

    def is_active(self) -> bool: ...

    def info(self) -> dict[str, Any]: ...

    def ref(self) -> PagletProxyRef: ...

    def to_wire(self) -> dict[str, str]: ...

    def dispose(self) -> None: ...


class PagletContext(Protocol):
    """The host a paglet currently lives on, as seen from that paglet."""

    @property
    def name(self) -> str:
        """The name of this host."""
        ...

    @property
    def host(self) -> str:
        """The name of this host (the original package's spelling of :attr:`name`)."""
        ...

    @property
    def address(self) -> str:
        """This host's request endpoint, ``tcp://HOST:PORT``."""
        ...

    @property
    def agent_id(self) -> str:
        """The id of the paglet this context belongs to."""
        ...

    @property
    def properties(self) -> Mapping[str, str]:
        """This host's properties (``--property KEY=VALUE``)."""
        ...

    @property
    def tags(self) -> tuple[str, ...]:
        """This host's tags."""
        ...

    @property
    def files_roots(self) -> tuple[Path, ...]:
        """The directories (resolved) paglets may touch this host's files under.

        Check a path with ``paglets.runtime.files.roots.check_path(path, roots)``
        before reading or writing it; ``register_file`` checks by itself.
        """
        ...

    def get_property(self, key: str, default: Any = None) -> Any:
        """A host property (set at start or with :meth:`set_property`), else ``default``."""
        ...

    def set_property(self, key: str, value: Any) -> None:
        """Set a host property, local to this host (it does not travel in gossip)."""
        ...

    def get_proxy(self, agent_id: str, host_url: str | None = None) -> PagletHandle:
        """A proxy to the paglet ``agent_id`` on this host, or at ``host_url``."""
        ...

    def get_proxies(self, flags: int = ...) -> Sequence[PagletHandle]:
        """Proxies of this host's paglets in the state ``flags`` (ACTIVE, INACTIVE)."""
        ...

    def create_paglet(
        self,
        cls: type[Any],
        state: Any = None,
        *,
        init: Any = None,
        host_url: str | None = None,
    ) -> PagletHandle:
        """Create a paglet here (or on the host ``host_url``, name or address)."""
        ...

    def available_hosts(self, online_only: bool = True, include_self: bool = True) -> list[HostRef]:
        """The hosts of the mesh this host knows."""
        ...

    def host_status(self, name: str) -> HostRef:
        """What is known of the host ``name`` (PeerNotFoundError if nothing)."""
        ...

    def is_host_online(self, name: str) -> bool:
        """Whether the host ``name`` is known and online."""
        ...

    def wait_for_host(self, name_or_address: str, timeout: float = 10.0) -> HostRef:
        """Wait until the host is known and online (PeerNotFoundError after timeout)."""
        ...

    def dispatch_to(self, name: str) -> PagletHandle:
        """Move this context's paglet to the host ``name``."""
        ...

    def clone_to(self, name: str) -> PagletHandle:
        """Copy this context's paglet to the host ``name``; return the copy's proxy."""
        ...

    def multicast(
        self, kind: str | Message, args: dict[str, Any] | None = None, exclude: Any = None
    ) -> ReplySet:
        """Send a message to every active paglet on this host but those in ``exclude``."""
        ...

    def send(self, agent_id: str, message: Message | str, host_url: str | None = None) -> Any:
        """Send a message to the paglet ``agent_id`` (here, or at ``host_url``)."""
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

    def dispatch(self, options: Mapping[str, Any]) -> PagletHandle: ...

    def clone(self, options: Mapping[str, Any]) -> PagletHandle: ...

    def deactivate(self, request: DeactivationRequest) -> PagletHandle: ...

    def dispose(self) -> None: ...

    def own_proxy(self) -> PagletHandle: ...

    def wait_message(self, timeout: float | None) -> bool: ...

    def notify_message(self) -> None: ...

    def notify_all_messages(self) -> None: ...

    def register_file(
        self, path: str | PathLike[str], name: str | None, mode: str
    ) -> PagletFileRef: ...

    def unregister_file(self, name: str, delete: bool) -> None: ...

    def registered_files(self) -> list[PagletFileRef]: ...

    def file_path(self, name: str) -> Path: ...

    def work_dir(self) -> Path: ...

    def persistent_storage(self) -> ManagedStorage: ...
