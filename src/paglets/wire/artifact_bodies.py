"""The body of ``art.begin`` and its answer: how an upload to a host starts.

The body is one encoded map::

    {"name": file name, "size": bytes, "sha256": hex digest, "owner": str, "ttl": seconds | None}

The answer is one of::

    {"ref": ArtifactRef}                  the host holds that content already: done
    {"upload": upload id, "offset": int}  send chunks from ``offset`` (a resumed upload
                                          starts past what the host has)

The other artifact verbs carry an artifact id (``art.stat``, ``art.delete``), an
``ArtifactRef`` (``art.fetch``) or header fields only; see :mod:`paglets.wire.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paglets.artifacts import ArtifactRef, check_name
from paglets.core.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class UploadBegin:
    """What an ``art.begin`` announces: the file about to be sent."""

    name: str
    size: int
    sha256: str
    owner: str = ""
    ttl: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """The plain map sent."""
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "owner": self.owner,
            "ttl": self.ttl,
        }

    @classmethod
    def from_wire(cls, value: Any) -> UploadBegin:
        """Check a decoded ``art.begin`` body.

        Raises:
            ProtocolError: not a map, a size that is not a non-negative integer, no
                lowercase hex sha256, an owner that is not a string, a ttl that is
                not a number.
            ArtifactError: a name that is not a plain file name.
        """
        if not isinstance(value, dict):
            raise ProtocolError("art.begin needs a map {name, size, sha256, owner, ttl}")
        name = check_name(value.get("name"))  # type: ignore[arg-type]
        size, sha256 = value.get("size"), value.get("sha256")
        owner, ttl = value.get("owner") or "", value.get("ttl")
        if type(size) is not int or size < 0 or not is_sha256(sha256):
            raise ProtocolError("art.begin needs an integer size and a hex sha256")
        if not isinstance(owner, str) or not (
            ttl is None or (isinstance(ttl, int | float) and not isinstance(ttl, bool))
        ):
            raise ProtocolError("art.begin: owner must be a string, ttl a number or None")
        return cls(name, size, str(sha256), owner, None if ttl is None else float(ttl))


@dataclass(frozen=True, slots=True)
class BeginAnswer:
    """The answer to ``art.begin``: the artifact held already, or where to send from."""

    ref: ArtifactRef | None = None
    upload_id: str = ""
    offset: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The plain map sent."""
        if self.ref is not None:
            return {"ref": self.ref}
        return {"upload": self.upload_id, "offset": self.offset}

    @classmethod
    def from_wire(cls, value: Any, peer: str) -> BeginAnswer:
        """Check the decoded answer ``peer`` gave to ``art.begin``.

        Raises:
            ProtocolError: neither a ref nor an upload id with a non-negative offset.
        """
        if isinstance(value, dict):
            ref = value.get("ref")
            if isinstance(ref, ArtifactRef):
                return cls(ref=ref)
            upload_id, offset = value.get("upload"), value.get("offset", 0)
            if isinstance(upload_id, str) and upload_id and type(offset) is int and offset >= 0:
                return cls(upload_id=upload_id, offset=offset)
        raise ProtocolError(f"malformed art.begin reply from {peer}: {value!r:.80}")


def is_sha256(text: object) -> bool:
    """Whether ``text`` is a lowercase hex sha256 digest."""
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)
