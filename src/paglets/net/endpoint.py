"""Host addresses: ``tcp://HOST:PORT`` and the spellings accepted for it."""

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
    host, _, port = canonical[len("tcp://") :].rpartition(":")
    return host.strip("[]"), int(port)
