"""The local host of the CLIs: on 8765 or ``$PAGLETS_PORT``; nobody there is known at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from helpers import TIMEOUT
from paglets.cli.entry import ClientOptions, local_entry, nobody_listens, resolve_entry
from paglets.core.errors import PeerNotFoundError
from paglets.runtime.config import PORT_VARIABLE, default_port
from paglets.runtime.host import Host


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


def test_paglets_port_moves_the_local_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PORT_VARIABLE, raising=False)
    assert default_port() == 8765 and local_entry() == "tcp://127.0.0.1:8765"
    monkeypatch.setenv(PORT_VARIABLE, "9123")
    assert default_port() == 9123 and local_entry() == "tcp://127.0.0.1:9123"
    for bad in ("0", "70000", "http", "-5"):
        monkeypatch.setenv(PORT_VARIABLE, bad)
        with pytest.raises(ValueError, match="PAGLETS_PORT must be a port number"):
            default_port()


def test_a_cli_finds_the_host_on_paglets_port(make_host, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    host: Host = make_host("on-its-port")
    monkeypatch.setenv(PORT_VARIABLE, host.address.rsplit(":", 1)[1])
    options = ClientOptions(timeout=TIMEOUT)
    assert resolve_entry(None, options, browse_seconds=0) == host.address


def test_a_bad_paglets_port_is_a_clear_error_for_paglets_host() -> None:
    env = {**os.environ, PORT_VARIABLE: "port"}
    done = subprocess.run(
        [sys.executable, "-m", "paglets.cli.host", "--name", "x", "--no-discovery"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "PAGLETS_PORT must be a port number (1-65535), not 'port'" in done.stderr
    assert "Traceback" not in done.stderr
