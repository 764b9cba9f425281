"""What the proxy's calls accept: messages given as a Message or a kind, flags, clients.

Kept apart from :mod:`paglets.remote.proxy` so that the checks are one small thing
other modules (a host's context, a client) share.
"""

from __future__ import annotations

from typing import Any, Protocol

from paglets.core.messages import Message
from paglets.remote.default_backend import default_backend
from paglets.remote.proxy_backend import ProxyBackend


class ClientLike(Protocol):
    """A client a proxy can be built with: it exposes the backend it speaks through."""

    @property
    def backend(self) -> ProxyBackend: ...


def as_message(message: Message | str, args: dict[str, Any] | None = None) -> Message:
    """Accept a :class:`Message`, or a kind plus optional args.

    Raises:
        TypeError: ``message`` is neither, or ``args`` is not a dict.
    """
    if args is not None and not isinstance(args, dict):
        raise TypeError(f"args must be a dict, not {type(args).__name__}")
    if isinstance(message, Message):
        if args:
            message.args.update(args)
        return message
    if not isinstance(message, str):
        raise TypeError(f"message must be a Message or a kind (str), not {type(message).__name__}")
    return Message(message, dict(args or {}))


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def backend_of(client: ClientLike | ProxyBackend | None) -> ProxyBackend:
    if client is None:
        return default_backend()
    backend = getattr(client, "backend", None)
    if backend is not None and not callable(backend):
        return backend  # type: ignore[no-any-return]
    return client  # type: ignore[return-value]
