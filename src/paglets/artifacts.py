"""Artifacts: content-addressed blobs stored on a host and moved peer to peer.

:class:`ArtifactRef` is the encodable handle to one blob; it can sit in a paglet's state
or in a message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A handle to a blob stored on a host.

    Attributes:
        host: the address of the host that stores the blob.
        artifact_id: the blob's id on that host.
        name: a human-readable name (the original file name).
        size: the size in bytes.
        sha256: the hex sha256 digest of the content.
        created_at: seconds since the epoch.
    """

    host: str
    artifact_id: str
    name: str
    size: int
    sha256: str
    created_at: float = 0.0
