"""Byte counts for people: ``1.5 GiB`` for 1610612736 (powers of 1024)."""

from __future__ import annotations


def human_size(size: int) -> str:
    """``1.5 GiB`` for 1610612736; whole bytes below 1 KiB, TiB at most."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
