"""``artifact``: moving a large file. Ours is not implemented yet (issue 6): raw side only.

The raw limit (:mod:`raw_artifact`) copies a file between two child processes over
pyzmq in 1 MiB chunks with a credit window of 8, hashing on both sides. Reported: MiB/s
from the first chunk to the receiver's hash check, and each side's peak RSS growth.
Files live in a temporary directory that is removed afterwards. 64 MiB always; 1 GiB
only in full mode.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from lab import Lab
from measure import MIB, Settings
from procs import Child
from report import Row, ScenarioResult

NOT_IMPLEMENTED = "not implemented (issue 6)"
_BLOCK = 4 * MIB


def write_source(path: Path, size: int) -> None:
    """Write ``size`` bytes of incompressible data (a random block, numbered per copy)."""
    block = bytearray(os.urandom(_BLOCK))
    with path.open("wb") as out:
        for index, offset in enumerate(range(0, size, _BLOCK)):
            block[:8] = index.to_bytes(8, "little")
            out.write(block[: min(_BLOCK, size - offset)])


def transfer(size: int) -> dict[str, Any]:
    """Copy a ``size``-byte file with the raw programs; return the source's figures."""
    with tempfile.TemporaryDirectory(prefix="paglets-bench-artifact-") as folder:
        src, dest = Path(folder) / "source.bin", Path(folder) / "received.bin"
        write_source(src, size)
        limit = 60.0 + size / (20 * MIB)  # even a slow disk moves 20 MiB/s
        with Child("raw_artifact.py", ["sink", "--dest", str(dest)]) as sink:
            args = ["source", "--src", str(src), "--to", str(sink.ready["address"])]
            with Child("raw_artifact.py", args) as sender:
                figures = sender.wait_result(limit)
        if not figures["match"] or dest.stat().st_size != size:
            raise RuntimeError(f"raw transfer of {size} bytes did not arrive intact: {figures}")
    return figures


def run(lab: Lab, settings: Settings) -> ScenarioResult:
    """Raw file transfers of 64 MiB (and 1 GiB in full mode)."""
    result = ScenarioResult("artifact")
    sizes = {"64 MiB": 64 * MIB} if settings.quick else {"64 MiB": 64 * MIB, "1 GiB": 1024 * MIB}
    for label, size in sizes.items():
        figures = transfer(size)
        result.details[label] = figures
        rate = size / MIB / figures["seconds"]
        result.rows += [
            Row(f"{label} transfer", None, rate, "MiB/s", note=NOT_IMPLEMENTED),
            Row(
                f"{label} peak RSS growth, sender",
                None,
                figures["rss_growth"] / MIB,
                "MiB",
                note=NOT_IMPLEMENTED,
            ),
            Row(
                f"{label} peak RSS growth, receiver",
                None,
                figures["receiver"]["rss_growth"] / MIB,
                "MiB",
                note=NOT_IMPLEMENTED,
            ),
        ]
    return result
