"""FileCourierPaglet: carries one file around the mesh and proves it arrived whole.

The example of natural file mobility (``paglets examples file``). The courier registers
a file, then visits each host of its tour and comes home. The runtime moves the file
peer to peer with the paglet: on every arrival it is already in the courier's work dir,
and the courier checks its SHA-256 against the one taken at home and times the hop.
Nothing but the courier's state and its file crosses the network; no code moves.

Message kinds:

- ``status``: reply ``{"done": bool, "error": str, "hops": [...], "host": name}``,
  where each hop is ``{"host", "size", "seconds", "verified"}``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paglets.core.agent import Paglet, PagletState
from paglets.core.errors import (
    AgentMovedError,
    InvalidAgentError,
    PagletError,
    ReplyTimeoutError,
)
from paglets.core.events import CreationEvent, MobilityEvent
from paglets.core.messages import Message
from paglets.remote.client import HostClient

CARGO = "cargo"
"""The name the courier registers its file under."""
POLL_INTERVAL = 0.05
"""Seconds between two status questions while the courier travels."""


@dataclass
class FileCourierState(PagletState):
    """The tour still ahead, the file's fingerprint, and what each hop showed."""

    tour: list[str] = field(default_factory=list)
    home: str = ""
    sha256: str = ""
    size: int = 0
    left_at: float = 0.0
    hops: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    error: str = ""


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class FileCourierPaglet(Paglet[FileCourierState]):
    """Tours hosts with a registered file, verifying it on every arrival."""

    State = FileCourierState

    def on_creation(self, event: CreationEvent) -> None:
        """Register the file named in ``init`` (``[path, [host, ...]]``) and fingerprint it."""
        path, tour = event.init
        ref = self.register_file(str(path), CARGO, "copy")
        with self.locked_state() as state:
            state.tour = [str(host) for host in tour]
            state.home = self.context.address
            state.sha256 = ref.sha256
            state.size = ref.size

    def on_arrival(self, event: MobilityEvent) -> None:
        """Check the file that arrived with this courier and time the hop."""
        seconds = time.time() - self.state.left_at
        arrived = self.file_path(CARGO)
        verified = file_sha256(arrived) == self.state.sha256
        with self.locked_state() as state:
            state.hops.append(
                {
                    "host": self.context.name,
                    "size": arrived.stat().st_size,
                    "seconds": seconds,
                    "verified": verified,
                }
            )

    def run(self) -> None:
        """Go on to the next host of the tour, then home; stop there."""
        state = self.state
        if state.done or state.error:
            return
        if not state.tour and self.context.address == state.home:
            with self.locked_state() as current:
                current.done = True
            return
        target = state.tour[0] if state.tour else state.home
        with self.locked_state() as current:
            current.left_at = time.time()
            if current.tour:
                current.tour.pop(0)
        try:
            self.dispatch(target)
        except PagletError as exc:
            with self.locked_state() as current:
                current.error = f"the hop to {target} failed: {exc}"

    def handle_message(self, message: Message) -> Any:
        """Answer ``status``."""
        if message.kind != "status":
            return self.not_handled()
        state = self.state
        return {
            "done": state.done,
            "error": state.error,
            "hops": list(state.hops),
            "host": self.context.name,
        }


def carry_around(client: HostClient, path: Path, tour: list[str], timeout: float) -> dict[str, Any]:
    """Send a courier with the file at ``path`` from the client's host around ``tour``.

    Args:
        client: a client of the home host (``path`` is a path on that host's machine).
        path: the file to carry.
        tour: host names or addresses to visit, in order (may be empty); then home.
        timeout: seconds the whole tour may take.

    Returns:
        The courier's last status, plus ``sha256`` and ``size`` of the file at home.

    Raises:
        ReplyTimeoutError: the tour did not end within ``timeout``.
        PagletError: the courier could not be created (no such file, outside the
            host's files roots, ...).
    """
    courier = client.create(FileCourierPaglet, init=[str(path), list(tour)])
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            try:
                status = courier.send(
                    Message("status"), timeout=max(0.1, deadline - time.monotonic())
                )
            except (AgentMovedError, InvalidAgentError):
                status = {}  # between two hosts: ask again
            if status.get("done") or status.get("error"):
                break
            time.sleep(POLL_INTERVAL)
        else:
            raise ReplyTimeoutError(f"the courier's tour did not end within {timeout:g} s")
    finally:
        try:
            courier.dispose()
        except PagletError:
            pass  # gone already, or stuck on a host that no longer answers
    return {**status, "sha256": file_sha256(path), "size": path.stat().st_size}
