"""The bodies of the hand-off verbs: ``transfer``, ``transfer.commit``, ``transfer.status``
and ``abort`` (the protocol is in :mod:`paglets.runtime.mobility.handoff`).

``transfer`` carries the transfer record, one encoded map::

    {"tid": str, "agent_id": str, "source_agent_id": str,
     "class": class path, "state_class": class path, "state": bytes,
     "reason": "dispatch" | "clone" | "retract",
     "source_name": str, "source_address": str,
     "files": [{"name", "size", "sha256", "mode"}],   (only when it carries files)
     "arrival": "inactive",                            (only when not "activate")
     "timeout": seconds}                               (the source's bound, if set)

``tid`` and ``agent_id`` are plain ids (they name directories on the target). The
answer is ``"prepared"``, or ``"committed"`` when the transfer started there already.

``transfer.commit``, ``transfer.status`` and ``abort`` carry the transfer id alone (an
encoded string). Their answers: ``transfer.commit`` -> ``"started"``;
``transfer.status`` -> ``"committed"``, ``"aborted"`` or ``"pending"``; ``abort`` ->
``"committed"`` or ``"aborted"``.

A malformed record or id is refused with ``TransferError`` (a file entry with
``ArtifactError``); nothing is staged or written for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from paglets.artifacts import check_name
from paglets.core.errors import ArtifactError, ProtocolError, TransferError
from paglets.wire.artifact_bodies import is_sha256
from paglets.wire.protocol import (
    VERB_ABORT,
    VERB_TRANSFER,
    VERB_TRANSFER_COMMIT,
    VERB_TRANSFER_STATUS,
)

PREPARED = "prepared"
COMMITTED = "committed"
ABORTED = "aborted"
PENDING = "pending"
STARTED = "started"

ACTIVATE = "activate"
INACTIVE = "inactive"
ARRIVALS = frozenset({ACTIVATE, INACTIVE})
"""How a paglet arrives: started, or kept inactive in the target's store."""

MAX_ID = 128
"""Longest transfer or agent id a record may carry."""

ANSWERS = {
    VERB_TRANSFER: frozenset({PREPARED, COMMITTED}),
    VERB_TRANSFER_COMMIT: frozenset({STARTED}),
    VERB_TRANSFER_STATUS: frozenset({COMMITTED, ABORTED, PENDING}),
    VERB_ABORT: frozenset({COMMITTED, ABORTED}),
}
"""The answers each hand-off verb may get."""

_TEXTS = {
    "tid": "tid",
    "agent_id": "agent_id",
    "class": "class_path",
    "state_class": "state_class_path",
    "reason": "reason",
    "source_name": "source_name",
    "source_address": "source_address",
}


