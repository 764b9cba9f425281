"""Knowing the mesh: who is there (hello, zeroconf, gossip) and who is alive.

How a host learns of another
    * a static seed (``--peer``) is greeted with ``hello`` at start, retried with
      backoff until it answers; the reply lists the peers it knows;
    * zeroconf (:mod:`paglets.net.discovery`) announces a host of the same mesh and
      protocol version: we subscribe to its PUB first, then greet it (the snapshot);
    * a ``hello`` arrives from it;
    * its gossip says it knows more online hosts than we do: we ask it for its list
      (rate-limited), which heals the race of two hosts joining through one seed at once.

Facts only ever come first-hand and are ordered by ``(incarnation, seq)``
(:class:`~paglets.net.peers.PeerTable`); :mod:`~paglets.net.peer_trust` decides which
may touch which host's entry, so a member cannot speak as another host.

Hosts that are only *heard of* (zeroconf records, peer lists, incoming hellos of
unknown callers) cost a bounded greeting (:mod:`~paglets.runtime.mesh.greeter`). A host
enters the table only once it answered a ``hello``; the links to those that never do
are closed by the transport after a while. A host of another mesh or protocol version is
never added: it is kept in :attr:`Membership.ignored` with the reason, logged once and
shown by ``paglets mesh``. Two online hosts with one name are a clash: both stay listed
(never merged), the clash is logged and reported, and the name no longer resolves.

Publishing facts and liveness are :mod:`~paglets.runtime.mesh.heartbeat`'s business; this
module decides what to make of the facts it hears.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paglets.core.errors import ProtocolError
from paglets.net.endpoint import normalize_address, split_address
from paglets.net.log_limit import RateLimitedLog
from paglets.net.peer_trust import Verdict, judge_reply, judge_request
from paglets.net.peers import Change, PeerInfo, PeerTable
from paglets.net.transport import Transport
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mesh.greeter import Greeter
from paglets.runtime.mesh.heartbeat import Heartbeat
from paglets.runtime.mesh.lan_discovery import DISCOVERED_RETRIES, LanDiscovery
from paglets.runtime.mesh.view import mesh_view
from paglets.runtime.persistence.paglet_store import PagletStore
from paglets.wire.classpath import ClassPolicy
from paglets.wire.protocol import PROTOCOL_VERSION

if TYPE_CHECKING:
    from paglets.net.discovery import Discovery

log = logging.getLogger(__name__)

GREET_BACK_WAIT = 1.0
"""Seconds at most that the answer to a joining host's hello waits for its greet-back."""
MAX_LISTED = 256
"""Entries kept in :attr:`Membership.ignored` and :attr:`Membership.refused`."""


