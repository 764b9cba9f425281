"""The msgpack codec for message values and paglet states. No pickle, ever.

A value is one msgpack object. ``None``, ``bool``, ``int`` (within 64 bits), ``float``,
``str``, ``bytes``, ``list`` and ``dict`` (any encodable hashable keys) are msgpack
natives and take msgpack's C path with no Python-level walk. Every other supported type
is an extension value whose payload is itself msgpack (values inside it are encoded by
the same rules) unless it says "raw bytes":

====  =======================  ========================================================
code  type                     payload
====  =======================  ========================================================
1     ``tuple``                array of the items
2     ``set``                  array of the members
3     ``frozenset``            array of the members
4     ``bytearray``            raw bytes
5     ``int`` beyond 64 bits   raw bytes: big-endian two's complement
6     dataclass instance       ``[class path, {field name: value}]``, every field,
                               ``init=False`` ones too
7     ``Enum`` member          ``[class path, member value]``
8     ``pathlib.Path``         raw bytes: ``str(path)`` in UTF-8 (surrogateescape)
9     ``PurePosixPath``        as 8
10    ``PureWindowsPath``      as 8
11    ``datetime``             ``[year, month, day, hour, minute, second, microsecond,
                               fold, tz]``
12    ``date``                 ``[year, month, day]``
13    ``time``                 ``[hour, minute, second, microsecond, fold, tz]``
14    ``timedelta``            ``[days, seconds, microseconds]``
15    ``uuid.UUID``            raw bytes: the 16 bytes
16    ``PagletProxyRef``       ``[host_url, agent_id]``
17    ``ArtifactRef``          ``[host_url, artifact_id, name, size_bytes, sha256,
                               created_at, expires_at, owner_agent_id]``
====  =======================  ========================================================

``tz`` is nil (naive), a zone key string (a ``zoneinfo.ZoneInfo``), or
``[offset in microseconds, name or nil]`` (a fixed ``datetime.timezone``; any other
tzinfo travels as the fixed offset and name it has at that moment). msgpack's own
timestamp extension (code -1) never reaches the codec's hook: it decodes as an aware UTC
``datetime``. The codec never writes it; clients in other languages may.

Types are matched exactly: subclasses of the types above (other than Enums and
dataclasses) are rejected rather than silently turned into their base type. A class
path is ``module:QualName``; decoding resolves it with
:func:`paglets.wire.classpath.resolve_value_class`, so decoding never imports a module
outside the allowed prefixes. A paglet state is encoded as a top-level map
``{field name: value}``; its class path travels separately.

Extension values nest at most :data:`MAX_EXT_DEPTH` deep; containers within one
extension payload nest as deep as msgpack allows (511 levels to encode, 1024 to decode).
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from functools import partial
from typing import Any

import msgpack

from paglets.artifacts import ArtifactRef
from paglets.core.agent import PagletState
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, PayloadTooLargeError, SerializationError
from paglets.core.refs import PagletProxyRef
from paglets.wire.classpath import ClassPolicy, remember_value_class
from paglets.wire.encode_failure import explain_encode_failure
from paglets.wire.ext_codes import (
    MAX_EXT_DEPTH,
    ExtCode,
    error_reason,
    short_repr,
    type_name,
)
from paglets.wire.ext_decoding import build_dataclass, ext_hook_for, unpack

DEFAULT_MAX_VALUE_SIZE = 64 * 1024 * 1024
"""Largest encoded message value :func:`decode_value` accepts by default (64 MiB)."""
DEFAULT_MAX_STATE_SIZE = 256 * 1024 * 1024
"""Largest encoded state :func:`decode_state` accepts by default (256 MiB)."""


_PACKER_REUSE_LIMIT = 1024 * 1024  # a packer keeps its largest buffer: drop big ones


# encoding -----------------------------------------------------------------------------


def encode_value(value: Any) -> bytes:
    """Encode a message argument or reply.

    Args:
        value: any nesting of the supported types (see the module docstring).

    Returns:
        The msgpack bytes.

    Raises:
        SerializationError: a part of ``value`` cannot be encoded; the message names
            its path, e.g. ``cannot encode value['jobs'][2].when: unsupported type ...``.
    """
    try:
        return _pack_top(_bytearray_ext(value) if type(value) is bytearray else value)
    except Exception as exc:
        raise explain_encode_failure(value, "value", 0, exc, _parts_of) from exc


def encode_state(state: PagletState) -> bytes:
    """Encode a paglet state as a msgpack map ``{field name: value}`` of all its fields.

    Args:
        state: the state dataclass instance.

    Returns:
        The msgpack bytes (the state's class path is not included).

    Raises:
        SerializationError: a field cannot be encoded; the message names its path,
            e.g. ``cannot encode state.items[2].when: unsupported type ...``.
    """
    if not dataclasses.is_dataclass(state) or isinstance(state, type):
        raise SerializationError(f"cannot encode state: {type_name(type(state))} is no dataclass")
    if "__dataclass_fields__" not in type(state).__dict__:
        # A subclass without its own @dataclass would silently drop its new fields.
        raise SerializationError(
            f"cannot encode state: {type_name(type(state))} is not decorated with @dataclass"
        )
    try:
        return _pack_top(_field_values(state))
    except Exception as exc:
        raise explain_encode_failure(state, "state", -1, exc, _parts_of) from exc


_local = threading.local()


def _pack_top(value: Any) -> bytes:
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = msgpack.Packer(use_bin_type=True, strict_types=True, default=_DEFAULTS[0])
    _local.packer = None  # a re-entrant call on this thread builds its own packer
    data: bytes = packer.pack(value)
    if len(data) <= _PACKER_REUSE_LIMIT:
        _local.packer = packer
    return data


def _make_default(depth: int) -> Callable[[Any], Any]:
    """Return msgpack's ``default`` hook for extension values nested ``depth`` deep."""

    def default(obj: Any) -> Any:
        if depth >= MAX_EXT_DEPTH:
            raise SerializationError(f"values nested deeper than {MAX_EXT_DEPTH} levels")
        cls = type(obj)
        entry = _PAYLOADS.get(cls)
        if entry is not None:
            code, payload = entry
            data = payload(obj)  # raw bytes, or a value to pack
            return msgpack.ExtType(code, data if type(data) is bytes else _PACKS[depth + 1](data))
        if isinstance(obj, Enum):
            code, data = ExtCode.ENUM, [class_path(cls), obj.value]
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            code, data = ExtCode.DATACLASS, [class_path(cls), _field_values(obj)]
        else:
            raise TypeError(f"unsupported type {type_name(cls)}")
        remember_value_class(cls)
        return msgpack.ExtType(code, _PACKS[depth + 1](data))

    return default


# msgpack writes a bytearray as bin without asking ``default``: where the codec sees
# the value itself (a top-level value, a field, a tuple item) it wraps it to keep its type.
def _bytearray_ext(data: bytearray) -> Any:
    return msgpack.ExtType(ExtCode.BYTEARRAY, bytes(data))


def _tuple_items(items: tuple[Any, ...]) -> list[Any]:
    if bytearray in map(type, items):
        return [_bytearray_ext(item) if type(item) is bytearray else item for item in items]
    return list(items)


def _field_values(obj: Any) -> dict[str, Any]:
    values = {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    if bytearray in map(type, values.values()):
        for name, value in values.items():
            if type(value) is bytearray:
                values[name] = _bytearray_ext(value)
    return values


def _tz_to_wire(value: datetime | time) -> Any:
    tz = value.tzinfo
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key is not None:
        return tz.key
    offset = value.utcoffset()
    if offset is None:
        return None
    name = value.tzname()
    if name == timezone(offset).tzname(None):
        name = None  # the default name of a fixed offset: timezone(offset) makes it again
    return [offset // timedelta(microseconds=1), name]


def _time_payload(v: datetime | time) -> list[Any]:
    return [v.hour, v.minute, v.second, v.microsecond, v.fold, _tz_to_wire(v)]


def _datetime_payload(v: datetime) -> list[Any]:
    return [v.year, v.month, v.day, *_time_payload(v)]


def _path_bytes(path: pathlib.PurePath) -> bytes:
    return str(path).encode("utf-8", "surrogateescape")


def _bigint_bytes(number: int) -> bytes:
    return number.to_bytes(number.bit_length() // 8 + 1, "big", signed=True)


_PAYLOADS: dict[type, tuple[int, Callable[[Any], Any]]] = {
    tuple: (ExtCode.TUPLE, _tuple_items),
    set: (ExtCode.SET, list),
    frozenset: (ExtCode.FROZENSET, list),
    int: (ExtCode.BIGINT, _bigint_bytes),
    pathlib.PosixPath: (ExtCode.PATH, _path_bytes),
    pathlib.WindowsPath: (ExtCode.PATH, _path_bytes),
    pathlib.PurePosixPath: (ExtCode.PURE_POSIX_PATH, _path_bytes),
    pathlib.PureWindowsPath: (ExtCode.PURE_WINDOWS_PATH, _path_bytes),
    datetime: (ExtCode.DATETIME, _datetime_payload),
    date: (ExtCode.DATE, lambda v: [v.year, v.month, v.day]),
    time: (ExtCode.TIME, _time_payload),
    timedelta: (ExtCode.TIMEDELTA, lambda v: [v.days, v.seconds, v.microseconds]),
    uuid.UUID: (ExtCode.UUID, lambda v: v.bytes),
    PagletProxyRef: (ExtCode.PROXY_REF, lambda v: [v.host_url, v.agent_id]),
    ArtifactRef: (
        ExtCode.ARTIFACT_REF,
        lambda v: [
            v.host_url,
            v.artifact_id,
            v.name,
            v.size_bytes,
            v.sha256,
            v.created_at,
            v.expires_at,
            v.owner_agent_id,
        ],
    ),
}

_DEFAULTS = [_make_default(depth) for depth in range(MAX_EXT_DEPTH + 1)]
# A small first buffer: msgpack's 256 KiB default made each nested payload cost ~5 us.
_PACKS: list[Callable[[Any], bytes]] = [
    partial(msgpack.packb, use_bin_type=True, strict_types=True, default=default, buf_size=256)
    for default in _DEFAULTS
]


def _parts_of(obj: Any) -> tuple[bool, list[tuple[str, Any]]]:
    """Return whether ``obj`` encodes as an extension value, and its parts by path suffix.

    Raises the error the encoder would raise for ``obj`` itself.
    """
    cls = type(obj)
    if obj is None or cls in (bool, int, float, bytes, bytearray, memoryview):
        return False, []
    if cls is str:
        obj.encode("utf-8")
        return False, []
    if cls in (list, tuple, set, frozenset):
        return cls is not list, [(f"[{index}]", item) for index, item in enumerate(obj)]
    if cls is dict:
        parts: list[tuple[str, Any]] = []
        for index, (key, item) in enumerate(obj.items()):
            parts.append((f"[<key {index}>]", key))
            parts.append((f"[{short_repr(key)}]", item))
        return False, parts
    if cls in _PAYLOADS:
        _DEFAULTS[0](obj)
        return True, []
    if isinstance(obj, Enum):
        return True, [(".value", obj.value)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return True, [(f".{f.name}", getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    raise TypeError(f"unsupported type {type_name(cls)}")


# decoding -------------------------------------------------------------------------------


def decode_value(
    data: bytes | memoryview, policy: ClassPolicy, *, max_size: int = DEFAULT_MAX_VALUE_SIZE
) -> Any:
    """Decode a message argument or reply encoded by :func:`encode_value`.

    Args:
        data: the msgpack bytes.
        policy: which modules a dataclass or Enum class path may cause to be imported.
        max_size: the largest ``data`` accepted, in bytes.

    Returns:
        The value, of exactly the types that were encoded.

    Raises:
        PayloadTooLargeError: ``data`` is longer than ``max_size``.
        SerializationError: ``data`` is malformed, truncated or not what was expected.
        ClassNotAllowedError: a class path is outside the policy (nothing was imported).
        ClassResolutionError: a class path cannot be resolved to a dataclass or Enum.
    """
    # The hot path for messages: what decode_state does through helpers is inlined here.
    size = len(data) if type(data) is bytes else memoryview(data).nbytes
    if size > max_size:
        raise PayloadTooLargeError(f"encoded value of {size} bytes is over {max_size} bytes")
    hook = ext_hook_for(policy)
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=False, use_list=True, timestamp=3, ext_hook=hook
        )
    except PagletError:
        raise
    except Exception as exc:
        raise SerializationError(f"cannot decode value: {error_reason(exc)}") from exc


def decode_state(
    data: bytes | memoryview,
    state_cls: type[PagletState],
    policy: ClassPolicy,
    *,
    max_size: int = DEFAULT_MAX_STATE_SIZE,
) -> PagletState:
    """Decode a paglet state encoded by :func:`encode_state`.

    Args:
        data: the msgpack bytes.
        state_cls: the state class (resolved from the class path sent alongside).
        policy: which modules a dataclass or Enum class path may cause to be imported.
        max_size: the largest ``data`` accepted, in bytes.

    Returns:
        A new ``state_cls`` instance.

    Raises:
        PayloadTooLargeError: ``data`` is longer than ``max_size``.
        SerializationError: ``data`` is malformed, or its fields do not match
            ``state_cls`` (the message names the class and the field).
        ClassNotAllowedError: a class path is outside the policy (nothing was imported).
        ClassResolutionError: a class path cannot be resolved to a dataclass or Enum.
    """
    _check_size(data, max_size, "state")
    try:
        values = unpack(data, ext_hook_for(policy))
    except PagletError:
        raise
    except Exception as exc:
        raise SerializationError(f"cannot decode state: {error_reason(exc)}") from exc
    if type(values) is not dict:
        raise SerializationError(f"cannot decode state: want a map, got {type_name(type(values))}")
    state: PagletState = build_dataclass(state_cls, values)
    return state


def _check_size(data: bytes | memoryview, max_size: int, what: str) -> None:
    size = len(data) if type(data) is bytes else memoryview(data).nbytes
    if size > max_size:
        raise PayloadTooLargeError(f"encoded {what} of {size} bytes is over {max_size} bytes")