@dataclass(frozen=True, slots=True)
class CarriedFile:
    """One file a paglet carries: ``{"name", "size", "sha256", "mode"}`` on the wire."""

    name: str
    size: int
    sha256: str
    mode: str = "copy"

    def to_wire(self) -> dict[str, Any]:
        """The plain map sent in a record's ``files``."""
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "mode": self.mode}

    @classmethod
    def from_wire(cls, value: Any) -> CarriedFile:
        """Check one decoded file entry.

        Raises:
            ArtifactError: not a map, a name that is not a plain file name (``../x``),
                a size that is not a non-negative integer, or no sha256 digest.
        """
        if not isinstance(value, dict):
            raise ArtifactError("a file entry of a transfer record must be a map")
        name = check_name(value.get("name", ""))
        size, sha256, mode = value.get("size"), value.get("sha256"), value.get("mode", "copy")
        if type(size) is not int or size < 0 or not is_sha256(sha256):
            raise ArtifactError(f"file entry {name!r} needs an integer size and a sha256")
        if not isinstance(mode, str):
            raise ArtifactError(f"file entry {name!r} has a mode that is not a string")
        return cls(name, size, str(sha256), mode)


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    """The transfer record: everything the target needs to start the paglet."""

    tid: str
    agent_id: str
    source_agent_id: str
    class_path: str
    state_class_path: str
    state: bytes
    reason: str
    source_name: str
    source_address: str
    files: tuple[CarriedFile, ...] = ()
    arrival: str = ACTIVATE
    timeout: float | None = None

    def with_timeout(self, timeout: float) -> HandoffRecord:
        """This record, bounded by the source's ``timeout`` seconds."""
        return replace(self, timeout=timeout)

    def file_maps(self) -> list[dict[str, Any]]:
        """The carried files as plain maps (as the file helpers take them)."""
        return [item.to_wire() for item in self.files]

    def to_wire(self) -> dict[str, Any]:
        """The plain map sent (and kept in the transfer log)."""
        value: dict[str, Any] = {key: getattr(self, name) for key, name in _TEXTS.items()}
        value["source_agent_id"] = self.source_agent_id
        value["state"] = self.state
        if self.files:
            value["files"] = self.file_maps()
        if self.arrival != ACTIVATE:
            value["arrival"] = self.arrival
        if self.timeout is not None:
            value["timeout"] = self.timeout
        return value

    @classmethod
    def from_wire(cls, value: Any) -> HandoffRecord:
        """Check a decoded transfer record, before anything decodes its state.

        Raises:
            TransferError: not a map, a field missing or of the wrong type, or an id
                that is not a plain name.
            ArtifactError: a malformed file entry.
        """
        if not isinstance(value, dict):
            raise TransferError(f"a transfer record must be a map, not {type(value).__name__}")
        texts: dict[str, str] = {}
        for key, name in _TEXTS.items():
            if key not in value:
                raise TransferError(f"transfer record lacks {key!r}")
            texts[name] = _text(value, key)
        for key in ("tid", "agent_id"):
            transfer_id(value[key], f"transfer record {key}")
        if "state" not in value:
            raise TransferError("transfer record lacks 'state'")
        if not isinstance(value["state"], bytes):
            raise TransferError("transfer record field 'state' must be bytes")
        source_agent_id = _text(value, "source_agent_id") if "source_agent_id" in value else ""
        if not source_agent_id and texts["reason"] == "clone":
            raise TransferError("the record of a clone lacks 'source_agent_id'")
        files = value.get("files", [])
        if not isinstance(files, list):
            raise TransferError("transfer record field 'files' must be a list")
        arrival = value.get("arrival", ACTIVATE)
        if arrival not in ARRIVALS:
            raise TransferError(f"transfer record arrival {arrival!r:.40} is not one of {ARRIVALS}")
        timeout = value.get("timeout")
        if timeout is not None and (type(timeout) not in (int, float) or timeout != timeout):
            raise TransferError(f"transfer record timeout {timeout!r:.40} is not a number")
        return cls(
            source_agent_id=source_agent_id or texts["agent_id"],
            state=value["state"],
            files=tuple(CarriedFile.from_wire(item) for item in files),
            arrival=str(arrival),
            timeout=None if timeout is None else float(timeout),
            **texts,
        )


def transfer_id(value: Any, what: str = "transfer id") -> str:
    """Check the body of ``transfer.commit``, ``transfer.status`` and ``abort``.

    Args:
        value: the decoded body.
        what: how the error names it.

    Returns:
        The transfer id.

    Raises:
        TransferError: not a string, or not a plain id of at most ``MAX_ID`` characters.
    """
    if not isinstance(value, str):
        raise TransferError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > MAX_ID:
        raise TransferError(f"{what} is over {MAX_ID} characters")
    try:
        check_name(value)
    except ArtifactError:
        raise TransferError(f"{what} {value[:40]!r} is not a plain id") from None
    return value


def checked_answer(verb: str, value: Any, peer: str) -> str:
    """Check the answer ``peer`` gave to the hand-off ``verb``.

    Raises:
        ProtocolError: not one of the answers ``verb`` may get (:data:`ANSWERS`).
    """
    allowed = ANSWERS[verb]
    if not isinstance(value, str) or value not in allowed:
        raise ProtocolError(
            f"{peer} answered {value!r:.60} to {verb}, not one of {sorted(allowed)}"
        )
    return value


def _text(value: dict[str, Any], key: str) -> str:
    text = value[key]
    if not isinstance(text, str):
        raise TransferError(f"transfer record field {key!r} must be a string")
    return text
