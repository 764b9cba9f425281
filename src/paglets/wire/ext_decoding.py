"""Decoding the codec's extension values: one stateless msgpack hook per nesting depth.

Class paths inside a value are resolved under a :class:`~paglets.wire.classpath.ClassPolicy`,
so decoding never imports a module outside the allowed prefixes.
"""

from __future__ import annotations

import dataclasses
import pathlib
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any

import msgpack

from paglets.artifacts import ArtifactRef
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, SerializationError
from paglets.core.refs import PagletProxyRef
from paglets.wire.classpath import ClassPolicy, resolve_value_class
from paglets.wire.ext_codes import (
    MAX_EXT_DEPTH,
    ExtCode,
    Hook,
    error_reason,
    short_repr,
    type_name,
)

# Hooks are stateless (one per nesting depth), so one chain per policy serves every thread.
_hook_chains: dict[int, tuple[ClassPolicy, Hook]] = {}


def ext_hook_for(policy: ClassPolicy) -> Hook:
    """The hook chain that decodes extension values under ``policy`` (cached per policy)."""
    entry = _hook_chains.get(id(policy))  # the entry keeps the policy alive: ids stay unique
    if entry is not None and entry[0] is policy:
        return entry[1]
    hook = _make_ext_hook(policy, MAX_EXT_DEPTH, None)
    for depth in range(MAX_EXT_DEPTH - 1, -1, -1):
        hook = _make_ext_hook(policy, depth, hook)
    if len(_hook_chains) >= 64:
        _hook_chains.clear()
    _hook_chains[id(policy)] = (policy, hook)
    return hook


def _make_ext_hook(policy: ClassPolicy, depth: int, nested: Hook | None) -> Hook:
    """Return msgpack's ``ext_hook`` for extension values nested ``depth`` deep."""

    def ext_hook(code: int, data: bytes) -> Any:
        decode = _DECODERS.get(code)
        if decode is None:
            raise SerializationError(f"cannot decode: unknown extension type code {code}")
        if nested is None:
            raise SerializationError(f"cannot decode: values nested deeper than {depth} levels")
        try:
            return decode(data, nested, policy)
        except PagletError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot decode {ExtCode(code).name} extension: {error_reason(exc)}"
            ) from exc

    return ext_hook


def _payload(data: bytes, hook: Hook, *kinds: type | tuple[type, ...]) -> list[Any]:
    """Unpack an extension payload that must be an array of values of ``kinds``."""
    items = unpack(data, hook)
    if type(items) is not list or len(items) != len(kinds):
        raise ValueError(f"malformed payload {short_repr(items)}")
    for item, kind in zip(items, kinds, strict=True):
        if not isinstance(item, kind):
            raise ValueError(f"malformed payload {short_repr(items)}")
    return items


def _items(data: bytes, hook: Hook) -> list[Any]:
    items = unpack(data, hook)
    if type(items) is not list:
        raise ValueError(f"want an array, got {type_name(type(items))}")
    return items


def _tz_from_wire(wire: Any) -> Any:
    if wire is None:
        return None
    if isinstance(wire, str):
        return zoneinfo.ZoneInfo(wire)
    if type(wire) is not list or len(wire) != 2 or type(wire[0]) is not int:
        raise ValueError(f"malformed time zone {short_repr(wire)}")
    offset = timedelta(microseconds=wire[0])
    return timezone(offset) if wire[1] is None else timezone(offset, wire[1])


def _decode_enum(data: bytes, hook: Hook, policy: ClassPolicy) -> Enum:
    path, value = _payload(data, hook, str, object)
    cls = resolve_value_class(path, policy)
    if not issubclass(cls, Enum):
        raise SerializationError(f"cannot decode enum {path}: not an Enum")
    return cls(value)


def _decode_dataclass(data: bytes, hook: Hook, policy: ClassPolicy) -> Any:
    path, values = _payload(data, hook, str, dict)
    cls = resolve_value_class(path, policy)
    if not dataclasses.is_dataclass(cls):
        raise SerializationError(f"cannot decode dataclass {path}: not a dataclass")
    return build_dataclass(cls, values)


