"""Moving blob bytes in chunks with a credit window: the pull and push loops.

Both loops keep at most ``window`` chunk requests in flight on one
:class:`~paglets.net.transport.Transport` and consume the replies oldest first, so the
bytes land in offset order and memory stays at ``window x chunk_size`` whatever the
blob's size. Chunk bytes travel as raw blob frames (zero-copy on both sides).

* :func:`pull` asks ``art.read`` for successive ranges and writes the replies into a
  :class:`~paglets.disk.partial_file.PartialFile`. When the peer stops answering (a
  dropped connection, a restarted peer) it retries up to ``retries`` times, resuming at
  the last byte written.
* :func:`push` sends ``art.chunk`` requests for a file being uploaded.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from paglets.core.errors import (
    IntegrityError,
    OverloadedError,
    PagletError,
    PeerNotFoundError,
    ReplyTimeoutError,
    TransferError,
)
from paglets.core.messages import FutureReply
from paglets.disk.partial_file import PartialFile
from paglets.net.transport import Transport
from paglets.wire.protocol import VERB_ART_CHUNK, VERB_ART_READ

MIB = 1024 * 1024

Progress = Callable[[int], None]
"""Called with the number of bytes done so far (from the thread moving them)."""

RETRYABLE = (ReplyTimeoutError, PeerNotFoundError, OverloadedError)
"""Errors after which a stream is worth resuming: the peer may come back."""


@dataclass(frozen=True)
class StreamSettings:
    """How bytes are moved.

    Attributes:
        chunk_size: bytes per chunk request.
        window: chunk requests in flight at once (the credit).
        chunk_timeout: seconds one chunk may take before the peer counts as gone.
        retries: how many times an interrupted pull resumes before giving up.
    """

    chunk_size: int = MIB
    window: int = 8
    chunk_timeout: float = 10.0
    retries: int = 2


def hash_file(path: Path, block: int = 4 * MIB) -> tuple[int, str]:
    """Return the size and hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(block):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def pull(
    transport: Transport,
    address: str,
    source: dict[str, Any],
    partial: PartialFile,
    settings: StreamSettings,
    *,
    progress: Progress | None = None,
    cancelled: threading.Event | None = None,
) -> None:
    """Fill ``partial`` from the host at ``address``, resuming after interruptions.

    Args:
        transport: the transport to send ``art.read`` on.
        address: the host serving the bytes.
        source: the header fields naming the bytes (``{"a": id}`` or ``{"t", "n"}``).
        partial: where the bytes go; its offset is where the pull starts.
        settings: chunk size, window, per-chunk timeout and retries.
        progress: called after each chunk with the bytes written so far.
        cancelled: set by another thread to stop the pull with TransferError.

    Raises:
        IntegrityError: the peer sent fewer or more bytes than asked (the partial is
            removed).
        TransferError: ``cancelled`` was set.
        PagletError: the peer stayed unreachable over every retry, or refused.
    """
    attempt = 0
    while True:
        before = partial.offset
        try:
            _pull_once(transport, address, source, partial, settings, progress, cancelled)
            return
        except IntegrityError:
            partial.discard()  # the source does not hold what it announced: keep nothing
            raise
        except RETRYABLE:
            if partial.offset > before:
                attempt = 0  # it moved on: only consecutive failures count
            attempt += 1
            if attempt > settings.retries:
                raise
            if cancelled is not None and cancelled.wait(min(0.1 * 2**attempt, 1.0)):
                raise TransferError("the transfer was cancelled") from None


def _pull_once(
    transport: Transport,
    address: str,
    source: dict[str, Any],
    partial: PartialFile,
    settings: StreamSettings,
    progress: Progress | None,
    cancelled: threading.Event | None,
) -> None:
    size = partial.size
    next_offset = partial.offset
    pending: deque[tuple[int, int, FutureReply]] = deque()
    while partial.offset < size:
        while len(pending) < settings.window and next_offset < size:
            length = min(settings.chunk_size, size - next_offset)
            fields = {**source, "off": next_offset, "len": length}
            future = transport.request(
                address,
                VERB_ART_READ,
                fields=fields,
                timeout=settings.chunk_timeout,
                ordered=False,
            )
            pending.append((next_offset, length, future))
            next_offset += length
        offset, length, future = pending.popleft()
        reply = future.get_reply(settings.chunk_timeout + 1.0)
        data = reply.blobs[0].buffer if reply.blobs else b""
        if len(data) != length:
            raise IntegrityError(
                f"stream truncated: asked {length} bytes at {offset}, got {len(data)}"
            )
        partial.write(offset, data)
        if progress is not None:
            progress(partial.offset)
        if cancelled is not None and cancelled.is_set():
            raise TransferError("the transfer was cancelled")


def push(
    transport: Transport,
    address: str,
    upload_id: str,
    path: Path,
    start: int,
    size: int,
    settings: StreamSettings,
    progress: Progress | None = None,
) -> None:
    """Send bytes ``start..size`` of the file at ``path`` as ``art.chunk`` requests.

    Raises:
        IntegrityError: the file changed size while being sent, or the host expected
            another offset.
        PagletError: the host refused a chunk or stopped answering.
    """
    pending: deque[tuple[int, FutureReply]] = deque()
    offset = start
    with path.open("rb") as stream:
        stream.seek(start)
        while offset < size or pending:
            while len(pending) < settings.window and offset < size:
                data = stream.read(min(settings.chunk_size, size - offset))
                if not data:
                    raise IntegrityError(f"{path} shrank while being sent (at {offset})")
                future = transport.request(
                    address,
                    VERB_ART_CHUNK,
                    fields={"up": upload_id, "off": offset},
                    blobs=[data],
                    timeout=settings.chunk_timeout,
                    ordered=False,
                )
                offset += len(data)
                pending.append((offset, future))
            expected, future = pending.popleft()
            reply = future.get_reply(settings.chunk_timeout + 1.0)
            acknowledged = _decode_int(reply.body)
            if acknowledged != expected:
                raise IntegrityError(f"host is at offset {acknowledged}, expected {expected}")
            if progress is not None:
                progress(acknowledged)


def _decode_int(body: bytes | memoryview) -> int:
    try:
        value = msgpack.unpackb(body)
    except Exception:  # msgpack raises several unrelated types on junk
        value = None
    if type(value) is not int:
        raise PagletError("malformed chunk acknowledgement")
    return value
