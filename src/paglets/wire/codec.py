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
from enum import Enum, IntEnum
from functools import partial
from typing import Any

import msgpack

from paglets.artifacts import ArtifactRef
from paglets.core.agent import PagletState
from paglets.core.classes import class_path
from paglets.core.errors import PagletError, PayloadTooLargeError, SerializationError
from paglets.core.refs import PagletProxyRef
from paglets.wire.classpath import ClassPolicy, remember_value_class, resolve_value_class

DEFAULT_MAX_VALUE_SIZE = 64 * 1024 * 1024
"""Largest encoded message value :func:`decode_value` accepts by default (64 MiB)."""
DEFAULT_MAX_STATE_SIZE = 256 * 1024 * 1024
"""Largest encoded state :func:`decode_state` accepts by default (256 MiB)."""
MAX_EXT_DEPTH = 100
"""How deep extension values (tuples, sets, dataclasses, enums...) may nest."""


class ExtCode(IntEnum):
    """The msgpack extension type codes of the table above."""

    TUPLE = 1
    SET = 2
    FROZENSET = 3
    BYTEARRAY = 4
    BIGINT = 5
    DATACLASS = 6
    ENUM = 7
    PATH = 8
    PURE_POSIX_PATH = 9
    PURE_WINDOWS_PATH = 10
    DATETIME = 11
    DATE = 12
    TIME = 13
    TIMEDELTA = 14
    UUID = 15
    PROXY_REF = 16
    ARTIFACT_REF = 17


_PACKER_NEST_LIMIT = 511  # msgpack's own recursion limit for one packb call
_PACKER_REUSE_LIMIT = 1024 * 1024  # a packer keeps its largest buffer: drop big ones

_Hook = Callable[[int, bytes], Any]


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
        raise _encode_error(value, "value", 0, exc) from exc


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
        raise SerializationError(f"cannot encode state: {_type_name(type(state))} is no dataclass")
    if "__dataclass_fields__" not in type(state).__dict__:
        # A subclass without its own @dataclass would silently drop its new fields.
        raise SerializationError(
            f"cannot encode state: {_type_name(type(state))} is not decorated with @dataclass"
        )
    try:
        return _pack_top(_field_values(state))
    except Exception as exc:
        raise _encode_error(state, "state", -1, exc) from exc


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
            raise TypeError(f"unsupported type {_type_name(cls)}")
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


# finding what failed to encode ----------------------------------------------------------


