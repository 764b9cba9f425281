"""Dataclasses on the wire and classes by name: the public face of :mod:`paglets.wire`.

These are the original package's names for what the msgpack codec
(:mod:`paglets.wire.codec`) and the class resolver (:mod:`paglets.wire.classpath`)
do; the functions here only delegate. A dataclass travels as the msgpack map
``{field name: value}`` of every field (the same form as a paglet state), its class as
a *qualified name* ``module:QualName`` sent beside it. Values inside follow the codec's
rules (nested dataclasses, enums, tuples, sets, dates, paths, bytes...); there is no
pickle. Resolving a name never imports a module outside the policy's allowed prefixes:
classes this process defined or encoded always resolve.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, cast

from paglets.core.classes import class_path
from paglets.core.errors import ClassResolutionError, SerializationError
from paglets.wire.classpath import ClassPolicy, resolve_class
from paglets.wire.codec import decode_state, encode_state

_T = TypeVar("_T")

DEFAULT_POLICY = ClassPolicy()
"""The policy used when none is given: only ``paglets.examples`` may be imported."""


def qualified_name(cls_or_obj: type | object) -> str:
    """Return the qualified name ``module:QualName`` of a class (or of an object's class)."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    return class_path(cls)


def resolve_qualified_name(name: str, policy: ClassPolicy | None = None) -> type:
    """Return the class a qualified name names.

    Args:
        name: ``module:QualName``; ``module.Name`` (a top-level class) is accepted too.
        policy: which modules may be imported to find it (default
            :data:`DEFAULT_POLICY`); loaded modules and classes this process defined
            are searched without importing anything.

    Raises:
        ClassNotAllowedError: the module is not loaded and lies outside the policy.
        ClassResolutionError: the name is malformed or names no class.
    """
    if isinstance(name, str) and ":" not in name and "." in name:
        module, _, qualname = name.rpartition(".")
        name = f"{module}:{qualname}"
    return resolve_class(name, object, policy or DEFAULT_POLICY)


def dataclass_to_wire(obj: Any) -> bytes:
    """Encode a dataclass instance as the msgpack map of its fields.

    Raises:
        SerializationError: ``obj`` is no dataclass instance, or a field cannot be
            encoded (the message names its path).
    """
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise SerializationError(f"dataclass_to_wire wants a dataclass instance, not {obj!r:.60}")
    return encode_state(cast(Any, obj))


def dataclass_from_wire(
    cls: type[_T] | str, data: bytes | memoryview, policy: ClassPolicy | None = None
) -> _T:
    """Rebuild a ``cls`` instance from :func:`dataclass_to_wire`'s bytes.

    Args:
        cls: the dataclass, or its qualified name.
        data: the encoded fields.
        policy: which modules nested class names may cause to be imported.

    Raises:
        SerializationError: ``data`` is malformed or does not fit ``cls``.
        ClassResolutionError: ``cls`` is a name that resolves to no dataclass.
    """
    target = resolve_qualified_name(cls, policy) if isinstance(cls, str) else cls
    if not dataclasses.is_dataclass(target):
        raise ClassResolutionError(f"{qualified_name(target)} is not a dataclass")
    return cast(_T, decode_state(data, cast(Any, target), policy or DEFAULT_POLICY))


__all__ = [
    "DEFAULT_POLICY",
    "dataclass_from_wire",
    "dataclass_to_wire",
    "qualified_name",
    "resolve_qualified_name",
]
