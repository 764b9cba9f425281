"""The settings of one transport: limits, timeouts, security and where to bind."""

from __future__ import annotations

from dataclasses import dataclass

from paglets.net.security import Identity, MeshKeys


@dataclass(frozen=True)
class TransportConfig:
    """Socket settings of one transport.

    Attributes:
        bind_host: interface to bind the ROUTER on; None for a client-only transport.
        port: port to bind (0: one the OS chooses).
        max_message_size: largest multipart message accepted or sent, in bytes.
        high_water_mark: messages queued per socket before sends block or drop.
        linger_ms: how long closing sockets try to deliver what is queued.
        heartbeat_ms: ZMTP heartbeat interval; a peer silent for 3 of them is dropped.
        default_timeout: seconds a request waits for its reply unless told otherwise.
        reconnect_ms, reconnect_max_ms: reconnection backoff bounds.
        keys: the mesh's CURVE keys; None means plain, unauthenticated sockets.
        max_inflight_per_peer: requests one peer may have unanswered at once.
        identity: the key pair connecting sockets present (default: a fresh one).
        port_tries: consecutive ports tried from ``port`` until one binds (1: only
            ``port``); the bind itself is the test, so two hosts starting together
            both come up.
        link_idle_ttl: seconds an unconnected, unused DEALER is kept.
    """

    bind_host: str | None = "127.0.0.1"
    port: int = 0
    max_message_size: int = 512 * 1024 * 1024
    high_water_mark: int = 50_000
    linger_ms: int = 500
    heartbeat_ms: int = 5000
    default_timeout: float = 30.0
    reconnect_ms: int = 100
    reconnect_max_ms: int = 5000
    keys: MeshKeys | None = None
    max_inflight_per_peer: int = 10_000
    identity: Identity | None = None
    port_tries: int = 1
    link_idle_ttl: float = 30.0
