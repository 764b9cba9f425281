"""Mesh security: the mesh's CURVE keys from its secret, each host's identity, the ZAP check.

Keys (docs/security.md argues the design; docs/protocol.md records the parameters)
    The mesh secret goes through ``hashlib.scrypt`` (:data:`KDF_SALT`, ``n`` =
    :data:`KDF_N`, ``r`` = :data:`KDF_R`, ``p`` = :data:`KDF_P`, 64 bytes out): about
    0.09 s and 16 MiB per guess, so one captured handshake no longer lets an attacker
    try a human-chosen secret at HMAC speed. The first 32 bytes are the mesh's CURVE
    *server* secret key (every ROUTER and PUB binds with it), the next 32 give a short
    fingerprint. A process derives each secret once (:func:`derive_keys` caches it).

Identity
    Every host (and every client process) also holds an :class:`Identity`: a CURVE key
    pair of its own that its connecting sockets (DEALER, SUB) present. Its public key
    is announced in ``hello``, in gossip facts and in the zeroconf TXT record.

Joining
    A connecting socket completes the CURVE handshake only if it knows the mesh's
    server public key, which is computed from the secret and never sent, printed or
    announced: the handshake is the proof of the secret. The :class:`ZapHandler`
    (libzmq's authentication hook, answered on the host's I/O thread) admits such a
    peer and records its identity key as the connection's ``User-Id``, which the
    receiver reads on every message (:func:`peer_key`) to tell who sent it.

A :class:`HandshakeWatch` reads a socket's monitor events so that a refused handshake
surfaces as ``AuthenticationError`` naming the variable to set, rather than as a silent
time-out, and tells whether the socket holds a live connection.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from zmq.utils import z85

from paglets.net.log_limit import RateLimitedLog

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"paglets"
SECRET_VARIABLE = "PAGLETS_API_KEY"
IDENTITY_FILE = "identity.key"

KDF_SALT = b"paglets-mesh-kdf-v2"
KDF_N = 2**14
KDF_R = 8
KDF_P = 1
_KDF_MAXMEM = 64 * 1024 * 1024

_HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_LINK_EVENTS = _HANDSHAKE_FAILURES | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
_MONITOR_IDS = itertools.count(1)


@dataclass(frozen=True, repr=False)
class MeshKeys:
    """The CURVE server keys of a mesh (z85-encoded), derived from its secret."""

    server_public: bytes
    server_secret: bytes
    fingerprint: str
    """A short id of the secret, safe to print (it cannot be turned back into it)."""

    def __repr__(self) -> str:
        return f"<MeshKeys {self.fingerprint}>"


@dataclass(frozen=True, repr=False)
class Identity:
    """One host's own CURVE key pair (z85-encoded); only the public half is announced."""

    public: bytes
    secret: bytes

    def __repr__(self) -> str:
        return f"<Identity {self.public.decode()}>"

    @property
    def public_text(self) -> str:
        """The public key as announced (40 z85 characters)."""
        return self.public.decode()

    @classmethod
    def generate(cls) -> Identity:
        """A fresh key pair (a host without a persistence dir gets one per start)."""
        public, secret = zmq.curve_keypair()
        return cls(public, secret)

    @classmethod
    def load_or_create(cls, directory: Path) -> Identity:
        """The key pair kept in ``directory/identity.key`` (created owner-only if absent).

        Raises:
            ValueError: the file exists but does not hold a key.
        """
        path = directory / IDENTITY_FILE
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls._read(path)
        fresh = cls.generate()
        with os.fdopen(fd, "w") as handle:
            handle.write(fresh.secret.decode() + "\n")
        return fresh

    @classmethod
    def _read(cls, path: Path) -> Identity:
        try:
            secret = path.read_text().strip().encode()
            return cls(zmq.curve_public(secret), secret)
        except (OSError, ValueError, zmq.ZMQError) as exc:
            raise ValueError(f"{path} does not hold a host identity key: {exc}") from None


@functools.lru_cache(maxsize=16)
def derive_keys(secret: str) -> MeshKeys:
    """Derive a mesh's CURVE server keys from its shared secret (scrypt; cached).

    Raises:
        ValueError: the secret is empty.
    """
    if not secret:
        raise ValueError("the mesh secret must not be empty")
    material = hashlib.scrypt(
        secret.encode(),
        salt=KDF_SALT,
        n=KDF_N,
        r=KDF_R,
        p=KDF_P,
        maxmem=_KDF_MAXMEM,
        dklen=64,
    )
    server_secret = z85.encode(material[:32])
    return MeshKeys(
        server_public=zmq.curve_public(server_secret),
        server_secret=server_secret,
        fingerprint=material[32:].hex()[:12],
    )


