"""Which host a CLI talks to: ``--entry NAME|ADDRESS``, else one on this machine, else zeroconf.

Resolution, in order:

1. ``--entry`` is an address (``tcp://H:P``, ``H:P``, ``http://H:P``): that host.
2. Otherwise a host listening on this machine's default address
   (:func:`local_entry`: 127.0.0.1 on 8765, or on ``$PAGLETS_PORT``) is asked first:
   with no ``--entry`` it is the entry; with ``--entry NAME`` it is the entry if it
   is called NAME, else its view of the mesh (the ``mesh`` verb) gives NAME's address.
3. Otherwise zeroconf is browsed for a few seconds: the first host found (or the first
   called NAME) is the entry.

``PAGLETS_BROWSE_SECONDS`` (default 2) bounds the browse; ``0`` skips it, which tests
use so that nothing is sent on the machine's interfaces.

A host that answers but refuses us (wrong or missing mesh secret) is reported as such,
not skipped: browsing on would only hide the real problem.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from paglets.cli.output import fail
from paglets.core.errors import PagletError, PeerNotFoundError, ReplyTimeoutError
from paglets.net.endpoint import looks_like_address, normalize_address, split_address
from paglets.remote.client import HostClient
from paglets.runtime.config import default_port

PROBE_TIMEOUT = 1.0
BROWSE_SECONDS = 2.0
BROWSE_VARIABLE = "PAGLETS_BROWSE_SECONDS"
T = TypeVar("T")


def local_entry() -> str:
    """Where a CLI looks for a host on this machine first: ``tcp://127.0.0.1:PORT``.

    Raises:
        ValueError: ``$PAGLETS_PORT`` is set but is not a port number.
    """
    return f"tcp://127.0.0.1:{default_port()}"


@dataclass(frozen=True)
class ClientOptions:
    """How a CLI connects: per-call timeout and where the mesh secret comes from."""

    timeout: float = 10.0
    api_key_env: str | None = None
    insecure: bool = False

    def client(self, address: str, timeout: float | None = None) -> HostClient:
        """Open a :class:`HostClient` to ``address`` with these options.

        Raises:
            ValueError: the address is malformed or ``api_key_env`` is unset.
        """
        return HostClient(
            address=address,
            timeout=self.timeout if timeout is None else timeout,
            api_key_env=self.api_key_env,
            insecure=self.insecure,
        )


def browse_seconds_from_env() -> float:
    """How long the entry search may browse zeroconf (``$PAGLETS_BROWSE_SECONDS``).

    Raises:
        ValueError: the variable is set but is not a non-negative number.
    """
    raw = os.environ.get(BROWSE_VARIABLE)
    if raw is None or raw.strip() == "":
        return BROWSE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{BROWSE_VARIABLE} must be a number of seconds, not {raw!r}") from None
    if seconds < 0:
        raise ValueError(f"{BROWSE_VARIABLE} must not be negative, got {raw!r}")
    return seconds


def fetch_mesh_view(client: HostClient, timeout: float | None = None) -> dict[str, Any]:
    """The entry host's view of the mesh (the ``mesh`` verb).

    Raises:
        PagletError: the host did not answer, or answered something else than a map.
    """
    return client.mesh(timeout=timeout)


def _probe(address: str, options: ClientOptions) -> dict[str, Any] | None:
    """The ping facts of the host at ``address``, or None when nobody answers there."""
    if nobody_listens(address):
        return None  # no need to wait out a ping to nobody
    try:
        with options.client(address, PROBE_TIMEOUT) as client:
            return client.health(timeout=PROBE_TIMEOUT)
    except (PeerNotFoundError, ReplyTimeoutError):
        return None


def nobody_listens(address: str) -> bool:
    """Whether no socket listens at ``address``, a port on this machine's loopback.

    Told by binding the port ourselves (and letting it go): a bind is silent, where a
    TCP connect would show up in the host's log as a failed security handshake. Any
    doubt (another address, a port in use by anything) answers False.
    """
    try:
        host, port = split_address(address)
    except ValueError:
        return False
    if host not in ("127.0.0.1", "::1", "localhost"):
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError:
        return False
    return True


def _named_in_view(address: str, name: str, options: ClientOptions) -> str | None:
    with options.client(address) as client:
        view = fetch_mesh_view(client)
    for peer in view.get("peers") or ():
        if isinstance(peer, dict) and peer.get("name") == name and peer.get("online"):
            return normalize_address(str(peer["address"]))
    return None


def resolve_entry(
    entry: str | None,
    options: ClientOptions,
    *,
    local: str | None = None,
    browse_seconds: float | None = None,
) -> str:
    """The address of the host a CLI should talk to (see the module docstring).

    Raises:
        PeerNotFoundError: no such host could be found.
        AuthenticationError: the local host refused our (missing) secret.
        ValueError: ``api_key_env`` names an unset variable.
    """
    if entry and looks_like_address(entry):
        return normalize_address(entry)
    if browse_seconds is None:
        browse_seconds = browse_seconds_from_env()
    if local is None:
        local = local_entry()
    local_facts = _probe(local, options)
    if local_facts is not None:
        if entry is None or local_facts.get("name") == entry:
            return local
        found = _named_in_view(local, entry, options)
        if found is not None:
            return found
    hosts = []
    if browse_seconds > 0:
        from paglets.net.discovery import browse  # zeroconf: only when browsing

        hosts = browse(browse_seconds, until=lambda host: entry is None or host.name == entry)
    for host in hosts:
        if entry is None or host.name == entry:
            return host.address
    wanted = "no host" if entry is None else f"no host called {entry!r}"
    raise PeerNotFoundError(
        f"found {wanted} at {local} or by zeroconf within {browse_seconds:g} s; "
        "start one with `paglets host`, or give --entry NAME|ADDRESS"
    )


def on_entry(entry: str | None, options: ClientOptions, action: Callable[[HostClient], T]) -> T:
    """Run ``action`` with a client of the entry host (see :func:`resolve_entry`).

    A malformed option or a paglets error ends the command with its message and a
    non-zero exit, not a traceback.
    """
    try:
        with options.client(resolve_entry(entry, options)) as client:
            return action(client)
    except ValueError as exc:
        fail(str(exc))
    except PagletError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")
