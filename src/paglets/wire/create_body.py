"""The body of a ``create`` request: which paglet to make, and its first state.

The body is one encoded list::

    [class_path, state_class_path, state, init]

``class_path`` (``module:QualName``) names the paglet class. ``state`` is bytes: an
encoded state instance of ``state_class_path``, or, when ``state_class_path`` is
``""``, an encoded map of state fields that the host fills up from the class's
declared state defaults. ``init`` is any encodable value, passed to ``on_creation``.
The reply body is the new agent id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paglets.core.classes import class_path as path_of
from paglets.core.errors import ProtocolError
from paglets.core.state import PagletState
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_state, encode_value

DECLARED_STATE = ""
"""The ``state_class_path`` meaning: state fields, of the class's declared state class."""


@dataclass(frozen=True, slots=True)
class CreateBody:
    """What a ``create`` request asks for.

    Attributes:
        class_path: the paglet class, ``module:QualName``.
        state_class_path: the state's class path, or ``""`` for a map of fields.
        state: the encoded state (or map of fields).
        init: the creation argument.
    """

    class_path: str
    state_class_path: str
    state: bytes
    init: Any = None

    @classmethod
    def of(
        cls,
        paglet_class_path: str,
        state: PagletState | Mapping[str, Any] | None,
        init: Any = None,
    ) -> CreateBody:
        """The body creating ``paglet_class_path`` from a state instance or state fields.

        Args:
            paglet_class_path: the paglet class, ``module:QualName``.
            state: a state instance, a map of state fields, or None (all defaults).
            init: the creation argument.

        Raises:
            SerializationError: the state or its fields cannot be encoded.
        """
        if isinstance(state, PagletState):
            return cls(paglet_class_path, path_of(type(state)), encode_state(state), init)
        return cls(paglet_class_path, DECLARED_STATE, encode_value(dict(state or {})), init)

    def to_wire(self) -> list[Any]:
        """The plain value sent (encode it with :func:`~paglets.wire.codec.encode_value`)."""
        return [self.class_path, self.state_class_path, self.state, self.init]

    def encode(self) -> bytes:
        """The encoded body.

        Raises:
            SerializationError: ``init`` cannot be encoded.
        """
        return encode_value(self.to_wire())

    @classmethod
    def from_wire(cls, value: Any) -> CreateBody:
        """Check a decoded ``create`` body.

        Raises:
            ProtocolError: not ``[class, state class, state bytes, init]`` (says which part).
        """
        if not isinstance(value, list) or len(value) != 4:
            raise ProtocolError(
                f"create needs [class, state class, state, init], not {_shown(value)}"
            )
        paglet_path, state_path, state, init = value
        if not isinstance(paglet_path, str) or not paglet_path:
            raise ProtocolError(f"create needs a class path string, not {_shown(paglet_path)}")
        if not isinstance(state_path, str):
            raise ProtocolError(
                f"create needs a state class path string ('' = declared), not {_shown(state_path)}"
            )
        if not isinstance(state, bytes):
            raise ProtocolError(f"create needs the state as bytes, not {type(state).__name__}")
        return cls(paglet_path, state_path, state, init)

    @classmethod
    def decode(cls, body: bytes | memoryview, policy: ClassPolicy) -> CreateBody:
        """Decode and check an encoded ``create`` body (``init`` under ``policy``).

        Raises:
            SerializationError: the body is not a valid encoded value.
            ProtocolError: it is not a ``create`` body.
        """
        return cls.from_wire(decode_value(body, policy))


def _shown(value: object) -> str:
    return f"{type(value).__name__} {value!r:.60}"
