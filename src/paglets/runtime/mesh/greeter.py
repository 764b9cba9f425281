"""Greeting: sending ``hello`` to a host, retrying with backoff, one greeting per address.

A greeting ends when the host answered (its facts go to ``on_answer``), refused us
(``on_refused``), or ran out of retries. Hosts not in the peer table yet (heard of on
zeroconf, in a peer list, or greeting us first) count against :data:`MAX_UNVERIFIED`:
anyone can announce on mDNS, so 1,000 spoofed records must not mean 1,000 greetings
and connections at once. Such a host's gossip PUB, if known, is subscribed before the
hello goes out, so the reply is the snapshot, and dropped again if it never answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from paglets.core.errors import PagletError, ProtocolError
from paglets.core.messages import FutureReply
from paglets.net.gossip import Gossip
from paglets.net.log_limit import RateLimitedLog
from paglets.net.peers import PeerTable
from paglets.net.transport import Transport
from paglets.runtime.host_identity import HostIdentity
from paglets.wire.classpath import ClassPolicy
from paglets.wire.codec import decode_value, encode_value
from paglets.wire.protocol import VERB_HELLO

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 2.0
MAX_BACKOFF = 5.0
MAX_UNVERIFIED = 64
"""Greetings of hosts not in the table (heard of, never answered) under way at once."""


class Greeter:
    """Sends the ``hello`` greetings of one host.

    Args:
        identity: the host's addresses (it never greets itself).
        transport: sends the hellos.
        peers: the peer table.
        policy: the class policy answers decode under.
        facts: this host's facts, the body of every hello.
        on_answer: called on a worker with the address greeted and the facts it
            answered; raising ``PagletError``/``ValueError`` counts as a failed try.
        on_refused: called with the address and the ``ProtocolError`` it refused us with.
        submit: runs a callable on a worker thread.
        gossip: the gossip sockets, once open.
    """

    def __init__(
        self,
        identity: HostIdentity,
        transport: Transport,
        peers: PeerTable,
        policy: ClassPolicy,
        facts: Callable[[], dict[str, Any]],
        on_answer: Callable[[str, Any], None],
        on_refused: Callable[[str, ProtocolError], None],
        submit: Callable[..., None],
        gossip: Callable[[], Gossip | None],
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        self._identity = identity
        self._transport = transport
        self._peers = peers
        self._policy = policy
        self._facts = facts
        self._on_answer = on_answer
        self._on_refused = on_refused
        self._submit = submit
        self._gossip = gossip
        self._on_settled = on_settled
        self._lock = threading.Lock()
        self._greeting: set[str] = set()
        self._unverified: dict[str, str] = {}  # address: PUB subscribed before its hello
        self._skipped = RateLimitedLog(log, 30.0)
        self._stopped = False
        self._waiters: dict[str, list[Callable[[], None]]] = {}  # address: told on settling

    def stop(self) -> None:
        """Start no more greetings or retries."""
        self._stopped = True

    def under_way(self) -> int:
        """How many greetings are under way (bounded for hosts heard of)."""
        with self._lock:
            return len(self._greeting)

    def greet(
        self, address: str, *, want_peers: bool = False, retries: int | None = 0, pub: str = ""
    ) -> None:
        """Send ``hello`` to ``address`` unless a greeting is already under way.

        Args:
            address: canonical address of the host to greet.
            want_peers: ask for the list of hosts it knows.
            retries: further attempts after a failure, with backoff (None: until it
                answers or this host stops, as for seeds, which never count as unverified).
            pub: its gossip endpoint, if known.
        """
        if self._stopped or self._identity.is_local(address):
            return
        unverified = retries is not None and self._peers.get(address) is None
        with self._lock:
            if address in self._greeting:
                return
            if unverified:
                if len(self._unverified) >= MAX_UNVERIFIED:
                    self._skipped.log(
                        logging.INFO,
                        "greetings",
                        "not greeting %s and others: %d hosts heard of are being greeted",
                        address,
                        MAX_UNVERIFIED,
                    )
                    return
                self._unverified[address] = pub
            self._greeting.add(address)
        gossip = self._gossip()
        if unverified and pub and gossip is not None:
            gossip.connect(pub)
        self._send_hello(address, want_peers, retries, 0)

    def _send_hello(
        self, address: str, want_peers: bool, retries: int | None, attempt: int
    ) -> None:
        body = self._facts()
        if want_peers:
            body["want_peers"] = True
        try:
            future = self._transport.request(
                address, VERB_HELLO, encode_value(body), timeout=HELLO_TIMEOUT, ordered=False
            )
        except PagletError:
            self._done(address)
            return
        future.add_done_callback(
            lambda done: self._submit(self._on_reply, address, want_peers, retries, attempt, done)
        )

    def when_settled(self, address: str, callback: Callable[[], None], timeout: float) -> None:
        """Call ``callback`` once, when the greeting of ``address`` settles or after ``timeout``.

        No thread waits: the callback runs on the worker that settled the greeting, or on
        one submitted by an I/O-thread timer. Call it after :meth:`greet`.
        """
        told = threading.Event()

        def tell() -> None:
            with self._lock:
                if told.is_set():
                    return
                told.set()
                waiting = self._waiters.get(address, [])
                if tell in waiting:
                    waiting.remove(tell)
                if not waiting:
                    self._waiters.pop(address, None)
            callback()

        with self._lock:
            under_way = address in self._greeting
            if under_way:
                self._waiters.setdefault(address, []).append(tell)
        if not under_way:
            tell()  # settled already, or never started (stopped, too many unverified)
            return
        io = self._transport.io
        try:
            io.call_soon(io.call_later, timeout, lambda: self._submit(tell))
        except PagletError:
            tell()

    def _settle(self, address: str) -> None:
        """The first answer (or failure) of a greeting: a joining host waits for no more."""
        if self._on_settled is not None:
            self._on_settled(address)
        with self._lock:
            waiting = list(self._waiters.get(address, ()))
        for tell in waiting:
            tell()

    def _done(self, address: str) -> None:
        self._settle(address)
        with self._lock:
            self._greeting.discard(address)
            early = self._unverified.pop(address, "")
        gossip = self._gossip()
        if early and gossip is not None:
            known = self._peers.get(address)
            if known is None or known.pub_address != early:
                gossip.disconnect(early)  # it never answered, or gossips elsewhere

    def _on_reply(
        self,
        address: str,
        want_peers: bool,
        retries: int | None,
        attempt: int,
        future: FutureReply,
    ) -> None:
        error = future.error()
        if error is None:
            try:
                self._on_answer(address, decode_value(future.get_reply(0).body, self._policy))
            except (PagletError, ValueError) as exc:
                error = exc
            else:
                self._done(address)
                return
        if isinstance(error, ProtocolError):
            self._on_refused(address, error)
            self._done(address)
            return
        if self._stopped or (retries is not None and attempt >= retries):
            self._done(address)
            return
        self._settle(address)
        delay = min(MAX_BACKOFF, 0.2 * (2**attempt))
        io = self._transport.io
        try:
            io.call_soon(
                io.call_later,
                delay,
                lambda: self._send_hello(address, want_peers, retries, attempt + 1),
            )
        except PagletError:
            self._done(address)
