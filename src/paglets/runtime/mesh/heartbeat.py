"""This host's pulse on gossip: publish its facts, hear the others', mark the silent offline.

Every ``heartbeat_interval`` (and ~50 ms after a paglet event changed its counts) the
host samples its facts on a worker thread and publishes them with the next ``seq``.
Each beat also marks offline the peers silent for ``offline_after`` seconds (unless
this host itself runs late, for at most two beats) and re-greets offline peers with a
per-peer backoff (2 s doubling to 30 s), so a host that comes back is online again
without a restart on either side. A host that stops publishes one last message
with ``leaving: True``; its peers mark it offline at once.

Gossip arrives on the I/O thread, each map with the PUB endpoint it came from; facts
that :func:`~paglets.net.peer_trust.judge_gossip` rejects (a member publishing about
another host, or a host not greeted yet) are counted in ``rejected`` and dropped.
What the rest says is handed to the :class:`Learner`
(:class:`~paglets.runtime.mesh.membership.Membership`); when a peer knows more online hosts
than we do, we ask it for its list (at most every couple of seconds), which heals the
race of two hosts joining through one seed at the same moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from paglets.core.context_events import PRESENCE_KINDS, ContextEvent
from paglets.core.errors import PagletError
from paglets.net.endpoint import normalize_address, split_address
from paglets.net.gossip import Gossip
from paglets.net.log_limit import RateLimitedLog
from paglets.net.peer_trust import Verdict, judge_gossip
from paglets.net.peers import PeerInfo, PeerTable
from paglets.net.transport import Transport
from paglets.runtime.config import HostConfig
from paglets.runtime.event_log import EventLog
from paglets.runtime.execution.registry import Registry
from paglets.runtime.execution.workers import WorkerPool
from paglets.runtime.host_identity import HostIdentity
from paglets.runtime.mesh.host_facts import HostFacts
from paglets.runtime.persistence.paglet_store import PagletStore

log = logging.getLogger(__name__)

_REGREET_FIRST = 2.0
_REGREET_MAX = 30.0
_REGREETS_PER_BEAT = 4
_MAX_SKIPPED_SWEEPS = 2
_PULL_INTERVAL = 2.0
_CHANGE_DEBOUNCE = 0.05


class Learner(Protocol):
    """What the heartbeat hands on: first-hand facts, and hosts worth a ``hello``."""

    def take(self, info: PeerInfo, via: str) -> None: ...

    def greet(
        self, address: str, *, want_peers: bool = False, retries: int | None = 0, pub: str = ""
    ) -> None: ...


class Heartbeat:
    """Publishes this host's facts and keeps the peer table's liveness up to date.

    Args:
        learner: takes the peers gossip tells of, greets the ones gone offline.
        config: the host's config (gossip port and timing, mesh version).
        control_pool: the workers beats and gossip are handled on.
        the rest: what the host's facts and the liveness sweep read and record.
    """

    def __init__(
        self,
        learner: Learner,
        *,
        config: HostConfig,
        identity: HostIdentity,
        transport: Transport,
        peers: PeerTable,
        events: EventLog,
        control_pool: WorkerPool,
        registry: Registry,
        store: PagletStore,
    ) -> None:
        self._config = config
        self._identity = identity
        self._transport = transport
        self._peers = peers
        self._events = events
        self._control_pool = control_pool
        self._registry = registry
        self._store = store
        self._learner = learner
        self._lock = threading.Lock()
        self._regreet: dict[str, tuple[float, float]] = {}  # address: (when, backoff)
        self.late_beats = 0
        self.rejected = 0
        self._rejections = RateLimitedLog(log, 30.0)
        self._skipped = 0
        self._pulled_at = 0.0
        self._publish_pending = False
        self._dirty = False
        self._stopped = False
        self.gossip: Gossip | None = None
        self.facts: HostFacts | None = None

    def start(self) -> str:
        """Bind the PUB, publish the first facts; return the advertised PUB endpoint.

        Raises:
            zmq.ZMQError: the PUB port could not be bound.
        """
        config = self._config
        gossip = Gossip(
            self._transport,
            bind_host=config.host,
            port=config.pub_port,
            interval=config.heartbeat_interval,
            on_facts=self._on_gossip,
            on_tick=lambda late: self.submit(self._beat, time.monotonic() - late),
        )
        bound = gossip.start()
        advertised_host, _ = split_address(self._identity.address)
        pub_address = normalize_address(f"{advertised_host}:{split_address(bound)[1]}")
        self.gossip = gossip
        self.facts = HostFacts(
            config,
            self._identity,
            self._transport,
            self._peers,
            self._registry,
            self._store,
            pub_address,
        )
        self.publish()
        self._events.add_listener(self._on_event, quick=True)
        return pub_address

    def stop(self) -> None:
        """Publish the leaving message and close the gossip sockets."""
        if self._stopped:
            return
        self._stopped = True
        self._events.remove_listener(self._on_event)
        if self.gossip is not None and self.facts is not None:
            try:
                self.facts.publish_sample(self.gossip.publish, leaving=True)
            except PagletError:
                pass
            self.gossip.stop()

    def publish(self) -> None:
        """Sample this host's facts and publish them now."""
        if self.gossip is not None and self.facts is not None and not self._stopped:
            self._dirty = False
            self.facts.publish_sample(self.gossip.publish)

    def current(self) -> dict[str, Any]:
        """The facts as last published, first publishing a change not yet out.

        A ``hello`` answers with these, so a late joiner's snapshot is current even
        within the few milliseconds a change waits to be published.
        """
        assert self.facts is not None, "heartbeat not started"
        if self._dirty:
            self.publish()
        return self.facts.current()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the control lane (nothing once the host stops)."""
        if self._stopped:
            return
        try:
            self._control_pool.submit(fn, *args)
        except RuntimeError:
            pass  # the host is stopping

    def _on_event(self, event: ContextEvent) -> None:
        if event.kind not in PRESENCE_KINDS:
            return
        self._dirty = True
        with self._lock:
            if self._publish_pending:
                return
            self._publish_pending = True
        io = self._transport.io
        try:
            io.call_soon(io.call_later, _CHANGE_DEBOUNCE, self._publish_changed)
        except PagletError:
            pass

    def _publish_changed(self) -> None:
        with self._lock:
            self._publish_pending = False
        self.submit(self.publish)

    def _beat(self, due: float) -> None:
        if self._stopped:
            return
        self.publish()
        config = self._config
        if time.monotonic() - due > config.heartbeat_interval / 2:
            # This host runs late (overloaded): the silence may well be ours, so do
            # not judge others on this beat, nor on the next one, but no longer:
            # a host that stays overloaded must still notice dead peers.
            self.late_beats += 1
            self._skipped += 1
            if self._skipped <= _MAX_SKIPPED_SWEEPS:
                return
        self._skipped = 0
        for info in self._peers.sweep(config.offline_after):
            log.info("host %s (%s) went silent: offline", info.name, info.address)
            self._events.record("host-offline", "", name=info.name, address=info.address)
        self._regreet_offline()

    def _regreet_offline(self) -> None:
        """Greet offline peers again, each with its own backoff and a few per beat.

        A peer that restarted elsewhere (a new PUB port) and does not know us is found
        this way; the backoff keeps a host that is merely slow from drawing a storm.
        """
        now = time.monotonic()
        budget = _REGREETS_PER_BEAT
        known = self._peers.all()
        if len(self._regreet) > len(known):
            addresses = {info.address for info in known}
            self._regreet = {a: v for a, v in self._regreet.items() if a in addresses}
        for info in known:
            if info.online:
                self._regreet.pop(info.address, None)
                continue
            when, backoff = self._regreet.get(info.address, (0.0, _REGREET_FIRST / 2))
            if now < when or budget == 0:
                continue
            budget -= 1
            backoff = min(_REGREET_MAX, backoff * 2)
            self._regreet[info.address] = (now + backoff, backoff)
            self._learner.greet(info.address, retries=0)

    def _on_gossip(self, data: dict[str, Any], endpoint: str) -> None:
        """Facts from the peer's PUB at ``endpoint`` (on the I/O thread)."""
        if self._stopped:
            return
        if data.get("mesh_version") != self._config.mesh_version:
            return  # another mesh: never subscribed on purpose, ignored if it happens
        try:
            data["address"] = normalize_address(str(data.get("address", "")))
            info = PeerInfo.from_wire(data)
        except ValueError as exc:
            log.debug("dropped gossip: %s", exc)
            return
        peers = self._peers
        if judge_gossip(peers, info, endpoint) is Verdict.REJECT:
            self.rejected += 1
            self._rejections.log(
                logging.INFO,
                endpoint,
                "dropped gossip from %s: it speaks for %s, which did not greet us from there",
                info.address,
            )
            return
        if data.get("leaving") is True:
            known = peers.get(info.address)
            if known is not None and known.incarnation == info.incarnation:
                if peers.mark_offline(info.address) is not None:
                    self.submit(self._record_left, info)
            return
        self._learner.take(info, "gossip")
        now = time.monotonic()
        if info.peer_count > peers.online_count() and now - self._pulled_at > _PULL_INTERVAL:
            self._pulled_at = now
            self._learner.greet(info.address, want_peers=True)

    def _record_left(self, info: PeerInfo) -> None:
        log.info("host %s (%s) stopped: offline", info.name, info.address)
        self._events.record("host-offline", "", name=info.name, address=info.address)
