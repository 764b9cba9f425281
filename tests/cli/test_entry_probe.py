"""The local-host probe of the CLIs: nobody listening is known at once, and silently."""

from __future__ import annotations

import socket

import pytest

from helpers import TIMEOUT
from paglets.cli.entry import ClientOptions, nobody_listens, resolve_entry
from paglets.core.errors import PeerNotFoundError


def _free_loopback_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def test_a_free_loopback_port_has_nobody_listening() -> None:
    assert nobody_listens(_free_loopback_address())


def test_a_listening_port_or_a_remote_address_is_never_called_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not nobody_listens(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # the probe never connected: a host logs no failed handshake
    assert not nobody_listens("tcp://192.0.2.1:9")  # not this machine's loopback: ask it
    assert not nobody_listens("ipc:///tmp/nowhere.sock")


def test_no_local_host_is_a_clear_error_without_browsing() -> None:
    local = _free_loopback_address()
    with pytest.raises(PeerNotFoundError, match="no host"):
        resolve_entry(None, ClientOptions(timeout=TIMEOUT), local=local, browse_seconds=0)
