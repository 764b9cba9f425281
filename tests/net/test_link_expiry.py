"""Links to other hosts: renewed when a peer comes back, closed when nobody answers."""

from __future__ import annotations

import socket
import time

import pytest

from helpers import TIMEOUT, wait_for
from paglets.core.errors import PagletError, PeerNotFoundError, ReplyTimeoutError
from paglets.net.transport import IncomingRequest, Transport, TransportConfig


def _echo(request: IncomingRequest) -> None:
    request.reply(bytes(request.body))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(client: Transport, address: str) -> bool:
    try:
        client.request(address, "ping", b"x", timeout=0.5, ordered=False).get_reply(2.0)
    except PagletError:
        return False
    return True


def _never_left(client: Transport, address: str) -> bool:
    """True when a request to ``address`` fails unsent; False when it went out unanswered."""
    try:
        client.request(address, "ping", timeout=1.0, ordered=False).get_reply(3)
    except PeerNotFoundError:
        return True
    except ReplyTimeoutError:
        return False  # sent before libzmq saw the connection close
    raise AssertionError(f"{address} answered after it stopped")


def test_a_peer_restarted_on_its_port_is_reached_despite_the_reconnect_backoff() -> None:
    port = _free_port()
    first = Transport("first", TransportConfig(port=port), _echo)
    first.start()
    # a backoff this long would leave the restarted peer unheard for the whole test
    client = Transport("client", TransportConfig(bind_host=None, reconnect_max_ms=60_000))
    client.start()
    second: Transport | None = None
    try:
        assert _answers(client, first.address)
        first.stop()
        wait_for(lambda: _never_left(client, first.address), timeout=3 * TIMEOUT)
        # 8 s unheard: libzmq's backoff (0.1 s doubling) would next retry at 12.7 s
        for _ in range(8):
            with pytest.raises(PeerNotFoundError):
                client.request(first.address, "ping", timeout=1.0, ordered=False).get_reply(3)
        second = Transport("second", TransportConfig(port=port), _echo)
        second.start()
        started = time.monotonic()
        wait_for(lambda: _answers(client, second.address), timeout=3 * TIMEOUT)
        assert time.monotonic() - started < 3.0
    finally:
        client.stop()
        if second is not None:
            second.stop()


def test_links_to_addresses_that_never_answer_are_closed() -> None:
    port = _free_port()  # nothing listens there once the probe is closed
    client = Transport("client", TransportConfig(bind_host=None, link_idle_ttl=0.2))
    client.start()
    try:
        futures = [
            client.request(f"tcp://127.0.{n // 200}.{n % 200 + 1}:{port}", "ping", timeout=0.1)
            for n in range(300)
        ]
        for future in futures:
            with pytest.raises(PeerNotFoundError):
                future.get_reply(TIMEOUT)
        assert client.links > 0
        wait_for(lambda: client.links == 0, timeout=TIMEOUT)
    finally:
        client.stop()


def test_a_link_to_a_live_peer_stays_open_while_idle() -> None:
    server = Transport("server", TransportConfig(port=0), _echo)
    server.start()
    client = Transport("client", TransportConfig(bind_host=None, link_idle_ttl=0.1))
    client.start()
    dead = Transport("dead", TransportConfig(bind_host=None))
    try:
        assert _answers(client, server.address)
        dead_address = f"tcp://127.0.0.1:{_free_port()}"
        with pytest.raises(PeerNotFoundError):
            client.request(dead_address, "ping", timeout=0.1).get_reply(TIMEOUT)
        # once the dead address's link is reaped, several reaps have passed the live one
        wait_for(lambda: client.links == 1, timeout=TIMEOUT)
        assert _answers(client, server.address)
    finally:
        client.stop()
        server.stop()
        dead.stop()
