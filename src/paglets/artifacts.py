"""Artifacts: content-addressed blobs stored on a host and moved peer to peer.

:class:`ArtifactRef` is the encodable handle to one blob; it can sit in a paglet's state
or in a message. :class:`PagletFileRef` describes one file a paglet carries.
:func:`check_name` is the one rule for the names of artifacts and of the files paglets
carry: a plain file name, never a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paglets.core.errors import ArtifactError

MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A handle to a blob stored on a host.

    Attributes:
        host_url: the address of the host that stores the blob.
        artifact_id: the blob's id on that host.
        name: a human-readable name (the original file name).
        size_bytes: the size in bytes.
        sha256: the hex sha256 digest of the content.
        created_at: seconds since the epoch.
        expires_at: when the host may delete the blob (seconds since the epoch), or
            None for never.
        owner_agent_id: the paglet the blob belongs to ('' for none).
    """

    host_url: str
    artifact_id: str
    name: str
    size_bytes: int
    sha256: str
    created_at: float = 0.0
    expires_at: float | None = None
    owner_agent_id: str = ""


@dataclass(frozen=True, slots=True)
class PagletFileRef:
    """A file a paglet carries: what :meth:`Paglet.register_file` returns.

    Attributes:
        name: the name it travels under.
        mode: ``"copy"`` or ``"move"`` (what happens to the source on a dispatch).
        size: its size in bytes when it was registered or last arrived.
        sha256: the hex sha256 digest of its content then.
        path: where it is on the host the paglet lives on now.
    """

    name: str
    mode: str
    size: int
    sha256: str
    path: Path


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
