"""The server side of the ``art.*`` verbs: uploads, chunk serving, metadata.

Called on the I/O thread, which never touches the disk here:

* ``art.chunk`` and ``art.commit`` join their upload's queue, which one worker at a
  time drains in arrival order (so chunks are written and hashed in order, and a
  commit comes after the last chunk);
* every other verb runs on a worker thread: ``art.read`` reads its range with
  ``pread`` there and answers with the bytes as one raw blob frame.

An upload is a session keyed by the content's sha256: ``art.begin`` for content that
is already arriving takes the session over (a client resuming after a dropped
connection) and answers the offset reached; sessions idle for long are closed, their
partial kept for a later resume.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from paglets.artifacts import ArtifactRef
from paglets.core.errors import (
    ArtifactError,
    IntegrityError,
    LimitExceededError,
    PagletError,
    ProtocolError,
    StorageQuotaError,
)
from paglets.core.ids import new_id
from paglets.disk.partial_file import PartialFile
from paglets.net.transport import IncomingRequest
from paglets.runtime.artifacts.store import ArtifactStore
from paglets.runtime.artifacts.streams import ArtifactStreams
from paglets.runtime.execution.local_paglet import decode_args
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.host_identity import HostIdentity
from paglets.wire import protocol
from paglets.wire.artifact_bodies import BeginAnswer, UploadBegin
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import encode_value

log = logging.getLogger(__name__)

MAX_READ = 16 * 1024 * 1024
"""The largest range one ``art.read`` returns."""


@dataclass
class _Upload:
    upload_id: str
    partial: PartialFile
    name: str
    owner: str
    ttl: float | None
    board_key: int
    queue: deque[IncomingRequest] = field(default_factory=deque)
    draining: bool = False
    touched: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ArtifactService:
    """Answers the artifact verbs of one host.

    Args:
        store: the host's artifact store.
        streams: the host's artifact streams (fetches, served files, the board).
        identity: the host's name and address.
        pool: the workers uploads and reads run on.
        policy: the class policy request bodies decode under.
        max_uploads: uploads in progress at most.
    """

    def __init__(
        self,
        store: ArtifactStore,
        streams: ArtifactStreams,
        *,
        identity: HostIdentity,
        pool: WorkerPool,
        policy: ClassPolicy,
        max_uploads: int,
    ) -> None:
        self._identity = identity
        self._pool = pool
        self._policy = policy
        self._max_uploads = max_uploads
        self._store = store
        self._streams = streams
        self._uploads: dict[str, _Upload] = {}
        self._by_sha: dict[str, _Upload] = {}
        self._lock = threading.Lock()
        settings = streams.settings
        self._idle_limit = max(60.0, 6 * settings.chunk_timeout)

    def __call__(self, request: IncomingRequest) -> None:
        """Take one ``art.*`` request (on the I/O thread)."""
        if request.verb in (protocol.VERB_ART_CHUNK, protocol.VERB_ART_COMMIT):
            self._enqueue(request)
        else:
            self._pool.submit(self._run, request)

    def _run(self, request: IncomingRequest) -> None:
        try:
            verb = request.verb
            if verb == protocol.VERB_ART_READ:
                self._read(request)
                return
            body = decode_args(request.body, self._policy)
            request.reply(encode_value(self._answer(verb, body)))
        except PagletError as exc:
            request.fail(exc)
        except Exception as exc:
            log.exception("%s request failed", request.verb)
            request.fail(exc)

    def _answer(self, verb: str, body: Any) -> Any:
        address = self._identity.address
        if verb == protocol.VERB_ART_BEGIN:
            return self._begin(body)
        if verb == protocol.VERB_ART_STAT:
            return self._store.get(_artifact_id(body)).info(address)
        if verb == protocol.VERB_ART_LIST:
            return [record.info(address) for record in self._store.list()]
        if verb == protocol.VERB_ART_DELETE:
            return self._store.delete(_artifact_id(body))
        if verb == protocol.VERB_ART_FETCH:
            if not isinstance(body, ArtifactRef):
                raise ProtocolError("art.fetch needs an ArtifactRef")
            return self._streams.fetch(body).ref(address)
        if verb == protocol.VERB_ART_PROGRESS:
            return self._streams.board.snapshot()
        raise ProtocolError(f"unknown artifact verb {verb!r}")

    # reads ------------------------------------------------------------------------------

    def _read(self, request: IncomingRequest) -> None:
        header = request.header
        offset, length = header.get("off"), header.get("len")
        if type(offset) is not int or type(length) is not int or offset < 0 or length < 0:
            raise ProtocolError("art.read needs integer 'off' and 'len'")
        board_key = None
        if isinstance(header.get("a"), str):
            record = self._store.get(header["a"])
            path = self._store.blob_path(record.sha256)
        elif isinstance(header.get("t"), str) and isinstance(header.get("n"), str):
            served = self._streams.serving.lookup(header["t"], header["n"])
            if served is None:
                raise ArtifactError(
                    f"transfer {header['t'][:40]} serves no file {header['n'][:80]!r}"
                )
            path, board_key = served
        else:
            raise ProtocolError("art.read needs 'a' (artifact id) or 't' and 'n'")
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise ArtifactError(f"cannot read {path.name}: {exc.strerror}") from None
        try:
            data = os.pread(fd, min(length, MAX_READ), offset)
        finally:
            os.close(fd)
        request.reply(b"", blobs=[data])
        if board_key is not None:
            self._streams.board.add(board_key, len(data))

    # uploads ----------------------------------------------------------------------------

    def _begin(self, body: Any) -> dict[str, Any]:
        begin = UploadBegin.from_wire(body)
        name, size, sha256 = begin.name, begin.size, begin.sha256
        owner, ttl = begin.owner, begin.ttl
        self._close_idle()
        existing = self._store.add_existing(sha256, name, owner, ttl)
        if existing is not None:
            return BeginAnswer(ref=existing.ref(self._identity.address)).to_wire()
        upload_id = new_id()
        with self._lock:
            upload = self._by_sha.get(sha256)
            if upload is not None:  # a client resuming: take the session over
                with upload.lock:
                    self._uploads.pop(upload.upload_id, None)
                    upload.upload_id, upload.name, upload.owner, upload.ttl = (
                        upload_id,
                        name,
                        owner,
                        ttl,
                    )
                    upload.touched = time.monotonic()
                self._uploads[upload_id] = upload
                return BeginAnswer(upload_id=upload_id, offset=upload.partial.offset).to_wire()
        with self._lock:
            if len(self._uploads) >= self._max_uploads:
                raise LimitExceededError(
                    f"{len(self._uploads)} uploads are in progress on {self._identity.name}",
                    "max_uploads",
                )
        partial = self._store.open_partial(sha256, size, wait=0.0)
        key = self._streams.board.start("in", owner, name, size)
        upload = _Upload(upload_id, partial, name, owner, ttl, key)
        self._streams.board.update(key, partial.offset)
        with self._lock:
            self._uploads[upload_id] = upload
            self._by_sha[sha256] = upload
        return BeginAnswer(upload_id=upload_id, offset=partial.offset).to_wire()

    def _enqueue(self, request: IncomingRequest) -> None:
        upload_id = request.header.get("up")
        upload = self._uploads.get(upload_id) if isinstance(upload_id, str) else None
        if upload is None:
            request.fail(ArtifactError("unknown upload (finished, superseded or expired)"))
            return
        with upload.lock:
            upload.queue.append(request)
            if upload.draining:
                return
            upload.draining = True
        self._pool.submit(self._drain, upload)

    def _drain(self, upload: _Upload) -> None:
        while True:
            with upload.lock:
                if not upload.queue:
                    upload.draining = False
                    return
                request = upload.queue.popleft()
            try:
                self._apply(upload, request)
            except PagletError as exc:
                request.fail(exc)
            except Exception as exc:
                log.exception("%s request failed", request.verb)
                request.fail(exc)

    def _apply(self, upload: _Upload, request: IncomingRequest) -> None:
        if request.header.get("up") != upload.upload_id or upload.upload_id not in self._uploads:
            raise ArtifactError("this upload was superseded by a newer art.begin")
        upload.touched = time.monotonic()
        if request.verb == protocol.VERB_ART_COMMIT:
            try:
                record = self._store.commit(upload.partial, upload.name, upload.owner, upload.ttl)
            except IntegrityError as exc:
                if "truncated" not in str(exc):
                    self._end(upload)  # the partial is gone: start again from zero
                raise
            self._end(upload)
            request.reply(encode_value(record.ref(self._identity.address)))
            return
        offset = request.header.get("off")
        if type(offset) is not int or not request.blobs:
            raise ProtocolError("art.chunk needs an integer 'off' and one blob frame")
        try:
            reached = upload.partial.write(offset, request.blobs[0].buffer)
        except StorageQuotaError:
            self._end(upload)
            raise
        self._streams.board.update(upload.board_key, reached)
        request.reply(encode_value(reached))

    def _end(self, upload: _Upload) -> None:
        with self._lock:
            self._uploads.pop(upload.upload_id, None)
            if self._by_sha.get(upload.partial.sha256) is upload:
                del self._by_sha[upload.partial.sha256]
        upload.partial.close()
        self._store.release(upload.partial.sha256)
        self._streams.board.finish(upload.board_key)

    def _close_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [u for u in self._by_sha.values() if now - u.touched > self._idle_limit]
        for upload in idle:
            with upload.lock:
                if upload.draining:
                    continue
            log.info("closing idle upload of %s (partial kept)", upload.name)
            self._end(upload)

    def close(self) -> None:
        """Close every upload in progress (host stopping); partials stay for a resume."""
        with self._lock:
            uploads = list(self._by_sha.values())
        for upload in uploads:
            self._end(upload)


def _artifact_id(body: Any) -> str:
    if not isinstance(body, str) or not body:
        raise ProtocolError("an artifact id (string) is needed")
    return body
