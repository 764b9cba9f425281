"""The configuration of one host, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 8765


@dataclass(frozen=True)
class HostConfig:
    """Everything a host is told at start-up.

    Attributes:
        name: the host's name in the mesh (targets may use it instead of the address).
        host: interface to bind (``127.0.0.1`` keeps the host on this machine).
        port: port to bind; 0 lets the OS choose.
        peers: static seed addresses greeted at start (any accepted spelling).
        mesh_version: hosts only talk to hosts of the same mesh version.
        tags: free-form labels other hosts see.
        properties: ``KEY=VALUE`` facts other hosts see.
        persistence_dir: where inactive paglets are stored; None keeps them in memory.
        discovery: find peers with zeroconf (off in tests).
        api_key: the mesh secret (the security issue wires it to CURVE).
        allowed_modules: module prefixes whose paglet classes may be imported.
        request_timeout: default seconds a remote call waits.
        transfer_timeout: seconds a dispatch/clone may take before it fails.
        max_message_size: largest multipart message, in bytes.
        max_workers: cap of the worker pool.
        event_log_size: how many context events are kept.
    """

    name: str = "paglets"
    host: str = "127.0.0.1"
    port: int = 0
    peers: tuple[str, ...] = ()
    mesh_version: str = "dev"
    tags: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    persistence_dir: Path | None = None
    discovery: bool = False
    api_key: str | None = None
    allowed_modules: tuple[str, ...] = ("paglets.examples",)
    request_timeout: float = 30.0
    transfer_timeout: float = 30.0
    max_message_size: int = 512 * 1024 * 1024
    max_workers: int = 1024
    event_log_size: int = 1000
