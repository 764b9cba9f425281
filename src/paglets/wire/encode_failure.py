"""Naming what failed to encode: the slow second walk behind a ``SerializationError``.

The codec encodes in one C call; only when that fails does it walk the value again, here,
to say which field or item it could not encode and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paglets.core.errors import SerializationError
from paglets.wire.ext_codes import MAX_EXT_DEPTH, error_reason

PACKER_NEST_LIMIT = 511
"""msgpack's own recursion limit for one ``packb`` call."""

PartsOf = Callable[[Any], tuple[bool, list[tuple[str, Any]]]]


def explain_encode_failure(
    root: Any, root_path: str, root_depth: int, exc: Exception, parts_of: PartsOf
) -> SerializationError:
    """Walk ``root`` again, slowly, to name the first part the encoder rejects.

    Args:
        root: the value that failed to encode.
        root_path: how the message names it (``value``, ``state``).
        root_depth: its extension depth (-1 for a state: its map is no extension).
        exc: what the encoder raised.
        parts_of: whether a value is an extension value, and its parts by path suffix
            (raises what the encoder would raise for the value itself).
    """
    stack: list[tuple[Any, str, int, int]] = [(root, root_path, root_depth, 0)]
    while stack:
        obj, path, depth, nesting = stack.pop()
        if nesting > PACKER_NEST_LIMIT:
            return SerializationError(
                f"cannot encode {_short_path(path)}: nested deeper than "
                f"{PACKER_NEST_LIMIT} levels (a reference cycle?)"
            )
        try:
            is_ext, parts = parts_of(obj)
        except Exception as part_exc:
            return SerializationError(
                f"cannot encode {_short_path(path)}: {error_reason(part_exc)}"
            )
        depth += is_ext
        if depth > MAX_EXT_DEPTH:
            return SerializationError(
                f"cannot encode {_short_path(path)}: values nested deeper than "
                f"{MAX_EXT_DEPTH} levels (a reference cycle?)"
            )
        child_nesting = 1 if is_ext else nesting + 1
        for suffix, child in reversed(parts):
            stack.append((child, path + suffix, depth, child_nesting))
    return SerializationError(f"cannot encode {root_path}: {error_reason(exc)}")


def _short_path(path: str) -> str:
    return path if len(path) <= 200 else f"{path[:80]}...{path[-100:]}"
