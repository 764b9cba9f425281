"""The configuration of one host, as one frozen value."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from paglets.net.gossip import MAX_FACTS_SIZE

DEFAULT_PORT = 8765
PORT_VARIABLE = "PAGLETS_PORT"
"""Overrides :data:`DEFAULT_PORT` for this machine's CLIs: where ``paglets host`` binds
without ``--port``, and where the other commands look for a local host first."""
MAX_DESCRIPTION_SIZE = MAX_FACTS_SIZE // 2
"""Bytes the encoded tags and properties may take: they travel in every heartbeat."""


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
        persistence_dir: where inactive paglets, artifacts and paglets' work dirs are
            kept; None keeps paglets in memory and files in a temporary directory
            removed at stop.
        discovery: find peers with zeroconf (off in tests).
        pub_port: port of the gossip PUB socket (bound on ``host``); 0 lets the OS choose.
        heartbeat_interval: seconds between two publications of this host's facts.
        offline_after: seconds of silence after which a peer is marked offline (checked
            every heartbeat: 2.5 intervals means "missed its third heartbeat").
        api_key: the mesh secret; None reads ``PAGLETS_API_KEY`` or the config dir's.
        api_key_env: the name of the environment variable holding the secret.
        insecure: plain, unauthenticated sockets (no secret at all).
        allowed_modules: module prefixes whose paglet classes may be imported.
        request_timeout: default seconds a remote call waits.
        transfer_timeout: seconds a dispatch/clone may take before it fails.
        max_message_size: largest multipart message, in bytes.
        max_workers: cap of the worker pool.
        event_log_size: how many context events are kept.
        max_queued_messages: messages one paglet's mailbox holds before refusing more.
        max_inflight_per_peer: requests one peer may have unanswered at once.
        artifact_max_size: largest single artifact (or carried file) accepted, in
            bytes; None: no limit.
        artifact_storage_quota: bytes the artifact store may hold (blobs plus uploads
            in progress); None: only the free disk space limits it.
        artifact_chunk_size: bytes per chunk when moving artifacts and files.
        artifact_window: chunk requests kept in flight by one transfer (the credit).
        artifact_chunk_timeout: seconds one chunk may take before the peer counts as
            gone (then the transfer resumes, up to ``artifact_retries`` times).
        artifact_retries: how many times an interrupted pull resumes before failing.
        artifact_partial_ttl: seconds an interrupted transfer's partial file is kept
            for a resume.
        compute_cpus: CPU ids compute jobs may use (None: this process's affinity).
        compute_reserved_cpus: CPU ids kept free of compute jobs.
        compute_max_load_per_cpu: the load gate of compute slots (None: no gate);
            ``Host(...)`` takes ``$PAGLETS_MAX_LOAD_PER_CPU`` when it is not given.
        compute_history_size: finished compute jobs kept in the history.
        artifact_min_rate: bytes per second a dispatch carrying files is granted on top
            of ``transfer_timeout`` before the source gives up.
        store_synchronous: SQLite ``synchronous`` level of the host database: ``FULL``
            (every acknowledged write fsynced: survives a power cut) or ``NORMAL``
            (survives ``kill -9`` only; see docs/durability.md).
        max_mailbox_bytes: bytes of message bodies one paglet's mailbox holds (a
            message into an empty mailbox is taken whatever its size, up to the host's
            budget).
        max_host_queued_messages: messages all mailboxes of the host hold together
            (``UNQUEUED_PRIORITY`` ones count until their handler starts).
        max_host_queued_bytes: bytes of message bodies all mailboxes hold together.
        max_paglets: active paglets this host runs at once.
        max_transfers: paglets arriving (``transfer`` requests) at once.
        max_uploads: artifact uploads in progress at once.
        max_upload_fds: partial files open at once for receiving (uploads, fetches,
            files carried by arriving paglets); each holds one file descriptor.
        max_run_threads: ``run()`` methods running at once; each holds one thread.
        run_report_after: seconds after which a ``run()`` still running is reported
            (a ``run-long`` event; ``info()["run"]`` lists it).
        control_workers: threads of the control lane, which serves the mesh and
            hand-off verbs (hello, abort, mesh) and the heartbeat, never user code.
        files_roots: directories paglets may read or write host files under
            (grab, probe, search, ``register_file``); None: the user's home and the
            system temp dir; ``/`` lifts the limit.
        mesh: False runs the host alone: no gossip, no seeds, no discovery.
        paglet_storage_quota: bytes each paglet class's ``persistent_storage()`` may
            hold on this host.
        join_timeout: seconds ``start_background`` waits for the seeds' first answer.
        name_wait: seconds a move to a host name not yet known waits for the mesh.
        port_tries: with a non-zero ``port``, how many consecutive ports from it are
            tried until one binds (1: that port only).
        link_idle_ttl: seconds a connection to an address that does not answer is
            kept unused before it is closed.
        max_peers: hosts the peer table keeps (the offline ones longest silent go first).
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
    pub_port: int = 0
    heartbeat_interval: float = 1.0
    offline_after: float = 2.5
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    insecure: bool = False
    allowed_modules: tuple[str, ...] = ("paglets.examples", "paglets.patterns", "paglets.system")
    request_timeout: float = 30.0
    transfer_timeout: float = 30.0
    max_message_size: int = 512 * 1024 * 1024
    max_workers: int = 1024
    event_log_size: int = 1000
    max_queued_messages: int = 100_000
    max_inflight_per_peer: int = 10_000
    artifact_max_size: int | None = None
    artifact_storage_quota: int | None = None
    artifact_chunk_size: int = 1024 * 1024
    artifact_window: int = 8
    artifact_chunk_timeout: float = 10.0
    artifact_retries: int = 2
    artifact_partial_ttl: float = 3600.0
    artifact_min_rate: float = 4 * 1024 * 1024
    store_synchronous: str = "FULL"
    max_mailbox_bytes: int = 256 * 1024 * 1024
    max_host_queued_messages: int = 200_000
    max_host_queued_bytes: int = 1024 * 1024 * 1024
    max_paglets: int = 100_000
    max_transfers: int = 256
    max_uploads: int = 256
    max_upload_fds: int = 512
    max_run_threads: int = 1024
    run_report_after: float = 60.0
    control_workers: int = 4
    files_roots: tuple[Path, ...] | None = None
    mesh: bool = True
    paglet_storage_quota: int = 64 * 1024 * 1024
    join_timeout: float = 2.0
    name_wait: float = 2.0
    port_tries: int = 1
    link_idle_ttl: float = 30.0
    max_peers: int = 4096
    compute_cpus: tuple[int, ...] | None = None
    compute_reserved_cpus: tuple[int, ...] = ()
    compute_max_load_per_cpu: float | None = 1.0
    compute_history_size: int = 100

    def __post_init__(self) -> None:
        if self.store_synchronous not in ("FULL", "NORMAL"):
            raise ValueError(
                f"store_synchronous must be FULL or NORMAL, not {self.store_synchronous!r}"
            )
        size = len(msgpack.packb([list(self.tags), dict(self.properties)], use_bin_type=True))
        if size > MAX_DESCRIPTION_SIZE:
            raise ValueError(
                f"tags and properties take {size} bytes encoded, over the limit of "
                f"{MAX_DESCRIPTION_SIZE}: every heartbeat carries them, keep them short"
            )


LOAD_VARIABLE = "PAGLETS_MAX_LOAD_PER_CPU"
"""Sets the load gate of a host that is not given one: a number, or ``none``."""


def parse_load_gate(raw: str, source: str = LOAD_VARIABLE) -> float | None:
    """A load gate as typed: a number of load per logical CPU, or ``none`` for no gate.

    Raises:
        ValueError: neither a number nor ``none`` (the message names ``source``).
    """
    text = raw.strip()
    if text.lower() == "none":
        return None
    try:
        gate = float(text)
    except ValueError:
        gate = math.nan
    if math.isnan(gate):
        raise ValueError(f"{source} must be a number or 'none', not {raw!r}")
    return gate


def default_port() -> int:
    """This machine's default host port: ``$PAGLETS_PORT`` when set, else 8765.

    Raises:
        ValueError: the variable is set but is not a port number (1-65535).
    """
    raw = os.environ.get(PORT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{PORT_VARIABLE} must be a port number (1-65535), not {raw!r}")
    return int(raw)
