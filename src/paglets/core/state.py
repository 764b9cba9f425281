"""What a paglet's state is: the base dataclass, the state flags, the not-handled marker.

Kept apart from :mod:`paglets.core.agent` (which re-exports every name) so that the
pieces a paglet is built from stay small; import them from ``paglets.core.agent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from paglets.core.classes import remember_class

ACTIVE = 1
"""State flag of a paglet that is loaded and can handle messages."""
INACTIVE = 2
"""State flag of a paglet that is deactivated (its state is in the host's store)."""


@dataclass
class PagletState:
    """Base class of paglet states. Subclass it as a ``@dataclass``.

    Field values must be encodable (see :mod:`paglets.wire.codec`): None, bool, int,
    float, str, bytes, bytearray, list, tuple, dict, set, Enum, Path, datetime, nested
    dataclasses, ``PagletProxyRef``, ``ArtifactRef`` and Optional/Union of these.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        remember_class(cls)


StateT = TypeVar("StateT", bound=PagletState)


class _NotHandled:
    """The marker a handler returns for message kinds it does not handle."""

    _instance: ClassVar[_NotHandled | None] = None

    def __new__(cls) -> _NotHandled:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_HANDLED"


NOT_HANDLED = _NotHandled()