def build_dataclass(cls: type, values: dict[Any, Any]) -> Any:
    """Call the constructor with the init fields, then set the ``init=False`` ones."""
    path = class_path(cls)
    fields = dataclasses.fields(cls)
    names = {field.name for field in fields}
    for name in values:
        if name not in names:
            raise SerializationError(f"cannot decode {path}: unknown field {short_repr(name)}")
    missing = [
        field.name for field in fields if field.name not in values and not _has_default(field)
    ]
    if missing:
        raise SerializationError(f"cannot decode {path}: missing field {missing[0]!r}")
    try:
        obj = cls(
            **{
                field.name: values[field.name]
                for field in fields
                if field.init and field.name in values
            }
        )
    except Exception as exc:
        raise SerializationError(
            f"cannot decode {path}: the constructor raised {type(exc).__name__}: {exc}"
        ) from exc
    for field in fields:
        if not field.init and field.name in values:
            object.__setattr__(obj, field.name, values[field.name])
    return obj


def _has_default(field: dataclasses.Field[Any]) -> bool:
    # A field added to a state class since the value was encoded takes its default.
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


def _decode_datetime(data: bytes, hook: Hook, policy: ClassPolicy) -> datetime:
    year, month, day, hour, minute, second, microsecond, fold, tz = _payload(
        data, hook, int, int, int, int, int, int, int, int, object
    )
    tzinfo = _tz_from_wire(tz)
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo, fold=fold)


def _decode_time(data: bytes, hook: Hook, policy: ClassPolicy) -> time:
    hour, minute, second, microsecond, fold, tz = _payload(
        data, hook, int, int, int, int, int, object
    )
    return time(hour, minute, second, microsecond, _tz_from_wire(tz), fold=fold)


def _decode_path(cls: Callable[[str], pathlib.PurePath]) -> Callable[..., pathlib.PurePath]:
    return lambda data, hook, policy: cls(data.decode("utf-8", "surrogateescape"))


_DECODERS: dict[int, Callable[[bytes, Hook, ClassPolicy], Any]] = {
    ExtCode.TUPLE: lambda data, hook, policy: tuple(_items(data, hook)),
    ExtCode.SET: lambda data, hook, policy: set(_items(data, hook)),
    ExtCode.FROZENSET: lambda data, hook, policy: frozenset(_items(data, hook)),
    ExtCode.BYTEARRAY: lambda data, hook, policy: bytearray(data),
    ExtCode.BIGINT: lambda data, hook, policy: int.from_bytes(data, "big", signed=True),
    ExtCode.DATACLASS: _decode_dataclass,
    ExtCode.ENUM: _decode_enum,
    ExtCode.PATH: _decode_path(pathlib.Path),
    ExtCode.PURE_POSIX_PATH: _decode_path(pathlib.PurePosixPath),
    ExtCode.PURE_WINDOWS_PATH: _decode_path(pathlib.PureWindowsPath),
    ExtCode.DATETIME: _decode_datetime,
    ExtCode.DATE: lambda data, hook, policy: date(*_payload(data, hook, int, int, int)),
    ExtCode.TIME: _decode_time,
    ExtCode.TIMEDELTA: lambda data, hook, policy: timedelta(*_payload(data, hook, int, int, int)),
    ExtCode.UUID: lambda data, hook, policy: uuid.UUID(bytes=bytes(data)),
    ExtCode.PROXY_REF: lambda data, hook, policy: PagletProxyRef(*_payload(data, hook, str, str)),
    ExtCode.ARTIFACT_REF: lambda data, hook, policy: ArtifactRef(
        *_payload(data, hook, str, str, str, int, str, (int, float), (int, float, type(None)), str)
    ),
}


def unpack(data: bytes | memoryview, hook: Hook) -> Any:
    """One msgpack object from ``data``, extension values decoded by ``hook``."""
    return msgpack.unpackb(
        data, raw=False, strict_map_key=False, use_list=True, timestamp=3, ext_hook=hook
    )