def _encode_error(root: Any, root_path: str, root_depth: int, exc: Exception) -> SerializationError:
    """Walk ``root`` again, slowly, to name the first part the encoder rejects."""
    stack: list[tuple[Any, str, int, int]] = [(root, root_path, root_depth, 0)]
    while stack:
        obj, path, depth, nesting = stack.pop()
        if nesting > _PACKER_NEST_LIMIT:
            return SerializationError(
                f"cannot encode {_short_path(path)}: nested deeper than "
                f"{_PACKER_NEST_LIMIT} levels (a reference cycle?)"
            )
        try:
            is_ext, parts = _parts_of(obj)
        except Exception as part_exc:
            return SerializationError(f"cannot encode {_short_path(path)}: {_reason(part_exc)}")
        depth += is_ext
        if depth > MAX_EXT_DEPTH:
            return SerializationError(
                f"cannot encode {_short_path(path)}: values nested deeper than "
                f"{MAX_EXT_DEPTH} levels (a reference cycle?)"
            )
        child_nesting = 1 if is_ext else nesting + 1
        for suffix, child in reversed(parts):
            stack.append((child, path + suffix, depth, child_nesting))
    return SerializationError(f"cannot encode {root_path}: {_reason(exc)}")


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
            parts.append((f"[{_short_repr(key)}]", item))
        return False, parts
    if cls in _PAYLOADS:
        _DEFAULTS[0](obj)
        return True, []
    if isinstance(obj, Enum):
        return True, [(".value", obj.value)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return True, [(f".{f.name}", getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    raise TypeError(f"unsupported type {_type_name(cls)}")


def _short_path(path: str) -> str:
    return path if len(path) <= 200 else f"{path[:80]}...{path[-100:]}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return f"string is not valid UTF-8 ({exc.reason})"
    text = str(exc)
    if text and isinstance(exc, TypeError | ValueError | PagletError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
    chain = _hook_chains.get(id(policy))
    hook = chain[1] if chain is not None and chain[0] is policy else _ext_hook_for(policy)
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=False, use_list=True, timestamp=3, ext_hook=hook
        )
    except PagletError:
        raise
    except Exception as exc:
        raise SerializationError(f"cannot decode value: {_reason(exc)}") from exc


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
        values = _unpack(data, _ext_hook_for(policy))
    except PagletError:
        raise
    except Exception as exc:
        raise SerializationError(f"cannot decode state: {_reason(exc)}") from exc
    if type(values) is not dict:
        raise SerializationError(f"cannot decode state: want a map, got {_type_name(type(values))}")
    state: PagletState = _build_dataclass(state_cls, values)
    return state


def _check_size(data: bytes | memoryview, max_size: int, what: str) -> None:
    size = len(data) if type(data) is bytes else memoryview(data).nbytes
    if size > max_size:
        raise PayloadTooLargeError(f"encoded {what} of {size} bytes is over {max_size} bytes")


def _unpack(data: bytes | memoryview, hook: _Hook) -> Any:
    return msgpack.unpackb(
        data, raw=False, strict_map_key=False, use_list=True, timestamp=3, ext_hook=hook
    )


# Hooks are stateless (one per nesting depth), so one chain per policy serves every thread.
_hook_chains: dict[int, tuple[ClassPolicy, _Hook]] = {}


def _ext_hook_for(policy: ClassPolicy) -> _Hook:
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


def _make_ext_hook(policy: ClassPolicy, depth: int, nested: _Hook | None) -> _Hook:
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
                f"cannot decode {ExtCode(code).name} extension: {_reason(exc)}"
            ) from exc

    return ext_hook


def _payload(data: bytes, hook: _Hook, *kinds: type | tuple[type, ...]) -> list[Any]:
    """Unpack an extension payload that must be an array of values of ``kinds``."""
    items = _unpack(data, hook)
    if type(items) is not list or len(items) != len(kinds):
        raise ValueError(f"malformed payload {_short_repr(items)}")
    for item, kind in zip(items, kinds, strict=True):
        if not isinstance(item, kind):
            raise ValueError(f"malformed payload {_short_repr(items)}")
    return items


def _items(data: bytes, hook: _Hook) -> list[Any]:
    items = _unpack(data, hook)
    if type(items) is not list:
        raise ValueError(f"want an array, got {_type_name(type(items))}")
    return items


def _tz_from_wire(wire: Any) -> Any:
    if wire is None:
        return None
    if isinstance(wire, str):
        return zoneinfo.ZoneInfo(wire)
    if type(wire) is not list or len(wire) != 2 or type(wire[0]) is not int:
        raise ValueError(f"malformed time zone {_short_repr(wire)}")
    offset = timedelta(microseconds=wire[0])
    return timezone(offset) if wire[1] is None else timezone(offset, wire[1])


def _decode_enum(data: bytes, hook: _Hook, policy: ClassPolicy) -> Enum:
    path, value = _payload(data, hook, str, object)
    cls = resolve_value_class(path, policy)
    if not issubclass(cls, Enum):
        raise SerializationError(f"cannot decode enum {path}: not an Enum")
    return cls(value)


def _decode_dataclass(data: bytes, hook: _Hook, policy: ClassPolicy) -> Any:
    path, values = _payload(data, hook, str, dict)
    cls = resolve_value_class(path, policy)
    if not dataclasses.is_dataclass(cls):
        raise SerializationError(f"cannot decode dataclass {path}: not a dataclass")
    return _build_dataclass(cls, values)


def _build_dataclass(cls: type, values: dict[Any, Any]) -> Any:
    """Call the constructor with the init fields, then set the ``init=False`` ones."""
    path = class_path(cls)
    fields = dataclasses.fields(cls)
    names = {field.name for field in fields}
    for name in values:
        if name not in names:
            raise SerializationError(f"cannot decode {path}: unknown field {_short_repr(name)}")
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


def _decode_datetime(data: bytes, hook: _Hook, policy: ClassPolicy) -> datetime:
    year, month, day, hour, minute, second, microsecond, fold, tz = _payload(
        data, hook, int, int, int, int, int, int, int, int, object
    )
    tzinfo = _tz_from_wire(tz)
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo, fold=fold)


def _decode_time(data: bytes, hook: _Hook, policy: ClassPolicy) -> time:
    hour, minute, second, microsecond, fold, tz = _payload(
        data, hook, int, int, int, int, int, object
    )
    return time(hour, minute, second, microsecond, _tz_from_wire(tz), fold=fold)


def _decode_path(cls: Callable[[str], pathlib.PurePath]) -> Callable[..., pathlib.PurePath]:
    return lambda data, hook, policy: cls(data.decode("utf-8", "surrogateescape"))


_DECODERS: dict[int, Callable[[bytes, _Hook, ClassPolicy], Any]] = {
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
        *_payload(
            data, hook, str, str, str, int, str, (int, float), (int, float, type(None)), str
        )
    ),
}


def _type_name(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
