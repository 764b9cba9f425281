"""The backend a proxy uses when it was made without a client.

A proxy built as ``PagletProxy(host_url, agent_id)`` (say, from a ref read out of a
state, or in a ported script) still needs a way to reach its paglet. It takes, in this
order: the host running in this process (a host registers itself when it starts and
leaves when it stops; the latest started one wins), else one shared client made with the
mesh secret found the usual way (``PAGLETS_API_KEY``, the config dir), opened on first
use and closed at exit.
"""

from __future__ import annotations

import atexit
import threading

from paglets.net.mesh_secret import resolve_secret
from paglets.net.security import derive_keys
from paglets.net.transport import Transport, TransportConfig
from paglets.remote.proxy_backend import ProxyBackend, RemoteProxyBackend
from paglets.wire.classpath import ClassPolicy

DEFAULT_ALLOWED = ("paglets.examples", "paglets.patterns")
"""Module prefixes whose classes a client accepts in replies without being told."""

_lock = threading.Lock()
_hosts: list[ProxyBackend] = []
_shared: list[tuple[Transport, RemoteProxyBackend]] = []


def open_backend(
    api_key: str | None = None,
    timeout: float = 30.0,
    allowed_modules: tuple[str, ...] = (),
    *,
    api_key_env: str | None = None,
    insecure: bool = False,
) -> tuple[Transport, RemoteProxyBackend]:
    """Start a client transport (no ROUTER) and the backend speaking through it.

    The secret is found as a host finds it, except that none is ever created: with none
    the sockets are plain.

    Raises:
        ValueError: ``api_key_env`` names an unset or empty variable.
    """
    secret = None if insecure else resolve_secret(api_key, api_key_env, create=False)
    keys = None if secret is None else derive_keys(secret.value)
    transport = Transport(
        "client", TransportConfig(bind_host=None, default_timeout=timeout, keys=keys)
    )
    transport.start()
    policy = ClassPolicy((*DEFAULT_ALLOWED, *allowed_modules))
    return transport, RemoteProxyBackend(transport, policy)


def register_host_backend(backend: ProxyBackend) -> None:
    """Make ``backend`` (a started host's) the one client-less proxies use."""
    with _lock:
        _hosts.append(backend)


def unregister_host_backend(backend: ProxyBackend) -> None:
    """Forget a stopping host's backend."""
    with _lock:
        if backend in _hosts:
            _hosts.remove(backend)


def default_backend() -> ProxyBackend:
    """The backend of this process's latest started host, else the shared client's."""
    with _lock:
        if _hosts:
            return _hosts[-1]
        if not _shared:
            _shared.append(open_backend())
        return _shared[0][1]


@atexit.register
def _close_shared() -> None:
    with _lock:
        for transport, _backend in _shared:
            transport.stop()
        _shared.clear()
