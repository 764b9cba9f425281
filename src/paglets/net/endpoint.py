"""Host addresses: ``tcp://HOST:PORT`` and the spellings accepted for it, or ``ipc://PATH``."""

from __future__ import annotations

import re

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(?P<port>\d{1,5})$")


def normalize_address(address: str) -> str:
    """Return the canonical ``tcp://HOST:PORT`` form of an address.

    ``HOST:PORT``, ``tcp://HOST:PORT`` and ``http://HOST:PORT`` (with an optional
    trailing slash) name the same endpoint; ``localhost`` stays as written.

    Raises:
        ValueError: not one of those spellings, or a port outside 1..65535.
    """
    text = address.strip()
    if text.startswith(IPC_SCHEME):
        return _checked_ipc(text, address)
    for scheme in ("tcp://", "http://", "https://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.rstrip("/")
    match = _HOST_PORT.match(text)
    if match is None:
        raise ValueError(f"not a host address (expected tcp://HOST:PORT): {address!r}")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range in {address!r}")
    return f"tcp://{match['host']}:{port}"


IPC_SCHEME = "ipc://"
"""The scheme of a local socket file (an isolated paglet's child process listens on one)."""


def is_ipc(address: str) -> bool:
    """Return whether ``address`` names a local ``ipc://`` socket rather than a TCP host."""
    return address.strip().startswith(IPC_SCHEME)


def _checked_ipc(text: str, address: str) -> str:
    path = text[len(IPC_SCHEME) :]
    # the kernel's sun_path holds 107 bytes; zmq would fail later with a vaguer error
    if not path or len(path.encode()) > 107 or "\0" in path:
        raise ValueError(f"not an ipc address (expected ipc://PATH of <= 107 bytes): {address!r}")
    return text


def looks_like_address(text: str) -> bool:
    """Return whether ``text`` is an address rather than a host name."""
    try:
        normalize_address(text)
    except ValueError:
        return False
    return True


def split_address(address: str) -> tuple[str, int]:
    """Return ``(host, port)`` of an address in any accepted spelling."""
    canonical = normalize_address(address)
    if is_ipc(canonical):
        raise ValueError(f"an ipc address has no host and port: {address!r}")
    host, _, port = canonical[len("tcp://") :].rpartition(":")
    return host.strip("[]"), int(port)
