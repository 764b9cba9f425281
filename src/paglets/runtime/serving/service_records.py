"""Service records: who provides which contract where, as every layer may read them.

A :class:`ServiceRecord` is plain data (it travels in the ``svc`` verb). The registry
that holds them, the lookups and what the registry needs of a contract
(``ContractLike``) are in :mod:`paglets.runtime.serving.service_registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paglets.core.errors import ProtocolError
from paglets.core.runtime_values import ServiceScope, require_enum


def as_scope(scope: Any) -> ServiceScope:
    """Check a scope argument: a :class:`ServiceScope` member.

    Raises:
        TypeError: anything else (a raw ``"mesh"`` included); the message names the
            parameter and the members.
    """
    return require_enum(scope, ServiceScope, "scope")


@dataclass(frozen=True)
class ServiceRecord:
    """One provider of one contract, on one host.

    Attributes:
        contract: the contract name, e.g. ``paglets.system.server_info``.
        version: the contract version the provider implements.
        operations: the operation names it answers.
        host_name, address: the provider's host.
        agent_id: the provider paglet ('' for a lazy resident not started yet).
        key: what tells providers of one contract on one host apart (the agent id,
            or ``resident`` for a resident service).
        lifecycle: ``lazy``/``eager`` for resident services, '' otherwise.
        metadata: free-form strings the provider advertised.
    """

    contract: str
    version: int
    operations: tuple[str, ...]
    host_name: str
    address: str
    agent_id: str = ""
    key: str = ""
    lifecycle: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The record as a plain map (the ``svc`` verb, ``--json``)."""
        return {
            "contract": self.contract,
            "version": self.version,
            "operations": list(self.operations),
            "host_name": self.host_name,
            "address": self.address,
            "agent_id": self.agent_id,
            "key": self.key,
            "lifecycle": self.lifecycle,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_wire(cls, data: Any) -> ServiceRecord:
        """Read a record map.

        Raises:
            ProtocolError: the map lacks a field or has one of the wrong type.
        """
        try:
            return cls(
                contract=str(data["contract"]),
                version=int(data["version"]),
                operations=tuple(str(op) for op in data["operations"]),
                host_name=str(data["host_name"]),
                address=str(data["address"]),
                agent_id=str(data.get("agent_id") or ""),
                key=str(data.get("key") or ""),
                lifecycle=str(data.get("lifecycle") or ""),
                metadata={str(k): str(v) for k, v in dict(data.get("metadata") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"malformed service record: {exc}") from None
