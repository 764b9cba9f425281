"""Making a transport's sockets: one ZeroMQ context, the same limits and CURVE on each.

A :class:`SocketFactory` owns the context (and, with a mesh secret, the ZAP handler
that admits the mesh's client key), applies the transport's limits to every socket it
makes, and binds the ROUTER, trying the next ports when asked to. Which thread may use
a socket is the caller's business: sockets of the I/O thread are made here too.
"""

from __future__ import annotations

from typing import Any

import zmq

from paglets.core.errors import HostStoppedError
from paglets.net.endpoint import is_ipc, normalize_address
from paglets.net.security import Identity, ZapHandler, configure_socket
from paglets.net.transport_config import TransportConfig


def bind_first_free(router: zmq.Socket[Any], host: str, port: int, tries: int) -> None:
    """Bind ``router`` to ``port`` or, if taken, one of the next ``tries - 1`` ports."""
    if not port:
        router.bind(f"tcp://{host}:0")
        return
    last = min(65535, port + max(1, tries) - 1)
    for candidate in range(port, last + 1):
        try:
            router.bind(f"tcp://{host}:{candidate}")
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or candidate == last:
                raise


class SocketFactory:
    """The ZeroMQ context of one transport, and sockets made in it with its settings."""

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self._context: zmq.Context[Any] | None = None
        self._zap: ZapHandler | None = None
        self._identity = config.identity
        if config.keys is not None and self._identity is None:
            self._identity = Identity.generate()

    @property
    def identity_key(self) -> str:
        """The public key connecting sockets present ('' if plain)."""
        return self._identity.public_text if self._identity is not None else ""

    @property
    def secured(self) -> bool:
        """Whether the sockets use CURVE."""
        return self.config.keys is not None

    @property
    def context(self) -> zmq.Context[Any]:
        """The ZeroMQ context every socket belongs to.

        Raises:
            HostStoppedError: the factory is not open.
        """
        if self._context is None:
            raise HostStoppedError("transport is not started")
        return self._context

    @property
    def zap(self) -> ZapHandler | None:
        """The ZAP handler admitting the mesh's key (None on plain sockets or once closed)."""
        return self._zap

    def open(self) -> None:
        """Create the context (and the ZAP handler, with CURVE)."""
        self._context = zmq.Context()
        if self.config.keys is not None:
            self._zap = ZapHandler(self._context)

    def close_zap(self) -> None:
        """Close the ZAP handler; on the thread that polls it, before :meth:`terminate`."""
        if self._zap is not None:
            self._zap.close()
            self._zap = None

    def terminate(self) -> None:
        """Close what is left and terminate the context (every socket must be closed)."""
        self.close_zap()
        if self._context is not None:
            self._context.term()
            self._context = None

    def new_socket(self, socket_type: int, *, server: bool) -> zmq.Socket[Any]:
        """A socket of this context with the limits (and security) applied.

        Args:
            socket_type: e.g. ``zmq.PUB``.
            server: True for sockets that bind (they authenticate others), False for
                sockets that connect.
        """
        socket: zmq.Socket[Any] = self.context.socket(socket_type)
        self.configure(socket, server=server)
        return socket

    def configure_client(self, socket: zmq.Socket[Any]) -> None:
        """Apply the limits and security of a connecting socket made elsewhere."""
        self.configure(socket, server=False)

    def configure(self, socket: zmq.Socket[Any], *, server: bool) -> None:
        """Apply the limits and, with a mesh secret, CURVE as server or client."""
        config = self.config
        socket.setsockopt(zmq.LINGER, config.linger_ms)
        socket.setsockopt(zmq.SNDHWM, config.high_water_mark)
        socket.setsockopt(zmq.RCVHWM, config.high_water_mark)
        socket.setsockopt(zmq.MAXMSGSIZE, config.max_message_size)
        socket.setsockopt(zmq.HEARTBEAT_IVL, config.heartbeat_ms)
        socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, config.heartbeat_ms * 3)
        socket.setsockopt(zmq.HEARTBEAT_TTL, config.heartbeat_ms * 3)
        socket.setsockopt(zmq.RECONNECT_IVL, config.reconnect_ms)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, config.reconnect_max_ms)
        if config.keys is not None:
            configure_socket(socket, config.keys, server=server, identity=self._identity)

    def bind_router(self, host: str) -> tuple[zmq.Socket[Any], str]:
        """Bind a ROUTER on ``host`` at the configured port (or the next free ones).

        Returns:
            The socket and its canonical address ``tcp://HOST:PORT``.

        Raises:
            zmq.ZMQError: no port could be bound; the socket is closed again.
        """
        router = self.new_socket(zmq.ROUTER, server=True)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if is_ipc(host):  # an isolated paglet's child: a local socket file
            try:
                router.bind(host)
            except zmq.ZMQError:
                router.close(0)
                raise
            return router, host
        bind_host = f"[{host}]" if ":" in host else host
        if ":" in host:
            router.setsockopt(zmq.IPV6, 1)
        try:
            bind_first_free(router, bind_host, self.config.port, self.config.port_tries)
        except zmq.ZMQError:
            router.close(0)
            raise
        endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        return router, normalize_address(endpoint)
