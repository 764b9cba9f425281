"""The caller's side of artifacts: upload, download, list, delete, fetch.

:class:`ArtifactClient` works on any :class:`~paglets.net.transport.Transport`, with or
without a ROUTER: ``HostClient`` and proxies use it. An upload is a push (a client has
no ROUTER to be pulled from): the file is hashed first, so a host that already holds
the content answers ``art.begin`` with a ref at once and no byte is sent; otherwise
chunks go out with a credit window and ``art.commit`` makes the blob visible once the
host verified it. A download pulls ``art.read`` ranges into a hidden partial file next
to the destination, renamed to it once verified. Both resume where an interrupted
attempt stopped.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from paglets.artifacts import ArtifactRef, check_name
from paglets.core.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    DestinationExistsError,
    PagletError,
)
from paglets.disk.partial_file import PartialFile
from paglets.net.transport import Transport
from paglets.remote.blob_stream import (
    MIB,
    RETRYABLE,
    Progress,
    StreamSettings,
    hash_file,
    pull,
    push,
)
from paglets.wire.artifact_bodies import BeginAnswer, UploadBegin
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.protocol import (
    VERB_ART_BEGIN,
    VERB_ART_COMMIT,
    VERB_ART_DELETE,
    VERB_ART_FETCH,
    VERB_ART_LIST,
    VERB_ART_PROGRESS,
    VERB_ART_STAT,
)

_SLOW_RATE = 32 * MIB
"""Bytes per second a host is granted to hash or fsync a blob before a call times out."""


def partial_path_for(dest: Path, sha256: str) -> Path:
    """The hidden partial a download to ``dest`` writes first (and resumes from)."""
    return dest.with_name(f".{dest.name}.{sha256[:16]}.part")


class ArtifactClient:
    """Artifact verbs over one transport.

    Args:
        transport: a started transport.
        policy: the class policy replies are decoded with.
        settings: chunk size, window, per-chunk timeout and retries.
        timeout: seconds a non-chunk call waits.
    """

    def __init__(
        self,
        transport: Transport,
        policy: ClassPolicy,
        settings: StreamSettings | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.transport = transport
        self.policy = policy
        self.settings = settings or StreamSettings()
        self.timeout = timeout

    def _call(
        self,
        address: str,
        verb: str,
        value: Any = None,
        *,
        fields: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        body = b"" if value is None else encode_value(value)
        reply = self.transport.call(
            address, verb, body, fields=fields, timeout=timeout or self.timeout
        )
        return decode_value(reply.body, self.policy) if len(reply.body) else None

    def _slow(self, size: int) -> float:
        return self.timeout + size / _SLOW_RATE

    def upload(
        self,
        address: str,
        path: str | PathLike[str],
        name: str | None = None,
        *,
        owner: str = "",
        ttl: float | None = None,
        progress: Progress | None = None,
    ) -> ArtifactRef:
        """Store the file at ``path`` on the host at ``address``; return its ref.

        Raises:
            ArtifactNotFoundError: ``path`` is not a readable regular file.
            ArtifactError: ``name`` is not a plain file name.
            StorageQuotaError: over the host's size limit, quota or free space.
            IntegrityError: the file changed while being sent.
            PagletError: the host stayed unreachable over every retry.
        """
        source = Path(path)
        if not source.is_file():
            raise ArtifactNotFoundError(f"{source} is not a regular file")
        label = check_name(name or source.name)
        try:
            size, sha256 = hash_file(source)
        except OSError as exc:
            raise ArtifactNotFoundError(f"cannot read {source}: {exc}") from None
        request = UploadBegin(label, size, sha256, owner, ttl).to_wire()
        attempt = 0
        while True:
            reply = self._call(address, VERB_ART_BEGIN, request, timeout=self._slow(size))
            begun = BeginAnswer.from_wire(reply, address)
            if begun.ref is not None:
                if progress is not None:
                    progress(size)
                return begun.ref
            upload_id, offset = begun.upload_id, begun.offset
            try:
                push(
                    self.transport,
                    address,
                    upload_id,
                    source,
                    offset,
                    size,
                    self.settings,
                    progress,
                )
                ref = self._call(
                    address, VERB_ART_COMMIT, fields={"up": upload_id}, timeout=self._slow(size)
                )
            except RETRYABLE:
                attempt += 1
                if attempt > self.settings.retries:
                    raise
                continue
            if not isinstance(ref, ArtifactRef):
                raise PagletError(f"malformed art.commit reply from {address}")
            return ref

    def download(
        self,
        address: str,
        artifact_id: str,
        dest: str | PathLike[str],
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """Copy an artifact of the host at ``address`` to the local file ``dest``.

        Nothing appears at ``dest`` until the whole content is verified. An interrupted
        download leaves a hidden partial next to ``dest`` that the next attempt resumes.

        Raises:
            DestinationExistsError: ``dest`` exists and ``overwrite`` is False.
            ArtifactNotFoundError: no such artifact.
            IntegrityError: the bytes received are not the artifact's.
            StorageQuotaError: the local disk is full.
        """
        target = Path(dest)
        if target.is_dir():
            raise ArtifactError(f"{target} is a directory; give a file path")
        if target.exists() and not overwrite:
            raise DestinationExistsError(f"{target} exists; pass overwrite=True to replace it")
        info = self.info(address, artifact_id)
        size, sha256 = int(info["size"]), str(info["sha256"])
        partial = PartialFile(partial_path_for(target, sha256), size, sha256)
        try:
            pull(
                self.transport,
                address,
                {"a": artifact_id},
                partial,
                self.settings,
                progress=progress,
            )
            return partial.finish(target, overwrite=overwrite)
        finally:
            partial.close()

    def info(self, address: str, artifact_id: str) -> dict[str, Any]:
        """The metadata of one artifact (name, size, sha256, owner, times).

        Raises:
            ArtifactNotFoundError: no such artifact.
        """
        info = self._call(address, VERB_ART_STAT, str(artifact_id))
        if not isinstance(info, dict):
            raise PagletError(f"malformed art.stat reply from {address}")
        return info

    def list_all(self, address: str) -> list[dict[str, Any]]:
        """The metadata of every artifact of the host, newest first."""
        return list(self._call(address, VERB_ART_LIST) or [])

    def delete(self, address: str, artifact_id: str) -> bool:
        """Delete an artifact; return whether it was there."""
        return bool(self._call(address, VERB_ART_DELETE, str(artifact_id)))

    def fetch(self, address: str, ref: ArtifactRef, timeout: float | None = None) -> ArtifactRef:
        """Have the host at ``address`` pull ``ref`` from its host; return the new ref."""
        local = self._call(
            address, VERB_ART_FETCH, ref, timeout=timeout or self._slow(ref.size_bytes) * 2
        )
        if not isinstance(local, ArtifactRef):
            raise PagletError(f"malformed art.fetch reply from {address}")
        return local

    def progress(self, address: str) -> list[dict[str, Any]]:
        """The byte streams in flight on the host at ``address``."""
        return list(self._call(address, VERB_ART_PROGRESS) or [])
