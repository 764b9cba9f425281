"""The bodies of the verbs that act on or look at one host's paglets.

``control`` (header ``to``: the agent id) carries one encoded list::

    [op, args]      op: "dispatch" | "clone" | "retract" | "deactivate" | "activate"
                    | "dispose"; args: a map of the op's options

``list`` carries the state flags to list (an int: ACTIVE, INACTIVE or both; an empty
body lists the active ones). ``state`` (header ``to``) has no body; its reply is::

    [state_class_path, state]   (state: the encoded state, bytes)

``info`` (header ``to``) has no body either; its reply is the paglet's info map. The
operations themselves are the host's: a well-formed ``control`` of an unknown op is
refused there, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paglets.core.errors import ProtocolError
from paglets.core.state import ACTIVE, INACTIVE

CONTROL_OPS = frozenset({"dispatch", "clone", "retract", "deactivate", "activate", "dispose"})
"""The ops a host serves over ``control``."""


@dataclass(frozen=True, slots=True)
class ControlBody:
    """A ``control`` request's body: an op on the paglet named in the header."""

    op: str
    args: dict[str, Any]

    def to_wire(self) -> list[Any]:
        """The plain value sent."""
        return [self.op, self.args]

    @classmethod
    def from_wire(cls, value: Any) -> ControlBody:
        """Check a decoded ``control`` body.

        Raises:
            ProtocolError: not ``[op, args]`` with a string op and a map of args with
                string keys.
        """
        if not isinstance(value, list) or len(value) != 2:
            raise ProtocolError(f"control needs [op, args], not {type(value).__name__}")
        op, args = value
        if not isinstance(op, str) or not op:
            raise ProtocolError(f"control needs a string op, not {op!r:.40}")
        if not isinstance(args, dict) or not all(isinstance(key, str) for key in args):
            raise ProtocolError(f"control {op[:40]!r} needs a map of args with string keys")
        return cls(op, args)


def list_flags(value: Any) -> int:
    """Check the body of a ``list`` request; None (empty body) means the active ones.

    Raises:
        ProtocolError: not an int of the flags ACTIVE and INACTIVE.
    """
    if value is None:
        return ACTIVE
    if type(value) is not int or value & ~(ACTIVE | INACTIVE):
        raise ProtocolError(f"list needs state flags (1 active, 2 inactive), not {value!r:.40}")
    return value


@dataclass(frozen=True, slots=True)
class StateReply:
    """The reply to ``state``: a paglet's encoded state and the class to decode it with."""

    state_class_path: str
    state: bytes

    def to_wire(self) -> list[Any]:
        """The plain value sent."""
        return [self.state_class_path, self.state]

    @classmethod
    def from_wire(cls, value: Any) -> StateReply:
        """Check a decoded ``state`` reply.

        Raises:
            ProtocolError: not ``[state class path, state bytes]``.
        """
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], str)
            or not isinstance(value[1], bytes)
        ):
            raise ProtocolError("a state reply must be [state class path, state bytes]")
        return cls(value[0], value[1])