def configure_socket(
    socket: zmq.Socket[Any],
    keys: MeshKeys,
    *,
    server: bool,
    identity: Identity | None = None,
) -> None:
    """Make ``socket`` a CURVE server (binding side) or client (connecting side).

    Args:
        socket: the socket, before it binds or connects.
        keys: the mesh's keys.
        server: True for a binding socket.
        identity: the key pair a client presents (default: a fresh one).
    """
    if server:
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_SECRETKEY, keys.server_secret)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, keys.server_public)
        socket.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        return
    own = identity if identity is not None else Identity.generate()
    socket.setsockopt(zmq.CURVE_SERVERKEY, keys.server_public)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, own.public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, own.secret)


def peer_key(frame: zmq.Frame) -> str:
    """The identity key (z85) of the peer a received frame came from ('' if unsecured)."""
    try:
        value = frame.get("User-Id")
    except zmq.ZMQError:
        return ""
    return value if isinstance(value, str) else ""


class ZapHandler:
    """Answers libzmq's ZAP requests: a peer that completed CURVE passes, named by its key.

    Completing the handshake proves the peer knows the mesh's server public key, hence
    the secret; anything else (another mechanism, a malformed request) is refused.
    """

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.socket: zmq.Socket[Any] = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)
        self._refusals = RateLimitedLog(log, 60.0)
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
        if mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
            user = z85.encode(credentials[0])
            socket.send_multipart([version, request_id, b"200", b"OK", user, b""])
            return
        self.denied += 1
        self._refusals.warning(
            address.decode(errors="replace"),
            "refused a connection from %s: it does not hold this mesh's secret",
        )
        socket.send_multipart([version, request_id, b"400", b"wrong mesh secret", b"", b""])

    def close(self) -> None:
        """Close the ZAP socket."""
        self.socket.close(0)


class HandshakeWatch:
    """Reads a socket's monitor: were its handshakes refused, is it connected now.

    libzmq sends each monitor event from its I/O thread with a *blocking* send, so a
    reader that is gone (closed while the socket still reports a disconnect) or full
    stalls that thread and with it every socket of the context: no connection comes
    up any more, nothing queued leaves. Hence :meth:`close` stops the monitor before
    it closes the reader and must run before the watched socket is closed, and the
    owner keeps the reader drained (:attr:`socket` readable: call :meth:`check`).
    """

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        # A name of our own: pyzmq's default one is made of the socket's file number,
        # which a socket opened right after another closed reuses while the old
        # monitor's endpoint is still bound (EADDRINUSE).
        address = f"inproc://paglets-monitor-{next(_MONITOR_IDS)}"
        self._watched = socket
        socket.monitor(address, _LINK_EVENTS)
        self._monitor: zmq.Socket[Any] = socket.context.socket(zmq.PAIR)
        self._monitor.setsockopt(zmq.LINGER, 0)
        self._monitor.setsockopt(zmq.RCVHWM, 0)  # no limit: a full pipe would block libzmq
        self._monitor.connect(address)
        self.failure = ""
        self.connected = False
        self.ever_connected = False

    def check(self) -> str:
        """Return a description of the last handshake failure seen ('' if none)."""
        while True:
            try:
                frames = self._monitor.recv_multipart(flags=zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                return self.failure
            kind, value = _monitor_event(frames[0])
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connected = self.ever_connected = True
                self.failure = ""
            elif kind == zmq.EVENT_DISCONNECTED:
                self.connected = False
            elif kind & _HANDSHAKE_FAILURES:
                self.failure = _describe(kind, value)

    @property
    def socket(self) -> zmq.Socket[Any]:
        """The reader of the monitor events (poll it and call :meth:`check`)."""
        return self._monitor

    def close(self) -> None:
        """Stop the monitor, then close its reader; call it before closing the socket."""
        try:
            self._watched.disable_monitor()
        except zmq.ZMQError:
            pass  # the watched socket was closed first: nothing left to stop
        self._monitor.close(0)


def _monitor_event(frame: bytes) -> tuple[int, int]:
    """The event id and value of a socket monitor's first frame (16 and 32 bits).

    ``zmq.utils.monitor`` parses it too, but it imports ``zmq.asyncio`` and asyncio.
    """
    event, value = struct.unpack("=Hi", frame[:6])
    return int(event), int(value)


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


def host_identity(directory: Path | None) -> Identity:
    """A host's identity: kept in its persistence dir if it has one, else fresh.

    A host with a persistence dir is the same host after a restart (its paglets come
    back), so its peers should see the same key; a host without one has no durable
    self, and a key per start costs nothing. The user's config dir is not used: every
    host of that user on the machine would then share one identity.

    Raises:
        ValueError: the persistence dir holds an unreadable identity file.
    """
    return Identity.generate() if directory is None else Identity.load_or_create(directory)
