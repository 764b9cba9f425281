"""Gossip: host facts out on one PUB socket, everyone else's in on one SUB socket.

Each host binds a PUB socket next to its ROUTER and opens one SUB socket per peer,
connected to that peer's PUB. All live on the transport's I/O thread. One SUB per peer
costs a socket each, and buys the one thing a shared SUB cannot tell: which PUB a
message came from. ``on_facts`` gets that endpoint with every map, so the owner can
refuse facts a member publishes about another host (see docs/security.md). A message
is two frames::

    [b"paglets.facts", msgpack map of host facts]

The map is what :meth:`paglets.net.peers.PeerInfo.from_wire` reads (``name``,
``address``, ``pub``, ``mesh_version``, ``incarnation``, ``seq``, tags, properties,
counts, load, free resources), plus ``leaving: True`` in the last message of a host
that stops. A message over :data:`MAX_FACTS_SIZE` is refused by the SUB socket itself
(``MAXMSGSIZE``), and libzmq then drops that subscription for good rather than
reconnecting, so :meth:`Gossip.publish` refuses to send one and a peer that does is
heard again only after :meth:`Gossip.reconnect`. Anything that is not a map is
counted and dropped.

PUB/SUB loses what is sent before a subscription is in place; the owner makes up for
it by asking for a snapshot (``hello``) *after* connecting the SUB, and by
re-publishing full facts on every heartbeat, so one lost message costs at most one
heartbeat of staleness. This module knows nothing about what the facts mean: it
calls ``on_facts`` with each decoded map and ``on_tick`` every ``interval`` seconds, on
multiples of the interval of the wall clock (see :meth:`Gossip._schedule_tick`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from paglets.core.errors import HostStoppedError, PayloadTooLargeError
from paglets.net.endpoint import normalize_address
from paglets.net.transport import Transport

log = logging.getLogger(__name__)

TOPIC = b"paglets.facts"
MAX_FACTS_SIZE = 64 * 1024
_READ_BATCH = 256

FactsCallback = Callable[[dict[str, Any], str], None]


class Gossip:
    """The PUB and SUB sockets of one host, run on its transport's I/O thread.

    Args:
        transport: the host's transport (its I/O thread and socket factory).
        bind_host: interface to bind the PUB on (the ROUTER's).
        port: PUB port, 0 for one the OS chooses.
        interval: seconds between two calls of ``on_tick`` (the heartbeat).
        on_facts: called on the I/O thread with every facts map received and the PUB
            endpoint it came from.
        on_tick: called on the I/O thread every ``interval`` seconds with how late (in
            seconds) that tick runs: a loaded host can tell its own lag from silent peers.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        bind_host: str,
        port: int,
        interval: float,
        on_facts: FactsCallback,
        on_tick: Callable[[float], None],
    ) -> None:
        self._transport = transport
        self._io = transport.io
        self._bind_host = bind_host
        self._port = port
        self._interval = interval
        self._on_facts = on_facts
        self._on_tick = on_tick
        self._pub: zmq.Socket[Any] | None = None
        self._subs: dict[str, zmq.Socket[Any]] = {}
        self._bound = ""
        self._closed = False
        self._due = 0.0
        self.sent = 0
        self.received = 0
        self.dropped = 0

    @property
    def bound_address(self) -> str:
        """The endpoint the PUB is bound to ('' before :meth:`start`)."""
        return self._bound

    @property
    def endpoints(self) -> frozenset[str]:
        """The PUB endpoints the SUB is connected to."""
        return frozenset(self._subs)

    def start(self, timeout: float = 5.0) -> str:
        """Create and bind the sockets on the I/O thread; return the PUB endpoint.

        Raises:
            zmq.ZMQError: the PUB could not be bound.
            HostStoppedError: the I/O thread is not running or did not answer in time.
        """
        opened: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._io.call_soon(self._open, opened)
        try:
            self._bound = opened.result(timeout)
        except concurrent.futures.TimeoutError:
            raise HostStoppedError(f"gossip sockets not opened within {timeout}s") from None
        return self._bound

    def _open(self, opened: concurrent.futures.Future[str]) -> None:
        try:
            pub = self._transport.new_socket(zmq.PUB, server=True)
            _application_heartbeats(pub)
            host = self._bind_host
            if ":" in host:
                pub.setsockopt(zmq.IPV6, 1)
                host = f"[{host}]"
            try:
                pub.bind(f"tcp://{host}:{self._port}")
            except zmq.ZMQError:
                pub.close(0)
                raise
        except Exception as exc:
            opened.set_exception(exc)
            return
        self._pub = pub
        self._io.add_stop_callback(self._close)
        self._schedule_tick()
        endpoint = pub.getsockopt(zmq.LAST_ENDPOINT)
        assert isinstance(endpoint, bytes)
        opened.set_result(normalize_address(endpoint.decode()))

    def stop(self, timeout: float = 5.0) -> None:
        """Close both sockets (what the PUB still queues gets up to the linger time)."""
        if self._closed:
            return
        closed: concurrent.futures.Future[None] = concurrent.futures.Future()

        def close() -> None:
            self._close()
            closed.set_result(None)

        try:
            self._io.call_soon(close)
            closed.result(timeout)
        except (HostStoppedError, concurrent.futures.TimeoutError):
            pass  # the loop stopped: its stop callback closes the sockets

    def _close(self) -> None:
        self._closed = True
        for endpoint in list(self._subs):
            self._disconnect(endpoint)
        if self._pub is not None:
            self._io.remove_socket(self._pub)
            self._pub.close(self._transport.config.linger_ms)
        self._pub = None

    # thread-safe hand-over ----------------------------------------------------------------

    def publish(self, facts: dict[str, Any]) -> None:
        """Publish a facts map to every subscriber. Any thread; order is kept.

        Raises:
            PayloadTooLargeError: the encoded map is over :data:`MAX_FACTS_SIZE`
                (subscribers would drop their connection to this host).
        """
        payload = msgpack.packb(facts, use_bin_type=True)
        if len(payload) > MAX_FACTS_SIZE:
            raise PayloadTooLargeError(
                f"host facts of {len(payload)} bytes are over the gossip limit of "
                f"{MAX_FACTS_SIZE} bytes; use fewer or shorter tags and properties"
            )
        self._hand_over(self._send, payload)

    def connect(self, endpoint: str) -> None:
        """Subscribe to the PUB at ``endpoint`` (once; repeated calls do nothing)."""
        self._hand_over(self._connect, endpoint)

    def disconnect(self, endpoint: str) -> None:
        """Stop listening to the PUB at ``endpoint``."""
        self._hand_over(self._disconnect, endpoint)

    def reconnect(self, endpoint: str) -> None:
        """Drop and re-make the connection to ``endpoint`` (a fresh subscription)."""
        self._hand_over(self._disconnect, endpoint)
        self._hand_over(self._connect, endpoint)

    def _hand_over(self, callback: Callable[..., None], *args: Any) -> None:
        if self._closed:
            return
        if self._io.in_loop():
            callback(*args)
            return
        try:
            self._io.call_soon(callback, *args)
        except HostStoppedError:
            pass

    # on the loop ----------------------------------------------------------------------

    def _send(self, payload: bytes) -> None:
        if self._pub is None:
            return
        try:
            self._pub.send_multipart([TOPIC, payload], flags=zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            self.dropped += 1

    def _connect(self, endpoint: str) -> None:
        if self._closed or self._pub is None or endpoint in self._subs:
            return
        try:
            sub = self._transport.new_socket(zmq.SUB, server=False)
        except (zmq.ZMQError, HostStoppedError) as exc:
            log.warning("cannot subscribe to %s: %s", endpoint, exc)
            return
        _application_heartbeats(sub)
        sub.setsockopt(zmq.MAXMSGSIZE, MAX_FACTS_SIZE)
        sub.setsockopt(zmq.SUBSCRIBE, TOPIC)
        try:
            sub.connect(endpoint)
        except zmq.ZMQError as exc:
            sub.close(0)
            log.warning("cannot subscribe to %s: %s", endpoint, exc)
            return
        self._subs[endpoint] = sub
        self._io.add_reader(sub, lambda socket: self._on_readable(socket, endpoint))

    def _disconnect(self, endpoint: str) -> None:
        sub = self._subs.pop(endpoint, None)
        if sub is None:
            return
        self._io.remove_socket(sub)
        # A SUB only queues subscriptions for a PUB: lingering on it would hold the
        # context's term() for the whole linger time.
        sub.close(0)

    def _tick(self) -> None:
        if self._closed:
            return
        late = max(0.0, time.monotonic() - self._due)
        try:
            self._on_tick(late)
        finally:
            self._schedule_tick()

    def _schedule_tick(self) -> None:
        # Ticks fall on multiples of the interval of the wall clock, so hosts with
        # synchronised clocks publish together and a receiver drains many heartbeats
        # per wake-up instead of waking once per peer.
        interval = self._interval
        delay = interval - (time.time() % interval)
        if delay < interval / 10:
            delay += interval
        self._due = time.monotonic() + delay
        self._io.call_later(delay, self._tick)

    def _on_readable(self, socket: zmq.Socket[Any], endpoint: str) -> None:
        for _ in range(_READ_BATCH):
            try:
                frames = socket.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            facts = _decode(frames)
            if facts is None:
                self.dropped += 1
                continue
            self.received += 1
            try:
                self._on_facts(facts, endpoint)
            except Exception:
                log.exception("handling gossip from %r failed", facts.get("name"))


def _application_heartbeats(socket: zmq.Socket[Any]) -> None:
    """Turn ZMTP heartbeats off on a gossip socket; TCP keepalive finds dead peers instead.

    Gossip is itself the heartbeat, and libzmq 4.3 can abort the whole process on a
    PUB/SUB connection that a ZMTP heartbeat times out while its input is throttled
    (libzmq issues 3937, 4364, 4767), which a loaded host does hit.
    """
    socket.setsockopt(zmq.HEARTBEAT_IVL, 0)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 0)
    socket.setsockopt(zmq.HEARTBEAT_TTL, 0)
    socket.setsockopt(zmq.TCP_KEEPALIVE, 1)
    socket.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 10)
    socket.setsockopt(zmq.TCP_KEEPALIVE_INTVL, 5)
    socket.setsockopt(zmq.TCP_KEEPALIVE_CNT, 3)


def _decode(frames: list[bytes]) -> dict[str, Any] | None:
    if len(frames) != 2 or frames[0] != TOPIC:
        return None
    try:
        facts = msgpack.unpackb(frames[1], raw=False, strict_map_key=True)
    except Exception:  # msgpack raises several unrelated types on junk
        return None
    return facts if type(facts) is dict else None
