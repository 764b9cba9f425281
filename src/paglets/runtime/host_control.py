"""The verbs of a host that move, store and destroy its paglets.

:class:`Host` inherits them; each is one ``control`` operation on the host's
:class:`~paglets.runtime.serving.operations.HostOperations`, the same one a remote proxy
asks for, so a paglet moves the same way whoever asks.
"""

from __future__ import annotations

from typing import Any

from paglets.core.tickets import TransferTicket, ticket_options
from paglets.persistence.persistency import DeactivationRequest
from paglets.remote.proxy import PagletProxy
from paglets.runtime.config import HostConfig
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mesh.directory import MeshDirectory
from paglets.runtime.serving.operations import HostOperations


class HostControlVerbs:
    """Dispatch, clone, retract, deactivate, activate and dispose of a host's paglets."""

    config: HostConfig
    _operations: HostOperations
    _directory: MeshDirectory
    _identity: HostIdentity

    def _control(self, agent_id: str, op: str, args: dict[str, Any], timeout: float | None) -> Any:
        return self._operations.control(agent_id, op, args, timeout)

    def dispatch(
        self,
        agent: str | PagletProxy,
        target: str | TransferTicket,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Move a paglet of this host to ``target`` (a host name, address or ticket)."""
        agent_id = agent.agent_id if isinstance(agent, PagletProxy) else agent
        options = ticket_options(target, timeout, self.config.transfer_timeout)
        address = self._control(agent_id, "dispatch", options, None)
        return self._operations.proxy_of(agent_id, str(address))

    def clone(
        self,
        agent: str | PagletProxy,
        target: str | TransferTicket | None = None,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Copy a paglet of this host (here, or to ``target``); return the copy's proxy."""
        agent_id = agent.agent_id if isinstance(agent, PagletProxy) else agent
        if target is None:
            options: dict[str, Any] = {"target": None, "timeout": timeout}
        else:
            options = ticket_options(target, timeout, self.config.transfer_timeout)
        reply = self._control(agent_id, "clone", options, None)
        return self._operations.proxy_of(str(reply["agent_id"]), str(reply["host_url"]))

    def retract(
        self, remote_address: str, agent_id: str, timeout: float | None = None
    ) -> PagletProxy:
        """Pull the paglet ``agent_id`` from the host ``remote_address`` (or name) to here."""
        address = self._directory.resolve_target(remote_address)
        proxy = self._operations.proxy_of(agent_id, address)
        return proxy.retract(timeout=timeout)

    def deactivate(
        self,
        agent_id: str,
        request: DeactivationRequest | None = None,
        timeout: float | None = None,
    ) -> PagletProxy:
        """Persist and unload a paglet of this host; return its proxy."""
        if request is not None and not isinstance(request, DeactivationRequest):
            raise TypeError(f"request must be a DeactivationRequest, not {type(request).__name__}")
        wire = None if request is None else request.to_wire()
        self._control(agent_id, "deactivate", {"request": wire}, timeout)
        return self._operations.proxy_of(agent_id, self._identity.address)

    def activate(self, agent_id: str) -> PagletProxy:
        """Load an inactive paglet of this host again; return its proxy."""
        self._control(agent_id, "activate", {}, None)
        return self._operations.proxy_of(agent_id, self._identity.address)

    def dispose(self, agent_id: str, timeout: float | None = None) -> None:
        """Destroy a paglet of this host."""
        self._control(agent_id, "dispose", {}, timeout)
