"""Starting writeback is a hint: it never fails, never changes the data, keeps it readable."""

from __future__ import annotations

import os
from pathlib import Path

from paglets.disk.writeback import start_writeback


def test_writeback_of_written_ranges_leaves_the_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    block = os.urandom(64 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for index in range(8):
            os.write(fd, block)
            start_writeback(fd, index * len(block), len(block))
        start_writeback(fd, 0, 0)  # nothing to do
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == block * 8


def test_writeback_errors_are_ignored() -> None:
    start_writeback(-1, 0, 4096)  # a bad descriptor: the final fsync would report it
