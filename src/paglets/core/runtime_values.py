"""The runtime's small vocabularies as enums, and the rule for taking them as input.

Python APIs take enum *members* (``ArrivalMode.INACTIVE``); the wire and configuration
files carry their *values* (``"inactive"``). :func:`require_enum` enforces the first
rule, with an error that names the parameter and the accepted members;
:func:`enum_from_wire` applies the second, turning a value read from the wire or a
config file back into its member.

=====================  ==========================================================
enum                   members (value)
=====================  ==========================================================
:class:`ServiceScope`  ``LOCAL`` ("local"): this host only; ``MESH`` ("mesh"): any
                       host of the mesh, this one first
:class:`ResidentLifecycle`  ``LAZY`` ("lazy"): started on first use; ``EAGER``
                       ("eager"): started with the host
:class:`ArrivalMode`   ``ACTIVATE`` ("activate"): an arriving paglet starts at once;
                       ``INACTIVE`` ("inactive"): it is stored inactive, not started
:class:`EnvelopeKind`  ``DISPATCH``, ``CLONE``, ``RETRACT``: why a paglet travels
                       (the ``reason`` of a transfer record)
=====================  ==========================================================
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from paglets.core.classes import remember_class

_E = TypeVar("_E", bound=enum.Enum)


class ServiceScope(enum.Enum):
    """Where a service is looked for."""

    LOCAL = "local"
    MESH = "mesh"


class ResidentLifecycle(enum.Enum):
    """When a resident service starts."""

    LAZY = "lazy"
    EAGER = "eager"


class ArrivalMode(enum.Enum):
    """What a host does with a paglet that arrives."""

    ACTIVATE = "activate"
    INACTIVE = "inactive"


class EnvelopeKind(enum.Enum):
    """Why a paglet travels: the kind of transfer that carries it."""

    DISPATCH = "dispatch"
    CLONE = "clone"
    RETRACT = "retract"


# Values of these enums arrive in states and messages decoded by hosts that may never
# have encoded one, and paglets.core is no allowed import prefix: register them.
for _enum_class in (ServiceScope, ResidentLifecycle, ArrivalMode, EnvelopeKind):
    remember_class(_enum_class)
del _enum_class


def _accepted(enum_cls: type[enum.Enum]) -> str:
    return ", ".join(f"{enum_cls.__name__}.{member.name}" for member in enum_cls)


def require_enum(value: Any, enum_cls: type[_E], name: str) -> _E:
    """Return ``value`` if it is a member of ``enum_cls``; raise a clear error if not.

    Args:
        value: what the caller passed.
        enum_cls: the enum the parameter takes.
        name: the parameter's name, for the error.

    Returns:
        ``value``, typed as a member of ``enum_cls``.

    Raises:
        TypeError: ``value`` is a raw value (a string of a member's value included) or
            of another type; the message names the parameter and the accepted members.
    """
    if isinstance(value, enum_cls):
        return value
    hint = ""
    if any(member.value == value for member in enum_cls):
        member = enum_cls(value)
        hint = f" (use {enum_cls.__name__}.{member.name}, not the raw value {value!r})"
    raise TypeError(
        f"{name} must be one of {_accepted(enum_cls)}, not {type(value).__name__} "
        f"{value!r:.60}{hint}"
    )


def enum_from_wire(value: Any, enum_cls: type[_E], name: str = "value") -> _E:
    """Return the member of ``enum_cls`` whose value is ``value`` (as the wire carries it).

    A member passes through unchanged.

    Args:
        value: the value read from the wire or a config file.
        enum_cls: the enum it belongs to.
        name: the field's name, for the error.

    Raises:
        ValueError: no member has that value; the message names the accepted values.
    """
    if isinstance(value, enum_cls):
        return value
    for member in enum_cls:
        if member.value == value:
            return member
    accepted = ", ".join(repr(member.value) for member in enum_cls)
    raise ValueError(f"{name} must be one of {accepted}, not {value!r:.60}")


__all__ = [
    "ArrivalMode",
    "EnvelopeKind",
    "ResidentLifecycle",
    "ServiceScope",
    "enum_from_wire",
    "require_enum",
]
