"""Byte sizes on the command line: ``512M`` in (``1.5 GiB`` out is :mod:`paglets.core.sizes`).

Kept apart from the sub-apps so that ``paglets host`` starts without importing them.
"""

from __future__ import annotations

import re

import typer

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from ``512M``, ``2G``, ``1.5GiB`` or a plain number (powers of 1024).

    Raises:
        typer.BadParameter: not a size.
    """
    match = _SIZE.match(text)
    if match is None:
        raise typer.BadParameter(f"not a size: {text!r} (e.g. 512M, 2G)")
    return int(float(match[1]) * _UNITS[match[2].lower()])
