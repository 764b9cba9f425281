"""Mesh security: CURVE keys derived from one shared secret, and the ZAP check.

Every host of a mesh knows the same secret, so every host derives the same two CURVE
key pairs from it: a *server* pair (sockets that bind: ROUTER, PUB) and a *client*
pair (sockets that connect: DEALER, SUB). A connecting socket must know the server's
public key, which only holders of the secret can compute, and must prove it holds the
client secret key; the :class:`ZapHandler` (libzmq's authentication hook, answered on
the host's I/O thread) admits only that client key. Traffic is encrypted with keys
negotiated per connection, so a capture shows no plaintext.

A :class:`HandshakeWatch` reads a socket's monitor events so that a refused handshake
surfaces as ``AuthenticationError`` naming the variable to set, rather than as a silent
time-out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

import zmq
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"paglets"
SECRET_VARIABLE = "PAGLETS_API_KEY"

_HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


@dataclass(frozen=True, repr=False)
class MeshKeys:
    """The CURVE keys of a mesh (z85-encoded), derived from its secret."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes
    fingerprint: str
    """A short id of the secret, safe to print (it cannot be turned back into it)."""

    def __repr__(self) -> str:
        return f"<MeshKeys {self.fingerprint}>"


def derive_keys(secret: str) -> MeshKeys:
    """Derive a mesh's CURVE keys from its shared secret.

    Raises:
        ValueError: the secret is empty.
    """
    if not secret:
        raise ValueError("the mesh secret must not be empty")
    material = secret.encode()

    def derived(label: bytes) -> bytes:
        return hmac.new(material, b"paglets-curve-v1-" + label, hashlib.sha256).digest()

    server_secret = z85.encode(derived(b"server"))
    client_secret = z85.encode(derived(b"client"))
    fingerprint = derived(b"fingerprint").hex()[:12]
    return MeshKeys(
        server_public=zmq.curve_public(server_secret),
        server_secret=server_secret,
        client_public=zmq.curve_public(client_secret),
        client_secret=client_secret,
        fingerprint=fingerprint,
    )


def configure_socket(socket: zmq.Socket[Any], keys: MeshKeys, *, server: bool) -> None:
    """Make ``socket`` a CURVE server (binding side) or client (connecting side)."""
    if server:
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_SECRETKEY, keys.server_secret)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, keys.server_public)
        socket.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    else:
        socket.setsockopt(zmq.CURVE_SERVERKEY, keys.server_public)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, keys.client_public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, keys.client_secret)


class ZapHandler:
    """Answers libzmq's ZAP requests for one context: only the mesh client key passes."""

    def __init__(self, context: zmq.Context[Any], keys: MeshKeys) -> None:
        self._allowed = z85.decode(keys.client_public)
        self.socket: zmq.Socket[Any] = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)
        self._logged: dict[str, float] = {}
        self.denied = 0

    def on_readable(self, socket: zmq.Socket[Any]) -> None:
        """Answer every pending ZAP request (called by the I/O thread)."""
        while True:
            try:
                frames = socket.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self._answer(socket, frames)

    def _answer(self, socket: zmq.Socket[Any], frames: list[bytes]) -> None:
        if len(frames) < 6:
            socket.send_multipart([b"1.0", b"", b"500", b"malformed ZAP request", b"", b""])
            return
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        allowed = mechanism == b"CURVE" and credentials[:1] == [self._allowed]
        if allowed:
            socket.send_multipart([version, request_id, b"200", b"OK", b"mesh", b""])
            return
        self.denied += 1
        peer = address.decode(errors="replace")
        now = time.monotonic()
        if now - self._logged.get(peer, -3600.0) > 60.0:
            self._logged[peer] = now
            log.warning("refused a connection from %s: it does not hold this mesh's secret", peer)
        socket.send_multipart([version, request_id, b"400", b"wrong mesh secret", b"", b""])

    def close(self) -> None:
        """Close the ZAP socket."""
        self.socket.close(0)


class HandshakeWatch:
    """Reads a socket's monitor to tell whether its handshakes were refused."""

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self._monitor = socket.get_monitor_socket(_HANDSHAKE_FAILURES)
        self.failure = ""

    def check(self) -> str:
        """Return a description of the last handshake failure seen ('' if none)."""
        while True:
            try:
                frames = self._monitor.recv_multipart(flags=zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                return self.failure
            event = parse_monitor_message(frames)
            if event["event"] & _HANDSHAKE_FAILURES:
                self.failure = _describe(int(event["event"]), int(event["value"]))

    def close(self) -> None:
        """Close the monitor socket."""
        self._monitor.close(0)


def _describe(event: int, value: int) -> str:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return "the host refused this mesh secret"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return "the security handshake failed (one side has a mesh secret, the other not)"
    return "the host closed the connection during the security handshake (wrong mesh secret?)"


def authentication_hint(address: str, failure: str, secured: bool) -> str:
    """The message of the error raised when a handshake with ``address`` failed."""
    if secured:
        advice = f"set {SECRET_VARIABLE} to the secret of that mesh"
    else:
        advice = f"that host runs a mesh secret: set {SECRET_VARIABLE} to it"
    return f"cannot talk to {address}: {failure}; {advice}"