class Membership(LanDiscovery):
    """The peer table's upkeep for one host: greeting, discovery, names, the mesh view."""

    def __init__(
        self,
        *,
        config: HostConfig,
        identity: HostIdentity,
        transport: Transport,
        peers: PeerTable,
        events: EventLog,
        control_pool: WorkerPool,
        policy: ClassPolicy,
        registry: Registry,
        store: PagletStore,
    ) -> None:
        self._config = config
        self._identity = identity
        self._transport = transport
        self._peers = peers
        self._events = events
        self._noise = RateLimitedLog(log, 30.0)
        self.rejected = 0
        self._clashes_told: set[tuple[str, str]] = set()
        self._stopped = False
        self.heartbeat = Heartbeat(
            self,
            config=config,
            identity=identity,
            transport=transport,
            peers=peers,
            events=events,
            control_pool=control_pool,
            registry=registry,
            store=store,
        )
        self._greeter = Greeter(
            identity,
            transport,
            peers,
            policy,
            self.facts,
            self._on_answer,
            self._on_refused,
            self.heartbeat.submit,
            lambda: self.heartbeat.gossip,
            self._settled,
        )
        self.discovery: Discovery | None = None
        self.ignored: dict[str, dict[str, Any]] = {}
        self.refused: dict[str, str] = {}
        self._answered: dict[str, threading.Event] = {}  # seed -> its first hello settled

    def facts(self) -> dict[str, Any]:
        """This host's facts as sent in ``hello`` and gossip (the last sample)."""
        if self.heartbeat.facts is not None:
            return self.heartbeat.current()
        config = self._config
        return {
            "name": config.name,
            "address": self._identity.address,
            "key": self._transport.identity_key,
            "mesh_version": config.mesh_version,
            "protocol": PROTOCOL_VERSION,
            "tags": list(config.tags),
            "properties": dict(config.properties),
        }

    # start and stop -------------------------------------------------------------------

    def start(self, seeds: tuple[str, ...]) -> None:
        """Open gossip, publish the first facts, greet the seeds, start discovery.

        Raises:
            zmq.ZMQError: the gossip PUB port could not be bound.
        """
        pub_address = self.heartbeat.start()
        addresses = [normalize_address(seed) for seed in seeds]
        for address in addresses:
            self._answered.setdefault(address, threading.Event())
        for address in addresses:
            self.greet(address, want_peers=True, retries=None)
        # Joining is done when start returns: every seed that answers has learnt us
        # (hello is mutual) and we it. A seed that is down costs at most join_timeout.
        deadline = time.monotonic() + self._config.join_timeout
        for address in addresses:
            self._answered[address].wait(max(0.0, deadline - time.monotonic()))
        if self._config.discovery:
            ip, router_port = split_address(self._identity.address)
            self._start_discovery(ip, router_port, pub_address)

    def _settled(self, address: str) -> None:
        answered = self._answered.get(address)
        if answered is not None:
            answered.set()

    def stop(self) -> None:
        """Unregister from zeroconf, say goodbye on gossip, stop greeting."""
        if self._stopped:
            return
        self._stopped = True
        self._greeter.stop()
        if self.discovery is not None:
            self.discovery.stop()
        self.heartbeat.stop()

    # greeting -------------------------------------------------------------------------

    def greet(
        self, address: str, *, want_peers: bool = False, retries: int | None = 0, pub: str = ""
    ) -> None:
        """Send ``hello`` to ``address`` (see :meth:`Greeter.greet`)."""
        self._greeter.greet(address, want_peers=want_peers, retries=retries, pub=pub)

    def _on_answer(self, address: str, facts: Any) -> None:
        self._learn(facts, via="hello", dialled=address)
        if isinstance(facts, dict):
            self._learn_peer_list(facts.get("peers"))

    def _on_refused(self, address: str, error: ProtocolError) -> None:
        if address not in self.refused:
            _make_room(self.refused)
        self.refused[address] = str(error)
        self._ignore(address, "", "", 0, f"refused us: {error}")

    def _learn_peer_list(self, peers: Any) -> None:
        for entry in peers or ():
            try:
                address = normalize_address(str(entry["address"]))
                pub = normalize_address(str(entry["pub"])) if entry.get("pub") else ""
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if self._identity.is_local(address) or self._peers.get(address) is not None:
                continue  # known hosts that went offline are re-greeted by the heartbeat
            self.greet(address, retries=DISCOVERED_RETRIES, pub=pub)

    def _learn(self, facts: Any, via: str, *, dialled: str = "", caller_key: str = "") -> PeerInfo:
        """Read hello facts; apply them as :mod:`~paglets.net.peer_trust` rules.

        ``dialled`` is set for a reply (the address we sent the hello to), else the
        facts came in a request from the peer authenticated as ``caller_key``.
        """
        if not isinstance(facts, dict):
            raise ValueError("hello facts must be a map")
        self._check_version(facts)
        pub = facts.get("pub")
        info = PeerInfo.from_wire(
            {
                **facts,
                "address": normalize_address(str(facts.get("address", ""))),
                "pub": normalize_address(str(pub)) if pub else "",
                "online": True,
            }
        )
        peers = self._peers
        if dialled:
            verdict = judge_reply(peers, dialled, info)
        else:
            verdict = judge_request(peers, info, caller_key, secured=self._transport.secured)
        if verdict is Verdict.REJECT:
            raise ProtocolError(
                f"hello facts name the key {info.key or '(none)'}, but the connection is "
                f"authenticated as {caller_key or '(none)'}"
            )
        if verdict is Verdict.GREET:
            self.greet(info.address, retries=DISCOVERED_RETRIES, pub=info.pub_address)
        else:
            self.take(info, via, rebind=verdict is Verdict.REBIND)
        return info

    def _check_version(self, facts: dict[str, Any]) -> None:
        mine = self._config.mesh_version
        theirs = str(facts.get("mesh_version", ""))
        protocol = facts.get("protocol", PROTOCOL_VERSION)
        reason = ""
        if theirs != mine:
            reason = f"mesh version {theirs!r} does not match this host's {mine!r}"
        elif protocol != PROTOCOL_VERSION:
            reason = f"protocol version {protocol!r} is not supported"
        if reason:
            address = str(facts.get("address", ""))
            self._ignore(address, str(facts.get("name", "")), theirs, protocol, reason)
            raise ProtocolError(reason)

    def take(self, info: PeerInfo, via: str, *, rebind: bool = False) -> None:
        """Apply first-hand facts; subscribe to the host; tell what changed.

        Args:
            info: the facts.
            via: ``hello`` or ``gossip``.
            rebind: the facts may replace the identity key bound to their address
                (a reply from that very address); otherwise facts naming another key
                than the bound one are dropped.
        """
        if self._identity.is_local(info.address):
            return
        peers = self._peers
        known = peers.get(info.address)
        if known is not None and known.key != info.key:
            if not rebind:
                self._reject(info, f"its key {info.key!r} is not the bound {known.key!r}")
                return
            log.info("host %s at %s has a new identity key", info.name, info.address)
            if known.incarnation == info.incarnation:
                peers.forget(info.address)  # a restart would replace it anyway
        change, old = peers.apply(info)
        if change is Change.REFUSED:
            self._noise.warning(
                "table", "peer table full (%s): %s at %s not added", info.name, info.address
            )
            return
        if change is Change.STALE:
            return
        gossip = self.heartbeat.gossip
        if gossip is not None and info.pub_address:
            if old is not None and old.pub_address and old.pub_address != info.pub_address:
                gossip.disconnect(old.pub_address)
                gossip.connect(info.pub_address)
            elif change is Change.RETURNED and via == "hello":
                gossip.reconnect(info.pub_address)  # a fresh subscription, in case
            else:
                gossip.connect(info.pub_address)
        if change is Change.UPDATED:
            return
        self.ignored.pop(info.address, None)
        self.refused.pop(info.address, None)
        if via == "gossip":
            self.heartbeat.submit(self._announce, info, change)
        else:
            self._announce(info, change)

    def _announce(self, info: PeerInfo, change: Change) -> None:
        kind = {Change.NEW: "host-joined", Change.RESTARTED: "host-restarted"}
        log.info("host %s at %s: %s", info.name, info.address, change.value)
        self._events.record(
            kind.get(change, "host-online"), "", name=info.name, address=info.address
        )
        clash = self._peers.clashes(self._identity.name).get(info.name)
        if clash and (info.name, info.address) not in self._clashes_told:
            self._clashes_told.add((info.name, info.address))
            log.warning("name clash: %r is used by %s", info.name, ", ".join(clash))
            self._events.record("name-clash", "", name=info.name, addresses=clash)

    def _reject(self, info: PeerInfo, why: str) -> None:
        self.rejected += 1
        self._noise.warning(
            info.address, "rejected facts for the host at %s (%s): %s", info.name, why
        )

    def _ignore(self, address: str, name: str, mesh: str, protocol: Any, reason: str) -> None:
        if address not in self.ignored:
            self._noise.warning(address or "?", "ignoring host %s at %s: %s", name or "?", reason)
            _make_room(self.ignored)
        self.ignored[address] = {
            "name": name,
            "address": address,
            "mesh_version": mesh,
            "protocol": protocol,
            "reason": reason,
        }

    def on_hello(
        self, facts: Any, caller_key: str, respond: Callable[[dict[str, Any]], None]
    ) -> None:
        """Answer a ``hello``: learn the caller, give it our facts (and peers if asked).

        A joining host (one that asks for peers) counts on being known here once it has
        our answer. When its facts still need the greet-back that verifies them, the
        answer leaves once that greeting settled, or after :data:`GREET_BACK_WAIT`. The
        greet-back itself asks for no peers, so it is answered at once and two hosts
        never wait on each other.

        Args:
            facts: the caller's facts.
            caller_key: the identity key its connection was authenticated with.
            respond: sends the answer; called once, on whichever thread settles it.

        Raises:
            ProtocolError: the caller speaks another mesh or protocol version, or its
                facts name another identity than its connection's.
        """
        if not isinstance(facts, dict):
            raise ProtocolError("hello needs a map of host facts")
        try:
            info = self._learn(facts, via="hello", caller_key=caller_key)
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        want_peers = bool(facts.get("want_peers"))
        if not want_peers or self._knows(info):
            respond(self._hello_answer(want_peers))
            return
        self._greeter.when_settled(
            info.address, lambda: respond(self._hello_answer(want_peers)), GREET_BACK_WAIT
        )

    def _knows(self, info: PeerInfo) -> bool:
        known = self._peers.get(info.address)
        return known is not None and known.key == info.key and known.online

    def _hello_answer(self, want_peers: bool) -> dict[str, Any]:
        reply = self.facts()
        if want_peers:
            reply["peers"] = [
                {"name": info.name, "address": info.address, "pub": info.pub_address}
                for info in self._peers.all()
                if info.online
            ]
        return reply

    def mesh_view(self) -> dict[str, Any]:
        """This host's view of the mesh (the ``mesh`` verb): itself, peers, ignored, clashes."""
        return mesh_view(
            self.facts(),
            self._peers,
            self._identity.name,
            list(self.ignored.values()),
            self.discovery.ip if self.discovery is not None else "",
            self.heartbeat.gossip,
        )


def _make_room(listing: dict[str, Any]) -> None:
    """Drop the oldest entries of a bounded listing so one more fits."""
    while len(listing) >= MAX_LISTED:
        del listing[next(iter(listing))]
