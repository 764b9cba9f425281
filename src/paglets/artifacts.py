"""Artifacts: content-addressed blobs stored on a host and moved peer to peer.

:class:`ArtifactRef` is the encodable handle to one blob; it can sit in a paglet's state
or in a message. :func:`check_name` is the one rule for the names of artifacts and of
the files paglets carry: a plain file name, never a path.
"""

from __future__ import annotations

from dataclasses import dataclass

from paglets.core.errors import ArtifactError

MAX_NAME_LENGTH = 255


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


def check_name(name: str) -> str:
    """Return ``name`` if it is a plain file name (one path component), else raise.

    Raises:
        ArtifactError: empty, too long, ``.``/``..``, or holding a path separator or NUL
            (so ``../x`` and ``/etc/passwd`` are refused, never resolved).
    """
    if not isinstance(name, str) or not name:
        raise ArtifactError("a file name must be a non-empty string")
    if name in (".", "..") or any(sep in name for sep in ("/", "\\", "\x00")):
        raise ArtifactError(f"{name[:100]!r} is not a plain file name (no paths, no '..')")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_LENGTH:
        raise ArtifactError(f"file name of {len(name)} characters is too long")
    return name
