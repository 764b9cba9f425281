"""The msgpack extension codes of the codec, and the helpers its two halves share.

The table of what each code carries is in :mod:`paglets.wire.codec`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

from paglets.core.errors import PagletError

MAX_EXT_DEPTH = 100
"""How deep extension values (tuples, sets, dataclasses, enums...) may nest."""

Hook = Callable[[int, bytes], Any]
"""msgpack's ``ext_hook``: extension code and payload in, value out."""


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


def type_name(cls: type) -> str:
    """``cls`` as an error message names it: bare for builtins, else with its module."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_reason(exc: BaseException) -> str:
    """What went wrong, in words for an error message."""
    if isinstance(exc, UnicodeEncodeError):
        return f"string is not valid UTF-8 ({exc.reason})"
    text = str(exc)
    if text and isinstance(exc, TypeError | ValueError | PagletError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
