"""Starting the writeback of freshly written file ranges, without waiting for it.

A receiver that fsyncs only at the end of a large file waits for the whole file to
reach the disk at once. Starting writeback every few MiB lets the disk work while the
next chunks arrive. On Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` does exactly
that and keeps the pages cached, so the file is still hot for whoever reads it next (a
host serving a blob it has just received). Elsewhere ``posix_fadvise(DONTNEED)`` is
the fallback: it also starts writeback, but drops the pages once written.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int

    def sync_file_range(fd: int, offset: int, length: int) -> None:
        if function(fd, offset, length, _SYNC_FILE_RANGE_WRITE) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    return sync_file_range


def _load_fadvise() -> Callable[[int, int, int], None] | None:
    fadvise = getattr(os, "posix_fadvise", None)
    dontneed = getattr(os, "POSIX_FADV_DONTNEED", None)
    if fadvise is None or dontneed is None:
        return None

    def drop_after_writeback(fd: int, offset: int, length: int) -> None:
        fadvise(fd, offset, length, dontneed)

    return drop_after_writeback


_START = _load_sync_file_range() or _load_fadvise()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the OS to start writing ``length`` bytes at ``offset`` of ``fd`` to disk.

    Only a hint: it returns at once, and does nothing where the OS offers no way.
    Errors are ignored; the final fsync reports any that matter.
    """
    if _START is None or length <= 0:
        return
    try:
        _START(fd, offset, length)
    except OSError:
        pass
