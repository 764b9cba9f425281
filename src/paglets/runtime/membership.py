"""Knowing the mesh: greeting seeds with ``hello``, learning peers, resolving names.

A host greets each static seed at start and keeps retrying (with backoff, up to a few
seconds apart) until it answers. A ``hello`` carries the caller's facts; the reply
carries the answering host's facts and the peers it knows, which are greeted in turn,
so two hosts that share one seed end up knowing each other. A host of another mesh
version is refused (and its refusal logged), never added.
"""

from __future__ import annotations

import logging
from typing import Any

from paglets.core.errors import PagletError, PeerNotFoundError, ProtocolError
from paglets.core.messages import FutureReply
from paglets.net.endpoint import looks_like_address, normalize_address
from paglets.net.peers import PeerInfo
from paglets.runtime.parts import HostParts
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.protocol import PROTOCOL_VERSION, VERB_HELLO

log = logging.getLogger(__name__)

_HELLO_TIMEOUT = 2.0
_MAX_BACKOFF = 5.0


class Membership:
    """The peer table's upkeep for one host."""

    def __init__(self, parts: HostParts) -> None:
        self._parts = parts
        self._greeting: set[str] = set()
        self._stopped = False
        self.refused: dict[str, str] = {}

    def facts(self) -> dict[str, Any]:
        """This host's facts as sent in ``hello``."""
        config = self._parts.config
        return {
            "name": config.name,
            "address": self._parts.address,
            "mesh_version": config.mesh_version,
            "protocol": PROTOCOL_VERSION,
            "tags": list(config.tags),
            "properties": dict(config.properties),
        }

    # greeting -------------------------------------------------------------------------

    def start(self, seeds: tuple[str, ...]) -> None:
        """Greet every seed (in the background, retrying until each answers)."""
        for seed in seeds:
            self.greet(normalize_address(seed))

    def stop(self) -> None:
        """Stop greeting."""
        self._stopped = True

    def greet(self, address: str, attempt: int = 0) -> None:
        """Send ``hello`` to ``address`` unless a greeting is already under way."""
        if self._stopped or self._parts.is_local(address):
            return
        if attempt == 0:
            if address in self._greeting:
                return
            self._greeting.add(address)
        try:
            future = self._parts.transport.request(
                address, VERB_HELLO, encode_value(self.facts()), timeout=_HELLO_TIMEOUT
            )
        except PagletError:
            self._greeting.discard(address)
            return
        future.add_done_callback(lambda done: self._on_reply(address, attempt, done))

    def _on_reply(self, address: str, attempt: int, future: FutureReply) -> None:
        error = future.error()
        if error is None:
            try:
                facts = decode_value(future.get_reply(0).body, self._parts.policy)
                self._learn(facts)
            except (PagletError, ValueError) as exc:
                error = exc
            else:
                self._greeting.discard(address)
                return
        if isinstance(error, ProtocolError) and address not in self.refused:
            self.refused[address] = str(error)
            log.warning("%s refused us: %s", address, error)
        delay = min(_MAX_BACKOFF, 0.2 * (2**attempt))
        if self._stopped:
            return
        try:
            self._parts.transport.io.call_soon(
                self._parts.transport.io.call_later,
                delay,
                lambda: self.greet(address, attempt + 1),
            )
        except PagletError:
            pass

    def _learn(self, facts: Any) -> None:
        if not isinstance(facts, dict):
            raise ValueError("hello facts must be a map")
        info = PeerInfo.from_wire(facts)
        self._check_version(facts)
        info = PeerInfo(
            name=info.name,
            address=normalize_address(info.address),
            mesh_version=info.mesh_version,
            tags=info.tags,
            properties=info.properties,
        )
        if self._parts.peers.upsert(info):
            self._parts.events.record("host-joined", "", name=info.name, address=info.address)
        for peer in facts.get("peers") or ():
            try:
                address = normalize_address(str(peer.get("address", "")))
            except (ValueError, AttributeError):
                continue
            if self._parts.peers.get(address) is None:
                self.greet(address)

    def _check_version(self, facts: dict[str, Any]) -> None:
        mine = self._parts.config.mesh_version
        theirs = str(facts.get("mesh_version", ""))
        if theirs != mine:
            raise ProtocolError(f"mesh version {theirs!r} does not match this host's {mine!r}")
        if facts.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {facts.get('protocol')!r} is not supported")

    def on_hello(self, facts: Any) -> dict[str, Any]:
        """Answer a ``hello``: learn the caller, return our facts and known peers.

        Raises:
            ProtocolError: the caller speaks another mesh or protocol version.
        """
        if not isinstance(facts, dict):
            raise ProtocolError("hello needs a map of host facts")
        try:
            self._learn(facts)
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        reply = self.facts()
        reply["peers"] = [
            {"name": info.name, "address": info.address}
            for info in self._parts.peers.all()
            if info.online
        ]
        return reply

    # names ----------------------------------------------------------------------------

    def resolve_target(self, target: str) -> str:
        """The address of ``target``: an address in any spelling, or a host name.

        Raises:
            PeerNotFoundError: no known host has that name.
        """
        if not target:
            raise PeerNotFoundError("no target host given")
        if looks_like_address(target):
            return normalize_address(target)
        if target == self._parts.name:
            return self._parts.address
        info = self._parts.peers.by_name(target)
        if info is None:
            known = ", ".join(sorted({peer.name for peer in self._parts.peers.all()}))
            raise PeerNotFoundError(
                f"unknown host {target!r} (this host knows: {known or 'no other host'})"
            )
        return info.address
