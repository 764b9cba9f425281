"""Plain, encodable references to paglets, for use in state and message arguments.

The public face is :mod:`paglets.remote.references`; the class lives here, in the core
layer, because the wire codec (below ``remote``) encodes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

ProxyT = TypeVar("ProxyT", covariant=True)


class ProxySource(Protocol[ProxyT]):
    """Anything that turns an agent id and an address into a live proxy.

    A paglet's context and a ``HostClient`` both are.
    """

    def get_proxy(self, agent_id: str, host_url: str | None = None) -> ProxyT: ...


class _Addressed(Protocol):
    @property
    def host_url(self) -> str: ...

    @property
    def agent_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PagletProxyRef:
    """Where a paglet was last known to live: its host's address and its id.

    A ref is data: it can sit in a paglet's state or a message. Turn it into a live
    proxy with :meth:`resolve`.

    Attributes:
        host_url: the address of the host, ``tcp://HOST:PORT``.
        agent_id: the paglet's id.
    """

    host_url: str
    agent_id: str

    def __post_init__(self) -> None:
        for field_name in ("host_url", "agent_id"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value:
                raise TypeError(f"PagletProxyRef {field_name} must be a non-empty str")

    def resolve(self, source: ProxySource[ProxyT]) -> ProxyT:
        """A live proxy to the paglet, reached through a context or a client.

        Args:
            source: ``self.context`` inside a paglet, a ``HostClient``, or anything
                with ``get_proxy(agent_id, host_url)``.
        """
        return source.get_proxy(self.agent_id, self.host_url)

    @classmethod
    def from_proxy(cls, proxy: _Addressed) -> PagletProxyRef:
        """The ref of a proxy (where it last saw its paglet)."""
        return cls(proxy.host_url, proxy.agent_id)

    def to_wire(self) -> dict[str, str]:
        """Return the ref as ``{"host_url": ..., "agent_id": ...}``."""
        return {"host_url": self.host_url, "agent_id": self.agent_id}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> PagletProxyRef:
        """Build a ref from :meth:`to_wire` output (or a proxy's ``to_wire()``).

        Raises:
            ValueError: ``data`` lacks ``host_url`` or ``agent_id``.
        """
        try:
            return cls(str(data["host_url"]), str(data["agent_id"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a proxy ref needs host_url and agent_id: {exc}") from None
